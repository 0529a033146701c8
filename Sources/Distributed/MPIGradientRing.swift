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

import CMPI
import Foundation
import Tensors

extension MPICommunicator {
    public func allReduceGradient(_ buffer: UnsafeMutableBufferPointer<Float>, wire: GradientWire) {
        let (n, w) = (buffer.count, size)
        guard w > 1, n > 0, let values = buffer.baseAddress else { return }
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

        /// Sends `send` to the right and receives `receive` from the left, as `wire` values.
        func exchange(send: Range<Int>, receive: Range<Int>, into target: UnsafeMutablePointer<Float>) {
            switch wire {
            case .f32:
                transfer(values + send.lowerBound, send.count, to: right, target, receive.count, from: left, refclip_mpi_float())
            case .bf16:
                for i in 0 ..< send.count { outgoing[i] = values[send.lowerBound + i].bfloat16Bits }
                transfer(outgoing, send.count, to: right, incoming, receive.count, from: left, refclip_mpi_uint16())
                for i in 0 ..< receive.count { target[i] = Float(bfloat16Bits: incoming[i]) }
            }
        }
        for s in 0 ..< w - 1 {
            let (send, receive) = (chunk(rank - s + w), chunk(rank - s - 1 + 2 * w))
            exchange(send: send, receive: receive, into: received)
            let sum = values + receive.lowerBound
            switch wire {
            case .f32: for i in 0 ..< receive.count { sum[i] += received[i] }
            case .bf16: for i in 0 ..< receive.count { sum[i] = sum[i].roundedToBFloat16 + received[i] }
            }
        }
        if wire == .bf16 {
            let owned = chunk(rank + 1)
            for i in owned { values[i] = values[i].roundedToBFloat16 }
        }
        for s in 0 ..< w - 1 {
            let (send, receive) = (chunk(rank + 1 - s + w), chunk(rank - s + w))
            exchange(send: send, receive: receive, into: values + receive.lowerBound)
        }
    }

    /// Posts a receive from `source` and a send to `destination`, then waits for both, polling with
    /// sleeps of `pollMicroseconds` (the TCP transport progresses only inside MPI calls; the kernel's
    /// socket buffers keep the wire busy between polls).
    private func transfer(_ send: UnsafeMutableRawPointer, _ sendCount: Int, to destination: Int,
                          _ receive: UnsafeMutableRawPointer, _ receiveCount: Int, from source: Int, _ type: MPI_Datatype) {
        var requests: [MPI_Request?] = [nil, nil]
        check(MPI_Irecv(receive, Int32(receiveCount), type, Int32(source), 0, comm, &requests[0]), "MPI_Irecv")
        check(MPI_Isend(send, Int32(sendCount), type, Int32(destination), 0, comm, &requests[1]), "MPI_Isend")
        var done: Int32 = 0
        while true {
            check(MPI_Testall(2, &requests, &done, refclip_mpi_statuses_ignore()), "MPI_Testall")
            if done != 0 { return }
            usleep(pollMicroseconds)
        }
    }
}
