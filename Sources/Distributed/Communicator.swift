// Communicator.swift — the collective operations every rank calls in the same order.
//
// A communicator is a value passed explicitly (never a global). Three implementations share this
// protocol: `SingleProcessCommunicator` (world size 1), `ThreadCommunicator` (N ranks as threads of
// one process, for tests and the debug mode) and `MPICommunicator` (one process per rank).
// Collectives pair with their backward: the gradient of an all-gather is a reduce-scatter. Gradient
// buckets have a collective of their own (`allReduceGradient`), run on a `duplicate` by a second thread.

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

/// The element type gradient buckets travel in.
public enum GradientWire: String, Codable, CaseIterable, Sendable {
    /// float32: the sum of the ranks' values up to float32 addition.
    case f32
    /// bfloat16, half the bytes: every value sent (a rank's own, or a partial sum) is rounded to
    /// bfloat16 and added in float32; the result is rounded to bfloat16 too.
    case bf16
}

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

    /// Sums a gradient bucket over ranks in place, its values travelling as `wire`; every rank receives
    /// bitwise the same result. Made for large buffers on a communication thread: the MPI implementation
    /// is a ring of point-to-point messages that waits without spinning a core.
    func allReduceGradient(_ buffer: UnsafeMutableBufferPointer<Float>, wire: GradientWire)

    /// A communicator over the same ranks whose collectives form a sequence of their own, for a second
    /// thread of every rank (MPI_Comm_dup): its collectives neither wait for this one's nor delay them.
    /// Every rank calls it at the same point of its sequence. Nil when the implementation cannot serve
    /// two threads at once (an MPI library without MPI_THREAD_MULTIPLE).
    func duplicate() -> Communicator?

    /// Ends the whole job (every rank) with a message; never returns.
    func abort(_ message: String) -> Never
}
