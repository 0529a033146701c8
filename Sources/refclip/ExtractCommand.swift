// ExtractCommand.swift — `refclip extract`: real images through a frozen detector into a feature store.

import ArgumentParser
import Configuration
import Detector
import Distributed
import Foundation
import Tensors

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Run a frozen detector (Darknet, or the paper's RefCLIP/SimREC YOLOv3) over the annotated images and write a feature store.",
        discussion: """
            Every image the annotations name, at every size in output.views: letterboxed, through the detector, its three \
            head-feeding maps and the stride-32 anchors stored. Shards are split across ranks under mpirun; finished shards \
            are kept, so running the same command again resumes. Missing or undecodable images are reported by path and \
            skipped. detector.kind chooses the detector: darknet (a .cfg and .weights; configs/refcoco-extract.yaml) or \
            refclip-yolov3 (the paper's detector from refclip import-detector; configs/refcoco-extract-paper.yaml).
            """)

    @OptionGroup var configuration: ConfigOptions
    @OptionGroup var launching: LaunchOptions

    func run() throws {
        try reportingErrors {
            if configuration.listedKeys(("refclip extract", ExtractionConfig.keyTable)) { return }
            let config = try ExtractionConfig.load(path: configuration.config, overrides: configuration.overrides)
            let settings = try config.value.settings(source: config.source)
            try launching.run { comm in
                let blas = try JobBLAS.gather(comm)
                if comm.isRoot { print("refclip extract → \(settings.output)\n\(config.table(extra: blas.tableRows))\n") }
                let start = Date()
                let summary = try extractFeatures(settings, communicator: comm) { print($0) }
                guard comm.isRoot else { return }
                print("done in \(formatDuration(Date().timeIntervalSince(start))): \(summary.images) images, \(summary.shardsWritten) shards written, "
                    + "\(summary.shardsKept) already complete, \(summary.unavailable.count) images unavailable")
            }
        }
    }
}
