// MultiHeadAttention.swift — MCAN-style multi-head self-attention with a key padding mask:
//   Q, K, V = linear_q(x), linear_k(x), linear_v(x), split into heads of D/heads
//   P = softmax(Q·Kᵀ/√d_head with padded keys set to −1e9), dropout on P
//   y = linear_merge(concat over heads of P·V)

import Foundation
import Tensors

/// Self-attention over a batch of padded sequences [B, T, D].
public final class MultiHeadSelfAttention {
    public let dimension: Int, heads: Int
    public var headDimension: Int { dimension / heads }
    public let linearV: Linear, linearK: Linear, linearQ: Linear, linearMerge: Linear
    private let attentionDropout: Dropout
    private var keyMask: [Bool] = []
    private var batch = 0, length = 0
    private let probabilities = Tensor()  // [B, heads, T, T], softmax before dropout
    private let merged = Tensor()         // [B, T, D], heads side by side
    private let probabilityGrad = Tensor(), mergedGrad = Tensor()
    private let queryGrad = Tensor(), keyGrad = Tensor(), valueGrad = Tensor()
    public let inputGrad = Tensor()

    /// Registers `name.linear_v`, `linear_k`, `linear_q`, `linear_merge` (the reference's order).
    public init(_ params: ParameterStore, _ name: String, dimension: Int, heads: Int, dropout: Float) {
        precondition(dimension % heads == 0, "attention dimension \(dimension) is not divisible by \(heads) heads")
        self.dimension = dimension
        self.heads = heads
        linearV = Linear(params, name + ".linear_v", in: dimension, out: dimension)
        linearK = Linear(params, name + ".linear_k", in: dimension, out: dimension)
        linearQ = Linear(params, name + ".linear_q", in: dimension, out: dimension)
        linearMerge = Linear(params, name + ".linear_merge", in: dimension, out: dimension)
        attentionDropout = Dropout(rate: dropout, site: name + ".dropout")
    }

    /// x [B, T, D]; `keyMask[b·T + t]` is true where token t of sequence b is padding.
    @discardableResult
    public func forward(_ x: Tensor, keyMask: [Bool], _ context: ForwardContext) -> Tensor {
        precondition(x.shape.count == 3 && x.shape[2] == dimension, "attention: input \(x.shape), expected [B, T, \(dimension)]")
        let (b, t, d, dh) = (x.shape[0], x.shape[1], dimension, headDimension)
        precondition(keyMask.count == b * t, "attention: \(keyMask.count) mask entries for [\(b), \(t)]")
        (batch, length, self.keyMask) = (b, t, keyMask)
        let v = linearV.forward(x), k = linearK.forward(x), q = linearQ.forward(x)
        probabilities.reshape([b, heads, t, t])
        let scale = 1 / Float(dh).squareRoot()
        for i in 0 ..< b {
            for head in 0 ..< heads {
                let scores = probabilities.data + (i * heads + head) * t * t
                let offset = i * t * d + head * dh
                gemm(transB: true, m: t, n: t, k: dh, alpha: scale, a: q.data + offset, lda: d, b: k.data + offset, ldb: d, c: scores)
                for row in 0 ..< t {
                    let s = scores + row * t
                    for col in 0 ..< t where keyMask[i * t + col] { s[col] = -1e9 }
                    softmaxInPlace(s, t)
                }
            }
        }
        let p = attentionDropout.forward(probabilities, context)
        merged.reshape([b, t, d])
        for i in 0 ..< b {
            for head in 0 ..< heads {
                let offset = i * t * d + head * dh
                gemm(m: t, n: dh, k: t, a: p.data + (i * heads + head) * t * t, b: v.data + offset, ldb: d,
                     c: merged.data + offset, ldc: d)
            }
        }
        return linearMerge.forward(merged)
    }

    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        let (b, t, d, dh) = (batch, length, dimension, headDimension)
        let dMerged = linearMerge.backward(dy)
        let q = linearQ.output, k = linearK.output, v = linearV.output
        let pDropped = attentionDropout.output
        probabilityGrad.reshape([b, heads, t, t])
        valueGrad.reshape([b, t, d])
        for i in 0 ..< b {
            for head in 0 ..< heads {
                let offset = i * t * d + head * dh, pOffset = (i * heads + head) * t * t
                // dP_dropped = dO·Vᵀ ; dV = P_droppedᵀ·dO
                gemm(transB: true, m: t, n: t, k: dh, a: dMerged.data + offset, lda: d, b: v.data + offset, ldb: d,
                     c: probabilityGrad.data + pOffset)
                gemm(transA: true, m: t, n: dh, k: t, a: pDropped.data + pOffset, b: dMerged.data + offset, ldb: d,
                     c: valueGrad.data + offset, ldc: d)
            }
        }
        let dP = attentionDropout.backward(probabilityGrad)  // overwritten in place below with dS
        // Softmax backward: dS = P ⊙ (dP − Σ_j dP·P); masked scores were constants, so they get none.
        let scale = 1 / Float(dh).squareRoot()
        for row in 0 ..< b * heads * t {
            let p = probabilities.data + row * t, g = dP.data + row * t
            var dot: Float = 0
            for j in 0 ..< t { dot += g[j] * p[j] }
            let i = row / (heads * t)
            for j in 0 ..< t { g[j] = keyMask[i * t + j] ? 0 : p[j] * (g[j] - dot) * scale }
        }
        queryGrad.reshape([b, t, d])
        keyGrad.reshape([b, t, d])
        for i in 0 ..< b {
            for head in 0 ..< heads {
                let offset = i * t * d + head * dh, pOffset = (i * heads + head) * t * t
                gemm(m: t, n: dh, k: t, a: dP.data + pOffset, b: k.data + offset, ldb: d, c: queryGrad.data + offset, ldc: d)
                gemm(transA: true, m: t, n: dh, k: t, a: dP.data + pOffset, b: q.data + offset, ldb: d, c: keyGrad.data + offset, ldc: d)
            }
        }
        inputGrad.copy(from: linearQ.backward(queryGrad))
        accumulate(linearK.backward(keyGrad), into: inputGrad)
        accumulate(linearV.backward(valueGrad), into: inputGrad)
        return inputGrad
    }
}
