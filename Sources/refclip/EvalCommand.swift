// EvalCommand.swift — `refclip eval`: accuracy (IoU > 0.5) and pointing game per split for one or
// more checkpoints (teacher or student), beside the random-anchor and highest-objectness baselines.

import ArgumentParser
import Datasets
import Distributed
import Evaluation
import Foundation
import Tensors
import Training

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
                let loaded = try checkpoint.map { path in (path, try Checkpoint.read(path)) }
                let first = loaded[0].1.header
                let config = try RunConfig(schema: try phaseSchema(first.phase, source: checkpoint[0]), yaml: first.config, overrides: overrides)
                let store = try FeatureStore.shared(directory: config.string("data.features"), communicator: comm)
                let data = try GroundingData.shared(comm) {
                    try GroundingData.prepare(annotations: config.string("data.annotations"), wordVectors: config.string("data.word_vectors"),
                                              store: store, maxTokens: config.int("data.max_tokens"))
                }
                var results: [ModelReports] = []
                var outcomes: [[SplitOutcomes]] = []
                for (path, ckpt) in loaded {
                    var data = data
                    if ckpt.header.vocabulary != data.vocabulary.words {
                        let unknown = Set(data.vocabulary.words).subtracting(ckpt.header.vocabulary)
                        let vocabulary = Vocabulary(words: ckpt.header.vocabulary)
                        data = try GroundingData.shared(comm) {
                            try GroundingData.prepare(annotations: config.string("data.annotations"), wordVectors: config.string("data.word_vectors"),
                                                      store: store, maxTokens: config.int("data.max_tokens"), vocabulary: vocabulary)
                        }
                        if comm.isRoot, !unknown.isEmpty {
                            print("note: \(path) reads \(unknown.count) words of these annotations as UNK: \(unknown.sorted().prefix(10).joined(separator: ", "))")
                        }
                    }
                    let own = try RunConfig(schema: try phaseSchema(ckpt.header.phase, source: path), yaml: ckpt.header.config)
                    let view = own.int("data.view")
                    let batch = config.int("train.eval_batch")
                    let evaluate: (String, [GroundingItem]) throws -> GroundingEvaluation
                    switch ckpt.header.phase {
                    case TeacherPhase.name:
                        let model = try ckpt.teacher(path: path, average: !raw)
                        evaluate = { try evaluateTeacher(model, split: $0, items: $1, store: store, view: view, batch: batch, communicator: comm) }
                    default:
                        let model = try ckpt.student(path: path, average: !raw)
                        evaluate = { try evaluateStudent(model, split: $0, items: $1, store: store, view: view, batch: batch, communicator: comm) }
                    }
                    var reports: [SplitReport] = [], perSplit: [SplitOutcomes] = []
                    for name in split {
                        let items = try data.items(name)
                        let evaluation = try evaluate(name, items)
                        reports.append(evaluation.report)
                        perSplit.append(SplitOutcomes(split: name, correct: evaluation.outcomes.map(\.correct), types: items.map { $0.types.first ?? "" }))
                    }
                    outcomes.append(perSplit)
                    let weights = raw || !ckpt.hasAverage ? "raw" : "EMA"
                    let run = own.string("name") == ckpt.header.phase ? "" : " " + own.string("name")
                    results.append(ModelReports(name: "\(ckpt.header.phase)\(run) (\(weights), step \(ckpt.header.position.globalStep))", reports: reports))
                }
                guard comm.isRoot else { return }
                print(comparisonTable(results))
                if paired { print("\n" + pairedComparisonTable(names: results.map(\.name), outcomes: outcomes)) }
                for pseudoLabels in pseudoLabels {
                    let info = try Annotations.load(pseudoLabels).info
                    if let accuracy = info["pseudo_label_accuracy"] { print("\npseudo-labels (\(pseudoLabels)): \(accuracy)% of training expressions correct (IoU > 0.5)") }
                }
                if let json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                    try writeFileAtomically(json, bytes: [UInt8](try encoder.encode(results)))
                }
            }
        }
    }
}
