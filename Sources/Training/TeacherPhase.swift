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
    ConfigKey("train.amc_weight", .float, "0",
              "weight of SynGround's attention–mask consistency loss on the training boxes (0: weakly supervised, boxes unused)"),
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
    private let consistencyWeight: Float
    private var slots = [FeatureBatch(), FeatureBatch()]
    private var scratch = FeatureStore.ReadScratch()

    public init(_ context: PhaseContext, settings: RunSettings) throws {
        self.context = context
        view = context.config.int("data.view")
        let shape = try teacherShape(context.config, vocabularySize: context.data.vocabulary.count, wordDimension: context.data.wordDimension,
                                     channels: context.store.manifest.layout.channels)
        model = RefCLIPTeacher(shape: shape, seed: context.seed)
        consistencyWeight = context.config.float("train.amc_weight")
        guard consistencyWeight >= 0 else { throw InputError(file: context.config.source, location: "train.amc_weight", "must not be negative") }
        stepper = TeacherStep(model: model, settings: settings.optimizer, communicator: context.communicator, consistencyWeight: consistencyWeight)
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
                             tokenIDs: chosenExpressions(items, epoch: epoch, context: context),
                             cellMasks: consistencyWeight > 0 ? cellMasks(items) : nil)
    }

    /// Each item's box coverage of the stride-32 cells at this phase's input size.
    private func cellMasks(_ items: [Int]) -> [Float] {
        items.flatMap { item -> [Float] in
            let info = context.store.manifest.images[context.train[item].image]
            let letterbox = Letterbox(originalWidth: info.width, originalHeight: info.height, size: view)
            return boxCoverage(letterbox.toCanvas(box: context.train[item].box).map(Float.init), grid: view / 32, size: view)
        }
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
