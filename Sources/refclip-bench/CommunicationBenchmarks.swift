// CommunicationBenchmarks.swift — all-reduce bandwidth of a 64 MiB Float buffer: the communicator
// (chunked) against one plain MPI_Allreduce call, interleaved. Run under mpirun with 2 or more ranks.

import CMPI
import Distributed
import Foundation

func runAllReduceBenchmark(_ comm: Communicator) {
    guard let comm = comm as? MPICommunicator, comm.size > 1 else {
        print("allreduce: run under mpirun with 2 or more ranks")
        return
    }
    let count = 16 << 20  // 64 MiB of Float
    let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
    defer { buffer.deallocate() }
    buffer.initialize(repeating: 1e-3)
    let bytes = Double(count * MemoryLayout<Float>.stride)

    comm.barrier()
    let seconds = interleavedMedianSeconds(repeats: 7, [
        { comm.allReduce(buffer, .sum); comm.barrier() },
        {
            _ = MPI_Allreduce(refclip_mpi_in_place(), buffer.baseAddress, Int32(count), refclip_mpi_float(), refclip_mpi_sum(),
                              refclip_mpi_comm_world())
            comm.barrier()
        },
    ])
    let (chunked, plain) = (seconds[0], seconds[1])
    if comm.isRoot {
        reportHeader("All-reduce, \(comm.size) ranks, 64 MiB Float32")
        let chunkedRate = bytes / chunked / 1e9, plainRate = bytes / plain / 1e9
        report("Communicator.allReduce (\(comm.chunkBytes >> 20) MiB chunks)", String(format: "%.2f GB/s", chunkedRate),
               String(format: "%.2f × plain (target ≥ 1.0)", chunkedRate / plainRate))
        report("one MPI_Allreduce call", String(format: "%.2f GB/s", plainRate))
    }
}
