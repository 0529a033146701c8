// RunSettings.swift — what the run loop needs of a training configuration, whatever its phase: the
// shared sections, the run directory, the optimizer, and the resolved configuration as YAML (for the
// run directory and checkpoints) and as a table.

import Configuration
import Foundation

/// The phase-independent settings of a run, from a validated training document.
public struct RunSettings: Sendable {
    public let name: String
    public let data: DataConfig
    public let train: TrainConfig
    public let runtime: RuntimeConfig
    public let output: OutputConfig
    /// Further training sources (the student's `data.mix`; none for the teacher).
    public let mix: [MixSource]
    /// The config file, for error messages.
    public let source: String?
    /// The resolved configuration as YAML (loads back to the same document).
    public let yaml: String
    private let resolvedTable: @Sendable ([(name: String, value: String)]) -> String
    private let changes: @Sendable (String) throws -> [String]

    public init<Document: TrainingDocument>(_ loaded: LoadedConfig<Document>) throws {
        let document = loaded.value
        name = document.name
        data = document.data.common
        train = document.train.common
        runtime = document.runtime
        output = document.output
        mix = document.mixSources
        source = loaded.source
        yaml = try loaded.yaml()
        resolvedTable = { loaded.table(extra: $0) }
        changes = { text in loaded.differences(from: try Document.load(yaml: text, source: "checkpoint").value) }
    }

    public var runDirectory: String { output.dir + "/" + name }
    public var seed: UInt64 { UInt64(train.seed) }
    public var optimizer: OptimizerSettings {
        OptimizerSettings(beta1: Float(train.beta1), beta2: Float(train.beta2), eps: Float(train.eps), weightDecay: Float(train.weightDecay),
                          clipNorm: Float(train.clipNorm))
    }

    /// How the step's gradient is summed over ranks (`runtime.bucket_mb`, `overlap`, `gradient_wire`).
    public var gradientSync: GradientSyncSettings {
        GradientSyncSettings(bucketBytes: max(4, Int(runtime.bucketMB * 1_048_576)), overlap: runtime.overlap, wire: runtime.gradientWire)
    }

    /// The resolved configuration as a table, followed by `extra` rows.
    public func table(extra: [(name: String, value: String)] = []) -> String { resolvedTable(extra) }

    /// The keys whose values differ from those of a checkpoint's configuration (YAML).
    public func changedKeys(from checkpointConfig: String) throws -> [String] { try changes(checkpointConfig) }
}
