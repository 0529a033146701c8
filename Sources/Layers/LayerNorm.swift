// LayerNorm.swift — the MCAN LayerNorm of the reference: y = w·(x − mean)/(std + eps) + b over the
// last dimension, with the unbiased standard deviation and eps = 1e-6 added to the std (not the
// variance). Weights are named `a_2`/`b_2` in MCAN but `weight`/`bias` in the reference state dict.

import Tensors

/// Normalization over the last dimension with learned gain and bias.
public final class LayerNorm {
    public let dimension: Int
    public let eps: Float
    public let weight: ParameterRef, bias: ParameterRef
    private let params: ParameterStore
    private var input: Tensor?
    private var mean: [Float] = [], std: [Float] = []
    public let output = Tensor()
    public let inputGrad = Tensor()

    public init(_ params: ParameterStore, _ name: String, dimension: Int, eps: Float = 1e-6) {
        precondition(dimension > 1, "LayerNorm needs at least two features for an unbiased std")
        self.dimension = dimension
        self.eps = eps
        self.params = params
        weight = params.add(name + ".weight", [dimension], .constant(1))
        bias = params.add(name + ".bias", [dimension], .zeros)
    }

    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == dimension, "LayerNorm(\(weight.name)): input \(x.shape), expected [..., \(dimension)]")
        let rows = x.count / dimension, d = dimension
        output.reshape(x.shape)
        mean = Array(repeating: 0, count: rows)
        std = Array(repeating: 0, count: rows)
        let w = params.value(weight), b = params.value(bias)
        for r in 0 ..< rows {
            let src = x.data + r * d, dst = output.data + r * d
            var sum: Float = 0
            for i in 0 ..< d { sum += src[i] }
            let mu = sum / Float(d)
            var squares: Float = 0
            for i in 0 ..< d { squares += (src[i] - mu) * (src[i] - mu) }
            let s = (squares / Float(d - 1)).squareRoot()
            mean[r] = mu
            std[r] = s
            let inv = 1 / (s + eps)
            for i in 0 ..< d { dst[i] = w[i] * (src[i] - mu) * inv + b[i] }
        }
        input = x
        return output
    }

    /// With u = std + eps and ĝ = dy·w: dx = (ĝ − mean(ĝ))/u − (Σ ĝ·(x − mean))/u² · (x − mean)/((D − 1)·std).
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("LayerNorm.backward before forward") }
        let rows = x.count / dimension, d = dimension
        inputGrad.reshape(x.shape)
        let w = params.value(weight), dw = params.grad(weight), db = params.grad(bias)
        for r in 0 ..< rows {
            let src = x.data + r * d, g = dy.data + r * d, dx = inputGrad.data + r * d
            let mu = mean[r], s = std[r], u = s + eps
            var sumG: Float = 0, sumGD: Float = 0
            for i in 0 ..< d {
                let centered = src[i] - mu
                dw[i] += g[i] * centered / u
                db[i] += g[i]
                let gHat = g[i] * w[i]
                sumG += gHat
                sumGD += gHat * centered
            }
            let meanG = sumG / Float(d)
            let stdTerm = s > 0 ? -sumGD / (u * u) / (Float(d - 1) * s) : 0
            for i in 0 ..< d { dx[i] = (g[i] * w[i] - meanG) / u + stdTerm * (src[i] - mu) }
        }
        return inputGrad
    }
}
