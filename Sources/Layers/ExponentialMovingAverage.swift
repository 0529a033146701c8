// ExponentialMovingAverage.swift — an EMA of a flat buffer with the warm-up decay
// d(n) = min(maxDecay, (n + 1)/(n + 10)), where n counts the updates made before this one.

import Tensors

/// A running average of parameters (and running statistics) used for evaluation and export.
public final class ExponentialMovingAverage {
    public let maxDecay: Float
    /// Number of updates applied so far.
    public var updates: Int = 0
    /// The averaged values.
    public let values: Tensor

    /// Starts from a copy of `initial`.
    public init(copying initial: Tensor, maxDecay: Float = 0.9997) {
        self.maxDecay = maxDecay
        values = Tensor([initial.count])
        values.data.update(from: initial.data, count: initial.count)
    }

    /// The decay the next update will use.
    public var nextDecay: Float { min(maxDecay, Float(updates + 1) / Float(updates + 10)) }

    /// ema ← d·ema + (1 − d)·current.
    public func update(from current: Tensor) {
        precondition(current.count == values.count, "EMA: \(current.count) values for \(values.count)")
        let d = nextDecay
        for i in 0 ..< values.count { values.data[i] = d * values.data[i] + (1 - d) * current.data[i] }
        updates += 1
    }
}
