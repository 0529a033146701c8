// GroundingReport.swift — accuracy per split and per expression type, with both baselines and (for
// synthetic data) the chance of picking the right object among its look-alikes, as a table and as JSON.

import Foundation

/// Summed outcomes of a group of expressions.
public struct GroundingTally: Codable, Equatable, Sendable {
    public var count = 0
    public var correct = 0.0, pointing = 0.0, randomAnchor = 0.0, objectness = 0.0
    /// Σ 1 / (1 + look-alikes) over the `lookalikeCount` expressions whose look-alikes are known.
    public var lookalikeChance = 0.0, lookalikeCount = 0

    public init() {}

    /// Adds one expression's outcome; `lookalikes` counts the other objects of its category, if known.
    public mutating func add(_ o: GroundingOutcome, lookalikes: Int? = nil) {
        count += 1
        correct += o.correct ? 1 : 0
        pointing += o.pointing ? 1 : 0
        randomAnchor += o.randomAnchor
        objectness += o.objectnessBaseline ? 1 : 0
        if let lookalikes {
            lookalikeChance += 1 / Double(1 + lookalikes)
            lookalikeCount += 1
        }
    }

    func percent(_ v: Double) -> Double { count > 0 ? 100 * v / Double(count) : 0 }
    public var accuracy: Double { percent(correct) }
    public var pointingAccuracy: Double { percent(pointing) }
    public var randomAnchorAccuracy: Double { percent(randomAnchor) }
    public var objectnessAccuracy: Double { percent(objectness) }
    /// Chance among look-alikes in %, when every expression's look-alikes are known.
    public var lookalikeChanceAccuracy: Double? { lookalikeCount == count && count > 0 ? 100 * lookalikeChance / Double(count) : nil }
}

/// The look-alike chance cell of a table row ("–" when unknown).
private func chanceCell(_ t: GroundingTally) -> String { t.lookalikeChanceAccuracy.map { String(format: " %.2f |", $0) } ?? " – |" }

/// Results of one split: overall and per expression type.
public struct SplitReport: Codable, Equatable, Sendable {
    public var split: String
    public var overall = GroundingTally()
    public var byType: [String: GroundingTally] = [:]

    public init(split: String) { self.split = split }
}

/// Formats reports as a Markdown table: accuracy (IoU > 0.5), pointing game and baselines, in %.
public func reportTable(_ reports: [SplitReport], model: String = "model") -> String {
    let chance = reports.contains { $0.overall.lookalikeChanceAccuracy != nil }
    var lines = ["| split | n | \(model) acc | pointing | random anchor | top objectness |" + (chance ? " look-alike chance |" : ""),
                 "|---|---:|---:|---:|---:|---:|" + (chance ? "---:|" : "")]
    func row(_ name: String, _ t: GroundingTally) -> String {
        String(format: "| %@ | %d | %.2f | %.2f | %.2f | %.2f |", name, t.count, t.accuracy, t.pointingAccuracy, t.randomAnchorAccuracy, t.objectnessAccuracy)
            + (chance ? chanceCell(t) : "")
    }
    for report in reports {
        lines.append(row(report.split, report.overall))
        for type in report.byType.keys.sorted() where !type.isEmpty { lines.append(row("  \(report.split)/\(type)", report.byType[type]!)) }
    }
    return lines.joined(separator: "\n")
}

/// One model's reports on several splits.
public struct ModelReports: Codable, Sendable {
    public var name: String
    public var reports: [SplitReport]

    public init(name: String, reports: [SplitReport]) {
        self.name = name
        self.reports = reports
    }
}

/// Several models side by side: accuracy and pointing game per model, then the detector-only
/// baselines (the same for every model), per split and expression type, in %.
public func comparisonTable(_ models: [ModelReports]) -> String {
    guard let first = models.first else { return "" }
    var header = "| split | n |", rule = "|---|---:|"
    for m in models {
        header += " \(m.name) acc | pointing |"
        rule += "---:|---:|"
    }
    let chance = first.reports.contains { $0.overall.lookalikeChanceAccuracy != nil }
    var lines = [header + " random anchor | top objectness |" + (chance ? " look-alike chance |" : ""), rule + "---:|---:|" + (chance ? "---:|" : "")]
    func row(_ name: String, _ tally: (ModelReports) -> GroundingTally?) {
        guard let base = tally(first) else { return }
        var line = "| \(name) | \(base.count) |"
        for m in models {
            let t = tally(m) ?? GroundingTally()
            line += String(format: " %.2f | %.2f |", t.accuracy, t.pointingAccuracy)
        }
        lines.append(line + String(format: " %.2f | %.2f |", base.randomAnchorAccuracy, base.objectnessAccuracy) + (chance ? chanceCell(base) : ""))
    }
    for (i, report) in first.reports.enumerated() {
        row(report.split) { $0.reports[i].overall }
        for type in report.byType.keys.sorted() where !type.isEmpty { row("  \(report.split)/\(type)") { $0.reports[i].byType[type] } }
    }
    return lines.joined(separator: "\n")
}
