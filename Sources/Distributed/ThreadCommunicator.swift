// ThreadCommunicator.swift — N ranks as threads of one process, for tests and the debug mode.
//
// Each collective is a rendezvous: every rank publishes a pointer to its buffer, waits at a barrier,
// reads what it needs from the others, and waits again before anyone may reuse a buffer. Reductions
// add ranks' values in rank order, so every rank holds bitwise the same result. Every collective also
// checks that all ranks called the same operation: a diverging sequence of collective calls — which
// MPI turns into a silent hang — ends the job with a message naming both calls.

import Foundation
import Tensors

/// One rank of an in-process world whose ranks are threads.
public final class ThreadCommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    private let world: ThreadWorld
    private var duplicates = 0

    public var size: Int { world.size }

    init(rank: Int, world: ThreadWorld) {
        self.rank = rank
        self.world = world
    }

    /// Runs `body` on `ranks` threads, each with its own communicator, and returns the results in
    /// rank order. If a rank throws, the first error (lowest rank) is rethrown after all have ended;
    /// ranks left waiting in a collective for a failed rank end the process with its message, as an
    /// MPI job would.
    public static func run<R>(ranks: Int, _ body: @escaping (ThreadCommunicator) throws -> R) throws -> [R] {
        precondition(ranks >= 1, "need at least one rank")
        let world = ThreadWorld(size: ranks)
        let results = ResultSlots<R>(count: ranks)
        let group = DispatchGroup()
        for r in 0 ..< ranks {
            group.enter()
            let thread = Thread {
                let comm = ThreadCommunicator(rank: r, world: world)
                do {
                    results.set(r, .success(try body(comm)))
                } catch {
                    results.set(r, .failure(error))
                    world.markFailed(rank: r, error)
                }
                world.markDone()
                group.leave()
            }
            thread.stackSize = 16 << 20
            thread.name = "rank \(r)"
            thread.start()
        }
        group.wait()
        return try results.values().map { try $0.get() }
    }

    public func allReduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOp) {
        let n = buffer.count
        world.publish(rank, UnsafeRawPointer(buffer.baseAddress), count: n, call: "allReduce(\(T.self), \(op), \(n))")
        let result = UnsafeMutablePointer<T>.allocate(capacity: max(n, 1))
        defer { result.deallocate() }
        if n > 0 {
            result.update(from: world.pointer(0, T.self), count: n)
            for r in 1 ..< size {
                let other = world.pointer(r, T.self)
                switch op {
                case .sum: for i in 0 ..< n { result[i] += other[i] }
                case .max: for i in 0 ..< n { result[i] = Swift.max(result[i], other[i]) }
                case .min: for i in 0 ..< n { result[i] = Swift.min(result[i], other[i]) }
                }
            }
        }
        world.barrier()
        if n > 0 { buffer.baseAddress!.update(from: result, count: n) }
    }

    public func allGather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) {
        let n = send.count
        precondition(receive.count == n * size, "allGather: receive holds \(receive.count), expected \(n * size)")
        world.publish(rank, UnsafeRawPointer(send.baseAddress), count: n, call: "allGather(\(T.self), \(n))")
        if n > 0 { for r in 0 ..< size { (receive.baseAddress! + r * n).update(from: world.pointer(r, T.self), count: n) } }
        world.barrier()
    }

    public func reduceScatter<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) {
        let n = receive.count
        precondition(send.count == n * size, "reduceScatter: send holds \(send.count), expected \(n * size)")
        world.publish(rank, UnsafeRawPointer(send.baseAddress), count: send.count, call: "reduceScatter(\(T.self), \(n))")
        if n > 0 {
            let out = receive.baseAddress!
            out.update(from: world.pointer(0, T.self) + rank * n, count: n)
            for r in 1 ..< size {
                let block = world.pointer(r, T.self) + rank * n
                for i in 0 ..< n { out[i] += block[i] }
            }
        }
        world.barrier()
    }

    public func gather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) {
        let n = send.count
        if rank == root { precondition(receive.count == n * size, "gather: receive holds \(receive.count), expected \(n * size)") }
        world.publish(rank, UnsafeRawPointer(send.baseAddress), count: n, call: "gather(\(T.self), \(n), root \(root))")
        if rank == root, n > 0 {
            for r in 0 ..< size { (receive.baseAddress! + r * n).update(from: world.pointer(r, T.self), count: n) }
        }
        world.barrier()
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {
        world.publish(rank, UnsafeRawPointer(bytes.baseAddress), count: bytes.count, call: "broadcast(\(bytes.count) bytes, root \(root))",
                      signature: "broadcast(root \(root))")
        if rank != root, bytes.count > 0 {
            precondition(world.count(root) == bytes.count, "broadcast: rank \(rank) holds \(bytes.count) bytes, root \(world.count(root))")
            bytes.baseAddress!.copyMemory(from: world.rawPointer(root), byteCount: bytes.count)
        }
        world.barrier()
    }

    public func barrier() {
        world.publish(rank, nil, count: 0, call: "barrier")
        world.barrier()
    }

    /// Sums in rank order, as a ring sums one chunk: with `.bf16`, each rank's value and each partial
    /// sum rounded to bfloat16 before the next float addition, and the result rounded.
    public func allReduceGradient(_ buffer: UnsafeMutableBufferPointer<Float>, wire: GradientWire) {
        let n = buffer.count
        world.publish(rank, UnsafeRawPointer(buffer.baseAddress), count: n, call: "allReduceGradient(\(wire), \(n))")
        let result = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
        defer { result.deallocate() }
        let travel: (Float) -> Float = wire == .bf16 ? { $0.roundedToBFloat16 } : { $0 }
        if n > 0 {
            let first = world.pointer(0, Float.self)
            for i in 0 ..< n { result[i] = first[i] }
            for r in 1 ..< size {
                let other = world.pointer(r, Float.self)
                for i in 0 ..< n { result[i] = travel(result[i]) + travel(other[i]) }
            }
            if size > 1 { for i in 0 ..< n { result[i] = travel(result[i]) } }
        }
        world.barrier()
        if n > 0 { buffer.baseAddress!.update(from: result, count: n) }
    }

    /// The k-th duplicate of this world: the same one for every rank's k-th call.
    public func duplicate() -> Communicator? {
        duplicates += 1
        return ThreadCommunicator(rank: rank, world: world.child(duplicates - 1))
    }

    public func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("refclip: rank \(rank) aborting the job: \(message)\n".utf8))
        exit(70)
    }
}

