// Communicator.swift — the collective operations every rank calls in the same order.
//
// A communicator is a value passed explicitly (never a global). Three implementations share this
// protocol: `SingleProcessCommunicator` (world size 1), `ThreadCommunicator` (N ranks as threads of
// one process, for tests and the debug mode) and `MPICommunicator` (one process per rank).
// Collectives pair with their backward: the gradient of an all-gather is a reduce-scatter.

/// A reduction applied element-wise across ranks.
public enum ReduceOp: Sendable {
    case sum, max, min
}

/// An element type that collectives can carry.
public protocol CommScalar: Numeric, Comparable {
    /// How the MPI implementation names this type.
    static var kind: CommScalarKind { get }
}

/// The element types collectives support.
public enum CommScalarKind: Sendable { case float, double, int }

extension Float: CommScalar { public static var kind: CommScalarKind { .float } }
extension Double: CommScalar { public static var kind: CommScalarKind { .double } }
extension Int: CommScalar { public static var kind: CommScalarKind { .int } }

/// Collective communication among `size` ranks.
///
/// Every rank must make the same sequence of calls with matching counts. Buffers are plain memory;
/// the element counts may be any size (implementations split large buffers into chunks).
public protocol Communicator: AnyObject {
    /// This process's (or thread's) rank, in `0..<size`.
    var rank: Int { get }
    /// Number of ranks.
    var size: Int { get }

    /// Replaces `buffer` on every rank by the element-wise reduction over all ranks' buffers.
    /// Every rank receives bitwise the same result.
    func allReduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOp)

    /// Concatenates every rank's `send` in rank order into `receive` (`receive.count == size · send.count`).
    func allGather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>)

    /// Sums `send` over ranks and gives rank r the r-th block (`send.count == size · receive.count`).
    /// The backward of `allGather`.
    func reduceScatter<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>)

    /// Concatenates every rank's `send` in rank order into `receive` on `root` only
    /// (`receive.count == size · send.count` there; ignored elsewhere).
    func gather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int)

    /// Copies `root`'s bytes into every rank's `bytes` (same count on every rank).
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int)

    /// Returns once every rank has entered.
    func barrier()

    /// Ends the whole job (every rank) with a message; never returns.
    func abort(_ message: String) -> Never
}
