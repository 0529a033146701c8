// GradientReducer.swift — the sum of the flat gradient over ranks, in buckets, overlapped with backward.
//
// Backward tells the parameter store where a module's gradients are final (finishGradients); the
// finished values, in that order, are cut into buckets of `bucket_mb` (the last bucket holds what is
// left, with any parameter backward never named). Every rank runs the same backward, so every rank cuts
// the same buckets. With overlap a communication thread sums each bucket as soon as it is cut, while
// backward goes on; `finish` waits only for the buckets still in flight. Without overlap `finish` sums
// the same buckets in the same order on the calling thread, so on and off give bitwise the same
// gradient at any world size.
//
// Ordering with the other collectives, by design: the forward's all-gathers, synchronized BatchNorm's
// sums (also during backward) and the loss's sums stay on the run's communicator, called only by the
// compute thread; buckets go only over a duplicate of it (MPI_Comm_dup), called only by the
// communication thread, in the order they were cut. Each communicator so sees the same sequence of
// calls on every rank, and neither waits behind the other's traffic: a BatchNorm sum during backward
// is as quick as without overlap. (A communicator that cannot serve two threads — an MPI library
// without MPI_THREAD_MULTIPLE — gets no thread: the buckets are then summed in `finish`.)
//
// With the bfloat16 wire each rank adds to its gradient what rounding took from it at the last step
// (error feedback), sends the rounded value and keeps the new residual: nothing is lost over time.
// Residuals stay on their rank and are not checkpointed: a resumed bf16 run starts them at zero, one
// step's rounding from the uninterrupted run (the f32 wire resumes bitwise).
//
// Why a thread of our own, not non-blocking collectives progressed from the compute thread between
// layers: Open MPI's TCP transport moves data only inside MPI calls, and one convolution's backward at
// the reference size runs for a large part of a second without one, while a 25 MiB bucket needs 0.22 s
// of a 1 Gbit/s wire; the thread polls every few hundred microseconds throughout. Measured on 2 hosts
// at 1 Gbit/s (make bench-scale): the teacher step waits 0.18 s for its buckets with overlap against
// 0.89 s without.

import Configuration
import Distributed
import Foundation
import Layers
import Tensors

/// How a step's gradient is summed over ranks.
public struct GradientSyncSettings: Equatable, Sendable {
    /// Float32 gradient values per bucket, in bytes.
    public var bucketBytes: Int
    /// Whether buckets are summed while backward runs.
    public var overlap: Bool
    /// What the values travel as.
    public var wire: GradientWire

    public init(bucketBytes: Int = 8 << 20, overlap: Bool = true, wire: GradientWire = .f32) {
        precondition(bucketBytes >= 4, "a bucket holds at least one value")
        self.bucketBytes = bucketBytes
        self.overlap = overlap
        self.wire = wire
    }
}

/// Sums one model's gradient over ranks, bucket by bucket as backward finishes them.
public final class GradientReducer {
    public let settings: GradientSyncSettings
    private let params: ParameterStore
    private let ranks: Int
    private let bucketValues: Int
    private let transport: BucketTransport
    private let worker: BucketWorker?
    private var finished: [Bool]
    private var waiting: [Range<Int>] = []
    private var waitingValues = 0
    /// The last step's buckets (flat gradient ranges), in the order they were cut.
    public private(set) var lastBuckets: [[Range<Int>]] = []
    /// Seconds the last `finish` waited for buckets (with overlap: the communication backward did not hide).
    public private(set) var lastWait = 0.0
    /// Seconds of the last step from its first bucket to `finish`: how long backward could hide communication.
    public private(set) var lastWindow = 0.0
    private var firstCut: UInt64?

    /// A reducer of `params`'s gradient over `communicator`'s ranks.
    public init(params: ParameterStore, communicator: Communicator, settings: GradientSyncSettings = GradientSyncSettings()) {
        self.params = params
        self.settings = settings
        ranks = communicator.size
        bucketValues = max(1, settings.bucketBytes / MemoryLayout<Float>.stride)
        finished = Array(repeating: false, count: params.refs.count)
        let copy = communicator.size > 1 ? communicator.duplicate() : nil
        transport = BucketTransport(params: params, communicator: copy ?? communicator, wire: settings.wire, capacity: bucketValues)
        worker = settings.overlap && copy != nil ? BucketWorker(transport) : nil
    }

    deinit { worker?.stop() }

    /// Starts a step: from now on backward's finished gradients are cut into buckets (and, with
    /// overlap, summed at once).
    public func begin() {
        finished = Array(repeating: false, count: params.refs.count)
        (waiting, waitingValues, lastBuckets, firstCut) = ([], 0, [], nil)
        guard ranks > 1 else { return }
        params.gradientsFinished = { [unowned self] in self.take($0) }
    }

