// SingleProcessCommunicator.swift — world size 1: every collective is a copy or nothing.

import Foundation

/// The communicator of a run with a single rank and no MPI.
public final class SingleProcessCommunicator: Communicator {
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }

    public func allReduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOp) {}

    public func allGather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) {
        precondition(receive.count == send.count, "allGather: receive holds \(receive.count), expected \(send.count)")
        if let base = send.baseAddress { receive.baseAddress!.update(from: base, count: send.count) }
    }

    public func reduceScatter<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) {
        allGather(send, into: receive)
    }

    public func gather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) {
        allGather(send, into: receive)
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {}

    public func barrier() {}

    /// The sum over one rank: the buffer itself (nothing travels, so nothing is rounded).
    public func allReduceGradient(_ buffer: UnsafeMutableBufferPointer<Float>, wire: GradientWire) {}

    public func duplicate() -> Communicator? { SingleProcessCommunicator() }

    public func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("refclip: aborting: \(message)\n".utf8))
        exit(70)
    }
}
