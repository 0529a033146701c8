// StudentStep.swift — one optimizer step of the student on this rank's share of a global batch:
// forward (language encoder, text-gated fusion, multi-scale fusion, head) → objectness + GIoU loss on
// this rank's images (each weighted, e.g. by its pseudo-label's confidence) → backward, the gradient
// summed over ranks in buckets as backward finishes them (GradientReducer) → skip on NaN/Inf, else
// clip and Adam. With several training sources, each source's mean loss over
// its rows of the global batch is reduced too.

import Distributed
import Layers
import Models
import Tensors

/// Runs student training steps on one rank.
public final class StudentStep {
    public let model: SimRECStudent
    public let optimizer: Adam
    public let settings: OptimizerSettings
    private let loss: StudentLoss
    private let communicator: Communicator
    /// Sums the gradient over ranks while backward runs.
    public let reducer: GradientReducer

    public init(model: SimRECStudent, settings: OptimizerSettings, communicator: Communicator, sync: GradientSyncSettings = GradientSyncSettings()) {
        self.model = model
        self.settings = settings
        self.communicator = communicator
        reducer = GradientReducer(params: model.params, communicator: communicator, settings: sync)
        loss = StudentLoss(boxWeight: model.shape.boxWeight)
        optimizer = Adam(parameterCount: model.params.count, beta1: settings.beta1, beta2: settings.beta2, eps: settings.eps,
                         weightDecay: settings.weightDecay)
    }

    /// Forward and backward on this rank's rows (targets in `inputSize` letterbox pixels, `weights` one
    /// per row or nil for all 1); returns the global loss and leaves the all-reduced gradient in
    /// `model.params.grads`.
    public func computeGradients(maps: [Tensor], tokenIDs: [Int], targets: [[Float]], weights: [Float]? = nil, inputSize: Int, globalBatch: Int,
                                 _ context: ForwardContext) -> Double {
        model.params.zeroGrads()
        reducer.begin()
        let raw = model.forward(maps: maps, tokenIDs: tokenIDs, context)
        let localLoss = loss.forward(raw, targets: targets, weights: weights, inputSize: inputSize, normalizer: globalBatch)
        model.backward(loss.backward())
        let globalLoss = communicator.allReduce(localLoss, .sum)
        reducer.finish()
        return globalLoss
    }

    /// One full step at learning rate `lr`. With `sources` (each row's source of `sourceCount`), the
    /// result holds each source's mean loss over the global batch.
    public func step(maps: [Tensor], tokenIDs: [Int], targets: [[Float]], weights: [Float]? = nil, sources: [Int]? = nil, sourceCount: Int = 1,
                     inputSize: Int, globalBatch: Int, _ context: ForwardContext, lr: Float) -> StepResult {
        let globalLoss = computeGradients(maps: maps, tokenIDs: tokenIDs, targets: targets, weights: weights, inputSize: inputSize,
                                          globalBatch: globalBatch, context)
        var result = applyUpdate(model.params, optimizer: optimizer, settings: settings, lr: lr, loss: globalLoss)
        if let sources {
            var sums = [Double](repeating: 0, count: 2 * sourceCount)  // loss sum and row count per source
            for (source, value) in zip(sources, loss.imageLosses) { sums[2 * source] += value; sums[2 * source + 1] += 1 }
            communicator.allReduce(&sums, .sum)
            result.sourceLosses = (0 ..< sourceCount).map { sums[2 * $0] / max(1, sums[2 * $0 + 1]) }
        }
        return result
    }
}
