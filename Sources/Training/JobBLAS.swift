// JobBLAS.swift — the BLAS every rank of a job computes with, gathered on rank 0 and grouped, for the
// run's opening table and the start record of metrics.jsonl. Ranks on different CPUs (a heterogeneous
// cluster) may run different kernels; the table then shows one line per kernel with its ranks.

import Distributed
import Foundation
import Tensors

/// Each distinct BLAS runtime of the job with the ranks that run it (on rank 0; empty elsewhere).
public struct JobBLAS {
    public var groups: [(runtime: BLASRuntime, ranks: [Int])] = []

    /// Gathers every rank's runtime (a collective: every rank calls it).
    public static func gather(_ comm: Communicator) throws -> JobBLAS {
        let encoded = String(decoding: try JSONEncoder().encode(BLASRuntime.current()), as: UTF8.self)
        var job = JobBLAS()
        for (rank, text) in comm.gather(string: encoded).enumerated() {
            let runtime = try JSONDecoder().decode(BLASRuntime.self, from: Data(text.utf8))
            if let i = job.groups.firstIndex(where: { $0.runtime == runtime }) { job.groups[i].ranks.append(rank) } else { job.groups.append((runtime, [rank])) }
        }
        return job
    }

    /// One line per group: "OpenBLAS 0.3.21, kernel Haswell (detected by OpenBLAS), 1 thread; CPU … — all 2 ranks".
    public var lines: [String] {
        let total = groups.reduce(0) { $0 + $1.ranks.count }
        return groups.map { group in
            let who = group.ranks.count == total ? (total == 1 ? "1 rank" : "all \(total) ranks") : "ranks " + rangesText(group.ranks)
            return "\(group.runtime.summary) — \(who)"
        }
    }

    /// The lines as rows of the resolved-config table.
    public var tableRows: [(name: String, value: String)] { lines.map { ("blas", $0) } }

    /// The groups as JSON objects for metrics.jsonl.
    public var records: [[String: Any]] {
        groups.map { ["library": $0.runtime.library, "kernel": $0.runtime.kernel, "kernel_origin": $0.runtime.kernelOrigin,
                      "threads": $0.runtime.threads, "cpu": $0.runtime.cpu, "ranks": $0.ranks] }
    }

    /// "0–3, 6, 8–9" for sorted ranks.
    private func rangesText(_ ranks: [Int]) -> String {
        var parts: [String] = []
        var start = ranks[0], end = ranks[0]
        for r in ranks.dropFirst() + [Int.min] {
            if r == end + 1 { end = r; continue }
            parts.append(start == end ? "\(start)" : "\(start)–\(end)")
            start = r
            end = r
        }
        return parts.joined(separator: ", ")
    }
}
