// TeacherSettings.swift — the teacher's configuration keys (with defaults of the reference recipe,
// DESIGN.md §3) and their typed form.

import Foundation
import Models
import Tensors

/// Keys shared by every phase: run name, data, schedule, output.
let commonKeys: [ConfigKey] = [
    ConfigKey("phase", .string, "teacher", "what to train: teacher"),
    ConfigKey("name", .string, "teacher", "run name; outputs go to output.dir/name"),
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
    ConfigKey("train.seed", .int, "123456", "seed of initialization, data order, expression choice and dropout"),
    ConfigKey("train.ema_decay", .float, "0.9997", "EMA decay (with warm-up (n+1)/(n+10))"),
    ConfigKey("train.max_skipped_steps", .int, "5", "stop after this many consecutive non-finite gradients"),
    ConfigKey("train.log_every", .int, "10", "steps between progress lines"),
    ConfigKey("train.eval_every", .int, "0", "steps between evaluations (0: after every epoch)"),
    ConfigKey("train.eval_splits", .stringList, "val", "splits evaluated during and after training"),
    ConfigKey("train.eval_batch", .int, "64", "evaluation batch per rank"),
    ConfigKey("train.checkpoint_every", .int, "0", "steps between checkpoints (0: after every epoch)"),
    ConfigKey("train.keep_checkpoints", .int, "3", "periodic checkpoints kept (plus best)"),
    ConfigKey("runtime.watchdog_seconds", .float, "600", "end the job when no step completes for max(10 × median step, this)"),
    ConfigKey("output.dir", .string, "runs", "directory of run directories"),
]

/// The teacher phase's keys.
public let teacherSchema: [ConfigKey] = commonKeys + [
    ConfigKey("model.hidden", .int, "512", "language hidden size and joint embedding width"),
    ConfigKey("model.heads", .int, "8", "attention heads"),
    ConfigKey("model.ffn", .int, "2048", "feed-forward width of the self-attention layers"),
    ConfigKey("model.layers", .int, "3", "self-attention layers (1 for ReferIt)"),
    ConfigKey("model.dropout", .float, "0.1", "dropout in the language encoder"),
    ConfigKey("model.fusion_hidden", .int, "1024", "multi-scale fusion output channels"),
    ConfigKey("model.upsampling", .string, "nearest", "fusion upsampling: nearest (reference) or bilinear"),
    ConfigKey("model.selected_cells", .int, "17", "cells kept per image (34 for ReferIt)"),
]

/// The teacher configuration in typed form.
public struct TeacherSettings {
    public let config: RunConfig
    public var name: String { config.string("name") }
    public var runDirectory: String { config.string("output.dir") + "/" + name }
    public var seed: UInt64 { UInt64(config.int("train.seed")) }
    public var optimizer: OptimizerSettings {
        OptimizerSettings(beta1: config.float("train.beta1"), beta2: config.float("train.beta2"), eps: config.float("train.eps"),
                          weightDecay: config.float("train.weight_decay"), clipNorm: config.float("train.clip_norm"))
    }

    public init(_ config: RunConfig) throws {
        self.config = config
        func require(_ ok: Bool, _ key: String, _ problem: String) throws {
            if !ok { throw InputError(file: config.source, location: key, problem) }
        }
        try require(config.string("phase") == "teacher", "phase", "this command trains phase 'teacher', the config says '\(config.string("phase"))'")
        for key in ["train.batch", "train.epochs", "data.max_tokens", "model.hidden", "model.heads", "model.ffn", "model.fusion_hidden",
                    "model.selected_cells", "train.log_every", "train.eval_batch"] {
            try require(config.int(key) > 0, key, "must be positive")
        }
        try require(config.int("model.hidden") % config.int("model.heads") == 0, "model.heads", "must divide model.hidden")
        try require(config.int("model.fusion_hidden") % 2 == 0, "model.fusion_hidden", "must be even")
        try require(Upsampling(rawValue: config.string("model.upsampling")) != nil, "model.upsampling", "must be nearest or bilinear")
        try require(config.int("data.view") % 32 == 0, "data.view", "must be a multiple of 32")
        try require(config.double("train.lr") > 0, "train.lr", "must be positive")
        try require((0 ..< 1).contains(config.double("model.dropout")), "model.dropout", "must be in [0, 1)")
    }

    /// The model's dimensions, given the vocabulary, word vectors and the store's channels.
    public func teacherShape(vocabularySize: Int, wordDimension: Int, channels: [Int]) -> TeacherShape {
        TeacherShape(
            language: LanguageShape(vocabularySize: vocabularySize, wordDimension: wordDimension, hidden: config.int("model.hidden"),
                                    heads: config.int("model.heads"), feedForward: config.int("model.ffn"), layers: config.int("model.layers"),
                                    maxTokens: config.int("data.max_tokens"), dropout: config.float("model.dropout")),
            fusion: FusionShape(channels52: channels[0], channels26: channels[1], channels13: channels[2], hidden: config.int("model.fusion_hidden"),
                                upsampling: Upsampling(rawValue: config.string("model.upsampling"))!),
            selectedCells: config.int("model.selected_cells"))
    }
}
