// TeacherPhase.swift — the RefCLIP teacher as a training phase: its batches (detector outputs at the
// configured input size and, per item, an expression drawn for this epoch), its step (TeacherStep) and
// its evaluation.

import Configuration
import Datasets
import Distributed
import Evaluation
import Layers
import Models
import Tensors

/// The RefCLIP teacher, trained with the anchor-contrastive loss.
public final class TeacherPhase: TrainingPhase {
    public static let phase = Phase.teacher
    public let model: RefCLIPTeacher
    private let stepper: TeacherStep
    private let context: PhaseContext
    private let view: Int, evaluationBatch: Int
    private let consistencyWeight: Float
    private var slots = [FeatureBatch(), FeatureBatch()]
    private var scratch = FeatureStore.ReadScratch()

    public init(_ context: PhaseContext, config: TeacherConfig) throws {
        self.context = context
        view = config.data.view
        evaluationBatch = config.train.evalBatch
        let shape = config.shape(vocabularySize: context.data.vocabulary.count, wordDimension: context.data.wordDimension,
                                 channels: context.store.manifest.layout.channels)
        model = RefCLIPTeacher(shape: shape, seed: context.seed)
        try model.checkReads(context.store, view: view)
        consistencyWeight = Float(config.train.extras.amcWeight)
        stepper = TeacherStep(model: model, settings: config.train.common.optimizer, communicator: context.communicator, consistencyWeight: consistencyWeight,
                              sync: config.runtime.gradientSync)
    }

    public var params: ParameterStore { model.params }
    public var buffers: ParameterStore { model.buffers }
    public var frozen: ParameterStore { model.frozen }
    public var optimizer: Adam { stepper.optimizer }
    public var modelShape: ModelShape { .teacher(model.shape) }

    /// Features into one of two reused slots (the other may be in use by the step being computed).
    public func loadBatch(rows: [BatchRow], globalStep: Int) throws -> TeacherInputs {
        let slot = globalStep % 2
        try context.loadFeatures(rows, view: view, into: &slots[slot], scratch: &scratch)
        let batch = slots[slot]
        return TeacherInputs(f52: batch.maps[0], f26: batch.maps[1], f13: batch.maps[2], anchorBoxes: batch.boxes,
                             tokenIDs: context.chosenExpressions(rows),
                             cellMasks: consistencyWeight > 0 ? context.letterboxBoxes(rows, view: view).flatMap { boxCoverage($0, grid: view / 32, size: view) } : nil)
    }

    public func step(_ batch: TeacherInputs, context forward: ForwardContext, lr: Float) -> StepResult {
        stepper.step(batch, forward, lr: lr)
    }

    public func evaluate(split: String, items: [GroundingItem]) throws -> SplitReport {
        try evaluateGrounding(model, split: split, items: items, store: context.store, view: view, batch: evaluationBatch,
                              communicator: context.communicator).report
    }
}
