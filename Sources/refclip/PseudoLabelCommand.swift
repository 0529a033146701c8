// PseudoLabelCommand.swift — `refclip pseudo-label`: the teacher's box for every training expression,
// written as an annotation file for the student.

import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Tensors
import Training

struct PseudoLabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pseudo-label",
        abstract: "Label every training expression with the teacher's box, for the student.",
        discussion: """
            Writes an annotation file: the train split with one entry per expression and the teacher's box (original pixels), \
            the other splits copied unchanged, and an info object with the teacher checkpoint's SHA-256, step and config and the \
            pseudo-labels' accuracy against the annotated boxes. Data paths come from the checkpoint's config unless overridden.
            """)

    @Option(help: "Teacher checkpoint.")
    var checkpoint: String

    @Option(help: "Output annotation file.")
    var out: String

    @Flag(help: "Label with the raw weights instead of the EMA weights.")
    var raw = false

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a key of the checkpoint's config (data.*, train.eval_batch).", valueName: "key=value"))
    var overrides: [String] = []

    @OptionGroup var launching: LaunchOptions

    func run() throws {
        try reportingErrors {
            try launching.run { comm in
                let loaded = try Checkpoint.read(checkpoint)
                let teacher = try loaded.teacher(path: checkpoint, average: !raw)
                let config = try RunConfig(schema: teacherSchema, yaml: loaded.header.config, overrides: overrides)
                let store = try FeatureStore.shared(directory: config.string("data.features"), communicator: comm)
                let data = try GroundingData.shared(comm) {
                    try GroundingData.prepare(annotations: config.string("data.annotations"), wordVectors: config.string("data.word_vectors"),
                                              store: store, maxTokens: config.int("data.max_tokens"))
                }
                guard data.vocabulary.words == loaded.header.vocabulary else {
                    throw InputError(file: checkpoint, "was trained with another vocabulary than \(config.string("data.annotations"))")
                }
                let labels = try pseudoLabel(teacher, items: try data.items("train"), store: store, view: config.int("data.view"),
                                             batch: config.int("train.eval_batch"), communicator: comm)
                guard comm.isRoot else { return }
                var annotations = try Annotations.load(config.string("data.annotations"))
                annotations.splits["train"] = labels.entries
                annotations.info = ["teacher_checkpoint": checkpoint, "teacher_sha256": try SHA256.hex(file: checkpoint),
                                    "teacher_step": "\(loaded.header.position.globalStep)", "teacher_weights": raw || !loaded.hasAverage ? "raw" : "ema",
                                    "teacher_config": loaded.header.config, "pseudo_label_accuracy": String(format: "%.2f", labels.accuracy)]
                try annotations.write(to: out)
                print(String(format: "%@: %d training expressions labelled; %.2f%% of the pseudo-boxes have IoU > 0.5 with the annotated box",
                             out, labels.entries.count, labels.accuracy))
            }
        }
    }
}
