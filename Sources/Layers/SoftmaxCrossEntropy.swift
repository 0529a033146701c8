// SoftmaxCrossEntropy.swift — cross-entropy of softmax(logits) against integer targets.

import Foundation
import Tensors

/// Softmax cross-entropy over rows of [N, C] logits, summed and divided by a normalizer (the global
/// batch size in distributed training, where each rank holds some of the rows).
public final class SoftmaxCrossEntropy {
    private let probabilities = Tensor()
    private var targets: [Int] = []
    private var normalizer = 1
    public let inputGrad = Tensor()

    public init() {}

    /// Σ_rows −log softmax(logits)[target] / normalizer, accumulated in Double.
    public func forward(_ logits: Tensor, targets: [Int], normalizer: Int? = nil) -> Double {
        let (n, c) = (logits.shape[0], logits.count / max(logits.shape[0], 1))
        precondition(targets.count == n && targets.allSatisfy { (0 ..< c).contains($0) }, "cross-entropy: targets \(targets) for \(n)×\(c) logits")
        self.targets = targets
        self.normalizer = normalizer ?? n
        probabilities.copy(from: logits)
        var loss = 0.0
        for r in 0 ..< n {
            let row = logits.data + r * c
            var peak = -Float.infinity
            for j in 0 ..< c { peak = max(peak, row[j]) }
            var sum = 0.0
            for j in 0 ..< c { sum += Double(expf(row[j] - peak)) }
            loss += log(sum) - Double(row[targets[r]] - peak)
            softmaxInPlace(probabilities.data + r * c, c)
        }
        return loss / Double(self.normalizer)
    }

    /// ∂loss/∂logits = (softmax − one-hot) / normalizer.
    @discardableResult
    public func backward() -> Tensor {
        inputGrad.copy(from: probabilities)
        let c = probabilities.count / max(targets.count, 1)
        for (r, target) in targets.enumerated() { inputGrad.data[r * c + target] -= 1 }
        let scale = 1 / Float(normalizer)
        for i in 0 ..< inputGrad.count { inputGrad.data[i] *= scale }
        return inputGrad
    }
}
