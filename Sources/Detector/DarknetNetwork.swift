// DarknetNetwork.swift — a Darknet network for inference: the layers of a `.cfg` with the values of
// a `.weights` file, run one image at a time. Gives what the grounding models read (DESIGN.md §3):
// the three maps that feed the detection heads at strides 8, 16 and 32 — by default the input of the
// convolution just before each `[yolo]` — and the stride-32 head decoded into boxes and objectness.

import Datasets
import Tensors

/// A Darknet detector ready to run.
public final class DarknetNetwork {
    public let config: DarknetConfig
    /// The layers whose outputs are stored, for strides 8, 16 and 32.
    public let featureLayers: [Int]
    /// The `[yolo]` layer of stride 32, decoded into the anchor boxes.
    public let headLayer: Int
    /// What the store records per image: the feature maps' channels and the head's anchors per cell.
    public let layout: FeatureLayout
    private var convolutions: [Int: DarknetConvolution] = [:]
    private let outputs: [Tensor]

    /// Builds the network. `featureLayers` overrides the maps to store (absolute layer indices).
    public init(config: DarknetConfig, weights: DarknetWeights, featureLayers: [Int]? = nil) throws {
        self.config = config
        let shapes = try config.convolutionShapes()
        guard shapes.count == weights.convolutions.count else {
            throw InputError(file: config.source, "the network has \(shapes.count) convolutions, the weights \(weights.convolutions.count)")
        }
        var next = 0
        for (index, layer) in config.layers.enumerated() {
            guard case let .convolutional(_, _, stride, padding, _, activation) = layer else { continue }
            convolutions[index] = DarknetConvolution(shape: shapes[next], stride: stride, padding: padding, activation: activation,
                                                     values: weights.convolutions[next])
            next += 1
        }
        outputs = config.layers.map { _ in Tensor() }

        // The heads, ordered by stride at the config's input size.
        let size = try config.outputShapes(width: config.width, height: config.height)
        let heads = config.layers.indices.filter { if case .yolo = config.layers[$0] { return true } else { return false } }
            .sorted { size[$0].width > size[$1].width }
        guard let last = heads.last, config.width / size[last].width == 32 else {
            throw InputError(file: config.source, "no [yolo] head of stride 32", hint: "the grounding models read the stride-32 head's anchors")
        }
        headLayer = last
        if let featureLayers {
            guard featureLayers.count == 3, featureLayers.allSatisfy({ config.layers.indices.contains($0) }) else {
                throw InputError(file: config.source, location: "feature_layers", "needs three layer indices below \(config.layers.count), got \(featureLayers)")
            }
            self.featureLayers = featureLayers
        } else {
            guard heads.count == 3, heads.allSatisfy({ $0 >= 2 && config.isConvolution($0 - 1) }) else {
                throw InputError(file: config.source, "cannot find three [yolo] heads each after a convolution",
                                 hint: "name the three feature layers with detector.feature_layers")
            }
            self.featureLayers = heads.map { $0 - 2 }
        }
        for (layer, stride) in zip(self.featureLayers, FeatureLayout.strides) where config.width / size[layer].width != stride {
            throw InputError(file: config.source, location: "feature_layers", "layer \(layer) has stride \(config.width / size[layer].width), expected \(stride)")
        }
        guard case let .yolo(anchors, _, _) = config.layers[last] else { preconditionFailure("head is not a [yolo] layer") }
        layout = FeatureLayout(channels: self.featureLayers.map { size[$0].channels }, anchorsPerCell: anchors.count)
    }

    /// Reads `cfg` and `weights` files.
    public convenience init(cfg: String, weights: String, featureLayers: [Int]? = nil) throws {
        guard let text = try? String(contentsOfFile: cfg, encoding: .utf8) else {
            throw InputError(file: cfg, "cannot read the Darknet config", hint: "check detector.cfg")
        }
        let config = try DarknetConfig(text: text, source: cfg)
        try self.init(config: config, weights: try DarknetWeights(contentsOf: weights, for: config), featureLayers: featureLayers)
    }

    /// Multiply–adds of one image at input size `size`.
    public func multiplyAdds(size: Int) throws -> Int {
        let shapes = try config.outputShapes(width: size, height: size)
        return convolutions.reduce(0) { total, entry in
            let input = entry.key == 0 ? (size, size) : (shapes[entry.key - 1].height, shapes[entry.key - 1].width)
            return total + entry.value.multiplyAdds(height: input.0, width: input.1)
        }
    }

    /// Runs the network on one image [1 or none, channels, S, S]; afterwards `output(_:)` holds every layer's result.
    public func forward(_ input: Tensor) {
        let (h, w) = (input.shape[input.shape.count - 2], input.shape[input.shape.count - 1])
        precondition(input.count == config.channels * h * w, "detector input \(input.shape), expected \(config.channels) channels")
        for (index, layer) in config.layers.enumerated() {
            let previous = index == 0 ? nil : outputs[index - 1]
            let inputData = previous.map { UnsafePointer($0.data) } ?? UnsafePointer(input.data)
            let (ih, iw) = previous.map { ($0.shape[1], $0.shape[2]) } ?? (h, w)
            switch layer {
            case .convolutional: convolutions[index]!.forward(inputData, height: ih, width: iw, into: outputs[index])
            case let .shortcut(from, activation): shortcut(previous!, outputs[from], activation: activation, into: outputs[index])
            case let .route(sources): route(sources.map { outputs[$0] }, into: outputs[index])
            case let .upsample(stride): upsample(previous!, stride: stride, into: outputs[index])
            case let .maxpool(size, stride, padding): maxpool(previous!, size: size, stride: stride, padding: padding, into: outputs[index])
            case .yolo:
                outputs[index].reshape(previous!.shape)
                outputs[index].data.update(from: previous!.data, count: previous!.count)
            }
        }
    }

    /// Layer `index`'s output from the last forward, [C, H, W].
    public func output(_ index: Int) -> Tensor { outputs[index] }

    /// The last forward's feature maps and decoded stride-32 anchors at input size `size`.
    public func record(inputSize size: Int) -> FeatureRecord {
        guard case let .yolo(anchors, classes, scaleXY) = config.layers[headLayer] else { preconditionFailure("head is not a [yolo] layer") }
        return FeatureRecord(maps: featureLayers.map { Array(UnsafeBufferPointer(start: outputs[$0].data, count: outputs[$0].count)) },
                             boxes: decodeYoloHead(outputs[headLayer], anchors: anchors, classes: classes, scaleXY: scaleXY, inputSize: size))
    }
}

extension DarknetConfig {
    func isConvolution(_ index: Int) -> Bool {
        if case .convolutional = layers[index] { return true }
        return false
    }
}
