// SynthCommand.swift — `refclip synth`: generate the synthetic grounding dataset.

import ArgumentParser
import Configuration
import Datasets
import Foundation

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate a synthetic grounding dataset: annotations, word vectors, scenes and a feature store.",
        discussion: "Deterministic from the config's seed. Feature shards are split across ranks under mpirun.")

    @OptionGroup var configuration: ConfigOptions
    @OptionGroup var launching: LaunchOptions

    @Option(help: "Output directory.")
    var out = "data/synthetic"

    func run() throws {
        try reportingErrors {
            if configuration.listedKeys(("refclip synth", SyntheticDataConfig.keyTable)) { return }
            let config = try SyntheticDataConfig.load(path: configuration.config, overrides: configuration.overrides)
            let synthetic = config.value.generator
            try launching.run { comm in
                if comm.isRoot { print("refclip synth → \(out)\n\(config.table())\n") }
                let start = Date()
                let summary = try SyntheticDataset.generate(synthetic, into: out, communicator: comm) { print($0) }
                guard comm.isRoot else { return }
                for (split, _) in synthetic.splits {
                    let types = summary.expressionTypes[split, default: [:]].sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                    print("\(split): \(summary.images[split] ?? 0) images, \(summary.entries[split] ?? 0) entries (\(types))")
                }
                print(String(format: "done in %.1f s", Date().timeIntervalSince(start)))
            }
        }
    }
}
