// main.swift — `refclip-bench`, the program behind `make bench`. Each suite prints a Markdown table;
// compare ratios measured in one run (these machines vary up to 2× between runs). Under mpirun every
// suite shares one MPI communicator. `teacher-step --batch N` prints one JSON line for `make bench-peer`.

import Distributed
import Foundation
import Tensors

BLASRuntime.restartOnBestKernelIfNeeded()

var requested = Array(CommandLine.arguments.dropFirst())
/// `--batch N`: the global batch of the `teacher-step` suite (default 8) and the `memory` suite (default 64).
var stepBatch = 8, memoryBatch = 64
if let flag = requested.firstIndex(of: "--batch") {
    guard flag + 1 < requested.count, let value = Int(requested[flag + 1]), value > 0 else {
        FileHandle.standardError.write(Data("refclip-bench: --batch needs a positive integer\n".utf8))
        exit(2)
    }
    (stepBatch, memoryBatch) = (value, value)
    requested.removeSubrange(flag ... flag + 1)
}

let suites: [String: (Communicator) -> Void] = [
    "compute": runComputeBenchmarks,
    "allreduce": runAllReduceBenchmark,
    "teacher": runTeacherBenchmark,
    "student": runStudentBenchmark,
    "checkpoint": runCheckpointBenchmark,
    "detector": runDetectorBenchmark,
    "paper-detector": runPaperDetectorBenchmark,
    "teacher-step": { runTeacherStepThroughput($0, globalBatch: stepBatch) },
    "scale": runScaleBenchmark,
    "memory": { runMemoryBenchmark($0, globalBatch: memoryBatch) },
]
guard !requested.isEmpty, requested.allSatisfy({ suites[$0] != nil }) else {
    FileHandle.standardError.write(Data("usage: refclip-bench SUITE… [--batch N] (suites: \(suites.keys.sorted().joined(separator: ", ")))\n".utf8))
    exit(2)
}
let mpi = MPICommunicator.launchedByMPI ? MPICommunicator() : nil
let communicator: Communicator = mpi ?? SingleProcessCommunicator()
for name in requested { suites[name]!(communicator) }
mpi?.finalize()
