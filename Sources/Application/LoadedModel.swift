// LoadedModel.swift — a checkpoint opened for the commands above training (eval, ground, pseudo-label,
// report), in one place: its header, its configuration typed (with overrides), its vocabulary, and
// its model, teacher or student, with the weights asked for (the EMA unless raw, when it holds one).

import Configuration
import Datasets
import Distributed
import Evaluation
import Training

/// A checkpoint's model ready to use.
public struct LoadedModel {
    public let path: String
    public let checkpoint: Checkpoint
    /// The configuration the checkpoint was trained with, after `overrides`.
    public let config: TrainingConfiguration
    /// The words the model has embeddings for, in its embedding order.
    public let vocabulary: Vocabulary
    public let model: GroundingModel
    /// Whether `model` holds the EMA weights (else the raw ones).
    public let usesAverage: Bool

    /// Reads `path`; `raw` asks for the raw weights; `overrides` change its config (data.*, train.eval_batch).
    public init(checkpoint path: String, raw: Bool = false, overrides: [String] = []) throws {
        self.path = path
        checkpoint = try Checkpoint.read(path)
        config = try TrainingConfiguration.load(yaml: checkpoint.header.config, source: path, overrides: overrides)
        vocabulary = Vocabulary(words: checkpoint.header.vocabulary)
        model = try checkpoint.groundingModel(path: path, average: !raw)
        usesAverage = !raw && checkpoint.hasAverage
    }

    /// The model's data (its config's feature store and annotations), read with the model's vocabulary
    /// (collective).
    public func openData(communicator: Communicator) throws -> RunData {
        try RunData.open(config.data, communicator: communicator, vocabulary: vocabulary)
    }
}
