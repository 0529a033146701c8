// TrainingConfig.swift — the typed configuration of `refclip train`: the sections every phase shares
// (data, model, train, runtime, output, with the reference recipe's defaults, DESIGN.md §3) and the
// keys only one phase has, joined in one section by `PhaseSection`; the teacher's and the student's
// documents; and loading a file as the document its `phase` names, reading the YAML once.

import Distributed
import Foundation
import Models
import Tensors
import Yams

/// What a training configuration trains.
public enum Phase: String, Codable, CaseIterable, Sendable {
    case teacher, student
}

/// `data.*`: where a run reads its data.
public struct DataConfig: Codable, Equatable, Sendable {
    /// Annotation JSON ({split: [entries]}).
    public var annotations = ""
    /// Feature-store directory (refclip synth / refclip extract).
    public var features = ""
    /// Word vectors in the text format (GloVe).
    public var wordVectors = ""
    /// Detector input size read from the feature store.
    public var view = 416
    /// Tokens per expression (20 for ReferIt).
    public var maxTokens = 15

    public init() {}

    enum CodingKeys: String, CodingKey {
        case annotations, features, wordVectors = "word_vectors", view, maxTokens = "max_tokens"
    }
}

/// `model.*` keys both models have: the language encoder and the fusion.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var hidden = 512, heads = 8, ffn = 2048
    /// Self-attention layers (3 in the teacher, 1 in the student).
    public var layers: Int
    public var dropout = 0.1
    public var fusionHidden = 1024
    public var upsampling = Upsampling.nearest

    public init(layers: Int) { self.layers = layers }

    enum CodingKeys: String, CodingKey {
        case hidden, heads, ffn, layers, dropout, fusionHidden = "fusion_hidden", upsampling
    }
}

/// `train.*` keys every phase has: batch, schedule, optimizer, evaluation, checkpoints.
public struct TrainConfig: Codable, Equatable, Sendable {
    public var batch = 64, epochs = 25, maxSteps = 0
    public var lr = 1e-4, minLR = 1e-6, warmupEpochs = 3.0, warmupLR = 1e-7
    public var beta1 = 0.9, beta2 = 0.98, eps = 1e-9, weightDecay = 0.0, clipNorm = 0.15
    /// Fine-tuning: start from this checkpoint's weights ("" for none).
    public var initFrom = ""
    public var seed = 123456
    public var emaDecay = 0.9997
    public var maxSkippedSteps = 5
    public var logEvery = 10, evalEvery = 0
    public var evalSplits = ["val"]
    public var evalBatch = 64
    public var checkpointEvery = 0, keepCheckpoints = 3

    public init() {}

    enum CodingKeys: String, CodingKey {
        case batch, epochs, maxSteps = "max_steps", lr, minLR = "min_lr", warmupEpochs = "warmup_epochs", warmupLR = "warmup_lr"
        case beta1, beta2, eps, weightDecay = "weight_decay", clipNorm = "clip_norm", initFrom = "init_from", seed
        case emaDecay = "ema_decay", maxSkippedSteps = "max_skipped_steps", logEvery = "log_every", evalEvery = "eval_every"
        case evalSplits = "eval_splits", evalBatch = "eval_batch", checkpointEvery = "checkpoint_every", keepCheckpoints = "keep_checkpoints"
    }
}

/// `runtime.*`: checks, the watchdog, how gradients cross the network and how checkpoints are written.
public struct RuntimeConfig: Codable, Equatable, Sendable {
    /// After every step, check that ranks hold identical parameters and no layer output is NaN/Inf.
    public var debugChecks = false
    /// End the job when no step completes for max(10 × median step, this).
    public var watchdogSeconds = 600.0
    /// MiB of float32 gradient per bucket summed over ranks.
    public var bucketMB = 8.0
    /// Sum gradient buckets while backward runs.
    public var overlap = true
    /// What gradient values travel as: f32, or bf16 with error feedback.
    public var gradientWire = GradientWire.f32
    /// Write checkpoints on a background thread while training goes on.
    public var asyncCheckpoints = true

    public init() {}

    enum CodingKeys: String, CodingKey {
        case debugChecks = "debug_checks", watchdogSeconds = "watchdog_seconds", bucketMB = "bucket_mb", overlap, gradientWire = "gradient_wire"
        case asyncCheckpoints = "async_checkpoints"
    }
}

/// `output.*`: where run directories go.
public struct OutputConfig: Codable, Equatable, Sendable {
    public var dir = "runs"
    public init() {}
}

