// TeacherStep.swift — one optimizer step of the RefCLIP teacher on this rank's share of a global
// batch, top to bottom:
//   forward (language, fusion with synchronized BatchNorm, anchor selection, projections)
//   → distributed contrastive loss → backward → all-reduce of the flat gradient
//   → global norm (identical on every rank) → skip on NaN/Inf, else clip and Adam.

import Distributed
import Layers
import Models
import Tensors

/// Optimizer settings of a training phase.
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
    /// Mean cosine between the projected text vectors of the global batch: near 1 means the model
    /// has collapsed to a text-independent choice (DESIGN.md §6).
    public var textCosine: Double
}

/// Runs teacher training steps on one rank.
public final class TeacherStep {
    public let model: RefCLIPTeacher
    public let optimizer: Adam
    public let settings: OptimizerSettings
    private let loss: AnchorContrastiveLoss
    private let communicator: Communicator

    public init(model: RefCLIPTeacher, settings: OptimizerSettings, communicator: Communicator) {
        self.model = model
        self.settings = settings
        self.communicator = communicator
        loss = AnchorContrastiveLoss(communicator: communicator)
        optimizer = Adam(parameterCount: model.params.count, beta1: settings.beta1, beta2: settings.beta2,
                         eps: settings.eps, weightDecay: settings.weightDecay)
    }

    /// Forward and backward on this rank's rows; returns the global loss. Leaves the all-reduced
    /// gradient (of the global mean loss) in `model.params.grads`.
    public func computeGradients(_ inputs: TeacherInputs, _ context: ForwardContext) -> Double {
        model.params.zeroGrads()
        let (anchors, text) = model.forward(inputs, context)
        let localLoss = loss.forward(anchors: anchors, text: text)
        loss.backward()
        model.backward(anchorGrad: loss.anchorGrad, textGrad: loss.textGrad)
        communicator.allReduce(model.params.grads.mutableBuffer, .sum)
        lastTextCosine = meanPairwiseCosine(text)
        return communicator.allReduce(localLoss, .sum)
    }

    /// The text cosine of the last `computeGradients`.
    public private(set) var lastTextCosine = 0.0

    /// Mean cosine over all pairs of the global batch's rows: (‖Σ t̂‖² − B) / (B(B − 1)).
    private func meanPairwiseCosine(_ text: Tensor) -> Double {
        let (b, d) = (text.shape[0], text.shape[1])
        var sum = [Double](repeating: 0, count: d + 1)
        for i in 0 ..< b {
            let row = text.data + i * d
            var norm = 0.0
            for j in 0 ..< d { norm += Double(row[j]) * Double(row[j]) }
            let inv = norm > 0 ? 1 / norm.squareRoot() : 0
            for j in 0 ..< d { sum[j] += Double(row[j]) * inv }
        }
        sum[d] = Double(b)
        communicator.allReduce(&sum, .sum)
        let count = sum[d]
        guard count > 1 else { return 1 }
        let squared = sum[0 ..< d].reduce(0) { $0 + $1 * $1 }
        return (squared - count) / (count * (count - 1))
    }

    /// One full step at learning rate `lr`.
    public func step(_ inputs: TeacherInputs, _ context: ForwardContext, lr: Float) -> StepResult {
        let globalLoss = computeGradients(inputs, context)
        let norm = globalNorm(model.params.grads)
        guard norm.isFinite else { return StepResult(loss: globalLoss, gradNorm: norm, skipped: true, textCosine: lastTextCosine) }
        if settings.clipNorm > 0 { clipGlobalNorm(model.params.grads, maxNorm: settings.clipNorm) }
        optimizer.update(model.params.values, grads: model.params.grads, lr: lr)
        return StepResult(loss: globalLoss, gradNorm: norm, skipped: false, textCosine: lastTextCosine)
    }

    /// The logits of the last forward (for inspection and tests).
    public var lastLogits: Tensor { loss.logits }
}
