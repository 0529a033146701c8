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

    public init(_ context: PhaseContext, config: TeacherConfig, settings: RunSettings) {
        self.context = context
        view = config.data.view
        evaluationBatch = config.train.evalBatch
        let shape = config.shape(vocabularySize: context.data.vocabulary.count, wordDimension: context.data.wordDimension,
                                 channels: context.store.manifest.layout.channels)
        model = RefCLIPTeacher(shape: shape, seed: context.seed)
        consistencyWeight = Float(config.train.extras.amcWeight)
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
        try evaluateGrounding(model, split: split, items: items, store: context.store, view: view, batch: evaluationBatch,
                              communicator: context.communicator).report
    }
}

/// Each item's expression for this epoch (one drawn per visit from the keyed stream), as token ids.
func chosenExpressions(_ items: [Int], epoch: Int, context: PhaseContext) -> [Int] {
    let chooser = RandomKey(seed: context.seed).child("expression").child(epoch)
    return items.flatMap { context.train[$0].expressions[chooser.index($0, below: context.train[$0].expressions.count)] }
}
