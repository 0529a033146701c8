// RefCLIPYOLOv3.swift — the detector of the RefCLIP/SimREC code for inference: the 38 modules of its
// `create_yolov3_modules` (DarkNet-53, an SPP block, three guided-anchoring heads), with the weights
// of its state dict by the reference's names (`module_list.{i}…`). Channel widths and the class count
// are read from the weights' shapes. Each conv + batch norm + leaky block is one folded convolution
// (one sgemm); each head predicts per cell the log width and height of 4 anchors (3 COCO anchors and
// 1 anchor-free of stride·4), turns them into the offsets of a deformable 3×3 convolution (deformable
// group = anchor) and decodes its output exactly as the reference computes `pred`.

import Datasets
import Formats
import Foundation
import Tensors

/// The RefCLIP/SimREC YOLOv3 ready to run on one image at a time.
public final class RefCLIPYOLOv3: DetectorNetwork {
    /// The module kinds at each index of the reference's `module_list`.
    enum Module {
        /// A conv + batch norm + leaky block of `multiple` × the base width filters.
        case conv(multiple: Int, kernel: Int, stride: Int)
        case residual(blocks: Int, shortcut: Bool)
        case spp, identity, upsample
        case head(anchorMask: [Int], stride: Int)

        var isDownsampling: Bool { if case .conv(_, _, stride: 2) = self { return true } else { return false } }
        var isUpsampling: Bool { if case .upsample = self { return true } else { return false } }
    }

    static let modules: [Module] = {
        func conv(_ multiple: Int, _ kernel: Int, _ stride: Int = 1) -> Module { .conv(multiple: multiple, kernel: kernel, stride: stride) }
        var m: [Module] = [conv(1, 3), conv(2, 3, 2), .residual(blocks: 1, shortcut: true), conv(4, 3, 2), .residual(blocks: 2, shortcut: true),
                           conv(8, 3, 2), .residual(blocks: 8, shortcut: true), conv(16, 3, 2), .residual(blocks: 8, shortcut: true),
                           conv(32, 3, 2), .residual(blocks: 4, shortcut: true)]
        m += [.residual(blocks: 1, shortcut: false), conv(16, 1), .spp, conv(16, 1), conv(32, 3), .identity, conv(16, 1),
              conv(32, 3), .head(anchorMask: [6, 7, 8], stride: 32)]
        for (width, mask, stride) in [(8, [3, 4, 5], 16), (4, [0, 1, 2], 8)] {
            m += [conv(width, 1), .upsample, conv(width, 1), conv(2 * width, 3), .identity, .residual(blocks: 1, shortcut: false),
                  conv(width, 1), conv(2 * width, 3), .head(anchorMask: mask, stride: stride)]
        }
        return m
    }()

    /// Every tensor of the state dict at base width `width` (32 in the paper) with `classes` classes:
    /// the names and shapes the official checkpoint holds (without `num_batches_tracked`).
    public static func parameterShapes(width: Int = 32, classes: Int = 80) -> [(name: String, shape: [Int])] {
        var shapes: [(name: String, shape: [Int])] = [], channels: [Int] = []
        func block(_ prefix: String, _ filters: Int, _ inputs: Int, _ kernel: Int) {
            shapes.append((prefix + ".conv.weight", [filters, inputs, kernel, kernel]))
            for part in ["weight", "bias", "running_mean", "running_var"] { shapes.append((prefix + ".batch_norm." + part, [filters])) }
        }
        for (index, module) in modules.enumerated() {
            let prefix = "module_list.\(index)"
            let c = (source(of: index).map { channels[$0] } ?? 3) + (concatenated(into: index).map { channels[$0] } ?? 0)
            switch module {
            case let .conv(multiple, kernel, _):
                block(prefix, multiple * width, c, kernel)
                channels.append(multiple * width)
            case let .residual(blocks, _):
                for b in 0 ..< blocks {
                    block("\(prefix).module_list.\(b).0", c / 2, c, 1)
                    block("\(prefix).module_list.\(b).1", c, c / 2, 3)
                }
                channels.append(c)
            case .spp: channels.append(4 * c)
            case .identity, .upsample: channels.append(c)
            case .head:
                shapes += [(prefix + ".guide_wh.weight", [8, c, 1, 1]), (prefix + ".guide_wh.bias", [8]),
                           (prefix + ".Feature_adaption.conv_offset.weight", [72, 2, 1, 1]), (prefix + ".Feature_adaption.conv_offset.bias", [72]),
                           (prefix + ".Feature_adaption.dconv.weight", [c, c, 3, 3]), (prefix + ".Feature_adaption.dconv.bias", [c]),
                           (prefix + ".conv.weight", [4 * (5 + classes), c, 1, 1]), (prefix + ".conv.bias", [4 * (5 + classes)])]
                channels.append(c)
            }
        }
        return shapes
    }