/// The shared state of one in-process world.
final class ThreadWorld: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var running: Int
    private var failure: String?
    private var pointers: [UnsafeRawPointer?]
    private var counts: [Int]
    private var calls: [String]
    private var signatures: [String]
    private var children: [ThreadWorld] = []
    /// The world this one duplicates: its ranks' ending ends this one's collectives too.
    private weak var parent: ThreadWorld?

    init(size: Int, parent: ThreadWorld? = nil) {
        self.size = size
        self.parent = parent
        running = size
        pointers = Array(repeating: nil, count: size)
        counts = Array(repeating: 0, count: size)
        calls = Array(repeating: "", count: size)
        signatures = calls
    }

    /// Publishes this rank's buffer and call, waits until every rank has published, and checks that
    /// every rank made the same call: the same `signature` (the call itself unless given). Every
    /// collective ends with another barrier, so no rank publishes again before all have checked.
    func publish(_ rank: Int, _ pointer: UnsafeRawPointer?, count: Int, call: String, signature: String? = nil) {
        condition.lock()
        pointers[rank] = pointer
        counts[rank] = count
        calls[rank] = call
        signatures[rank] = signature ?? call
        condition.unlock()
        barrier()
        if let other = signatures.firstIndex(where: { $0 != signatures[rank] }) {
            FileHandle.standardError.write(Data("refclip: ranks diverged: rank \(rank) called \(calls[rank]) while rank \(other) called \(calls[other])\n".utf8))
            exit(70)
        }
    }

    /// The world of every rank's `index`-th duplicate, made by the first rank to ask.
    func child(_ index: Int) -> ThreadWorld {
        condition.lock()
        defer { condition.unlock() }
        while children.count <= index { children.append(ThreadWorld(size: size, parent: self)) }
        return children[index]
    }

    func pointer<T>(_ rank: Int, _ type: T.Type) -> UnsafePointer<T> { pointers[rank]!.assumingMemoryBound(to: T.self) }
    func rawPointer(_ rank: Int) -> UnsafeRawPointer { pointers[rank]! }
    func count(_ rank: Int) -> Int { counts[rank] }

    /// A reusable barrier over all ranks.
    func barrier() {
        condition.lock()
        defer { condition.unlock() }
        let myGeneration = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
            return
        }
        while generation == myGeneration {
            if let reason = endedReason() {
                // A rank has ended and will never arrive: end the job, as MPI would.
                FileHandle.standardError.write(Data("refclip: in-process job aborted: \(reason)\n".utf8))
                exit(70)
            }
            // A duplicate's ranks learn of an ending in the parent world by looking again.
            if parent == nil { condition.wait() } else { _ = condition.wait(until: Date(timeIntervalSinceNow: 0.2)) }
        }
    }

    /// Why a collective of this world can no longer complete (a rank of it or of its parent has ended),
    /// or nil. Called with this world's lock held.
    private func endedReason() -> String? {
        if running < size {
            return failure ?? "a rank finished while others wait in a collective (the ranks made different sequences of collective calls)"
        }
        guard let parent else { return nil }
        parent.condition.lock()
        defer { parent.condition.unlock() }
        return parent.endedReason()
    }

    func markFailed(rank: Int, _ error: Error) {
        condition.lock()
        if failure == nil { failure = "rank \(rank): \(error)" }
        condition.unlock()
    }

    func markDone() {
        condition.lock()
        running -= 1
        condition.broadcast()
        condition.unlock()
    }
}

/// Per-rank result slots written from the rank threads.
private final class ResultSlots<R>: @unchecked Sendable {
    private var slots: [Result<R, Error>?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ value: Result<R, Error>) { lock.withLock { slots[i] = value } }
    func values() -> [Result<R, Error>] { lock.withLock { slots.map { $0! } } }
}
