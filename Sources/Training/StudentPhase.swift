// StudentPhase.swift — the SimREC-style student as a training phase (DESIGN.md §4): trained on the
// (pseudo-)boxes of its annotation file with random-resize augmentation — each step draws one input
// size from `train.views` with the step's keyed stream, the same on every rank — and evaluated at
// `data.view` by the cell of highest objectness.

import Configuration
import Datasets
import Distributed
import Evaluation
import Layers
import Models
import Tensors

/// One step's rows for the student: detector outputs at the step's input size, token ids, and the
/// target boxes (x1, y1, x2, y2) in that input's letterbox pixels.
public struct StudentBatch {
    public var features: FeatureBatch
    public var tokenIDs: [Int]
    public var targets: [[Float]]
    public var view: Int
}

/// The student REC model, trained on boxes.
public final class StudentPhase: TrainingPhase {
    public static let phase = Phase.student
    public let model: SimRECStudent
    private let stepper: StudentStep
    private let context: PhaseContext
    private let views: [Int]
    private let evaluationView: Int, evaluationBatch: Int
    private var slots = [FeatureBatch(), FeatureBatch()]
    private var scratch = FeatureStore.ReadScratch()

    public init(_ context: PhaseContext, config: StudentConfig, settings: RunSettings) throws {
        self.context = context
        views = config.train.extras.views
        evaluationView = config.data.view
        evaluationBatch = config.train.evalBatch
        for view in views { _ = try context.store.viewIndex(view) }
        let shape = config.shape(vocabularySize: context.data.vocabulary.count, wordDimension: context.data.wordDimension,
                                 channels: context.store.manifest.layout.channels)
        model = SimRECStudent(shape: shape, seed: context.seed)
        stepper = StudentStep(model: model, settings: settings.optimizer, communicator: context.communicator)
    }

    public var params: ParameterStore { model.params }
    public var buffers: ParameterStore { model.buffers }
    public var frozen: ParameterStore { model.frozen }
    public var optimizer: Adam { stepper.optimizer }
    public var description: ModelDescription { ModelDescription(student: model.shape) }

    /// The input size of a global step: a keyed draw, the same on every rank and after a resume.
    public func view(at globalStep: Int) -> Int {
        views[RandomKey(seed: context.seed).child("resize").index(globalStep, below: views.count)]
    }

    public func loadBatch(items: [Int], epoch: Int, globalStep: Int) throws -> StudentBatch {
        let view = self.view(at: globalStep)
        let slot = globalStep % 2
        try slots[slot].load(context.store, images: items.map { context.train[$0].image }, view: view, scratch: &scratch)
        let targets = items.map { item -> [Float] in
            let info = context.store.manifest.images[context.train[item].image]
            let letterbox = Letterbox(originalWidth: info.width, originalHeight: info.height, size: view)
            return letterbox.toCanvas(box: context.train[item].box).map(Float.init)
        }
        return StudentBatch(features: slots[slot], tokenIDs: chosenExpressions(items, epoch: epoch, context: context), targets: targets, view: view)
    }

    public func step(_ batch: StudentBatch, context forward: ForwardContext, lr: Float) -> StepResult {
        stepper.step(maps: batch.features.maps, tokenIDs: batch.tokenIDs, targets: batch.targets, inputSize: batch.view,
                     globalBatch: context.plan.globalBatch, forward, lr: lr)
    }

    public func evaluate(split: String, items: [GroundingItem]) throws -> SplitReport {
        try evaluateGrounding(model, split: split, items: items, store: context.store, view: evaluationView, batch: evaluationBatch,
                              communicator: context.communicator).report
    }
}