    /// The guided-anchoring heads' indices, one per stride. Each reads the module just before it, whose
    /// output is a feature map the store keeps.
    static let heads = (stride32: 19, stride16: 28, stride8: 37)
    /// The modules whose outputs are the stored feature maps, in the store's order (strides 8, 16, 32).
    static let featureModules = [heads.stride8 - 1, heads.stride16 - 1, heads.stride32 - 1]

    /// The nine COCO anchors (w, h) in input pixels.
    static let cocoAnchors: [(Float, Float)] = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (42, 119), (116, 90), (156, 198), (121, 240)]
    /// The module whose output module `index` reads (the reference's route layers after each head);
    /// nil for the first, which reads the image.
    static func source(of index: Int) -> Int? {
        switch index {
        case 0: return nil
        case 20: return 17
        case 29: return 26
        default: return index - 1
        }
    }

    /// The module whose output is concatenated after the upsampled map (the reference's other routes).
    static func concatenated(into index: Int) -> Int? { [22: 8, 31: 6][index] }

    public let layout: FeatureLayout
    public let classes: Int
    /// One module with its weights (spp, identity and upsample have none).
    private enum Layer {
        case conv(DarknetConvolution)
        case residual([(reduce: DarknetConvolution, expand: DarknetConvolution)], shortcut: Bool)
        case spp, identity, upsample
        case head(Head)
    }

    /// One guided-anchoring head: anchor shapes from `guide`, their offsets for the deformable `adaption`,
    /// the prediction from `output`.
    private struct Head {
        let anchorMask: [Int], stride: Int
        let guide: DarknetConvolution, offsets: DarknetConvolution, adaption: DeformableConvolution, output: DarknetConvolution
    }

    private let layers: [Layer]
    private let outputs: [Tensor] = modules.map { _ in Tensor() }
    private let scratch = (Tensor(), Tensor(), Tensor(), Tensor(), Tensor())
    /// Seconds spent in the deformable convolutions (sampling and product) since the network was built.
    public private(set) var deformableSeconds = 0.0

    /// Builds the network from a state dict; a missing tensor or one of the wrong shape is an error naming it.
    public init(weights file: SafetensorsFile) throws {
        func tensor(_ name: String, rank: Int) throws -> (values: [Float], shape: [Int]) {
            guard file.contains(name) else {
                throw InputError(file: file.path, location: name, "is missing", hint: "the weights are not a RefCLIP/SimREC YOLOv3 state dict (convert the .pth with refclip import-detector)")
            }
            let entry = try file.entry(name)
            guard entry.shape.count == rank else { throw InputError(file: file.path, location: name, "has shape \(entry.shape), expected \(rank) dimensions") }
            return (try file.floats(name), entry.shape)
        }
        func vector(_ name: String, count: Int) throws -> [Float] {
            let (values, shape) = try tensor(name, rank: 1)
            guard shape == [count] else { throw InputError(file: file.path, location: name, "has shape \(shape), expected [\(count)]") }
            return values
        }
        /// A conv (no bias) + batch norm + leaky block, batch norm folded.
        func block(_ prefix: String, stride: Int, channels: Int) throws -> DarknetConvolution {
            let (weights, shape) = try tensor(prefix + ".conv.weight", rank: 4)
            guard shape[1] == channels, shape[2] == shape[3], shape[2] % 2 == 1 else {
                throw InputError(file: file.path, location: prefix + ".conv.weight", "has shape \(shape), expected [_, \(channels), k, k] with k odd")
            }
            let f = shape[0]
            let values = ConvolutionWeights(weights: weights, biases: try vector(prefix + ".batch_norm.bias", count: f),
                                            batchNorm: (try vector(prefix + ".batch_norm.weight", count: f), try vector(prefix + ".batch_norm.running_mean", count: f),
                                                        try vector(prefix + ".batch_norm.running_var", count: f)))
            return DarknetConvolution(shape: ConvolutionShape(filters: f, channels: channels, size: shape[2], batchNormalize: true), stride: stride,
                                      padding: shape[2] / 2, activation: .leaky, values: values)
        }
        /// A 1×1 convolution with bias and `groups` groups, stored dense (zero across groups).
        func pointwise(_ prefix: String, channels: Int, groups: Int = 1) throws -> DarknetConvolution {
            let (grouped, shape) = try tensor(prefix + ".weight", rank: 4)
            guard shape[1] * groups == channels, shape[0] % groups == 0, shape[2] == 1, shape[3] == 1 else {
                throw InputError(file: file.path, location: prefix + ".weight", "has shape \(shape), expected [_, \(channels / groups), 1, 1]")
            }
            let (f, perGroup) = (shape[0], shape[1])
            var dense = [Float](repeating: 0, count: f * channels)
            for o in 0 ..< f {
                let group = o / (f / groups)
                for i in 0 ..< perGroup { dense[o * channels + group * perGroup + i] = grouped[o * perGroup + i] }
            }
            return DarknetConvolution(shape: ConvolutionShape(filters: f, channels: channels, size: 1, batchNormalize: false), stride: 1, padding: 0,
                                      activation: .linear, values: ConvolutionWeights(weights: dense, biases: try vector(prefix + ".bias", count: f), batchNorm: nil))
        }

        var channels = [Int](repeating: 0, count: Self.modules.count)
        var classes = -1
        var layers: [Layer] = []
        for (index, module) in Self.modules.enumerated() {
            let prefix = "module_list.\(index)"
            let c = (Self.source(of: index).map { channels[$0] } ?? 3) + (Self.concatenated(into: index).map { channels[$0] } ?? 0)
            switch module {
            case let .conv(_, _, stride):
                let conv = try block(prefix, stride: stride, channels: c)
                layers.append(.conv(conv))
                channels[index] = conv.filters
            case let .residual(blocks, shortcut):
                let pairs = try (0 ..< blocks).map { b in
                    let reduce = try block("\(prefix).module_list.\(b).0", stride: 1, channels: c)
                    let expand = try block("\(prefix).module_list.\(b).1", stride: 1, channels: reduce.filters)
                    guard expand.filters == c else { throw InputError(file: file.path, location: "\(prefix).module_list.\(b).1.conv.weight", "has \(expand.filters) filters, expected \(c)") }
                    return (reduce: reduce, expand: expand)
                }
                layers.append(.residual(pairs, shortcut: shortcut))
                channels[index] = c
            case .spp:
                layers.append(.spp)
                channels[index] = 4 * c
            case .identity:
                layers.append(.identity)
                channels[index] = c
            case .upsample:
                layers.append(.upsample)
                channels[index] = c
            case let .head(mask, stride):
                let guide = try pointwise(prefix + ".guide_wh", channels: c)
                guard guide.filters == 8 else { throw InputError(file: file.path, location: prefix + ".guide_wh.weight", "has \(guide.filters) filters, expected 8 (4 anchors × w, h)") }
                let offsets = try pointwise(prefix + ".Feature_adaption.conv_offset", channels: 8, groups: 4)
                let (weights, shape) = try tensor(prefix + ".Feature_adaption.dconv.weight", rank: 4)
                guard shape == [c, c, 3, 3] else {
                    throw InputError(file: file.path, location: prefix + ".Feature_adaption.dconv.weight", "has shape \(shape), expected [\(c), \(c), 3, 3]")
                }
                let adaption = DeformableConvolution(weights: weights, biases: try vector(prefix + ".Feature_adaption.dconv.bias", count: c),
                                                          filters: c, channels: c, size: 3, padding: 1, deformableGroups: 4)
                let output = try pointwise(prefix + ".conv", channels: c)
                guard output.filters % 4 == 0, output.filters / 4 >= 5, classes < 0 || output.filters / 4 - 5 == classes else {
                    throw InputError(file: file.path, location: prefix + ".conv.weight", "has \(output.filters) filters, expected 4 × (5 + classes)")
                }
                classes = output.filters / 4 - 5
                layers.append(.head(Head(anchorMask: mask, stride: stride, guide: guide, offsets: offsets, adaption: adaption, output: output)))
                channels[index] = c
            }
        }
        self.classes = classes
        self.layers = layers
        layout = FeatureLayout(channels: Self.featureModules.map { channels[$0] }, anchorsPerCell: 4)
    }

    /// Reads a safetensors state dict (see `refclip import-detector`).
    public convenience init(weights path: String) throws {
        try self.init(weights: try SafetensorsFile(path: path))
    }

    /// Multiply–adds of one image at input size `size`, and those of the deformable convolutions alone.
    public func multiplyAdds(size: Int) -> (total: Int, deformable: Int) {
        var sizes: [Int] = []
        for (index, module) in Self.modules.enumerated() {
            let input = Self.source(of: index).map { sizes[$0] } ?? size
            sizes.append(module.isDownsampling ? (input + 1) / 2 : module.isUpsampling ? 2 * input : input)
        }
        var total = 0, deformableTotal = 0
        for (index, layer) in layers.enumerated() {
            let input = Self.source(of: index).map { sizes[$0] } ?? size
            func adds(_ conv: DarknetConvolution) -> Int { conv.multiplyAdds(height: input, width: input) }
            switch layer {
            case .conv(let conv): total += adds(conv)
            case .residual(let pairs, _): total += pairs.reduce(0) { $0 + adds($1.reduce) + adds($1.expand) }
            case .spp, .identity, .upsample: break
            case .head(let head):
                total += adds(head.guide) + adds(head.offsets) + adds(head.output)
                deformableTotal += head.adaption.multiplyAdds(height: input, width: input)
            }
        }
        return (total + deformableTotal, deformableTotal)
    }

    /// Runs the network on one image [3, S, S] (S a multiple of 32); afterwards `output(_:)` holds every module's result.
    public func forward(_ input: Tensor) {
        let (h, w) = (input.shape[input.shape.count - 2], input.shape[input.shape.count - 1])
        precondition(input.count == 3 * h * w, "detector input \(input.shape), expected 3 channels")
        for (index, layer) in layers.enumerated() {
            var source = Self.source(of: index).map { outputs[$0] } ?? input
            if let other = Self.concatenated(into: index) {
                route([source, outputs[other]], into: scratch.0)
                source = scratch.0
            }
            let (sh, sw) = index == 0 ? (h, w) : (source.shape[1], source.shape[2])
            let out = outputs[index]
            switch layer {
            case .conv(let conv): conv.forward(source.data, height: sh, width: sw, into: out)
            case let .residual(pairs, shortcutAdd):
                out.reshape(source.shape)
                out.data.update(from: source.data, count: source.count)
                for pair in pairs {
                    pair.reduce.forward(out.data, height: sh, width: sw, into: scratch.1)
                    pair.expand.forward(scratch.1.data, height: sh, width: sw, into: scratch.2)
                    if shortcutAdd { shortcut(out, scratch.2, activation: .linear, into: out) } else {
                        out.data.update(from: scratch.2.data, count: scratch.2.count)
                    }
                }
            case .spp:
                let pools = [scratch.1, scratch.2, scratch.3]
                for (pool, size) in zip(pools, [5, 9, 13]) { maxpool(source, size: size, stride: 1, padding: size - 1, into: pool) }
                route([source] + pools, into: out)
            case .identity:
                out.reshape(source.shape)
                out.data.update(from: source.data, count: source.count)
            case .upsample: upsample(source, stride: 2, into: out)
            case .head(let head): predict(head, source, into: out)
            }
        }
    }

    /// One guided-anchoring head: the decoded prediction [cells, 4, 5 + classes] into `out`.
    private func predict(_ head: Head, _ x: Tensor, into out: Tensor) {
        let (g, gw) = (x.shape[1], x.shape[2])
        let (wh, offsets, adapted, raw) = (scratch.1, scratch.2, scratch.3, scratch.4)
        head.guide.forward(x.data, height: g, width: gw, into: wh)
        head.offsets.forward(wh.data, height: g, width: gw, into: offsets)
        let start = DispatchTime.now().uptimeNanoseconds
        head.adaption.forward(x.data, height: g, width: gw, offsets: offsets.data, into: adapted)
        deformableSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        head.output.forward(adapted.data, height: g, width: gw, into: raw)
        let cells = g * gw, perAnchor = 5 + classes
        out.reshape([cells, 4, perAnchor])
        for a in 0 ..< 4 {
            let anchor = a < 3 ? Self.cocoAnchors[head.anchorMask[a]] : (Float(head.stride * 4), Float(head.stride * 4))
            for cell in 0 ..< cells {
                let (row, col) = (cell / gw, cell % gw)
                func t(_ k: Int) -> Float { raw.data[(a * perAnchor + k) * cells + cell] }
                let o = out.data + (cell * 4 + a) * perAnchor
                o[0] = (logistic(t(0)) + Float(col)) * Float(head.stride)
                o[1] = (logistic(t(1)) + Float(row)) * Float(head.stride)
                o[2] = exp(t(2)) * (exp(wh.data[(2 * a) * cells + cell]) * anchor.0)
                o[3] = exp(t(3)) * (exp(wh.data[(2 * a + 1) * cells + cell]) * anchor.1)
                for k in 4 ..< perAnchor { o[k] = logistic(t(k)) }
            }
        }
    }

    /// Module `index`'s output from the last forward: [C, H, W], or a head's prediction [cells, 4, 5 + classes].
    public func output(_ index: Int) -> Tensor { outputs[index] }

    /// The last forward's feature maps (the heads' inputs) and the stride-32 head's anchors (box, objectness).
    public func record(inputSize size: Int) -> FeatureRecord {
        let prediction = outputs[Self.heads.stride32], perAnchor = 5 + classes
        let rows = prediction.count / perAnchor
        var boxes = [Float](repeating: 0, count: rows * 5)
        for r in 0 ..< rows { for k in 0 ..< 5 { boxes[r * 5 + k] = prediction.data[r * perAnchor + k] } }
        return FeatureRecord(maps: Self.featureModules.map { Array(UnsafeBufferPointer(start: outputs[$0].data, count: outputs[$0].count)) }, boxes: boxes)
    }
}
