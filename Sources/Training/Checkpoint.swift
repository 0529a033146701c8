// Checkpoint.swift — everything the next update depends on, in one file (format in docs/FORMATS.md):
//   "RCLIPCK1" | UInt64 LE header length | header JSON | one zstd frame of the payload
// The header (readable without decompressing) holds the code version, the resolved config, the model
// shape, the vocabulary, the training position, and the table of tensors; the payload is their Float32
// bytes, byte-shuffled, compressed at level 1 with zstd's content checksum. Writes go to a temporary
// file that is fsynced and renamed into place, so a crash never leaves a partial checkpoint.

import Configuration
import Formats
import Foundation
import Models
import Tensors

/// Where training stands; with the tensors, enough to continue as if never stopped.
public struct TrainingPosition: Codable, Equatable, Sendable {
    public var epoch: Int
    /// Steps completed within `epoch`.
    public var stepInEpoch: Int
    /// Steps completed in the run.
    public var globalStep: Int
    public var seed: UInt64
    public var worldSize: Int
    /// Best validation accuracy so far (EMA weights), and the step it was reached at.
    public var bestAccuracy: Double
    public var bestStep: Int

    public init(epoch: Int, stepInEpoch: Int, globalStep: Int, seed: UInt64, worldSize: Int, bestAccuracy: Double = -1, bestStep: Int = -1) {
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.globalStep = globalStep
        self.seed = seed
        self.worldSize = worldSize
        self.bestAccuracy = bestAccuracy
        self.bestStep = bestStep
    }
}

/// A named tensor's place in the payload.
public struct CheckpointTensor: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    /// Offset in Float32 elements from the start of the payload.
    public var offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// A tensor to write: its name, shape and values.
public typealias CheckpointTensorView = (name: String, shape: [Int], values: UnsafeBufferPointer<Float>)

/// A parameter's name and shape inside a flat store.
public struct CheckpointParameter: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
}

/// The checkpoint header.
public struct CheckpointHeader: Codable, Sendable {
    public var format = "refclip-checkpoint"
    public var version = 1
    public var codeVersion: String
    public var created: String
    public var phase: Phase
    /// The resolved configuration (YAML).
    public var config: String
    /// The model's dimensions.
    public var model: ModelShape
    /// Names and shapes of the parameters in each flat store ("params", "buffers", "frozen").
    public var layout: [String: [CheckpointParameter]]
    public var vocabulary: [String]
    public var position: TrainingPosition
    public var adamStep: Int
    public var emaUpdates: Int
    public var tensors: [CheckpointTensor]
    public var payloadBytes: Int
    public var compressedBytes: Int
    /// The BLAS of the rank that wrote it (library, kernel, threads, CPU); absent in older checkpoints.
    public var blas: String?
}

/// A checkpoint in memory: the header and the named tensors.
public struct Checkpoint {
    public var header: CheckpointHeader
    public var tensors: [String: [Float]]

    static let magic = Array("RCLIPCK1".utf8)

