// TeacherPhase.swift — the RefCLIP teacher as a training phase: its configuration keys, its batches
// (detector outputs at the configured input size and, per item, an expression drawn for this epoch),
// its step (TeacherStep) and its evaluation.

import Datasets
import Distributed
import Evaluation
import Layers
import Models
import Tensors

/// The teacher phase's keys.
public let teacherSchema: [ConfigKey] = commonKeys(phase: "teacher") + modelKeys(layers: 3) + [
    ConfigKey("model.selected_cells", .int, "17", "cells kept per image (34 for ReferIt)"),
]

/// The teacher's dimensions from a validated config.
public func teacherShape(_ config: RunConfig, vocabularySize: Int, wordDimension: Int, channels: [Int]) throws -> TeacherShape {
    try validateModelKeys(config)
    guard config.int("model.selected_cells") > 0 else { throw InputError(file: config.source, location: "model.selected_cells", "must be positive") }
    return TeacherShape(language: languageShape(config, vocabularySize: vocabularySize, wordDimension: wordDimension),
                        fusion: fusionShape(config, channels: channels), selectedCells: config.int("model.selected_cells"))
}

/// The RefCLIP teacher, trained with the anchor-contrastive loss.
public final class TeacherPhase: TrainingPhase {
    public static let name = "teacher"
    public let model: RefCLIPTeacher
    private let stepper: TeacherStep
    private let context: PhaseContext
    private let view: Int
    private var slots = [FeatureBatch(), FeatureBatch()]
    private var scratch = FeatureStore.ReadScratch()

    public init(_ context: PhaseContext, settings: RunSettings) throws {
        self.context = context
        view = context.config.int("data.view")
        let shape = try teacherShape(context.config, vocabularySize: context.data.vocabulary.count, wordDimension: context.data.wordDimension,
                                     channels: context.store.manifest.layout.channels)
        model = RefCLIPTeacher(shape: shape, seed: context.seed)
        stepper = TeacherStep(model: model, settings: settings.optimizer, communicator: context.communicator)
    }

    public var params: ParameterStore { model.params }
    public var buffers: ParameterStore { model.buffers }
    public var frozen: ParameterStore { model.frozen }
    public var optimizer: Adam { stepper.optimizer }
    public var description: ModelDescription { ModelDescription(teacher: model.shape) }

    /// Features into one of two reused slots (the other may be in use by the step being computed).
    public func loadBatch(items: [Int], epoch: Int, globalStep: Int) throws -> TeacherInputs {
        let slot = globalStep % 2
        try slots[slot].load(context.store, images: items.map { context.train[$0].image }, view: view, scratch: &scratch)
        let batch = slots[slot]
        return TeacherInputs(f52: batch.maps[0], f26: batch.maps[1], f13: batch.maps[2], anchorBoxes: batch.boxes,
                             tokenIDs: chosenExpressions(items, epoch: epoch, context: context))
    }

    public func step(_ batch: TeacherInputs, context forward: ForwardContext, lr: Float) -> StepResult {
        stepper.step(batch, forward, lr: lr)
    }

    public func evaluate(split: String, items: [GroundingItem]) throws -> SplitReport {
        try evaluateTeacher(model, split: split, items: items, store: context.store, view: view, batch: context.config.int("train.eval_batch"),
                            communicator: context.communicator).report
    }
}

/// Each item's expression for this epoch (one drawn per visit from the keyed stream), as token ids.
func chosenExpressions(_ items: [Int], epoch: Int, context: PhaseContext) -> [Int] {
    let chooser = RandomKey(seed: context.seed).child("expression").child(epoch)
    return items.flatMap { context.train[$0].expressions[chooser.index($0, below: context.train[$0].expressions.count)] }
}
