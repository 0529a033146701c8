// AttFlat.swift — attention pooling of a padded sequence into one vector (MCAN AttFlat, one glimpse):
//   a = softmax over tokens of mlp(x) with padded tokens at −1e9;  y = linear_merge(Σ_t a_t·x_t)

import Tensors

/// Pools [B, T, D] into [B, outFeatures].
public final class AttFlat {
    public let dimension: Int
    public let mlp: FeedForward
    public let linearMerge: Linear
    private var input: Tensor?
    private var mask: [Bool] = []
    private let weights = Tensor()   // [B, T] attention over tokens
    private let pooled = Tensor()    // [B, D]
    private let scoreGrad = Tensor()
    public let inputGrad = Tensor()

    public init(_ params: ParameterStore, _ name: String, dimension: Int, mlpHidden: Int, out outFeatures: Int, dropout: Float) {
        self.dimension = dimension
        mlp = FeedForward(params, name, in: dimension, hidden: mlpHidden, out: 1, dropout: dropout)
        linearMerge = Linear(params, name + ".linear_merge", in: dimension, out: outFeatures)
    }

    /// x [B, T, D]; `mask[b·T + t]` is true where the token is padding.
    @discardableResult
    public func forward(_ x: Tensor, mask: [Bool], _ context: ForwardContext) -> Tensor {
        let (b, t, d) = (x.shape[0], x.shape[1], dimension)
        precondition(x.shape.count == 3 && x.shape[2] == d && mask.count == b * t, "AttFlat: input \(x.shape) with \(mask.count) mask entries")
        let scores = mlp.forward(x, context)  // [B, T, 1]
        weights.reshape([b, t])
        for i in 0 ..< b * t { weights.data[i] = mask[i] ? -1e9 : scores.data[i] }
        for i in 0 ..< b { softmaxInPlace(weights.data + i * t, t) }
        pooled.reshapeZeroed([b, d])
        for i in 0 ..< b {
            let out = pooled.data + i * d
            for step in 0 ..< t {
                let a = weights.data[i * t + step], row = x.data + (i * t + step) * d
                for j in 0 ..< d { out[j] += a * row[j] }
            }
        }
        input = x
        self.mask = mask
        return linearMerge.forward(pooled)
    }

    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("AttFlat.backward before forward") }
        let (b, t, d) = (x.shape[0], x.shape[1], dimension)
        let dPooled = linearMerge.backward(dy)
        inputGrad.reshape(x.shape)
        scoreGrad.reshape([b, t, 1])
        for i in 0 ..< b {
            let g = dPooled.data + i * d
            var dot: Float = 0
            for step in 0 ..< t {
                let a = weights.data[i * t + step], row = x.data + (i * t + step) * d, dx = inputGrad.data + (i * t + step) * d
                var da: Float = 0
                for j in 0 ..< d {
                    dx[j] = a * g[j]
                    da += g[j] * row[j]
                }
                scoreGrad.data[i * t + step] = da
                dot += da * a
            }
            for step in 0 ..< t {
                let k = i * t + step
                scoreGrad.data[k] = mask[k] ? 0 : weights.data[k] * (scoreGrad.data[k] - dot)
            }
        }
        accumulate(mlp.backward(scoreGrad), into: inputGrad)
        return inputGrad
    }
}