    /// Builds a header for `tensors` (in the given order) and writes the file atomically.
    public static func write(_ path: String, header: CheckpointHeader, tensors: [CheckpointTensorView]) throws {
        var header = header
        var table: [CheckpointTensor] = []
        var offset = 0
        for t in tensors {
            precondition(t.values.count == t.shape.reduce(1, *), "checkpoint tensor \(t.name): \(t.values.count) values for \(t.shape)")
            table.append(CheckpointTensor(name: t.name, shape: t.shape, offset: offset))
            offset += t.values.count
        }
        // Every tensor shuffles straight into its place (little-endian hosts: x86-64, arm64).
        var shuffled = [UInt8](repeating: 0, count: offset * 4)
        shuffled.withUnsafeMutableBytes { out in
            for (t, entry) in zip(tensors, table) where t.values.count > 0 {
                Zstd.shuffle(t.values.baseAddress!, count: t.values.count, elementSize: 4, into: out.baseAddress!, at: entry.offset, total: offset)
            }
        }
        let frame = shuffled.withUnsafeBytes { Zstd.compress($0, level: 1) }
        let payloadCount = offset * 4
        header.tensors = table
        header.payloadBytes = payloadCount
        header.compressedBytes = frame.count
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(header)
        try writeFileAtomically(path) { handle in
            try handle.write(contentsOf: magic)
            try handle.write(contentsOf: withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) })
            try handle.write(contentsOf: json)
            try handle.write(contentsOf: frame)
        }
    }

    /// The most a payload may expand from its compressed frame: float32 bytes gain ~1.2× at zstd level
    /// 1, Adam moments that are still zero a few hundred times; a damaged header asks for no more.
    static let expansionLimit = 4096

    /// Reads only the header, checking its sizes and tensor table against the file.
    public static func readHeader(_ path: String) throws -> (header: CheckpointHeader, payloadStart: Int, file: MappedFile) {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        func fail(_ problem: String) -> InputError {
            InputError(file: path, problem, hint: "the checkpoint is damaged or not a refclip checkpoint; use another one")
        }
        guard bytes.count >= 16, Array(bytes[0 ..< 8]) == magic else { throw fail("not a refclip checkpoint (bad magic)") }
        let recorded = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard let length = CheckedSize.int(recorded), length > 0, length <= bytes.count - 16 else {
            throw fail("header length \(recorded) exceeds the file (truncated?)")
        }
        let header: CheckpointHeader
        do {
            header = try JSONDecoder().decode(CheckpointHeader.self, from: Data(bytes[16 ..< 16 + length]))
        } catch {
            throw fail("unreadable header: \(error)")
        }
        guard header.format == "refclip-checkpoint", header.version == 1 else { throw fail("unsupported format \(header.format) v\(header.version)") }
        guard CheckedSize.sum(16, length, header.compressedBytes) == bytes.count else {
            throw fail("file is \(bytes.count) bytes, header says \(length) + \(header.compressedBytes) after the first 16 (truncated or appended to)")
        }
        // The payload table, before anything is allocated for it: the payload at most
        // `expansionLimit` times its compressed size, each tensor inside it.
        guard header.payloadBytes >= 0, header.payloadBytes % 4 == 0,
              header.payloadBytes <= CheckedSize.product([header.compressedBytes, expansionLimit]) ?? Int.max else {
            throw fail("payload of \(header.payloadBytes) bytes from a \(header.compressedBytes)-byte frame is not a table of float32 values")
        }
        for t in header.tensors {
            guard let count = CheckedSize.product(t.shape), CheckedSize.fits(offset: t.offset, count: count, in: header.payloadBytes / 4) else {
                throw fail("tensor \(t.name) of shape \(t.shape) at element \(t.offset) lies outside the payload of \(header.payloadBytes / 4) values")
            }
        }
        for (store, parameters) in header.layout {
            var total: Int? = 0
            for parameter in parameters { total = total.flatMap { sum in CheckedSize.product(parameter.shape).flatMap { CheckedSize.sum(sum, $0) } } }
            guard let total, total <= header.payloadBytes / 4, Set(parameters.map(\.name)).count == parameters.count else {
                throw fail("the layout of \(store) names a parameter twice or describes more values than the payload's \(header.payloadBytes / 4)")
            }
        }
        return (header, 16 + length, file)
    }

    /// Reads and verifies the whole checkpoint (the zstd checksum covers every payload byte).
    public static func read(_ path: String) throws -> Checkpoint {
        let (header, start, file) = try readHeader(path)
        let frame = UnsafeRawBufferPointer(rebasing: file.bytes[start...])
        let shuffled: [UInt8]
        do {
            shuffled = try Zstd.decompress(frame, expectedSize: header.payloadBytes)
        } catch {
            throw InputError(file: path, "payload is damaged: \(error)", hint: "the checkpoint is corrupt; use an earlier one")
        }
        var tensors: [String: [Float]] = [:]
        let total = header.payloadBytes / 4
        shuffled.withUnsafeBytes { source in
            for t in header.tensors {
                tensors[t.name] = [Float](unsafeUninitializedCapacity: t.count) { buffer, initialized in
                    if t.count > 0 {
                        Zstd.unshuffle(source.baseAddress!, count: t.count, elementSize: 4, from: t.offset, total: total, into: buffer.baseAddress!)
                    }
                    initialized = t.count
                }
            }
        }
        return Checkpoint(header: header, tensors: tensors)
    }

    /// A named tensor, or an error naming the file.
    public func tensor(_ name: String, path: String) throws -> [Float] {
        guard let t = tensors[name] else { throw InputError(file: path, location: name, "tensor missing from the checkpoint") }
        return t
    }
}

/// The version written into checkpoints and reports.
public let refclipVersion = "0.1.0"
