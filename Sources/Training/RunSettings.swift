// RunSettings.swift — the configuration keys every phase shares (with the defaults of the reference
// recipe, DESIGN.md §3), their typed form, and how a config file names its phase.

import Foundation
import Models
import Tensors
import Yams

/// Keys shared by every phase: run name, data, schedule, output.
func commonKeys(phase: String) -> [ConfigKey] { [
    ConfigKey("phase", .string, phase, "what to train: teacher or student"),
    ConfigKey("name", .string, phase, "run name; outputs go to output.dir/name"),
    ConfigKey("data.annotations", .string, nil, "annotation JSON ({split: [entries]})"),
    ConfigKey("data.features", .string, nil, "feature-store directory (refclip synth / refclip extract)"),
    ConfigKey("data.word_vectors", .string, nil, "word vectors in the text format (GloVe)"),
    ConfigKey("data.view", .int, "416", "detector input size to read from the feature store"),
    ConfigKey("data.max_tokens", .int, "15", "tokens per expression (20 for ReferIt)"),
    ConfigKey("train.batch", .int, "64", "global batch size (divisible by the number of ranks)"),
    ConfigKey("train.epochs", .int, "25", "epochs of the schedule"),
    ConfigKey("train.max_steps", .int, "0", "stop after this many steps (0: the whole schedule)"),
    ConfigKey("train.lr", .float, "1e-4", "peak learning rate"),
    ConfigKey("train.min_lr", .float, "1e-6", "learning rate at the end of the cosine decay"),
    ConfigKey("train.warmup_epochs", .float, "3", "linear warm-up length in epochs"),
    ConfigKey("train.warmup_lr", .float, "1e-7", "learning rate at the start of the warm-up"),
    ConfigKey("train.beta1", .float, "0.9", "Adam β1"),
    ConfigKey("train.beta2", .float, "0.98", "Adam β2"),
    ConfigKey("train.eps", .float, "1e-9", "Adam ε"),
    ConfigKey("train.weight_decay", .float, "0", "L2 weight decay"),
    ConfigKey("train.clip_norm", .float, "0.15", "clip the global gradient norm (0: off)"),
    ConfigKey("train.init_from", .string, "",
              "fine-tune: start from this checkpoint's weights (EMA when held) with a fresh optimizer and schedule, reading the data with its vocabulary"),
    ConfigKey("train.seed", .int, "123456", "seed of initialization, data order, expression choice and dropout"),
    ConfigKey("train.ema_decay", .float, "0.9997", "EMA decay (with warm-up (n+1)/(n+10))"),
    ConfigKey("train.max_skipped_steps", .int, "5", "stop after this many consecutive non-finite gradients"),
    ConfigKey("train.log_every", .int, "10", "steps between progress lines"),
    ConfigKey("train.eval_every", .int, "0", "steps between evaluations (0: after every epoch)"),
    ConfigKey("train.eval_splits", .stringList, "val", "splits evaluated during and after training"),
    ConfigKey("train.eval_batch", .int, "64", "evaluation batch per rank"),
    ConfigKey("train.checkpoint_every", .int, "0", "steps between checkpoints (0: after every epoch)"),
    ConfigKey("train.keep_checkpoints", .int, "3", "periodic checkpoints kept (plus best)"),
    ConfigKey("runtime.debug_checks", .bool, "false",
              "after every step, check that all ranks hold identical parameters and that no layer output is NaN/Inf (on in --debug)"),
    ConfigKey("runtime.watchdog_seconds", .float, "600", "end the job when no step completes for max(10 × median step, this)"),
    ConfigKey("output.dir", .string, "runs", "directory of run directories"),
] }

/// The common settings of a run, validated.
public struct RunSettings {
    public let config: RunConfig
    public var name: String { config.string("name") }
    public var runDirectory: String { config.string("output.dir") + "/" + name }
    public var seed: UInt64 { UInt64(config.int("train.seed")) }
    public var optimizer: OptimizerSettings {
        OptimizerSettings(beta1: config.float("train.beta1"), beta2: config.float("train.beta2"), eps: config.float("train.eps"),
                          weightDecay: config.float("train.weight_decay"), clipNorm: config.float("train.clip_norm"))
    }

