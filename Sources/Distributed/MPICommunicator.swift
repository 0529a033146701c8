// MPICommunicator.swift — one process per rank over OpenMPI.
//
// Every MPI return code is checked; a failure aborts the whole job with a message naming the call and
// the rank. Buffers larger than `chunkBytes` go in chunks: MPI counts are Int32, and on this hardware
// 8 MiB pieces all-reduce about twice as fast as one large call (DESIGN.md §8).
//
// MPI starts at MPI_THREAD_MULTIPLE so that a duplicate (MPI_Comm_dup) can serve a communication
// thread while the main thread makes its own calls; gradient buckets use the ring of MPIGradientRing.

import CMPI
import Foundation

/// The world communicator of an MPI job.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// Largest piece, in bytes, handed to one MPI call.
    public var chunkBytes: Int

    /// The longest sleep between two polls of a wait in `allReduceGradient` (MPIGradientRing).
    public var pollMicroseconds: useconds_t = 500

    let comm: MPI_Comm
    /// Whether the library serves calls from several threads at once (MPI_THREAD_MULTIPLE).
    public let servesThreads: Bool
    /// Whether every rank runs on one node (shared memory carries every message).
    public let ranksShareNode: Bool
    private let isWorld: Bool

    /// Initializes MPI (asking for MPI_THREAD_MULTIPLE; a library that gives less runs the gradient
    /// buckets on the main thread) and makes errors return codes so that they can be reported with context.
    public init(chunkBytes: Int = 8 << 20) {
        var provided: Int32 = 0
        comm = refclip_mpi_comm_world()
        isWorld = true
        // Open MPI's TCP transport moves half its one-way rate in each direction when two ranks send
        // both ways over their one connection (measured 59.6 MB/s each way against 116.5 one way on a
        // 1 Gbit/s link, where raw TCP keeps 119 both ways); two connections per pair restore full
        // duplex (116.5). A ring sends and receives at once, so this halved every all-reduce. A value
        // the user set (mpirun --mca btl_tcp_links, or the environment) wins.
        setenv("OMPI_MCA_btl_tcp_links", "2", 0)
        let code = MPI_Init_thread(nil, nil, refclip_mpi_thread_multiple(), &provided)
        if code != refclip_mpi_success() {
            FileHandle.standardError.write(Data("refclip: MPI_Init_thread failed with code \(code)\n".utf8))
            exit(70)
        }
        var r: Int32 = 0, s: Int32 = 0
        for (code, call) in [(MPI_Comm_set_errhandler(comm, refclip_mpi_errors_return()), "MPI_Comm_set_errhandler"),
                             (MPI_Comm_rank(comm, &r), "MPI_Comm_rank"), (MPI_Comm_size(comm, &s), "MPI_Comm_size")]
            where code != refclip_mpi_success() {
            FileHandle.standardError.write(Data("refclip: \(call) failed with code \(code)\n".utf8))
            MPI_Abort(comm, 70)
        }
        rank = Int(r)
        size = Int(s)
        self.chunkBytes = chunkBytes
        servesThreads = provided >= refclip_mpi_thread_multiple()
        var node: MPI_Comm?, nodeSize: Int32 = 0
        let split = MPI_Comm_split_type(comm, refclip_mpi_comm_type_shared(), 0, refclip_mpi_info_null(), &node)
        let sized = split == refclip_mpi_success() ? MPI_Comm_size(node, &nodeSize) : split
        if split == refclip_mpi_success() { MPI_Comm_free(&node) }
        ranksShareNode = sized == refclip_mpi_success() && Int(nodeSize) == size
    }

    private init(duplicating parent: MPICommunicator, _ comm: MPI_Comm) {
        self.comm = comm
        isWorld = false
        rank = parent.rank
        size = parent.size
        chunkBytes = parent.chunkBytes
        pollMicroseconds = parent.pollMicroseconds
        servesThreads = parent.servesThreads
        ranksShareNode = parent.ranksShareNode
    }

    public func duplicate() -> Communicator? {
        guard servesThreads else { return nil }
        // When two ranks first meet inside MPI_Comm_dup, Open MPI's TCP transport keeps their pair at
        // half rate (measured 0.059 against 0.111 GB/s all-reducing 64 MiB over 1 Gbit/s): one float
        // to each ring neighbour first connects the pairs the gradient ring uses.
        var one: Float = 0, other: Float = 0
        check(MPI_Sendrecv(&one, 1, refclip_mpi_float(), Int32((rank + 1) % size), 0, &other, 1, refclip_mpi_float(),
                           Int32((rank + size - 1) % size), 0, comm, refclip_mpi_status_ignore()), "MPI_Sendrecv")
        var copy: MPI_Comm?
        check(MPI_Comm_dup(comm, &copy), "MPI_Comm_dup")
        return MPICommunicator(duplicating: self, copy!)
    }

    /// The MPI library's own description of itself, e.g. "Open MPI v4.1.4, …" (callable before MPI starts).
    public static var libraryVersion: String {
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&text, &length) == refclip_mpi_success() else { return "unknown" }
        return String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(whereSeparator: \.isNewline).first.map(String.init) ?? "unknown"
    }

    /// Whether this process was started by an MPI launcher (mpirun, srun with PMIx/PMI).
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { env[$0] != nil }
    }

    /// Ends MPI. Call once, on the world communicator, after the last collective.
    public func finalize() {
        precondition(isWorld, "finalize the world communicator, not a duplicate")
        check(MPI_Finalize(), "MPI_Finalize")
    }

    public func allReduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOp) {
        guard let base = buffer.baseAddress else { return }
        // Across nodes a large float sum goes round the gradient ring: over TCP it was measured at
        // 1.04–1.3 × one plain MPI_Allreduce where chunks of 8 MiB reached 0.88 ×.
        if T.kind == .float, op == .sum, !ranksShareNode, buffer.count * MemoryLayout<T>.stride >= 1 << 20 {
            allReduceGradient(UnsafeMutableRawBufferPointer(buffer).bindMemory(to: Float.self), wire: .f32)
            return
        }
        forEachChunk(buffer.count, T.self) { offset, n in
            check(MPI_Allreduce(refclip_mpi_in_place(), base + offset, Int32(n), Self.datatype(T.self), Self.mpiOp(op), comm),
                  "MPI_Allreduce")
        }
    }

    public func allGather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) {
        let n = send.count
        precondition(receive.count == n * size, "allGather: receive holds \(receive.count), expected \(n * size)")
        guard n > 0 else { return }
        blockwise(send: send, blockCount: n, output: receive.baseAddress!) { chunk, length, temp in
            check(MPI_Allgather(chunk, Int32(length), Self.datatype(T.self), temp, Int32(length), Self.datatype(T.self), comm),
                  "MPI_Allgather")
        }
    }

    public func gather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) {
        let n = send.count
        if rank == root { precondition(receive.count == n * size, "gather: receive holds \(receive.count), expected \(n * size)") }
        guard n > 0 else { return }
        blockwise(send: send, blockCount: n, output: rank == root ? receive.baseAddress : nil) { chunk, length, temp in
            check(MPI_Gather(chunk, Int32(length), Self.datatype(T.self), temp, Int32(length), Self.datatype(T.self),
                             Int32(root), comm), "MPI_Gather")
        }
    }

    public func reduceScatter<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) {
        let n = receive.count
        precondition(send.count == n * size, "reduceScatter: send holds \(send.count), expected \(n * size)")
        guard n > 0 else { return }
        let chunk = max(1, chunkBytes / MemoryLayout<T>.stride / size)
        let temp = UnsafeMutablePointer<T>.allocate(capacity: min(n, chunk) * size)
        defer { temp.deallocate() }
        var offset = 0
        while offset < n {
            let length = min(chunk, n - offset)
            // Pack the same slice of every rank's block so one MPI call scatters it.
            for r in 0 ..< size { (temp + r * length).update(from: send.baseAddress! + r * n + offset, count: length) }
            check(MPI_Reduce_scatter_block(temp, receive.baseAddress! + offset, Int32(length), Self.datatype(T.self),
                                           refclip_mpi_sum(), comm), "MPI_Reduce_scatter_block")
            offset += length
        }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {
        guard let base = bytes.baseAddress else { return }
        forEachChunk(bytes.count, UInt8.self) { offset, n in
            check(MPI_Bcast(base + offset, Int32(n), refclip_mpi_byte(), Int32(root), comm), "MPI_Bcast")
        }
    }

    public func barrier() { check(MPI_Barrier(comm), "MPI_Barrier") }

    /// A barrier that sleeps between polls instead of spinning, for a rank that waits while another
    /// rank works alone (MPI_Barrier busy-polls and takes a core away from the worker).
    public func sleepingBarrier(poll: useconds_t = 2000) {
        var request: MPI_Request?
        check(MPI_Ibarrier(comm, &request), "MPI_Ibarrier")
        var done: Int32 = 0
        while done == 0 {
            check(MPI_Test(&request, &done, refclip_mpi_status_ignore()), "MPI_Test")
            if done == 0 { usleep(poll) }
        }
    }

    public func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("refclip: rank \(rank) of \(size) aborting the job: \(message)\n".utf8))
        MPI_Abort(comm, 70)
        exit(70)
    }

    // MARK: helpers

    /// Aborts the job unless `code` is MPI_SUCCESS, naming the call and this rank.
    func check(_ code: Int32, _ call: String) {
        guard code != refclip_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(refclip_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        abort("\(call) failed on rank \(rank): \(String(cString: text)) (code \(code))")
    }

    /// Calls `body(offset, count)` over `count` elements in pieces of at most `chunkBytes`.
    func forEachChunk<T>(_ count: Int, _ type: T.Type, _ body: (Int, Int) -> Void) {
        let chunk = max(1, min(chunkBytes / MemoryLayout<T>.stride, Int(Int32.max)))
        var offset = 0
        while offset < count {
            body(offset, min(chunk, count - offset))
            offset += chunk
        }
    }

    /// Runs a gather-like collective (one block of `blockCount` elements per rank into `output`, in rank
    /// order) in chunks: each call gathers the same slice of every rank's block into `temp`, which is
    /// then copied to the slice's place in every block. `output` nil means this rank receives nothing.
    private func blockwise<T: CommScalar>(
        send: UnsafeBufferPointer<T>, blockCount n: Int, output: UnsafeMutablePointer<T>?,
        _ call: (UnsafePointer<T>, Int, UnsafeMutablePointer<T>) -> Void
    ) {
        let chunk = max(1, chunkBytes / MemoryLayout<T>.stride / size)
        if n <= chunk, let output {
            call(send.baseAddress!, n, output)  // the common case: straight into place
            return
        }
        let temp = UnsafeMutablePointer<T>.allocate(capacity: min(n, chunk) * size)
        defer { temp.deallocate() }
        var offset = 0
        while offset < n {
            let length = min(chunk, n - offset)
            call(send.baseAddress! + offset, length, temp)
            if let output { for r in 0 ..< size { (output + r * n + offset).update(from: temp + r * length, count: length) } }
            offset += length
        }
    }

    static func datatype<T: CommScalar>(_ type: T.Type) -> MPI_Datatype {
        switch T.kind {
        case .float: return refclip_mpi_float()
        case .double: return refclip_mpi_double()
        case .int: return refclip_mpi_int64()
        }
    }

    private static func mpiOp(_ op: ReduceOp) -> MPI_Op {
        switch op {
        case .sum: return refclip_mpi_sum()
        case .max: return refclip_mpi_max()
        case .min: return refclip_mpi_min()
        }
    }
}
