// JobBLAS.swift — the BLAS every rank of a job computes with, gathered on rank 0 and grouped, for the
// opening tables of runs and extractions and the start record of metrics.jsonl. Ranks on different
// CPUs (a heterogeneous cluster) may run different kernels; the table then shows one line per kernel
// with its ranks.

import Foundation
import Tensors

/// Each distinct BLAS runtime of the job with the ranks that run it (on rank 0; empty elsewhere).
public struct JobBLAS: Sendable {
    /// One BLAS runtime and the ranks that run it; encoded flat: the runtime's fields and `ranks`.
    public struct Group: Codable, Equatable, Sendable {
        public var runtime: BLASRuntime
        public var ranks: [Int]

        private enum CodingKeys: String, CodingKey { case ranks }

        public init(runtime: BLASRuntime, ranks: [Int]) {
            self.runtime = runtime
            self.ranks = ranks
        }

        public init(from decoder: Decoder) throws {
            runtime = try BLASRuntime(from: decoder)
            ranks = try decoder.container(keyedBy: CodingKeys.self).decode([Int].self, forKey: .ranks)
        }

        public func encode(to encoder: Encoder) throws {
            try runtime.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(ranks, forKey: .ranks)
        }
    }

    public var groups: [Group] = []

    /// Gathers every rank's runtime (a collective: every rank calls it).
    public static func gather(_ comm: Communicator) throws -> JobBLAS {
        let encoded = String(decoding: try JSONEncoder().encode(BLASRuntime.current()), as: UTF8.self)
        var job = JobBLAS()
        for (rank, text) in comm.gather(string: encoded).enumerated() {
            let runtime = try JSONDecoder().decode(BLASRuntime.self, from: Data(text.utf8))
            if let i = job.groups.firstIndex(where: { $0.runtime == runtime }) { job.groups[i].ranks.append(rank) } else { job.groups.append(Group(runtime: runtime, ranks: [rank])) }
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

    /// The lines as rows of a resolved-config table.
    public var tableRows: [(name: String, value: String)] { lines.map { ("blas", $0) } }

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
