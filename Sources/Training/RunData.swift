// RunData.swift — the one place a run's data is opened from its `data.*` section: the feature store
// (its manifest read on rank 0 and broadcast) and the grounding data (annotations, vocabulary and word
// vectors, prepared on rank 0 and broadcast). Collective: every rank calls it alike.

import Configuration
import Datasets
import Distributed

/// A run's feature store and grounding data.
public struct RunData {
    public let config: DataConfig
    public let store: FeatureStore
    public let grounding: GroundingData

    /// Opens `config`'s store and annotations; with `vocabulary`, expressions are read with it (words
    /// outside it as UNK) instead of the vocabulary the annotations build.
    public static func open(_ config: DataConfig, communicator: Communicator, vocabulary: Vocabulary? = nil) throws -> RunData {
        let store = try FeatureStore.shared(directory: config.features, communicator: communicator)
        _ = try store.viewIndex(config.view)
        let grounding = try GroundingData.shared(communicator) {
            try GroundingData.prepare(annotations: config.annotations, wordVectors: config.wordVectors, store: store, maxTokens: config.maxTokens,
                                      vocabulary: vocabulary)
        }
        return RunData(config: config, store: store, grounding: grounding)
    }

    /// The same data read with another vocabulary (a model's own).
    public func reading(with vocabulary: Vocabulary, communicator: Communicator) throws -> RunData {
        let grounding = try GroundingData.shared(communicator) {
            try GroundingData.prepare(annotations: config.annotations, wordVectors: config.wordVectors, store: store, maxTokens: config.maxTokens,
                                      vocabulary: vocabulary)
        }
        return RunData(config: config, store: store, grounding: grounding)
    }
}