    /// Checks the common keys and that the config's phase is `phase`.
    public init(_ config: RunConfig, phase: String) throws {
        self.config = config
        func require(_ ok: Bool, _ key: String, _ problem: String) throws {
            if !ok { throw InputError(file: config.source, location: key, problem) }
        }
        try require(config.string("phase") == phase, "phase", "expected '\(phase)', the config says '\(config.string("phase"))'")
        for key in ["train.batch", "train.epochs", "data.max_tokens", "train.log_every", "train.eval_batch"] {
            try require(config.int(key) > 0, key, "must be positive")
        }
        try require(config.int("data.view") % 32 == 0, "data.view", "must be a multiple of 32")
        try require(config.double("train.lr") > 0, "train.lr", "must be positive")
    }

    /// The phase a config file (with overrides) asks for: its `phase` key, "teacher" when absent.
    public static func phase(path: String?, overrides: [String]) throws -> String {
        if let override = overrides.last(where: { $0.hasPrefix("phase=") }) { return String(override.dropFirst("phase=".count)) }
        guard let path else { return "teacher" }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InputError(file: path, "cannot read the config file", hint: "check the path given to --config")
        }
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw InputError(file: path, "invalid YAML: \(error)") }
        return ((root as? [String: Any])?["phase"] as? String) ?? "teacher"
    }
}

/// The configuration keys of a phase.
public func phaseSchema(_ phase: String, source: String?) throws -> [ConfigKey] {
    switch phase {
    case TeacherPhase.name: return teacherSchema
    case StudentPhase.name: return studentSchema
    default: throw InputError(file: source, location: "phase", "unknown phase '\(phase)'", hint: "use teacher or student")
    }
}

/// A training config file with overrides, loaded against the schema of the phase it names.
public func loadPhaseConfig(path: String?, overrides: [String]) throws -> (phase: String, config: RunConfig) {
    let phase = try RunSettings.phase(path: path, overrides: overrides)
    return (phase, try RunConfig(schema: try phaseSchema(phase, source: path), path: path, overrides: overrides))
}

/// Keys of the language encoder and fusion that both models have.
func modelKeys(layers: Int) -> [ConfigKey] {
    [
        ConfigKey("model.hidden", .int, "512", "language hidden size (and the teacher's joint embedding width)"),
        ConfigKey("model.heads", .int, "8", "attention heads"),
        ConfigKey("model.ffn", .int, "2048", "feed-forward width of the self-attention layers"),
        ConfigKey("model.layers", .int, "\(layers)", "self-attention layers"),
        ConfigKey("model.dropout", .float, "0.1", "dropout in the language encoder"),
        ConfigKey("model.fusion_hidden", .int, "1024", "multi-scale fusion output channels"),
        ConfigKey("model.upsampling", .string, "nearest", "fusion upsampling: nearest (reference) or bilinear"),
    ]
}

/// Checks the shared model keys.
func validateModelKeys(_ config: RunConfig) throws {
    func require(_ ok: Bool, _ key: String, _ problem: String) throws {
        if !ok { throw InputError(file: config.source, location: key, problem) }
    }
    for key in ["model.hidden", "model.heads", "model.ffn", "model.fusion_hidden"] { try require(config.int(key) > 0, key, "must be positive") }
    try require(config.int("model.layers") >= 0, "model.layers", "must not be negative")
    try require(config.int("model.hidden") % config.int("model.heads") == 0, "model.heads", "must divide model.hidden")
    try require(config.int("model.fusion_hidden") % 2 == 0, "model.fusion_hidden", "must be even")
    try require(Upsampling(rawValue: config.string("model.upsampling")) != nil, "model.upsampling", "must be nearest or bilinear")
    try require((0 ..< 1).contains(config.double("model.dropout")), "model.dropout", "must be in [0, 1)")
}

/// The language encoder's shape from the config, the vocabulary and the word vectors.
func languageShape(_ config: RunConfig, vocabularySize: Int, wordDimension: Int) -> LanguageShape {
    LanguageShape(vocabularySize: vocabularySize, wordDimension: wordDimension, hidden: config.int("model.hidden"), heads: config.int("model.heads"),
                  feedForward: config.int("model.ffn"), layers: config.int("model.layers"), maxTokens: config.int("data.max_tokens"),
                  dropout: config.float("model.dropout"))
}

/// The fusion's shape from the config and the feature store's channels.
func fusionShape(_ config: RunConfig, channels: [Int]) -> FusionShape {
    FusionShape(channels52: channels[0], channels26: channels[1], channels13: channels[2], hidden: config.int("model.fusion_hidden"),
                upsampling: Upsampling(rawValue: config.string("model.upsampling"))!)
}
