// SelfAttentionBlock.swift — one post-norm transformer layer of the language encoder (MCAN "SA"):
//   y = norm1(y + dropout1(mhatt(y)))
//   y = norm2(y + dropout2(ffn(y)))

import Layers
import Tensors

/// Self-attention and feed-forward sub-layers, each with a residual connection and LayerNorm.
public final class SelfAttentionBlock {
    private let attention: MultiHeadSelfAttention
    private let feedForward: FeedForward
    private let dropout1: Dropout, dropout2: Dropout
    private let norm1: LayerNorm, norm2: LayerNorm
    private let residual1 = Tensor(), residual2 = Tensor(), gradient = Tensor()

    public init(_ params: ParameterStore, _ name: String, dimension: Int, heads: Int, feedForward ffn: Int, dropout: Float) {
        attention = MultiHeadSelfAttention(params, name + ".mhatt", dimension: dimension, heads: heads, dropout: dropout)
        feedForward = FeedForward(params, name + ".ffn", in: dimension, hidden: ffn, out: dimension, dropout: dropout)
        dropout1 = Dropout(rate: dropout, site: name + ".dropout1")
        dropout2 = Dropout(rate: dropout, site: name + ".dropout2")
        norm1 = LayerNorm(params, name + ".norm1", dimension: dimension)
        norm2 = LayerNorm(params, name + ".norm2", dimension: dimension)
    }

    /// y [B, T, D] with `keyMask[b·T + t]` true at padding.
    @discardableResult
    public func forward(_ y: Tensor, keyMask: [Bool], _ context: ForwardContext) -> Tensor {
        residual1.copy(from: y)
        accumulate(dropout1.forward(attention.forward(y, keyMask: keyMask, context), context), into: residual1)
        let h = norm1.forward(residual1)
        residual2.copy(from: h)
        accumulate(dropout2.forward(feedForward.forward(h, context), context), into: residual2)
        return norm2.forward(residual2)
    }

    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        let dResidual2 = norm2.backward(dy)
        gradient.copy(from: dResidual2)
        accumulate(feedForward.backward(dropout2.backward(dResidual2)), into: gradient)
        let dResidual1 = norm1.backward(gradient)
        gradient.copy(from: dResidual1)
        accumulate(attention.backward(dropout1.backward(dResidual1)), into: gradient)
        return gradient
    }
}
