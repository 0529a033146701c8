// StudentPhase.swift — the SimREC-style student as a training phase (DESIGN.md §4): trained on the
// (pseudo-)boxes of its annotation file with random-resize augmentation — each step draws one input
// size from `train.views` with the step's keyed stream, the same on every rank — and evaluated at
// `data.view` by the cell of highest objectness.

import Configuration
import Datasets
import Distributed
import Evaluation
import Foundation
import Layers
import Models
import Tensors

/// One step's rows for the student: detector outputs at the step's input size, token ids, the target
/// boxes (x1, y1, x2, y2) in that input's letterbox pixels, each row's loss weight (nil: all 1) and
/// source.
public struct StudentBatch {
    public var features: FeatureBatch
    public var tokenIDs: [Int]
    public var targets: [[Float]]
    public var weights: [Float]?
    public var sources: [Int]
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
    private let confidenceGamma: Double, minConfidence: Double
    private var slots = [FeatureBatch(), FeatureBatch()]
    private var scratch = FeatureStore.ReadScratch()

    public init(_ context: PhaseContext, config: StudentConfig) throws {
        self.context = context
        views = config.train.extras.views
        evaluationView = config.data.view
        evaluationBatch = config.train.evalBatch
        (confidenceGamma, minConfidence) = (config.train.extras.confidenceGamma, config.train.extras.minConfidence)
        for source in context.sources { for view in views + [evaluationView] { _ = try source.store.viewIndex(view) } }
        let shape = config.shape(vocabularySize: context.data.vocabulary.count, wordDimension: context.data.wordDimension,
                                 channels: context.store.manifest.layout.channels)
        model = SimRECStudent(shape: shape, seed: context.seed)
        for source in context.sources { try model.checkReads(source.store, view: evaluationView) }
        stepper = StudentStep(model: model, settings: config.train.common.optimizer, communicator: context.communicator, sync: config.runtime.gradientSync)
    }

    public var params: ParameterStore { model.params }
    public var buffers: ParameterStore { model.buffers }
    public var frozen: ParameterStore { model.frozen }
    public var optimizer: Adam { stepper.optimizer }
    public var modelShape: ModelShape { .student(model.shape) }

    /// The input size of a global step: a keyed draw, the same on every rank and after a resume.
    public func view(at globalStep: Int) -> Int {
        views[RandomKey(seed: context.seed).child("resize").index(globalStep, below: views.count)]
    }

    public func loadBatch(rows: [BatchRow], globalStep: Int) throws -> StudentBatch {
        let view = self.view(at: globalStep)
        let slot = globalStep % 2
        try context.loadFeatures(rows, view: view, into: &slots[slot], scratch: &scratch)
        return StudentBatch(features: slots[slot], tokenIDs: context.chosenExpressions(rows), targets: context.letterboxBoxes(rows, view: view),
                            weights: lossWeights(rows), sources: rows.map(\.source), view: view)
    }

    /// Each row's loss weight: a pseudo-label's confidence^γ, 0 below the minimum confidence; 1 for a
    /// box without confidence (ground truth). nil when every weight is 1.
    private func lossWeights(_ rows: [BatchRow]) -> [Float]? {
        guard confidenceGamma > 0 || minConfidence > 0 else { return nil }
        return rows.map { row in
            guard let confidence = context.item(row).confidence else { return 1 }
            return confidence < minConfidence ? 0 : Float(pow(confidence, confidenceGamma))
        }
    }

    public func step(_ batch: StudentBatch, context forward: ForwardContext, lr: Float) -> StepResult {
        stepper.step(maps: batch.features.maps, tokenIDs: batch.tokenIDs, targets: batch.targets, weights: batch.weights,
                     sources: context.sources.count > 1 ? batch.sources : nil, sourceCount: context.sources.count,
                     inputSize: batch.view, globalBatch: context.plan.globalBatch, forward, lr: lr)
    }

    public func evaluate(split: String, items: [GroundingItem]) throws -> SplitReport {
        try evaluateGrounding(model, split: split, items: items, store: context.store, view: evaluationView, batch: evaluationBatch,
                              communicator: context.communicator).report
    }
}
