// EvalCommand.swift — `refclip eval`: accuracy (IoU > 0.5) and pointing game per split for one or
// more checkpoints (teacher or student), beside the random-anchor and highest-objectness baselines.

import Application
import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Tensors

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate checkpoints (teacher or student) on one or more splits.",
        discussion: """
            Data paths come from the first checkpoint's config unless overridden with --set data.KEY=VALUE (for example \
            another dataset's annotations and features: each model reads the expressions with its own vocabulary, words \
            it never saw as UNK). With several checkpoints the table shows them side by side.
            """)

    @Option(help: "Checkpoint file (repeatable).")
    var checkpoint: [String]

    @Option(help: "Split to evaluate (repeatable).")
    var split: [String] = ["val"]

    @Flag(help: "Use the raw weights instead of the EMA weights.")
    var raw = false

    @Option(name: .customLong("pseudo-labels"), help: "A pseudo-label file whose recorded accuracy to show under the table (repeatable).")
    var pseudoLabels: [String] = []

    @Flag(help: "Under the table, compare every checkpoint after the first with the first, item by item: items gained and lost per split and expression type, with McNemar's exact p-value.")
    var paired = false

    @Option(help: "Also write the reports as JSON to this file.")
    var json: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a key of the checkpoint's config (data.*, train.eval_batch).", valueName: "key=value"))
    var overrides: [String] = []

    @OptionGroup var launching: LaunchOptions

    func validate() throws {
        guard !checkpoint.isEmpty else { throw ValidationError("give at least one --checkpoint") }
        guard !paired || checkpoint.count > 1 else { throw ValidationError("--paired compares checkpoints with the first: give two or more") }
    }

    func run() throws {
        try reportingErrors {
            try launching.run { comm in
                let evaluation = try evaluateCheckpoints(checkpoint, splits: split, raw: raw, overrides: overrides, communicator: comm) { print($0) }
                guard comm.isRoot else { return }
                print(comparisonTable(evaluation.results))
                if paired { print("\n" + pairedComparisonTable(names: evaluation.results.map(\.name), outcomes: evaluation.outcomes)) }
                for pseudoLabels in pseudoLabels {
                    let info = try Annotations.load(pseudoLabels).info
                    if let accuracy = info["pseudo_label_accuracy"] { print("\npseudo-labels (\(pseudoLabels)): \(accuracy)% of training expressions correct (IoU > 0.5)") }
                }
                if let json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                    try writeFileAtomically(json, bytes: [UInt8](try encoder.encode(evaluation.results)))
                }
            }
        }
    }
}
