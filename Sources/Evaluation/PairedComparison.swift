// PairedComparison.swift — whether one model's accuracy differs from another's on the same items by
// more than chance: McNemar's exact test. Only the discordant items count — those one model gets right
// and the other wrong; under the null hypothesis each is a fair coin, so the two-sided p-value is
// p = min(1, 2 · P[Binomial(n, ½) ≤ min(gained, lost)]) with n = gained + lost.

import Foundation

/// Two models' outcomes on the same items, seen from the second ("this") model.
public struct PairedComparison: Equatable, Sendable {
    /// Items only this model gets right.
    public var gained: Int
    /// Items only the reference model gets right.
    public var lost: Int
    /// Items compared.
    public var count: Int

    /// Compares `this` against `reference`, item by item (same order, same length).
    public init(reference: [Bool], this: [Bool]) {
        precondition(reference.count == this.count, "PairedComparison: \(reference.count) and \(this.count) outcomes")
        gained = zip(reference, this).filter { !$0 && $1 }.count
        lost = zip(reference, this).filter { $0 && !$1 }.count
        count = this.count
    }

    /// Accuracy difference in points (this − reference).
    public var difference: Double { count == 0 ? 0 : 100 * Double(gained - lost) / Double(count) }

    /// McNemar's exact two-sided p-value.
    public var pValue: Double {
        let n = gained + lost
        guard n > 0 else { return 1 }
        // Σ_{k ≤ m} C(n, k) / 2ⁿ in log space (n reaches the thousands), log C(n, k) built term by term.
        var logTerm = Double(n) * log(0.5), tail = exp(logTerm)
        for k in 0 ..< min(gained, lost) {
            logTerm += log(Double(n - k)) - log(Double(k + 1))
            tail += exp(logTerm)
        }
        return min(1, 2 * tail)
    }
}

/// One model's outcome per item of one split, with the item's expression type ("" when unknown).
public struct SplitOutcomes: Sendable {
    public var split: String
    public var correct: [Bool]
    public var types: [String]

    public init(split: String, correct: [Bool], types: [String]) {
        self.split = split
        self.correct = correct
        self.types = types
    }
}

/// A markdown table comparing every model after the first with the first, per split and expression
/// type: items gained and lost, the accuracy difference and McNemar's exact p-value.
public func pairedComparisonTable(names: [String], outcomes: [[SplitOutcomes]]) -> String {
    guard names.count > 1, let reference = outcomes.first else { return "" }
    var lines = ["| split | model | n | gained | lost | difference | p (McNemar, exact) |", "|---|---|---:|---:|---:|---:|---:|"]
    for (s, base) in reference.enumerated() {
        let types = [""] + Set(base.types).subtracting([""]).sorted()
        for type in types {
            let keep = base.types.indices.filter { type.isEmpty || base.types[$0] == type }
            let label = type.isEmpty ? base.split : "  \(base.split)/\(type)"
            for m in 1 ..< names.count {
                let other = outcomes[m][s]
                let c = PairedComparison(reference: keep.map { base.correct[$0] }, this: keep.map { other.correct[$0] })
                lines.append("| \(label) | \(names[m]) | \(c.count) | \(c.gained) | \(c.lost) | " + String(format: "%+.2f | %.2g |", c.difference, c.pValue))
            }
        }
    }
    return lines.joined(separator: "\n")
}