/// A section whose keys are the shared ones (`common`) plus the phase's own (`extras`), written side
/// by side in the same YAML mapping; the shared keys read as members of the section itself.
@dynamicMemberLookup
public struct PhaseSection<Common: Codable & Equatable & Sendable, Extras: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var common: Common
    public var extras: Extras

    public init(_ common: Common, _ extras: Extras) {
        self.common = common
        self.extras = extras
    }

    public subscript<T>(dynamicMember key: WritableKeyPath<Common, T>) -> T {
        get { common[keyPath: key] }
        set { common[keyPath: key] = newValue }
    }

    public init(from decoder: Decoder) throws {
        common = try Common(from: decoder)
        extras = try Extras(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        try common.encode(to: encoder)
        try extras.encode(to: encoder)
    }
}

/// A section with no keys of a phase's own.
public struct NoExtras: Codable, Equatable, Sendable {
    public init() {}
    public init(from decoder: Decoder) throws {}
    public func encode(to encoder: Encoder) throws {}
}

/// A further source of training items for the student: an annotation file (pseudo-labels, or true
/// boxes such as a synthetic set of another seed) with its feature store, and its weight relative
/// to the run's own `data.annotations` (weight 1).
public struct MixSource: Codable, Equatable, Sendable {
    public var annotations: String
    public var features: String
    public var weight: Double

    public init(annotations: String, features: String, weight: Double) {
        self.annotations = annotations
        self.features = features
        self.weight = weight
    }
}

/// The student's own `data.*` key.
public struct StudentDataExtras: Codable, Equatable, Sendable {
    /// Further training sources mixed into every global batch by weight.
    public var mix: [MixSource] = []
    public init() {}
}

/// The teacher's own `model.*` key.
public struct TeacherModelExtras: Codable, Equatable, Sendable {
    /// Cells kept per image (34 for ReferIt).
    public var selectedCells = 17
    public init() {}
    enum CodingKeys: String, CodingKey { case selectedCells = "selected_cells" }
}

/// The teacher's own `train.*` key.
public struct TeacherTrainExtras: Codable, Equatable, Sendable {
    /// Weight of SynGround's attention–mask consistency loss on the training boxes (0: boxes unused).
    public var amcWeight = 0.0
    public init() {}
    enum CodingKeys: String, CodingKey { case amcWeight = "amc_weight" }
}

/// The student's own `model.*` keys.
public struct StudentModelExtras: Codable, Equatable, Sendable {
    /// Weight of the GIoU loss against the objectness BCE.
    public var boxWeight = 5.0
    /// Append each cell's (x, y) to the maps the sentence gates.
    public var coordinates = true
    public init() {}
    enum CodingKeys: String, CodingKey { case boxWeight = "box_weight", coordinates }
}

/// The student's own `train.*` keys.
public struct StudentTrainExtras: Codable, Equatable, Sendable {
    /// Input sizes for random-resize augmentation (each stored in the feature store).
    public var views = [416]
    /// Each pseudo-labelled row's loss is weighted by the teacher's confidence to this power (0: all 1).
    public var confidenceGamma = 0.0
    /// Pseudo-labelled rows whose confidence is below this weigh 0 (0: none dropped).
    public var minConfidence = 0.0
    public init() {}
    enum CodingKeys: String, CodingKey { case views, confidenceGamma = "confidence_gamma", minConfidence = "min_confidence" }
}

/// What every training document has, whatever its phase.
public protocol TrainingDocument: ConfigDocument {
    associatedtype DataExtras: Codable & Equatable & Sendable
    associatedtype ModelExtras: Codable & Equatable & Sendable
    associatedtype TrainExtras: Codable & Equatable & Sendable
    static var phase: Phase { get }
    var phase: Phase { get }
    /// Run name; outputs go to output.dir/name.
    var name: String { get set }
    var data: PhaseSection<DataConfig, DataExtras> { get set }
    var model: PhaseSection<ModelConfig, ModelExtras> { get set }
    var train: PhaseSection<TrainConfig, TrainExtras> { get set }
    var runtime: RuntimeConfig { get set }
    var output: OutputConfig { get set }
    /// Further training sources mixed into every global batch (the student's `data.mix`).
    var mixSources: [MixSource] { get }
    /// Checks the phase's own keys.
    func validateExtras(source: String?) throws
}

/// The teacher's configuration (`phase: teacher`).
public struct TeacherConfig: TrainingDocument, Equatable {
    public static let phase = Phase.teacher
    public var phase = Phase.teacher
    public var name = "teacher"
    public var data = PhaseSection(DataConfig(), NoExtras())
    public var model = PhaseSection(ModelConfig(layers: 3), TeacherModelExtras())
    public var train = PhaseSection(TrainConfig(), TeacherTrainExtras())
    public var runtime = RuntimeConfig()
    public var output = OutputConfig()

