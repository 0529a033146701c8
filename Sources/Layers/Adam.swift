// Adam.swift — Adam with PyTorch semantics over one flat parameter buffer.
//   m ← β1·m + (1 − β1)·g ;  v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
// With weight decay wd, g ← g + wd·p first, as torch.optim.Adam does.

import Foundation
import Tensors

/// The Adam optimizer. Its state — `step`, `firstMoment`, `secondMoment` — is plain stored data so
/// that a checkpoint can save and restore it exactly.
public final class Adam {
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    /// Number of updates applied so far.
    public var step: Int = 0
    public let firstMoment: Tensor
    public let secondMoment: Tensor

    public init(parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        firstMoment = Tensor([parameterCount])
        secondMoment = Tensor([parameterCount])
    }

    /// Applies one update to `values` from `grads` at learning rate `lr`.
    public func update(_ values: Tensor, grads: Tensor, lr: Float) {
        precondition(values.count == firstMoment.count && grads.count == values.count, "Adam: buffer sizes differ")
        step += 1
        let bias1 = 1 - pow(Double(beta1), Double(step))
        let bias2Root = Float((1 - pow(Double(beta2), Double(step))).squareRoot())
        let stepSize = Float(Double(lr) / bias1)
        let (p, g, m, v) = (values.data, grads.data, firstMoment.data, secondMoment.data)
        let (b1, b2, e, wd) = (beta1, beta2, eps, weightDecay)
        for i in 0 ..< values.count {
            let gi = wd == 0 ? g[i] : g[i] + wd * p[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            p[i] -= stepSize * m[i] / (v[i].squareRoot() / bias2Root + e)
        }
    }
}
