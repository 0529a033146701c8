// LanguageEncoder.swift — the reference's expression encoder (DESIGN.md §3):
//   frozen word vectors → GRU (named `lstm` in the reference) → N post-norm self-attention layers
//   → AttFlat pooling to one sentence vector. Padding (token id 0) is masked in attention and pooling.

import Layers
import Tensors

/// Sizes of the language encoder.
public struct LanguageShape: Codable, Equatable, Sendable {
    public var vocabularySize: Int, wordDimension: Int, hidden: Int
    public var heads: Int, feedForward: Int, layers: Int
    public var maxTokens: Int
    public var dropout: Float

    public init(vocabularySize: Int, wordDimension: Int, hidden: Int, heads: Int, feedForward: Int, layers: Int,
                maxTokens: Int, dropout: Float) {
        self.vocabularySize = vocabularySize
        self.wordDimension = wordDimension
        self.hidden = hidden
        self.heads = heads
        self.feedForward = feedForward
        self.layers = layers
        self.maxTokens = maxTokens
        self.dropout = dropout
    }
}

/// Encodes padded token-id sequences into per-token features and a sentence vector.
public final class LanguageEncoder {
    public let shape: LanguageShape
    public let embedding: Embedding
    public let gru: GRU
    public let blocks: [SelfAttentionBlock]
    public let pooling: AttFlat
    private var mask: [Bool] = []
    private let params: ParameterStore
    private let name: String
    /// Per-token features after the last self-attention layer, [B, T, hidden].
    public private(set) var tokenFeatures = Tensor()

    /// Parameters under `name.*` in `params`; the frozen word vectors in `frozen`.
    public init(_ params: ParameterStore, frozen: ParameterStore, _ name: String, shape: LanguageShape) {
        self.shape = shape
        self.params = params
        self.name = name
        embedding = Embedding(frozen, name + ".embedding", vocabularySize: shape.vocabularySize, dimension: shape.wordDimension)
        gru = GRU(params, name + ".lstm", inputSize: shape.wordDimension, hiddenSize: shape.hidden)
        blocks = (0 ..< shape.layers).map {
            SelfAttentionBlock(params, name + ".sa_list.\($0)", dimension: shape.hidden, heads: shape.heads,
                               feedForward: shape.feedForward, dropout: shape.dropout)
        }
        pooling = AttFlat(params, name + ".att_flat", dimension: shape.hidden, mlpHidden: shape.hidden / 2,
                          out: shape.hidden, dropout: shape.dropout)
    }

    /// The sentence vectors [B, hidden] of `ids` (row-major [B, maxTokens], 0 = padding).
    @discardableResult
    public func forward(ids: [Int], batch: Int, _ context: ForwardContext) -> Tensor {
        let t = shape.maxTokens
        mask = ids.map { $0 == 0 }
        let embedded = context.checked(embedding.forward(ids, batch: batch, length: t), "lang_encoder.embedding")
        var y = context.checked(gru.forward(embedded), "lang_encoder.gru")
        for (i, block) in blocks.enumerated() { y = context.checked(block.forward(y, keyMask: mask, context), "lang_encoder.sa_list.\(i)") }
        tokenFeatures = y
        return context.checked(pooling.forward(y, mask: mask, context), "lang_encoder.att_flat")
    }

    /// Backpropagates ∂L/∂sentence into the encoder's parameters (the word vectors are frozen), telling
    /// the store as each part's gradients are final.
    public func backward(_ dSentence: Tensor) {
        var g = pooling.backward(dSentence)
        params.finishGradients(under: name + ".att_flat")
        for (i, block) in blocks.enumerated().reversed() {
            g = block.backward(g)
            params.finishGradients(under: name + ".sa_list.\(i)")
        }
        gru.backward(g)
        params.finishGradients(under: name + ".lstm")
    }
}
