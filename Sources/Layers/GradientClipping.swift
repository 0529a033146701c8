// GradientClipping.swift — the global L2 norm of a gradient buffer and clipping by it (PyTorch's
// clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1).

import Tensors

/// The L2 norm of all elements, accumulated in Double. NaN or ∞ when any element is.
public func globalNorm(_ grads: Tensor) -> Double {
    var sum = 0.0
    for i in 0 ..< grads.count { sum += Double(grads.data[i]) * Double(grads.data[i]) }
    return sum.squareRoot()
}

/// Scales `grads` so that its norm is at most `maxNorm`; returns the norm before clipping.
@discardableResult
public func clipGlobalNorm(_ grads: Tensor, maxNorm: Float) -> Double {
    let norm = globalNorm(grads)
    let coefficient = Float(Double(maxNorm) / (norm + 1e-6))
    if coefficient < 1 {
        for i in 0 ..< grads.count { grads.data[i] *= coefficient }
    }
    return norm
}
