// Timing.swift — wall-clock measurement and the benchmark table, whose header names the BLAS it ran on.

import Distributed
import Foundation
import Tensors

/// Seconds of one run of `body`, as the median of `repeats` runs after one warm-up run.
func medianSeconds(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    for _ in 0 ..< repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.sorted()[times.count / 2]
}

/// Seconds of one run of each of `bodies`, as medians of `repeats` rounds after one warm-up round; each
/// round runs every body once, so a drift in the machine's speed falls on all of them alike.
func interleavedMedianSeconds(repeats: Int, _ bodies: [() -> Void]) -> [Double] {
    bodies.forEach { $0() }
    var times = Array(repeating: [Double](), count: bodies.count)
    for _ in 0 ..< repeats {
        for (i, body) in bodies.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times[i].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
    }
    return times.map { $0.sorted()[$0.count / 2] }
}

/// Prints one row of the results table: what was measured, the figure, and a note.
func report(_ what: String, _ value: String, _ note: String = "") {
    print("| \(what) | \(value) | \(note) |")
    fflush(stdout)
}

/// Prints a table's title, the BLAS it runs on (library, kernel and why, CPU) and its column heads.
/// `threads` says how many BLAS threads the rows use (default: the current setting).
func reportHeader(_ title: String, threads: String? = nil) {
    let blas = BLASRuntime.current()
    let threadText = threads ?? "\(blas.threads) thread\(blas.threads == 1 ? "" : "s") per rank"
    print("\n### \(title)\n\nBLAS: \(blas.library), kernel \(blas.kernel) (\(blas.kernelOrigin)), \(threadText); CPU \(blas.cpu)\n")
    print("| benchmark | result | note |\n|---|---|---|")
}

/// `body`'s result and the peak resident set while it ran, the largest over the ranks of `comm` (nil
/// where the kernel does not report it). Storage kept for reuse by earlier work is freed first.
func withPeakResident<T>(_ comm: Communicator, _ body: () -> T) -> (T, Int?) {
    TensorMemory.freeReleasedStorage()
    let reset = TensorMemory.resetResidentPeak()
    let result = body()
    let peak = reset ? TensorMemory.residentBytes()?.peak : nil
    let largest = comm.allReduce(peak ?? -1, .max)
    return (result, largest >= 0 ? largest : nil)
}

/// A peak resident set for a table: "peak RSS 6.21 GB", or that it is not reported.
func residentText(_ bytes: Int?) -> String {
    bytes.map { String(format: "peak RSS %.2f GB", Double($0) / 1e9) } ?? "peak RSS not reported"
}
