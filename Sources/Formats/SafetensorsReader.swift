// SafetensorsReader.swift — validated, memory-mapped reading of the safetensors format.
//
// Layout: 8-byte little-endian header length N; N bytes of JSON mapping tensor names to
// {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data that follows the header),
// plus an optional "__metadata__" map of strings; then the raw little-endian tensor data.
// The reader refuses anything malformed: unknown dtypes, negative or non-integer shapes, offsets out
// of range, overlapping or leaving holes, sizes that disagree with the shape.

import Foundation
import Tensors

/// One tensor's entry in a safetensors header.
public struct SafetensorsEntry: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let begin: Int, end: Int

    public var count: Int { shape.reduce(1, *) }
}

/// A parsed safetensors file (or in-memory image) whose tensors are read on demand.
public final class SafetensorsFile: @unchecked Sendable {
    /// The file name used in error messages.
    public let path: String
    /// The `__metadata__` string map (empty when absent).
    public let metadata: [String: String]
    /// The entries in data order.
    public let entries: [SafetensorsEntry]
    private let index: [String: Int]
    private let data: UnsafeRawBufferPointer
    private let owner: AnyObject

    /// Opens and validates a file, mapping it into memory.
    public convenience init(path: String) throws {
        let mapped = try MappedFile(path: path)
        try self.init(bytes: mapped.bytes, owner: mapped, name: path)
    }

    /// Parses an in-memory image; `owner` keeps `bytes` alive for the lifetime of this object.
    public init(bytes: UnsafeRawBufferPointer, owner: AnyObject, name: String) throws {
        path = name
        self.owner = owner
        func fail(_ problem: String, at location: String? = nil) -> InputError {
            InputError(file: name, location: location, problem,
                       hint: "the file is not valid safetensors; re-create or re-download it")
        }
        guard bytes.count >= 8 else { throw fail("file is \(bytes.count) bytes, shorter than the 8-byte header length") }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail("header length \(headerLength) exceeds the file size \(bytes.count)")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8 ..< 8 + Int(headerLength)])
        guard headerBytes.first == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: Data(headerBytes))
        } catch {
            throw fail("header is not valid JSON, or not a JSON object")
        }

        data = UnsafeRawBufferPointer(rebasing: bytes[(8 + Int(headerLength))...])
        var metadata: [String: String] = [:]
        var entries: [SafetensorsEntry] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard case .object(let map) = value else { throw fail("__metadata__ is not an object", at: name) }
                for (k, v) in map {
                    guard case .string(let s) = v else { throw fail("metadata value is not a string", at: "__metadata__.\(k)") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let info) = value else { throw fail("entry is not an object", at: name) }
            guard case .string(let dtypeName)? = info["dtype"], let dtype = DType(rawValue: dtypeName) else {
                throw fail("unknown or missing dtype \(info["dtype"].map { "\($0)" } ?? "")", at: name)
            }
            guard case .array(let shapeValues)? = info["shape"] else { throw fail("missing shape", at: name) }
            let shape = try shapeValues.map { v -> Int in
                guard case .integer(let n) = v, n >= 0 else { throw fail("shape \(shapeValues) has a non-integer or negative dimension", at: name) }
                return n
            }
            guard case .array(let offsets)? = info["data_offsets"], offsets.count == 2,
                  case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1] else {
                throw fail("data_offsets must be two integers", at: name)
            }
            guard 0 <= begin, begin <= end, end <= data.count else {
                throw fail("data_offsets [\(begin), \(end)] outside the \(data.count)-byte data section", at: name)
            }
            let bytes = CheckedSize.product(shape + [dtype.size])
            guard end - begin == bytes else {
                throw fail("shape \(shape) of \(dtype.rawValue) needs \(bytes.map { "\($0) bytes" } ?? "more bytes than an Int counts") but data_offsets span \(end - begin)", at: name)
            }
            entries.append(SafetensorsEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var position = 0
        for entry in entries where entry.end > entry.begin {
            if entry.begin < position { throw fail("data overlaps the previous tensor's", at: entry.name) }
            if entry.begin > position { throw fail("a hole of \(entry.begin - position) bytes precedes this tensor's data", at: entry.name) }
            position = entry.end
        }
        guard position == data.count else {
            throw fail("\(data.count - position) bytes after the last tensor are not described by the header")
        }
        self.metadata = metadata
        self.entries = entries
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// Names of all tensors, in data order.
    public var names: [String] { entries.map(\.name) }

    /// Whether a tensor of this name exists.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// The header entry of a tensor.
    public func entry(_ name: String) throws -> SafetensorsEntry {
        guard let i = index[name] else {
            throw InputError(file: path, location: name, "no tensor of this name",
                             hint: "the file holds \(entries.count) tensors, e.g. \(entries.prefix(3).map(\.name).joined(separator: ", "))")
        }
        return entries[i]
    }

    /// The raw little-endian bytes of a tensor.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let e = try entry(name)
        return UnsafeRawBufferPointer(rebasing: data[e.begin ..< e.end])
    }

    /// A tensor's values converted to Float, whatever its stored type.
    public func floats(_ name: String) throws -> [Float] {
        let e = try entry(name)
        guard let base = data.baseAddress?.advanced(by: e.begin) else { return [] }
        if e.dtype == .f32 {
            return (0 ..< e.count).map { Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        return (0 ..< e.count).map { Float(e.dtype.load(base, $0)) }
    }

    /// A tensor's values as Doubles.
    public func doubles(_ name: String) throws -> [Double] {
        let e = try entry(name)
        guard let base = data.baseAddress?.advanced(by: e.begin) else { return [] }
        return (0 ..< e.count).map { e.dtype.load(base, $0) }
    }

    /// An integer or boolean tensor's values as Int.
    public func integers(_ name: String) throws -> [Int] {
        let e = try entry(name)
        guard !e.dtype.isFloatingPoint else {
            throw InputError(file: path, location: name, "expected an integer tensor, found \(e.dtype.rawValue)")
        }
        guard let base = data.baseAddress?.advanced(by: e.begin) else { return [] }
        if e.dtype == .i64 {
            return (0 ..< e.count).map { Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        }
        return (0 ..< e.count).map { Int(e.dtype.load(base, $0)) }
    }

    /// A tensor as a `Tensor`, checking that its shape is `expected` when given.
    public func tensor(_ name: String, expectedShape: [Int]? = nil) throws -> Tensor {
        let e = try entry(name)
        if let expected = expectedShape, expected != e.shape {
            throw InputError(file: path, location: name, "shape \(e.shape) where \(expected) was expected")
        }
        return Tensor(e.shape, try floats(name))
    }
}

/// A JSON value decoded strictly: integers stay integers, booleans stay booleans.
private enum JSONValue: Decodable, CustomStringConvertible {
    case null, bool(Bool), integer(Int), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int.self) { self = .integer(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let v): return "\(v)"
        case .integer(let v): return "\(v)"
        case .number(let v): return "\(v)"
        case .string(let v): return "\"\(v)\""
        case .array(let v): return "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .object(let v): return "{" + v.keys.sorted().joined(separator: ", ") + "}"
        }
    }
}