    public init() {}
    public static var defaults: TeacherConfig { TeacherConfig() }
    public static var help: [String: String] {
        trainingHelp.merging([
            "model.selected_cells": "cells kept per image (34 for ReferIt)",
            "train.amc_weight": "weight of SynGround's attention–mask consistency loss on the training boxes (0: weakly supervised, boxes unused)",
        ]) { $1 }
    }

    public var mixSources: [MixSource] { [] }

    public func validateExtras(source: String?) throws {
        try require(model.extras.selectedCells > 0, "model.selected_cells", "must be positive", source: source)
        try require(train.extras.amcWeight >= 0, "train.amc_weight", "must not be negative", source: source)
    }

    /// The teacher's dimensions for a vocabulary, word vectors and the feature store's map channels.
    public func shape(vocabularySize: Int, wordDimension: Int, channels: [Int]) -> TeacherShape {
        TeacherShape(language: languageShape(vocabularySize: vocabularySize, wordDimension: wordDimension),
                     fusion: fusionShape(channels: channels), selectedCells: model.extras.selectedCells)
    }
}

/// The student's configuration (`phase: student`).
public struct StudentConfig: TrainingDocument, Equatable {
    public static let phase = Phase.student
    public var phase = Phase.student
    public var name = "student"
    public var data = PhaseSection(DataConfig(), StudentDataExtras())
    public var model = PhaseSection(ModelConfig(layers: 1), StudentModelExtras())
    public var train = PhaseSection(TrainConfig(), StudentTrainExtras())
    public var runtime = RuntimeConfig()
    public var output = OutputConfig()

    public init() {}
    public static var defaults: StudentConfig { StudentConfig() }
    public static var help: [String: String] {
        trainingHelp.merging([
            "model.box_weight": "weight of the GIoU loss against the objectness BCE",
            "model.coordinates": "append each cell's (x, y) to the detector maps the sentence gates",
            "train.views": "input sizes for random-resize augmentation (each must be stored in the feature store)",
            "train.confidence_gamma": "weight each pseudo-labelled row's loss by the teacher's confidence to this power (0: every row weighs 1)",
            "train.min_confidence": "pseudo-labelled rows below this confidence weigh 0 (0: none)",
            "data.mix": "further training sources, each {annotations, features, weight}: rows of every global batch by weight, the run's own data weighing 1",
        ]) { $1 }
    }

    public static var listItemKeys: [String: [String]] { ["data.mix": ["annotations", "features", "weight"]] }

    public var mixSources: [MixSource] { data.extras.mix }

    public func validateExtras(source: String?) throws {
        try require(model.extras.boxWeight >= 0, "model.box_weight", "must not be negative", source: source)
        try require(!train.extras.views.isEmpty, "train.views", "needs at least one input size", source: source)
        for view in train.extras.views {
            try require(view > 0 && view % 32 == 0, "train.views", "input size \(view) is not a positive multiple of 32", source: source)
        }
        try require(train.extras.confidenceGamma >= 0, "train.confidence_gamma", "must not be negative", source: source)
        try require((0 ..< 1).contains(train.extras.minConfidence), "train.min_confidence", "must be in [0, 1)", source: source)
        for (i, mix) in data.extras.mix.enumerated() {
            try require(mix.weight > 0 && mix.weight.isFinite, "data.mix[\(i)].weight", "must be a positive number", source: source)
            try require(!mix.annotations.isEmpty && !mix.features.isEmpty, "data.mix[\(i)]", "needs annotations and features", source: source)
        }
    }

    /// The student's dimensions for a vocabulary, word vectors and the feature store's map channels.
    public func shape(vocabularySize: Int, wordDimension: Int, channels: [Int]) -> StudentShape {
        StudentShape(language: languageShape(vocabularySize: vocabularySize, wordDimension: wordDimension),
                     fusion: fusionShape(channels: channels), boxWeight: Float(model.extras.boxWeight), coordinates: model.extras.coordinates)
    }
}

extension TrainingDocument {
    /// The `data.*` keys every phase has.
    public var commonData: DataConfig { data.common }
    /// The `train.*` keys every phase has.
    public var commonTrain: TrainConfig { train.common }

    public static var requiredKeys: [String] { ["data.annotations", "data.features", "data.word_vectors"] }

