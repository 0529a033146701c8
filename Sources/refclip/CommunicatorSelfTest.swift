// CommunicatorSelfTest.swift — hidden `refclip comm-selftest`: the communicator conformance suite
// on MPI, run by the test suite under mpirun (and without it, as a singleton).

import ArgumentParser
import Distributed
import Foundation

struct CommunicatorSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comm-selftest",
        abstract: "Run the communicator conformance suite on MPI (used by the tests).",
        shouldDisplay: false
    )

    @Option(help: "Also run the suite with this chunk size in bytes, to exercise chunked collectives.")
    var smallChunkBytes = 4096

    func run() throws {
        let comm = MPICommunicator()
        var failures = CommunicatorConformance.run(comm)
        let defaultChunk = comm.chunkBytes
        comm.chunkBytes = smallChunkBytes
        failures += CommunicatorConformance.run(comm, large: 20_011)
        comm.chunkBytes = defaultChunk
        let total = comm.allReduce(failures.count)
        for failure in failures { print("FAIL \(failure)") }
        print("rank \(comm.rank) of \(comm.size): \(failures.isEmpty ? "ok" : "\(failures.count) failures")")
        comm.finalize()
        if total > 0 { throw ExitCode(1) }
    }
}
