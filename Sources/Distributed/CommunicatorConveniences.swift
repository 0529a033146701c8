// CommunicatorConveniences.swift — array and value forms of the collectives, built on the protocol.

import Foundation

extension Communicator {
    /// Whether this is the coordinating rank (rank 0).
    public var isRoot: Bool { rank == 0 }

    /// All-reduces an array in place.
    public func allReduce<T: CommScalar>(_ values: inout [T], _ op: ReduceOp = .sum) {
        values.withUnsafeMutableBufferPointer { allReduce($0, op) }
    }

    /// The reduction of one value over all ranks.
    public func allReduce<T: CommScalar>(_ value: T, _ op: ReduceOp = .sum) -> T {
        var v = [value]
        allReduce(&v, op)
        return v[0]
    }

    /// Every rank's values, concatenated in rank order.
    public func allGather<T: CommScalar>(_ values: [T]) -> [T] {
        var out = [T](repeating: 0, count: values.count * size)
        values.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { allGather(s, into: $0) } }
        return out
    }

    /// Every rank's values, concatenated in rank order on `root`; empty elsewhere.
    public func gather<T: CommScalar>(_ values: [T], root: Int = 0) -> [T] {
        var out = [T](repeating: 0, count: rank == root ? values.count * size : 0)
        values.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { gather(s, into: $0, root: root) } }
        return out
    }

    /// Every rank's string, in rank order on `root`; empty elsewhere (strings of any length).
    public func gather(string: String, root: Int = 0) -> [String] {
        let bytes = Array(string.utf8)
        let lengths = allGather([bytes.count])
        let width = lengths.max() ?? 0
        let padded = (bytes + [UInt8](repeating: 0, count: width - bytes.count)).map(Int.init)
        let all = gather(padded, root: root)
        guard rank == root else { return [] }
        return (0 ..< size).map { r in String(decoding: all[r * width ..< r * width + lengths[r]].map { UInt8($0) }, as: UTF8.self) }
    }

    /// Broadcasts an array whose length only `root` knows.
    public func broadcast<T: CommScalar>(_ values: [T], root: Int = 0) -> [T] {
        let count = broadcastCount(values.count, root: root)
        var out = rank == root ? values : [T](repeating: 0, count: count)
        out.withUnsafeMutableBytes { broadcast($0, root: root) }
        return out
    }

    /// Broadcasts a byte string whose length only `root` knows.
    public func broadcast(bytes: [UInt8], root: Int = 0) -> [UInt8] {
        let count = broadcastCount(bytes.count, root: root)
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { broadcast($0, root: root) }
        return out
    }

    /// Broadcasts a Codable value from `root` (JSON on the wire). Other ranks pass any value, e.g. nil.
    public func broadcast<V: Codable>(value: V?, root: Int = 0) throws -> V {
        let encoded = rank == root ? [UInt8](try JSONEncoder().encode(value!)) : []
        return try JSONDecoder().decode(V.self, from: Data(broadcast(bytes: encoded, root: root)))
    }

    private func broadcastCount(_ count: Int, root: Int) -> Int {
        var n = [count]
        n.withUnsafeMutableBytes { broadcast($0, root: root) }
        return n[0]
    }
}

/// An error that every rank throws at the same point of the job (agreed through a collective), so
/// the job can end in order instead of being aborted.
public protocol CollectiveError: Error {}

/// An error on another rank that this rank learned of through a collective.
public struct RemoteFailure: CollectiveError, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// This rank's own error, which every other rank learned of through a collective.
public struct AgreedFailure: CollectiveError, CustomStringConvertible {
    public let underlying: Error
    public init(underlying: Error) { self.underlying = underlying }
    public var description: String { "\(underlying)" }
}

extension Communicator {
    /// Runs `work` on rank 0 and gives its bytes to every rank. If it throws, every rank throws —
    /// rank 0 its own error, the others a `RemoteFailure` with its text — so no rank waits forever.
    public func fromRoot(_ work: () throws -> [UInt8]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var failure: Error?
        if isRoot {
            do { bytes = try work() } catch { failure = error }
        }
        let message = broadcast(bytes: Array((failure.map { "\($0)" } ?? "").utf8))
        if let failure { throw AgreedFailure(underlying: failure) }
        guard message.isEmpty else { throw RemoteFailure(description: "rank 0: " + String(decoding: message, as: UTF8.self)) }
        return broadcast(bytes: bytes)
    }
}
