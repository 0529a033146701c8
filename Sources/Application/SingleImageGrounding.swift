// SingleImageGrounding.swift — one image and one expression through a checkpoint's model (teacher or
// student, EMA weights when held): what `refclip ground` runs. The detector is the one that made the
// model's feature store unless another is named; its maps must have the channels the model expects.

import Configuration
import Datasets
import Detector
import Distributed
import Evaluation
import Foundation
import Models
import Tensors
import Training

/// A checkpoint's model with its vocabulary and input size, ready to ground expressions.
public final class SingleImageGrounder {
    private let loaded: LoadedModel
    public var phase: Phase { loaded.config.phase }
    /// Where the model's data came from (its feature store names the detector).
    public var data: DataConfig { loaded.config.data }
    /// The input size the model was trained and evaluated at (`data.view`).
    public var view: Int { data.view }
    private var vocabulary: Vocabulary { loaded.vocabulary }
    private var model: GroundingModel { loaded.model }

    /// Loads `path` (EMA weights unless `raw`).
    public init(checkpoint path: String, raw: Bool = false) throws {
        loaded = try LoadedModel(checkpoint: path, raw: raw)
    }

    /// Words of `expression` the model has no embedding for (they read as UNK).
    public func unknownWords(_ expression: String) -> [String] {
        tokenize(expression).filter { vocabulary.id($0) == Vocabulary.unknown }
    }

    /// The detector that made the model's feature store, from the store's manifest, and its input normalization.
    public func storeDetector() throws -> (detector: DetectorSource, normalization: InputNormalization) {
        let store = try FeatureStore(directory: data.features)
        return try DetectorSource.recorded(in: store.manifest.producer, manifest: store.directory + "/manifest.json")
    }

    /// The model's box for `expression` on detector outputs at `view`, in letterbox pixels.
    public func ground(_ record: FeatureRecord, expression: String) throws -> GroundingChoice {
        let grids = FeatureLayout.strides.map { view / $0 }
        let channels = model.mapChannels
        guard record.maps.count == 3, zip(zip(record.maps, channels), grids).allSatisfy({ $0.0.count == $0.1 * $1 * $1 }) else {
            throw InputError("the detector's maps (\(record.maps.map(\.count)) values) do not have the channels \(channels) this model was trained on",
                             hint: "use the detector that made the model's feature store")
        }
        var batch = FeatureBatch()
        batch.maps = zip(zip(record.maps, channels), grids).map { Tensor([1, $0.1, $1, $1], $0.0) }
        batch.boxes = Tensor([1, grids[2] * grids[2], record.boxes.count / (grids[2] * grids[2] * 5), 5], record.boxes)
        return model.choose(batch, tokenIDs: vocabulary.encode(expression, length: data.maxTokens), inputSize: view,
                            communicator: SingleProcessCommunicator())[0]
    }
}