    /// Ends a step: cuts what backward left, and returns when every bucket is summed over ranks.
    public func finish() {
        params.gradientsFinished = nil
        guard ranks > 1 else { return }
        let start = DispatchTime.now()
        lastWindow = Double(start.uptimeNanoseconds - (firstCut ?? start.uptimeNanoseconds)) / 1e9
        take(finished.indices.filter { !finished[$0] })
        cutBucket(waitingValues)
        if let worker {
            worker.waitUntilDone()
        } else {
            for bucket in lastBuckets { transport.reduce(bucket) }
        }
        lastWait = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// Queues the ranges of newly finished parameters and cuts every full bucket.
    private func take(_ indices: [Int]) {
        for i in indices {
            precondition(!finished[i], "\(params.refs[i].name): its gradient was finished twice in one step")
            finished[i] = true
            let ref = params.refs[i]
            let range = ref.offset ..< ref.offset + ref.count
            if let last = waiting.last, last.upperBound == range.lowerBound {
                waiting[waiting.count - 1] = last.lowerBound ..< range.upperBound
            } else {
                waiting.append(range)
            }
            waitingValues += ref.count
        }
        while waitingValues >= bucketValues { cutBucket(bucketValues) }
    }

    /// Moves the first `count` waiting values into a bucket and hands it on (with overlap, to the
    /// communication thread).
    private func cutBucket(_ count: Int) {
        guard count > 0 else { return }
        var bucket: [Range<Int>] = [], left = count
        while left > 0 {
            let first = waiting[0]
            let taken = min(left, first.count)
            bucket.append(first.lowerBound ..< first.lowerBound + taken)
            if taken == first.count { waiting.removeFirst() } else { waiting[0] = first.lowerBound + taken ..< first.upperBound }
            left -= taken
        }
        waitingValues -= count
        lastBuckets.append(bucket)
        if firstCut == nil { firstCut = DispatchTime.now().uptimeNanoseconds }
        worker?.submit(bucket)
    }
}

/// Sums one bucket over ranks: error feedback for bfloat16, packing when the bucket has several ranges.
private final class BucketTransport: @unchecked Sendable {
    private let grads: UnsafeMutablePointer<Float>
    private let communicator: Communicator
    private let wire: GradientWire
    private let staging: UnsafeMutablePointer<Float>
    private let residual: UnsafeMutablePointer<Float>?

    init(params: ParameterStore, communicator: Communicator, wire: GradientWire, capacity: Int) {
        grads = params.grads.data
        self.communicator = communicator
        self.wire = wire
        staging = .allocate(capacity: capacity)
        if wire == .bf16 {
            residual = .allocate(capacity: params.count)
            residual!.initialize(repeating: 0, count: params.count)
        } else {
            residual = nil
        }
    }

    deinit {
        staging.deallocate()
        residual?.deallocate()
    }

    func reduce(_ bucket: [Range<Int>]) {
        if let residual {
            for range in bucket { roundToBFloat16KeepingResidual(grads + range.lowerBound, residual: residual + range.lowerBound, range.count) }
        }
        if bucket.count == 1, let range = bucket.first {
            communicator.allReduceGradient(UnsafeMutableBufferPointer(start: grads + range.lowerBound, count: range.count), wire: wire)
            return
        }
        var offset = 0
        for range in bucket {
            (staging + offset).update(from: grads + range.lowerBound, count: range.count)
            offset += range.count
        }
        communicator.allReduceGradient(UnsafeMutableBufferPointer(start: staging, count: offset), wire: wire)
        offset = 0
        for range in bucket {
            (grads + range.lowerBound).update(from: staging + offset, count: range.count)
            offset += range.count
        }
    }
}

/// A rank's communication thread: sums buckets in the order they are submitted.
private final class BucketWorker: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [[Range<Int>]] = []
    private var submitted = 0, completed = 0
    private var stopping = false

    init(_ transport: BucketTransport) {
        let thread = Thread { self.run(transport) }  // holds the worker until `stop` ends the loop
        thread.name = "gradient buckets"
        thread.start()
    }

    func submit(_ bucket: [Range<Int>]) {
        condition.lock()
        queue.append(bucket)
        submitted += 1
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilDone() {
        condition.lock()
        while completed < submitted { condition.wait() }
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func run(_ transport: BucketTransport) {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty { condition.unlock(); return }
            let bucket = queue.removeFirst()
            condition.unlock()
            transport.reduce(bucket)
            condition.lock()
            completed += 1
            condition.broadcast()
            condition.unlock()
        }
    }
}

extension RuntimeConfig {
    /// How the step's gradient is summed over ranks (`runtime.bucket_mb`, `overlap`, `gradient_wire`).
    public var gradientSync: GradientSyncSettings {
        GradientSyncSettings(bucketBytes: max(4, Int(bucketMB * 1_048_576)), overlap: overlap, wire: gradientWire)
    }
}
