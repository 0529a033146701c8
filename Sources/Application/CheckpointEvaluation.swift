// CheckpointEvaluation.swift — `refclip eval`'s work: one or more checkpoints (teacher or student)
// evaluated on the same splits of one dataset (the first checkpoint's data unless overridden), each
// model reading the expressions with its own vocabulary, at its own input size.

import Configuration
import Datasets
import Distributed
import Evaluation
import Training

/// Every model's reports (named for the table) and every item's outcome per split, in checkpoint order.
public struct CheckpointEvaluation {
    public var results: [ModelReports] = []
    public var outcomes: [[SplitOutcomes]] = []
}

/// Evaluates `checkpoints` on `splits` (collective). `overrides` change the first checkpoint's
/// config (data.*, train.eval_batch); `note` receives rank 0's remarks (words read as UNK).
public func evaluateCheckpoints(_ checkpoints: [String], splits: [String], raw: Bool, overrides: [String], communicator comm: Communicator,
                                note: (String) -> Void) throws -> CheckpointEvaluation {
    // The first checkpoint's config, with the overrides, names the data and the batch; each model
    // keeps its own input size and vocabulary.
    let loaded = try checkpoints.enumerated().map { try LoadedModel(checkpoint: $1, raw: raw, overrides: $0 == 0 ? overrides : []) }
    let config = loaded[0].config
    let data = try RunData.open(config.data, communicator: comm)
    var evaluation = CheckpointEvaluation()
    for model in loaded {
        let header = model.checkpoint.header
        var own = data
        if model.vocabulary.words != data.grounding.vocabulary.words {
            own = try data.reading(with: model.vocabulary, communicator: comm)
            let unknown = Set(data.grounding.vocabulary.words).subtracting(model.vocabulary.words)
            if comm.isRoot, !unknown.isEmpty {
                note("note: \(model.path) reads \(unknown.count) words of these annotations as UNK: \(unknown.sorted().prefix(10).joined(separator: ", "))")
            }
        }
        let modelConfig = model.config
        var reports: [SplitReport] = [], perSplit: [SplitOutcomes] = []
        for split in splits {
            let items = try own.grounding.items(split)
            let result = try evaluateGrounding(model.model, split: split, items: items, store: own.store, view: modelConfig.data.view,
                                               batch: config.train.evalBatch, communicator: comm)
            reports.append(result.report)
            perSplit.append(SplitOutcomes(split: split, correct: result.outcomes.map(\.correct), types: items.map { $0.types.first ?? "" }))
        }
        evaluation.outcomes.append(perSplit)
        let weights = model.usesAverage ? "EMA" : "raw"
        let run = modelConfig.name == header.phase.rawValue ? "" : " " + modelConfig.name
        evaluation.results.append(ModelReports(name: "\(header.phase)\(run) (\(weights), step \(header.position.globalStep))", reports: reports))
    }
    return evaluation
}
