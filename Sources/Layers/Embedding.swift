// Embedding.swift — frozen word-vector lookup: token ids [B, T] to vectors [B, T, D].

import Tensors

/// A frozen embedding table (GloVe vectors; unknown words are zero rows). It has no gradient.
public final class Embedding {
    public let vocabularySize: Int, dimension: Int
    public let table: ParameterRef
    private let store: ParameterStore
    public let output = Tensor()

    /// Registers `name.weight` [vocabularySize, dimension] in `store` (a store that is not trained).
    public init(_ store: ParameterStore, _ name: String, vocabularySize: Int, dimension: Int) {
        self.vocabularySize = vocabularySize
        self.dimension = dimension
        self.store = store
        table = store.add(name + ".weight", [vocabularySize, dimension], .zeros)
    }

    /// Looks up `ids` (row-major [batch, length]).
    @discardableResult
    public func forward(_ ids: [Int], batch: Int, length: Int) -> Tensor {
        precondition(ids.count == batch * length, "Embedding: \(ids.count) ids for [\(batch), \(length)]")
        output.reshape([batch, length, dimension])
        let vectors = store.value(table)
        for (i, id) in ids.enumerated() {
            precondition(id >= 0 && id < vocabularySize, "Embedding: token id \(id) outside the vocabulary of \(vocabularySize)")
            (output.data + i * dimension).update(from: vectors + id * dimension, count: dimension)
        }
        return output
    }
}
