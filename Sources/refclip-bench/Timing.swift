// Timing.swift — wall-clock measurement and the benchmark table.

import Foundation

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

/// Prints one row of the results table: what was measured, the figure, and a note.
func report(_ what: String, _ value: String, _ note: String = "") {
    print("| \(what) | \(value) | \(note) |")
    fflush(stdout)
}

func reportHeader(_ title: String) {
    print("\n### \(title)\n\n| benchmark | result | note |\n|---|---|---|")
}
