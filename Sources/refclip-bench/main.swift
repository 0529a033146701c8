// main.swift — `refclip-bench`, the program behind `make bench`. Each suite prints a Markdown table;
// compare ratios measured in one run (these machines vary up to 2× between runs). Under mpirun every
// suite shares one MPI communicator.

import Distributed
import Foundation

let suites: [String: (Communicator) -> Void] = [
    "compute": runComputeBenchmarks,
    "allreduce": runAllReduceBenchmark,
    "teacher": runTeacherBenchmark,
    "student": runStudentBenchmark,
    "checkpoint": runCheckpointBenchmark,
    "detector": runDetectorBenchmark,
]
let requested = Array(CommandLine.arguments.dropFirst())
guard !requested.isEmpty, requested.allSatisfy({ suites[$0] != nil }) else {
    FileHandle.standardError.write(Data("usage: refclip-bench SUITE… (suites: \(suites.keys.sorted().joined(separator: ", ")))\n".utf8))
    exit(2)
}
let mpi = MPICommunicator.launchedByMPI ? MPICommunicator() : nil
let communicator: Communicator = mpi ?? SingleProcessCommunicator()
for name in requested { suites[name]!(communicator) }
mpi?.finalize()