    public func validate(source: String?) throws {
        try require(phase == Self.phase, "phase", "expected '\(Self.phase.rawValue)', the config says '\(phase.rawValue)'", source: source)
        for (key, value) in [("train.batch", train.batch), ("train.epochs", train.epochs), ("data.max_tokens", data.maxTokens),
                             ("train.log_every", train.logEvery), ("train.eval_batch", train.evalBatch), ("model.hidden", model.hidden),
                             ("model.heads", model.heads), ("model.ffn", model.ffn), ("model.fusion_hidden", model.fusionHidden)] {
            try require(value > 0, key, "must be positive", source: source)
        }
        try require(data.maxTokens <= maximumTokens, "data.max_tokens", "must be at most \(maximumTokens)", source: source)
        try require(data.view > 0 && data.view % 32 == 0, "data.view", "must be a positive multiple of 32", source: source)
        try require(train.lr > 0, "train.lr", "must be positive", source: source)
        try require(train.seed >= 0, "train.seed", "must not be negative", source: source)
        try require(model.layers >= 0, "model.layers", "must not be negative", source: source)
        try require(runtime.bucketMB > 0 && runtime.bucketMB <= 4096, "runtime.bucket_mb", "must be in (0, 4096]", source: source)
        try require(model.hidden % model.heads == 0, "model.heads", "must divide model.hidden", source: source)
        try require(model.fusionHidden % 2 == 0, "model.fusion_hidden", "must be even", source: source)
        try require((0 ..< 1).contains(model.dropout), "model.dropout", "must be in [0, 1)", source: source)
        try validateExtras(source: source)
    }

    /// The language encoder's shape for a vocabulary and word vectors.
    func languageShape(vocabularySize: Int, wordDimension: Int) -> LanguageShape {
        LanguageShape(vocabularySize: vocabularySize, wordDimension: wordDimension, hidden: model.hidden, heads: model.heads,
                      feedForward: model.ffn, layers: model.layers, maxTokens: data.maxTokens, dropout: Float(model.dropout))
    }

    /// The fusion's shape for the feature store's channels (stride 8, 16, 32).
    func fusionShape(channels: [Int]) -> FusionShape {
        FusionShape(channels52: channels[0], channels26: channels[1], channels13: channels[2], hidden: model.fusionHidden, upsampling: model.upsampling)
    }
}

/// Help lines of the keys every training document has.
let trainingHelp: [String: String] = [
    "phase": "what to train: teacher or student",
    "name": "run name; outputs go to output.dir/name",
    "data.annotations": "annotation JSON ({split: [entries]})",
    "data.features": "feature-store directory (refclip synth / refclip extract)",
    "data.word_vectors": "word vectors in the text format (GloVe)",
    "data.view": "detector input size to read from the feature store",
    "data.max_tokens": "tokens per expression (20 for ReferIt; at most 1024)",
    "model.hidden": "language hidden size (and the teacher's joint embedding width)",
    "model.heads": "attention heads",
    "model.ffn": "feed-forward width of the self-attention layers",
    "model.layers": "self-attention layers",
    "model.dropout": "dropout in the language encoder",
    "model.fusion_hidden": "multi-scale fusion output channels",
    "model.upsampling": "fusion upsampling: nearest (reference) or bilinear",
    "train.batch": "global batch size (divisible by the number of ranks)",
    "train.epochs": "epochs of the schedule",
    "train.max_steps": "stop after this many steps (0: the whole schedule)",
    "train.lr": "peak learning rate",
    "train.min_lr": "learning rate at the end of the cosine decay",
    "train.warmup_epochs": "linear warm-up length in epochs",
    "train.warmup_lr": "learning rate at the start of the warm-up",
    "train.beta1": "Adam β1",
    "train.beta2": "Adam β2",
    "train.eps": "Adam ε",
    "train.weight_decay": "L2 weight decay",
    "train.clip_norm": "clip the global gradient norm (0: off)",
    "train.init_from": "fine-tune: start from this checkpoint's weights (EMA when held) with a fresh optimizer and schedule, reading the data with its vocabulary",
    "train.seed": "seed of initialization, data order, expression choice and dropout",
    "train.ema_decay": "EMA decay (with warm-up (n+1)/(n+10))",
    "train.max_skipped_steps": "stop after this many consecutive non-finite gradients",
    "train.log_every": "steps between progress lines",
    "train.eval_every": "steps between evaluations (0: after every epoch)",
    "train.eval_splits": "splits evaluated during and after training",
    "train.eval_batch": "evaluation batch per rank",
    "train.checkpoint_every": "steps between checkpoints (0: after every epoch)",
    "train.keep_checkpoints": "periodic checkpoints kept (plus best)",
    "runtime.debug_checks": "after every step, check that all ranks hold identical parameters and that no layer output is NaN/Inf (on in --debug)",
    "runtime.watchdog_seconds": "end the job when no step completes for max(10 × median step, this)",
    "runtime.bucket_mb": "MiB of float32 gradient per bucket summed over ranks (8 measured best on 2-4 hosts; 32 beyond ~64 hosts, cluster/README.md)",
    "runtime.overlap": "sum gradient buckets while backward runs (same result as off)",
    "runtime.gradient_wire": "what gradients travel as: f32, or bf16 (half the bytes, error feedback)",
    "runtime.async_checkpoints": "write checkpoints on a background thread while training goes on (the same files; off: each step that checkpoints waits for the disk)",
    "output.dir": "directory of run directories",
]

