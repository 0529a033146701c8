// ReportCommand.swift — `refclip report RUN_DIR`: a self-contained HTML page of a run.

import Application
import ArgumentParser
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML page of a run: training plots, accuracy per split, grounded predictions, config.",
        discussion: "Reads RUN_DIR/config.yaml, metrics.jsonl and best.refclip; the page needs no network and no scripts.")

    @Argument(help: ArgumentHelp("The run directory (runs/NAME).", valueName: "run-dir"))
    var directory: String

    @Option(help: "Output file (default: RUN_DIR/report.html).")
    var out: String?

    @Option(help: "Split to draw predictions from.")
    var split = "val"

    @Option(help: "How many predictions to draw.")
    var samples = 12

    func run() throws {
        try reportingErrors {
            let path = out ?? (directory as NSString).appendingPathComponent("report.html")
            let drawn = try writeRunReport(run: directory, to: path, split: split, samples: samples)
            print("wrote \(path) (\(drawn) predictions drawn)")
        }
    }
}
