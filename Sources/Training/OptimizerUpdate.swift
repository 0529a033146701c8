// OptimizerUpdate.swift — the end of every training step, whatever the model: once the flat gradient
// is summed over ranks (GradientReducer), take its global norm (identical on every rank), skip the
// update when it is not finite, else clip and apply Adam.

import Configuration
import Distributed
import Layers
import Tensors

/// Settings of a training phase's optimizer.
public struct OptimizerSettings: Codable, Equatable, Sendable {
    public var beta1: Float, beta2: Float, eps: Float
    public var weightDecay: Float
    /// Maximum global gradient norm; 0 disables clipping.
    public var clipNorm: Float

    public init(beta1: Float = 0.9, beta2: Float = 0.98, eps: Float = 1e-9, weightDecay: Float = 0, clipNorm: Float = 0.15) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.clipNorm = clipNorm
    }
}

/// What one step reports; every value is global and identical on every rank.
public struct StepResult: Equatable, Sendable {
    /// Mean loss over the global batch.
    public var loss: Double
    /// Gradient norm before clipping.
    public var gradNorm: Double
    /// True when the gradient was not finite and no update was made.
    public var skipped: Bool
    /// The teacher's collapse diagnostic: mean cosine between the batch's projected texts (DESIGN.md §6).
    public var textCosine: Double?
    /// With several training sources: each source's mean (unweighted) loss over its rows of the global batch.
    public var sourceLosses: [Double]?
}

/// Clips and applies Adam unless the reduced gradient is not finite.
public func applyUpdate(_ params: ParameterStore, optimizer: Adam, settings: OptimizerSettings, lr: Float, loss: Double) -> StepResult {
    let norm = globalNorm(params.grads)
    guard norm.isFinite else { return StepResult(loss: loss, gradNorm: norm, skipped: true) }
    if settings.clipNorm > 0 { clipGlobalNorm(params.grads, maxNorm: settings.clipNorm) }
    optimizer.update(params.values, grads: params.grads, lr: lr)
    return StepResult(loss: loss, gradNorm: norm, skipped: false)
}

extension TrainConfig {
    /// Adam's settings and the clipping norm of `train.*`.
    public var optimizer: OptimizerSettings {
        OptimizerSettings(beta1: Float(beta1), beta2: Float(beta2), eps: Float(eps), weightDecay: Float(weightDecay), clipNorm: Float(clipNorm))
    }
}
