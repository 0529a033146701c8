// FeatureRecordCodec.swift — one feature-store record's bytes (docs/FORMATS.md): the detector's three
// maps, each stored as little-endian F16 or F32 and byte-shuffled on its own, then the anchor boxes
// as shuffled F32, compressed together as one zstd frame with its content checksum. The store
// (Datasets/FeatureStore.swift) says where each frame lies and how many values each part holds.

import Tensors

/// Element type of the stored feature maps.
public enum FeatureDType: String, Codable, Sendable {
    case f16, f32
    public var size: Int { self == .f16 ? 2 : 4 }
}

/// Encodes and decodes the records of one layout: maps of `mapCounts` values in `dtype`, then
/// `boxCount` Float32 values.
public struct FeatureRecordCodec: Sendable {
    public let dtype: FeatureDType
    public let mapCounts: [Int]
    public let boxCount: Int

    public init(dtype: FeatureDType, mapCounts: [Int], boxCount: Int) {
        self.dtype = dtype
        self.mapCounts = mapCounts
        self.boxCount = boxCount
    }

    /// Bytes of a decompressed record.
    public var payloadBytes: Int { mapCounts.reduce(0, +) * dtype.size + boxCount * 4 }

    /// One compressed record at zstd `level`; the parts must have the layout's sizes.
    public func encode(maps: [[Float]], boxes: [Float], level: Int32) -> [UInt8] {
        precondition(maps.map(\.count) == mapCounts && boxes.count == boxCount,
                     "feature record sizes \(maps.map(\.count)), \(boxes.count) do not match the layout \(mapCounts), \(boxCount)")
        var payload: [UInt8] = []
        payload.reserveCapacity(payloadBytes)
        for map in maps {
            switch dtype {
            case .f32: map.withUnsafeBytes { payload += Zstd.shuffle($0, elementSize: 4) }  // little-endian hosts: x86-64, arm64
            case .f16: map.map { $0.float16Bits.littleEndian }.withUnsafeBytes { payload += Zstd.shuffle($0, elementSize: 2) }
            }
        }
        boxes.map { $0.bitPattern.littleEndian }.withUnsafeBytes { payload += Zstd.shuffle($0, elementSize: 4) }
        return payload.withUnsafeBytes { Zstd.compress($0, level: level) }
    }

    /// Buffers one decoder reuses from record to record (no allocation per record).
    public struct Scratch {
        var payload: [UInt8] = [], raw: [UInt8] = []
        public init() {}
    }

    /// Decodes a compressed record straight into `maps` (one destination per map) and `boxes`; throws
    /// what zstd found when the frame is damaged or does not hold a record of this layout.
    public func decode(_ frame: UnsafeRawBufferPointer, maps: [UnsafeMutablePointer<Float>], boxes: UnsafeMutablePointer<Float>,
                       scratch: inout Scratch) throws {
        let total = payloadBytes
        try Zstd.decompress(frame, into: &scratch.payload, expectedSize: total)
        if scratch.raw.count < total { scratch.raw = [UInt8](repeating: 0, count: total) }
        var position = 0
        scratch.payload.withUnsafeBytes { payload in
            scratch.raw.withUnsafeMutableBytes { raw in
                func widenNext(_ count: Int, _ element: FeatureDType, into destination: UnsafeMutablePointer<Float>) {
                    let bytes = count * element.size
                    Self.widen(UnsafeRawBufferPointer(rebasing: payload[position ..< position + bytes]), element: element,
                               scratch: UnsafeMutableRawBufferPointer(rebasing: raw[0 ..< bytes]), into: destination, count: count)
                    position += bytes
                }
                for (map, count) in zip(maps, mapCounts) { widenNext(count, dtype, into: map) }
                widenNext(boxCount, .f32, into: boxes)
            }
        }
    }

    /// Unshuffles stored elements (through `scratch`) and widens them to Float at `out`.
    private static func widen(_ shuffled: UnsafeRawBufferPointer, element: FeatureDType, scratch: UnsafeMutableRawBufferPointer,
                              into out: UnsafeMutablePointer<Float>, count: Int) {
        Zstd.unshuffle(shuffled, elementSize: element.size, into: scratch)
        switch element {
        case .f32: for i in 0 ..< count { out[i] = Float(bitPattern: UInt32(littleEndian: scratch.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16: for i in 0 ..< count { out[i] = Float(float16Bits: UInt16(littleEndian: scratch.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        }
    }
}
