// TeacherStep.swift — one optimizer step of the RefCLIP teacher on this rank's share of a global
// batch, top to bottom:
//   forward (language, fusion with synchronized BatchNorm, anchor selection, projections)
//   → distributed contrastive loss (+ weighted attention–mask consistency when the batch has boxes)
//   → backward, the gradient summed over ranks in buckets as backward finishes them (GradientReducer)
//   → global norm (identical on every rank) → skip on NaN/Inf, else clip and Adam (OptimizerUpdate).

import Distributed
import Layers
import Models
import Tensors

/// Runs teacher training steps on one rank.
public final class TeacherStep {
    public let model: RefCLIPTeacher
    public let optimizer: Adam
    public let settings: OptimizerSettings
    /// Weight of the attention–mask consistency loss (0: the reference's contrastive loss alone).
    public let consistencyWeight: Float
    private let loss: AnchorContrastiveLoss
    private let consistency: AttentionMaskConsistency
    private let communicator: Communicator
    /// Sums the gradient over ranks while backward runs.
    public let reducer: GradientReducer
    private let combinedTextGrad = Tensor(), weightedCellGrad = Tensor()
    /// Called between the forward (with the loss) and the model's backward: what backward will read can
    /// be inspected or changed there. The reference tests use it to reverse rectifier decisions that
    /// float32 rounding leaves undetermined (Tests/TrainingTests/UndeterminedDecisions.swift).
    public var beforeBackward: (() -> Void)?

    public init(model: RefCLIPTeacher, settings: OptimizerSettings, communicator: Communicator, consistencyWeight: Float = 0,
                sync: GradientSyncSettings = GradientSyncSettings()) {
        self.model = model
        self.settings = settings
        self.communicator = communicator
        self.consistencyWeight = consistencyWeight
        reducer = GradientReducer(params: model.params, communicator: communicator, settings: sync)
        loss = AnchorContrastiveLoss(communicator: communicator)
        consistency = AttentionMaskConsistency(communicator: communicator)
        optimizer = Adam(parameterCount: model.params.count, beta1: settings.beta1, beta2: settings.beta2,
                         eps: settings.eps, weightDecay: settings.weightDecay)
    }

    /// Forward and backward on this rank's rows; returns the global loss. Leaves the all-reduced
    /// gradient (of the global mean loss) in `model.params.grads`.
    public func computeGradients(_ inputs: TeacherInputs, _ context: ForwardContext) -> Double {
        model.params.zeroGrads()
        reducer.begin()
        let masks = consistencyWeight > 0 ? inputs.cellMasks : nil
        let (anchors, text, cells) = model.forward(inputs, context, everyCell: masks != nil)
        var localLoss = loss.forward(anchors: anchors, text: text)
        loss.backward()
        if let masks, let cells {
            localLoss += Double(consistencyWeight) * consistency.forward(cells: cells, text: text, masks: masks)
            consistency.backward()
            combinedTextGrad.reshape(text.shape)
            weightedCellGrad.reshape(cells.shape)
            for i in 0 ..< text.count { combinedTextGrad.data[i] = loss.textGrad.data[i] + consistencyWeight * consistency.textGrad.data[i] }
            for i in 0 ..< cells.count { weightedCellGrad.data[i] = consistencyWeight * consistency.cellGrad.data[i] }
            beforeBackward?()
            model.backward(anchorGrad: loss.anchorGrad, textGrad: combinedTextGrad, cellGrad: weightedCellGrad)
        } else {
            beforeBackward?()
            model.backward(anchorGrad: loss.anchorGrad, textGrad: loss.textGrad)
        }
        lastTextCosine = meanPairwiseCosine(text)
        let globalLoss = communicator.allReduce(localLoss, .sum)
        reducer.finish()
        return globalLoss
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
        var result = applyUpdate(model.params, optimizer: optimizer, settings: settings, lr: lr, loss: computeGradients(inputs, context))
        result.textCosine = lastTextCosine
        return result
    }

    /// The logits of the last forward (for inspection and tests).
    public var lastLogits: Tensor { loss.logits }
}
