// MPIGradientRing.swift — the gradient buckets' all-reduce over MPI: a ring of point-to-point messages
// (reduce-scatter, then all-gather), each rank sending 2(W − 1)/W of the bucket, the least any
// all-reduce can. It is ours rather than MPI_Allreduce's because (a) Open MPI's choice of algorithm
// depends on the message size, and pieces of a few MiB were measured at half the wire's rate on TCP,
// (b) MPI's blocking calls spin a core while they wait, which on a communication thread takes it from
// the compute thread — here every wait polls its requests with sleeps in between — and (c) bfloat16
// values can travel while every partial sum is added in float32.
//
// Chunk k of a bucket of n values is [k·n/W, (k+1)·n/W). In step s of the reduce-scatter rank r sends
// chunk (r − s) mod W to rank r + 1 and adds what rank r − 1 sends; rank r then holds the sum of chunk
// (r + 1) mod W, added in ring order from its first rank, and the all-gather passes those sums on.
// Every rank receives each sum as its owner computed it: bitwise the same result everywhere.
//
// Where every rank shares one node, float32 buckets go through MPI_Allreduce in `chunkBytes` pieces
// instead: over shared memory that measured 4.2 GB/s for 64 MiB against the ring's 1.9. So do small
// ones anywhere: below 256 KiB a message's latency rules, and the ring pays 2(W − 1) of them (4 KiB
// took 0.19 ms against MPI's 0.03 over TCP).

import CMPI
import Foundation
import Tensors

extension MPICommunicator {
    public func allReduceGradient(_ buffer: UnsafeMutableBufferPointer<Float>, wire: GradientWire) {
        let (n, w) = (buffer.count, size)
        guard w > 1, n > 0, let values = buffer.baseAddress else { return }
        if wire == .f32 && (ranksShareNode || n * MemoryLayout<Float>.stride < 256 << 10) {
            forEachChunk(n, Float.self) { offset, count in
                check(MPI_Allreduce(refclip_mpi_in_place(), values + offset, Int32(count), refclip_mpi_float(), refclip_mpi_sum(), comm), "MPI_Allreduce")
            }
            return
        }
        let (right, left) = ((rank + 1) % w, (rank + w - 1) % w)
        func chunk(_ k: Int) -> Range<Int> { (k % w) * n / w ..< ((k % w) + 1) * n / w }
        let largest = n / w + 1
        precondition(largest <= Int(Int32.max), "allReduceGradient: \(n) values over \(w) ranks exceed MPI's counts")
        let received = UnsafeMutablePointer<Float>.allocate(capacity: largest)
        let (outgoing, incoming) = (UnsafeMutablePointer<UInt16>.allocate(capacity: largest), UnsafeMutablePointer<UInt16>.allocate(capacity: largest))
        defer {
            received.deallocate()
            outgoing.deallocate()
            incoming.deallocate()
        }

        /// Sends `send` to the right and receives `receive` from the left, as `wire` values: adding
        /// them to the values there (the reduce-scatter), or replacing them (the all-gather).
        func exchange(send: Range<Int>, receive: Range<Int>, adding: Bool) {
            let target = values + receive.lowerBound
            switch wire {
            case .f32:
                transfer(values + send.lowerBound, send.count, to: right, adding ? received : target, receive.count, from: left, refclip_mpi_float())
                if adding { for i in 0 ..< receive.count { target[i] += received[i] } }
            case .bf16:
                encodeBFloat16(values + send.lowerBound, send.count, into: outgoing)
                transfer(outgoing, send.count, to: right, incoming, receive.count, from: left, refclip_mpi_uint16())
                if adding { roundToBFloat16(target, receive.count) }
                decodeBFloat16(incoming, receive.count, into: target, adding: adding)
            }
        }
        for s in 0 ..< w - 1 { exchange(send: chunk(rank - s + w), receive: chunk(rank - s - 1 + 2 * w), adding: true) }
        if wire == .bf16 {
            let owned = chunk(rank + 1)
            roundToBFloat16(values + owned.lowerBound, owned.count)
        }
        for s in 0 ..< w - 1 { exchange(send: chunk(rank + 1 - s + w), receive: chunk(rank - s + w), adding: false) }
    }

    /// Posts a receive from `source` and a send to `destination`, then waits for both, polling with
    /// sleeps that double from 10 µs up to `pollMicroseconds`: a small message is done within
    /// microseconds, a large one costs few wake-ups (the TCP transport progresses only inside MPI calls;
    /// the kernel's socket buffers keep the wire busy between polls). Measured on 2 hosts at 1 Gbit/s:
    /// the overlapped teacher step took 1.13, 1.11 and 1.08 × its compute with fixed sleeps of 20, 200
    /// and 1000 µs — wake-ups take CPU from backward — while the wire stayed full.
    private func transfer(_ send: UnsafeMutableRawPointer, _ sendCount: Int, to destination: Int,
                          _ receive: UnsafeMutableRawPointer, _ receiveCount: Int, from source: Int, _ type: MPI_Datatype) {
        var requests: [MPI_Request?] = [nil, nil]
        check(MPI_Irecv(receive, Int32(receiveCount), type, Int32(source), 0, comm, &requests[0]), "MPI_Irecv")
        check(MPI_Isend(send, Int32(sendCount), type, Int32(destination), 0, comm, &requests[1]), "MPI_Isend")
        var (done, pause): (Int32, useconds_t) = (0, 10)
        while true {
            check(MPI_Testall(2, &requests, &done, refclip_mpi_statuses_ignore()), "MPI_Testall")
            if done != 0 { return }
            usleep(pause)
            pause = min(2 * pause, pollMicroseconds)
        }
    }
}
