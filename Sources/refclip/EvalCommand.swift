// EvalCommand.swift — `refclip eval`: accuracy (IoU > 0.5) and pointing game per split, beside the
// random-anchor and highest-objectness baselines.

import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Tensors
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint on one or more splits.",
        discussion: "Data paths come from the checkpoint's config unless overridden with --set data.KEY=VALUE.")

    @Option(help: "Checkpoint file.")
    var checkpoint: String

    @Option(help: "Split to evaluate (repeatable).")
    var split: [String] = ["val"]

    @Flag(help: "Use the raw weights instead of the EMA weights.")
    var raw = false

    @Option(help: "Also write the reports as JSON to this file.")
    var json: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a key of the checkpoint's config (data.*, train.eval_batch).", valueName: "key=value"))
    var overrides: [String] = []

    @OptionGroup var launching: LaunchOptions

    func run() throws {
        try reportingErrors {
            try launching.run { comm in
                let loaded = try Checkpoint.read(checkpoint)
                let config = try RunConfig(schema: teacherSchema, yaml: loaded.header.config, overrides: overrides)
                let model = try loaded.teacher(path: checkpoint, average: !raw)
                let store = try FeatureStore.shared(directory: config.string("data.features"), communicator: comm)
                let data = try GroundingData.shared(comm) {
                    try GroundingData.prepare(annotations: config.string("data.annotations"), wordVectors: config.string("data.word_vectors"),
                                              store: store, maxTokens: config.int("data.max_tokens"))
                }
                guard data.vocabulary.words == loaded.header.vocabulary else {
                    throw InputError(file: config.string("data.annotations"), "the vocabulary differs from the one the checkpoint was trained with",
                                     hint: "evaluate with the annotation file of the training run")
                }
                let reports = try split.map { name in
                    try evaluateTeacher(model, split: name, items: try data.items(name), store: store, view: config.int("data.view"),
                                        batch: config.int("train.eval_batch"), communicator: comm).report
                }
                guard comm.isRoot else { return }
                print("\(checkpoint) (\(raw || loaded.tensors["ema.params"] == nil ? "raw" : "EMA") weights, step \(loaded.header.position.globalStep))\n")
                print(reportTable(reports, model: "teacher"))
                if let json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                    try writeFileAtomically(json, bytes: [UInt8](try encoder.encode(reports)))
                }
            }
        }
    }
}
