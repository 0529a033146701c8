// SingleImageGrounding.swift — one image and one expression through a checkpoint's model (teacher or
// student, EMA weights when held): what `refclip ground` runs. The detector is the one that made the
// model's feature store unless another is named; its maps must have the channels the model expects.

import Datasets
import Detector
import Distributed
import Evaluation
import Foundation
import Models
import Tensors

/// A checkpoint's model with its vocabulary and input size, ready to ground expressions.
public final class SingleImageGrounder {
    public let phase: String
    /// The input size the model was trained and evaluated at (`data.view`).
    public let view: Int
    public let config: RunConfig
    private let vocabulary: Vocabulary
    private let maxTokens: Int
    private let channels: [Int]
    private let predict: (FeatureBatch, [Int]) -> GroundingChoice

    /// Loads `path` (EMA weights unless `raw`).
    public init(checkpoint path: String, raw: Bool = false) throws {
        let loaded = try Checkpoint.read(path)
        phase = loaded.header.phase
        config = try RunConfig(schema: try phaseSchema(phase, source: path), yaml: loaded.header.config)
        view = config.int("data.view")
        maxTokens = config.int("data.max_tokens")
        vocabulary = Vocabulary(words: loaded.header.vocabulary)
        let comm = SingleProcessCommunicator()
        let size = view
        if let shape = loaded.header.model.teacher {
            let model = try loaded.teacher(path: path, average: !raw)
            channels = [shape.fusion.channels52, shape.fusion.channels26, shape.fusion.channels13]
            predict = { features, ids in
                let inputs = TeacherInputs(f52: features.maps[0], f26: features.maps[1], f13: features.maps[2], anchorBoxes: features.boxes, tokenIDs: ids)
                let choice = model.predict(inputs, .inference(samples: [0], communicator: comm))[0]
                return GroundingChoice(cell: choice.cell, box: choice.box)
            }
        } else {
            let model = try loaded.student(path: path, average: !raw)
            let fusion = model.shape.fusion
            channels = [fusion.channels52, fusion.channels26, fusion.channels13]
            predict = { features, ids in
                let choice = model.predict(maps: features.maps, tokenIDs: ids, inputSize: size, .inference(samples: [0], communicator: comm))[0]
                return GroundingChoice(cell: choice.cell, box: choice.box)
            }
        }
    }

    /// Words of `expression` the model has no embedding for (they read as UNK).
    public func unknownWords(_ expression: String) -> [String] {
        tokenize(expression).filter { vocabulary.id($0) == Vocabulary.unknown }
    }

    /// The detector that made the model's feature store, from the store's manifest.
    public func storeDetector() throws -> (cfg: String, weights: String, featureLayers: [Int]?, normalization: InputNormalization) {
        let store = try FeatureStore(directory: config.string("data.features"))
        let producer = store.manifest.producer
        guard producer["kind"] == "darknet", let cfg = producer["cfg"], let weights = producer["weights"] else {
            throw InputError(file: store.directory + "/manifest.json", "was not made by a Darknet detector (producer: \(producer["kind"] ?? "unknown"))",
                             hint: "name the detector with --detector and --weights")
        }
        let layers = producer["feature_layers"].flatMap { text in text == "auto" ? nil : text.split(separator: ",").compactMap { Int($0) } }
        return (cfg, weights, layers, InputNormalization(name: producer["normalization"] ?? "unit") ?? .unitRange)
    }

    /// The model's box for `expression` on detector outputs at `view`, in letterbox pixels.
    public func ground(_ record: FeatureRecord, expression: String) throws -> GroundingChoice {
        let grids = FeatureLayout.strides.map { view / $0 }
        guard record.maps.count == 3, zip(zip(record.maps, channels), grids).allSatisfy({ $0.0.count == $0.1 * $1 * $1 }) else {
            throw InputError("the detector's maps (\(record.maps.map(\.count)) values) do not have the channels \(channels) this model was trained on",
                             hint: "use the detector that made the model's feature store")
        }
        var batch = FeatureBatch()
        batch.maps = zip(zip(record.maps, channels), grids).map { Tensor([1, $0.1, $1, $1], $0.0) }
        batch.boxes = Tensor([1, grids[2] * grids[2], record.boxes.count / (grids[2] * grids[2] * 5), 5], record.boxes)
        return predict(batch, vocabulary.encode(expression, length: maxTokens))
    }
}
