// PseudoLabelCommand.swift — `refclip pseudo-label`: the teacher's box for every training expression,
// written as an annotation file for the student.

import Application
import ArgumentParser
import Foundation

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
                let labels = try writePseudoLabels(checkpoint: checkpoint, to: out, raw: raw, overrides: overrides, communicator: comm)
                guard comm.isRoot else { return }
                print(String(format: "%@: %d training expressions labelled; %.2f%% of the pseudo-boxes have IoU > 0.5 with the annotated box",
                             out, labels.entries.count, labels.accuracy))
            }
        }
    }
}
