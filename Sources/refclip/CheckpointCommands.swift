// CheckpointCommands.swift — `refclip export`, `import` and `inspect`: checkpoints to and from plain
// safetensors with the reference names, and a readable summary with an integrity check.

import Application
import ArgumentParser
import Configuration
import Datasets
import Formats
import Foundation
import Tensors
import Training

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's weights as safetensors (a teacher with the reference PyTorch names and layouts).")

    @Argument(help: "Checkpoint file.")
    var checkpoint: String

    @Option(help: "Output safetensors file.")
    var safetensors: String

    @Flag(help: "Export the raw weights instead of the EMA weights.")
    var raw = false

    func run() throws {
        try reportingErrors {
            let loaded = try Checkpoint.read(checkpoint)
            let writer = try loaded.exportWeights(path: checkpoint, average: !raw)
            try writer.write(to: safetensors)
            print("\(safetensors): \(writer.metadata["refclip.weights"]!) weights of step \(loaded.header.position.globalStep)")
        }
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Make a checkpoint from safetensors weights with the reference PyTorch names (e.g. trained by the reference code).",
        discussion: "Dimensions come from the config; the vocabulary from the file's metadata, else from the config's annotations.")

    @Argument(help: "Safetensors file.")
    var weights: String

    @OptionGroup var configuration: ConfigOptions

    @Option(help: "Output checkpoint file.")
    var out: String

    func run() throws {
        try reportingErrors {
            if configuration.listedKeys(("phase: teacher", TeacherConfig.keyTable)) { return }
            guard configuration.config != nil else { throw ValidationError("--config is required: it gives the model's dimensions and data") }
            let config = try TeacherConfig.load(path: configuration.config, overrides: configuration.overrides)
            let file = try SafetensorsFile(path: weights)
            let store = try FeatureStore(directory: config.value.data.features)
            let vocabulary = try file.metadata["refclip.vocabulary"].map { try JSONDecoder().decode([String].self, from: Data($0.utf8)) }
                ?? Annotations.load(config.value.data.annotations).vocabulary.words
            let embedding = try file.entry("lang_encoder.embedding.weight")
            guard embedding.shape.count == 2, embedding.shape[0] == vocabulary.count else {
                throw InputError(file: weights, location: "lang_encoder.embedding.weight",
                                 "has \(embedding.shape.first ?? 0) rows but the vocabulary has \(vocabulary.count) words",
                                 hint: "use the annotation file the weights were trained with")
            }
            let shape = config.value.shape(vocabularySize: vocabulary.count, wordDimension: embedding.shape[1], channels: store.manifest.layout.channels)
            try importTeacher(file, shape: shape, vocabulary: vocabulary, config: try config.yaml(), to: out)
            print("\(out): teacher from \(weights)")
        }
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's header, tensors, sizes and compression, and verify its integrity.")

    @Argument(help: "Checkpoint file.")
    var checkpoint: String

    func run() throws {
        try reportingErrors {
            let (header, _, file) = try Checkpoint.readHeader(checkpoint)
            let p = header.position
            print("""
                \(checkpoint)
                  format      \(header.format) v\(header.version), written by refclip \(header.codeVersion) at \(header.created)
                  phase       \(header.phase)
                  position    epoch \(p.epoch), step \(p.stepInEpoch) of the epoch, global step \(p.globalStep), seed \(p.seed), \(p.worldSize) rank(s)
                  best        val accuracy \(String(format: "%.2f", p.bestAccuracy)) at step \(p.bestStep)
                  optimizer   Adam step \(header.adamStep); EMA updates \(header.emaUpdates)
                  vocabulary  \(header.vocabulary.count) words
                  blas        \(header.blas ?? "not recorded (written before refclip recorded it)")
                  size        \(file.bytes.count) bytes on disk; payload \(header.payloadBytes) bytes, compressed \(header.compressedBytes) (ratio \(String(format: "%.3f", Double(header.payloadBytes) / Double(max(header.compressedBytes, 1)))))
                  tensors
                """)
            for t in header.tensors { print("    \(t.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(t.shape)  \(t.count * 4) bytes") }
            let params = header.layout["params"] ?? [], buffers = header.layout["buffers"] ?? [], frozen = header.layout["frozen"] ?? []
            print("  parameters  \(params.count) tensors, \(params.reduce(0) { $0 + $1.shape.reduce(1, *) }) values; \(buffers.count) statistics; word vectors \(frozen.first?.shape ?? [])")
            do {
                _ = try Checkpoint.read(checkpoint)
                print("  integrity   ok (sizes and zstd checksum verified)")
            } catch {
                print("  integrity   DAMAGED: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
