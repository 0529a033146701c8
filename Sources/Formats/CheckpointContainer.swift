// CheckpointContainer.swift — the checkpoint file's container (docs/FORMATS.md), whatever its header says:
//   "RCLIPCK1" | UInt64 LE header length | header JSON | one zstd frame of the payload
// The payload is named Float32 tensors laid end to end and byte-shuffled as one array, compressed at
// level 1 with zstd's content checksum; the header's table says where each tensor lies. Reading checks
// every size and offset against the file before anything is allocated. Writes go to a temporary file
// that is fsynced and renamed into place, so a crash never leaves a partial file.

import Foundation
import Tensors

/// A named tensor's place in the payload.
public struct CheckpointTensor: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    /// Offset in Float32 elements from the start of the payload.
    public var offset: Int
    public var count: Int { shape.reduce(1, *) }

    public init(name: String, shape: [Int], offset: Int) {
        self.name = name
        self.shape = shape
        self.offset = offset
    }
}

/// A tensor to write: its name, shape and values.
public typealias CheckpointTensorView = (name: String, shape: [Int], values: UnsafeBufferPointer<Float>)

/// What the container needs of a header: the tensor table and the payload's sizes (which the writer
/// fills in), and whether the reader knows its format.
public protocol CheckpointContainerHeader: Codable {
    var tensors: [CheckpointTensor] { get set }
    /// Bytes of the decompressed payload.
    var payloadBytes: Int { get set }
    /// Bytes of the zstd frame.
    var compressedBytes: Int { get set }
    /// Why this reader cannot use the header (an unknown format or version), else nil.
    var unsupportedFormat: String? { get }
}

/// Writes and reads the container.
public enum CheckpointContainer {
    static let magic = Array("RCLIPCK1".utf8)

    /// The most a payload may expand from its compressed frame: float32 bytes gain ~1.2× at zstd level
    /// 1, Adam moments that are still zero a few hundred times; a damaged header asks for no more.
    static let expansionLimit = 4096

    /// Fills the header's table for `tensors` (in the given order) and writes the file atomically.
    public static func write<Header: CheckpointContainerHeader>(_ path: String, header: Header, tensors: [CheckpointTensorView]) throws {
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
        header.tensors = table
        header.payloadBytes = offset * 4
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

    /// Reads only the header, checking its sizes and tensor table against the file; `damaged` makes
    /// the error of each problem (naming the file and what to do).
    public static func readHeader<Header: CheckpointContainerHeader>(_ path: String, as _: Header.Type, damaged: (String) -> Error) throws
        -> (header: Header, payloadStart: Int, file: MappedFile) {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        guard bytes.count >= 16, Array(bytes[0 ..< 8]) == magic else { throw damaged("not a refclip checkpoint (bad magic)") }
        let recorded = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard let length = CheckedSize.int(recorded), length > 0, length <= bytes.count - 16 else {
            throw damaged("header length \(recorded) exceeds the file (truncated?)")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[16 ..< 16 + length]))
        } catch {
            throw damaged("unreadable header: \(error)")
        }
        if let problem = header.unsupportedFormat { throw damaged(problem) }
        guard CheckedSize.sum(16, length, header.compressedBytes) == bytes.count else {
            throw damaged("file is \(bytes.count) bytes, header says \(length) + \(header.compressedBytes) after the first 16 (truncated or appended to)")
        }
        // The payload table, before anything is allocated for it: the payload at most
        // `expansionLimit` times its compressed size, each tensor inside it.
        guard header.payloadBytes >= 0, header.payloadBytes % 4 == 0,
              header.payloadBytes <= CheckedSize.product([header.compressedBytes, expansionLimit]) ?? Int.max else {
            throw damaged("payload of \(header.payloadBytes) bytes from a \(header.compressedBytes)-byte frame is not a table of float32 values")
        }
        var total = 0
        for t in header.tensors {
            guard let count = CheckedSize.product(t.shape), CheckedSize.fits(offset: t.offset, count: count, in: header.payloadBytes / 4) else {
                throw damaged("tensor \(t.name) of shape \(t.shape) at element \(t.offset) lies outside the payload of \(header.payloadBytes / 4) values")
            }
            total = CheckedSize.sum(total, count) ?? Int.max
        }
        // The writer lays the tensors end to end: a table that reads more values than the payload holds
        // (tensors over the same bytes) would make the reader allocate a multiple of it.
        guard total == header.payloadBytes / 4 else {
            throw damaged("the tensor table holds \(total) values, the payload \(header.payloadBytes / 4)")
        }
        return (header, 16 + length, file)
    }

    /// The tensors of a file whose header `readHeader` gave, verified by the frame's checksum (which
    /// covers every payload byte); a damaged payload throws what zstd found.
    public static func readTensors<Header: CheckpointContainerHeader>(header: Header, payloadStart: Int, file: MappedFile) throws -> [String: [Float]] {
        let frame = UnsafeRawBufferPointer(rebasing: file.bytes[payloadStart...])
        let shuffled = try Zstd.decompress(frame, expectedSize: header.payloadBytes)
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
        return tensors
    }
}
