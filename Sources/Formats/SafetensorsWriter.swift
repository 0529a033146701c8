// SafetensorsWriter.swift — builds safetensors images: a sorted-key JSON header padded to 8 bytes,
// then the tensors' little-endian bytes in the order they were added, without holes.

import Foundation
import Tensors

/// Accumulates tensors and serializes them as one safetensors image.
public struct SafetensorsWriter {
    private var header: [String: Any] = [:]
    private var names: Set<String> = []
    private var payload: [UInt8] = []
    /// The `__metadata__` string map written into the header.
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds a tensor given its raw little-endian bytes.
    public mutating func add(_ name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) {
        precondition(name != "__metadata__" && !names.contains(name), "duplicate or reserved tensor name \(name)")
        precondition(bytes.count == shape.reduce(1, *) * dtype.size, "\(name): \(bytes.count) bytes for \(dtype.rawValue) \(shape)")
        names.insert(name)
        header[name] = ["dtype": dtype.rawValue, "shape": shape, "data_offsets": [payload.count, payload.count + bytes.count]] as [String: Any]
        payload.append(contentsOf: bytes)
    }

    /// Adds Float32 values.
    public mutating func add(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        let littleEndian = floats.map { $0.bitPattern.littleEndian }
        littleEndian.withUnsafeBytes { add(name, dtype: .f32, shape: shape, bytes: $0) }
    }

    /// Adds Float32 values from an array.
    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        floats.withUnsafeBufferPointer { add(name, shape: shape, floats: $0) }
    }

    /// Adds a tensor's values as Float32.
    public mutating func add(_ name: String, _ tensor: Tensor) { add(name, shape: tensor.shape, floats: tensor.buffer) }

    /// Adds Float64 values.
    public mutating func add(_ name: String, shape: [Int], doubles: [Double]) {
        let littleEndian = doubles.map { $0.bitPattern.littleEndian }
        littleEndian.withUnsafeBytes { add(name, dtype: .f64, shape: shape, bytes: $0) }
    }

    /// Adds Int64 values.
    public mutating func add(_ name: String, shape: [Int], int64s: [Int]) {
        let littleEndian = int64s.map { Int64($0).littleEndian }
        littleEndian.withUnsafeBytes { add(name, dtype: .i64, shape: shape, bytes: $0) }
    }

    /// The complete file image.
    public func serialized() -> [UInt8] {
        var object = header
        if !metadata.isEmpty { object["__metadata__"] = metadata }
        // Sorted keys make the bytes a function of the contents alone.
        var json = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + payload.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        out.append(contentsOf: payload)
        return out
    }

    /// Writes the image to `path` atomically (temporary file, fsync, rename).
    public func write(to path: String) throws { try writeFileAtomically(path, bytes: serialized()) }
}