/// A training configuration loaded as the document of the phase it names: the one type-erased form
/// of the teacher's and the student's documents. Commands that need the phase's own keys switch on it;
/// the run loop, reports and checkpoint readers use the shared sections it gives whatever the phase.
public enum TrainingConfiguration: Sendable {
    case teacher(LoadedConfig<TeacherConfig>)
    case student(LoadedConfig<StudentConfig>)

    /// The loaded document, whatever its phase.
    private var loaded: any LoadedTrainingDocument {
        switch self {
        case .teacher(let config): return config
        case .student(let config): return config
        }
    }

    public var phase: Phase { loaded.document.phase }
    /// The run name.
    public var name: String { loaded.document.name }
    public var data: DataConfig { loaded.document.commonData }
    public var train: TrainConfig { loaded.document.commonTrain }
    public var runtime: RuntimeConfig { loaded.document.runtime }
    public var output: OutputConfig { loaded.document.output }
    /// Further training sources (the student's `data.mix`; none for the teacher).
    public var mix: [MixSource] { loaded.document.mixSources }
    /// The config file, for error messages.
    public var source: String? { loaded.source }

    /// Where the run writes: `output.dir/name`.
    public var runDirectory: String { output.dir + "/" + name }
    /// `train.seed` as the keyed random streams take it.
    public var seed: UInt64 { UInt64(train.seed) }

    /// The resolved configuration as YAML (loads back to the same document).
    public func yaml() throws -> String { try loaded.yaml() }

    /// The resolved configuration as a table, followed by `extra` rows.
    public func table(extra: [(name: String, value: String)] = []) -> String { loaded.table(extra: extra) }

    /// The keys whose values differ from those of another configuration of this phase (YAML, e.g. a
    /// checkpoint's).
    public func changedKeys(from text: String) throws -> [String] { try loaded.changedKeys(from: text) }

    /// Loads a training config file (its `phase`, or the last `--set phase=…`; teacher when neither says).
    public static func load(path: String?, overrides: [String] = []) throws -> TrainingConfiguration {
        try load(tree: try ConfigTree(yaml: try readConfigFile(path), origin: path ?? "config"), source: path, overrides: overrides)
    }

    /// Loads YAML text (e.g. a checkpoint's config) as the document of the phase it names.
    public static func load(yaml text: String, source: String?, overrides: [String] = []) throws -> TrainingConfiguration {
        try load(tree: try ConfigTree(yaml: text, origin: source ?? "config"), source: source, overrides: overrides)
    }

    private static func load(tree: ConfigTree, source: String?, overrides: [String]) throws -> TrainingConfiguration {
        let named = overrides.last { $0.hasPrefix("phase=") }.map { String($0.dropFirst("phase=".count)) } ?? tree["phase"]?.node.string
        guard let phase = Phase(rawValue: named ?? Phase.teacher.rawValue) else {
            throw InputError(file: source, location: "phase", "unknown phase '\(named ?? "")'", hint: "use teacher or student")
        }
        switch phase {
        case .teacher: return .teacher(try TeacherConfig.load(tree: tree, source: source, overrides: overrides))
        case .student: return .student(try StudentConfig.load(tree: tree, source: source, overrides: overrides))
        }
    }
}

/// What `TrainingConfiguration` reads of a loaded document of either phase.
private protocol LoadedTrainingDocument: Sendable {
    var document: any TrainingDocument { get }
    var source: String? { get }
    func yaml() throws -> String
    func table(extra: [(name: String, value: String)]) -> String
    func changedKeys(from text: String) throws -> [String]
}

extension LoadedConfig: LoadedTrainingDocument where Document: TrainingDocument {
    fileprivate var document: any TrainingDocument { value }

    fileprivate func changedKeys(from text: String) throws -> [String] {
        differences(from: try Document.load(yaml: text, source: "checkpoint").value)
    }
}
