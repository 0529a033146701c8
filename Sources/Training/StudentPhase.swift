// StudentPhase.swift — the SimREC-style student as a training phase (DESIGN.md §4): trained on the
// (pseudo-)boxes of its annotation file with random-resize augmentation — each step draws one input
// size from `train.views` with the step's keyed stream, the same on every rank — and evaluated at
// `data.view` by the cell of highest objectness.

import Datasets
import Distributed
import Evaluation
import Layers
import Models
import Tensors

/// The student phase's keys.
public let studentSchema: [ConfigKey] = commonKeys(phase: "student") + modelKeys(layers: 1) + [
    ConfigKey("model.box_weight", .float, "5", "weight of the GIoU loss against the objectness BCE"),
    ConfigKey("model.coordinates", .bool, "true", "append each cell's (x, y) to the detector maps the sentence gates"),
    ConfigKey("train.views", .intList, "416", "input sizes for random-resize augmentation (each must be stored in the feature store)"),
]

/// The student's dimensions from a validated config.
public func studentShape(_ config: RunConfig, vocabularySize: Int, wordDimension: Int, channels: [Int]) throws -> StudentShape {
    try validateModelKeys(config)
    guard config.double("model.box_weight") >= 0 else { throw InputError(file: config.source, location: "model.box_weight", "must not be negative") }
    return StudentShape(language: languageShape(config, vocabularySize: vocabularySize, wordDimension: wordDimension),
                        fusion: fusionShape(config, channels: channels), boxWeight: config.float("model.box_weight"),
                        coordinates: config.bool("model.coordinates"))
}

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
    public static let name = "student"
    public let model: SimRECStudent
    private let stepper: StudentStep
    private let context: PhaseContext
    private let views: [Int]
    private let evaluationView: Int
    private var slots = [FeatureBatch(), FeatureBatch()]
    private var scratch = FeatureStore.ReadScratch()

    public init(_ context: PhaseContext, settings: RunSettings) throws {
        self.context = context
        views = context.config.ints("train.views")
        evaluationView = context.config.int("data.view")
        for view in views {
            guard view % 32 == 0 else { throw InputError(file: context.config.source, location: "train.views", "input size \(view) is not a multiple of 32") }
            _ = try context.store.viewIndex(view)
        }
        let shape = try studentShape(context.config, vocabularySize: context.data.vocabulary.count, wordDimension: context.data.wordDimension,
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
        try evaluateStudent(model, split: split, items: items, store: context.store, view: evaluationView, batch: context.config.int("train.eval_batch"),
                            communicator: context.communicator).report
    }
}

/// The student's evaluation: the highest-objectness cell and its box per expression.
public func evaluateStudent(_ model: SimRECStudent, split: String, items: [GroundingItem], store: FeatureStore, view: Int, batch: Int,
                            communicator comm: Communicator) throws -> GroundingEvaluation {
    try evaluateGrounding(split: split, items: items, store: store, view: view, batch: batch, baselineCells: 17, communicator: comm) { features, ids in
        model.predict(maps: features.maps, tokenIDs: ids, inputSize: view, .inference(samples: Array(0 ..< features.boxes.shape[0]), communicator: comm))
            .map { GroundingChoice(cell: $0.cell, box: $0.box) }
    }
}
