// TrainingPhase.swift — what a model contributes to a training run (teacher, student): its parameter
// stores and optimizer, how to load this rank's rows of a step, one optimizer step, evaluation of a
// split, and its description for checkpoints. The run loop (TrainingRun) does everything else.

import Configuration
import Datasets
import Evaluation
import Layers
import Models

/// A trainable model phase.
public protocol TrainingPhase: AnyObject {
    associatedtype Batch

    /// The config's `phase` and the checkpoint's.
    static var phase: Phase { get }
    /// Trainable parameters (one flat buffer), BatchNorm statistics, frozen word vectors.
    var params: ParameterStore { get }
    var buffers: ParameterStore { get }
    var frozen: ParameterStore { get }
    var optimizer: Adam { get }
    /// The model and its dimensions, as recorded in checkpoints.
    var modelShape: ModelShape { get }

    /// This rank's rows of global step `globalStep` (each a source's training item). Called on the
    /// prefetch thread while the previous step computes.
    func loadBatch(rows: [BatchRow], globalStep: Int) throws -> Batch
    /// Forward, backward, gradient all-reduce, clipping and update.
    func step(_ batch: Batch, context: ForwardContext, lr: Float) -> StepResult
    /// Grounds every expression of a split with the current weights (collective).
    func evaluate(split: String, items: [GroundingItem]) throws -> SplitReport
}
