// DarknetTests.swift — the Darknet network against a straightforward reference written here (plain
// loops, batch norm unfolded) on random weights and inputs, layer by layer; `.weights` files round
// trip; the feature layers are found from the cfg; bad cfgs are refused naming the line.

import Datasets
import Detector
import Foundation
import Tensors
import TestSupport
import XCTest

final class DarknetTests: XCTestCase {
    func testParsesLayersWithDarknetDefaults() throws {
        let config = try DarknetConfig(text: tinyDarknetConfigText, source: "test.cfg")
        XCTAssertEqual(config.layers.count, 20)
        XCTAssertEqual(config.layers[1], .convolutional(filters: 12, size: 3, stride: 2, padding: 1, batchNormalize: true, activation: .mish))
        XCTAssertEqual(config.layers[2], .maxpool(size: 2, stride: 2, padding: 1))
        XCTAssertEqual(config.layers[4], .shortcut(from: 2, activation: .linear))
        XCTAssertEqual(config.layers[6], .maxpool(size: 5, stride: 1, padding: 4))
        XCTAssertEqual(config.layers[9], .route(layers: [8, 5]))
        XCTAssertEqual(config.layers[16], .route(layers: [10]))
        let shapes = try config.outputShapes(width: 64, height: 64)
        XCTAssertEqual(shapes[9], MapShape(channels: 32, height: 8, width: 8))
        XCTAssertEqual(shapes[19], MapShape(channels: 18, height: 2, width: 2))
        XCTAssertEqual(try config.outputShapes(width: 96, height: 96)[19], MapShape(channels: 18, height: 3, width: 3))
    }

    func testBadConfigsNameTheLine() {
        func refusal(_ text: String) -> String {
            do { _ = try DarknetConfig(text: text, source: "bad.cfg"); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertTrue(refusal("[convolutional]\nfilters=2\n").contains("[net]"))
        XCTAssertTrue(refusal("[net]\n[convolutional]\nfilters=two\n").contains("bad.cfg:line 3"))
        XCTAssertTrue(refusal("[net]\n[deconvolutional]\n").contains("line 2"))
        XCTAssertTrue(refusal("[net]\n[convolutional]\n[route]\nlayers=2\n").contains("does not refer to an earlier layer"))
        XCTAssertTrue(refusal("[net]\n[convolutional]\nactivation=swish\n").contains("unsupported activation"))
        let mismatch = "[net]\nwidth=32\nheight=32\n[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\n[convolutional]\nfilters=6\n[shortcut]\nfrom=-2\n"
        XCTAssertThrowsError(try DarknetConfig(text: mismatch, source: "s.cfg").outputShapes(width: 32, height: 32)) {
            XCTAssertTrue("\($0)".contains("s.cfg:line 11") && "\($0)".contains("shortcut"), "\($0)")
        }
    }

    func testWeightsFilesRoundTripInBothHeaderVersions() throws {
        let config = try DarknetConfig(text: tinyDarknetConfigText, source: "test.cfg")
        for (major, minor) in [(Int32(0), Int32(2)), (0, 1)] {
            let weights = try randomDarknetWeights(config, seed: 3, major: major, minor: minor)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("w-\(UUID()).weights").path
            let bytes = weights.encoded()
            XCTAssertEqual(bytes.count, (minor == 2 ? 20 : 16) + 4 * (try config.convolutionShapes().reduce(0) {
                $0 + $1.filters * ($1.batchNormalize ? 4 : 1) + $1.filters * $1.channels * $1.size * $1.size
            }), "the header stores `seen` in \(minor == 2 ? 64 : 32) bits")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            XCTAssertEqual(try DarknetWeights(contentsOf: path, for: config), weights)
            try Data(bytes.dropLast(4)).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try DarknetWeights(contentsOf: path, for: config)) { XCTAssertTrue("\($0)".contains("needs"), "\($0)") }
        }
    }

    func testBatchNormFoldingEqualsUnfoldedBatchNorm() throws {
        let config = try DarknetConfig(text: tinyDarknetConfigText, source: "test.cfg")
        let weights = try randomDarknetWeights(config, seed: 5)
        let conv = weights.convolutions[0]
        let folded = conv.folded()
        let bn = try XCTUnwrap(conv.batchNorm)
        let perFilter = conv.weights.count / conv.biases.count
        var rng = KeyedGenerator(RandomKey(seed: 9))
        let patch = (0 ..< perFilter).map { _ in rng.normal() }
        for f in conv.biases.indices {
            var raw: Float = 0, fused = folded.biases[f]
            for k in 0 ..< perFilter {
                raw += conv.weights[f * perFilter + k] * patch[k]
                fused += folded.weights[f * perFilter + k] * patch[k]
            }
            let normalized = (raw - bn.means[f]) / (bn.variances[f] + 1e-5).squareRoot() * bn.scales[f] + conv.biases[f]
            XCTAssertEqual(fused, normalized, accuracy: 1e-5 * max(1, abs(normalized)))
        }
    }

    func testEveryLayerMatchesTheReferenceImplementation() throws {
        let config = try DarknetConfig(text: tinyDarknetConfigText, source: "test.cfg")
        let weights = try randomDarknetWeights(config, seed: 7)
        let network = try DarknetNetwork(config: config, weights: weights)
        for size in [64, 96] {
            var rng = KeyedGenerator(RandomKey(seed: UInt64(size)))
            let input = (0 ..< 3 * size * size).map { _ in rng.uniform() }
            network.forward(Tensor([1, 3, size, size], input))
            let reference = ReferenceDarknet(config: config, weights: weights).forward(input, size: size)
            for (index, expected) in reference.enumerated() {
                let got = network.output(index)
                XCTAssertEqual(got.shape, expected.shape, "layer \(index) at \(size)")
                let actual = Array(UnsafeBufferPointer(start: got.data, count: got.count))
                let scale = expected.values.map(abs).max() ?? 1
                let error = zip(actual, expected.values).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(error, 1e-4 * max(1, scale), "layer \(index) (\(config.layers[index])) at \(size)")
            }
            let record = network.record(inputSize: size)
            XCTAssertEqual(record.boxes.count, (size / 32) * (size / 32) * 3 * 5)
            let expectedBoxes = ReferenceDarknet.decode(reference[19], anchors: [(16, 20), (24, 30), (40, 33)], scaleXY: 1.1, inputSize: size)
            for (a, b) in zip(record.boxes, expectedBoxes) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
            XCTAssertEqual(record.maps.map(\.count), [32 * (size / 8) * (size / 8), 20 * (size / 16) * (size / 16), 24 * (size / 32) * (size / 32)],
                           "maps at strides 8, 16, 32: the inputs of the convolutions before the heads")
        }
    }

    func testFeatureLayersComeFromTheCfgOrTheOverride() throws {
        let config = try DarknetConfig(text: tinyDarknetConfigText, source: "test.cfg")
        let weights = try randomDarknetWeights(config, seed: 1)
        let network = try DarknetNetwork(config: config, weights: weights)
        XCTAssertEqual(network.featureLayers, [13, 10, 17], "the input of the convolution before each [yolo], by stride")
        XCTAssertEqual(network.headLayer, 19)
        XCTAssertEqual(network.layout, FeatureLayout(channels: [32, 20, 24], anchorsPerCell: 3))
        XCTAssertEqual(try DarknetNetwork(config: config, weights: weights, featureLayers: [5, 10, 17]).layout.channels, [16, 20, 24])
        XCTAssertThrowsError(try DarknetNetwork(config: config, weights: weights, featureLayers: [10, 5, 17])) {
            XCTAssertTrue("\($0)".contains("stride"), "\($0)")
        }
    }
}

/// A direct transcription of Darknet's layer definitions: nested loops, batch norm applied after the
/// convolution, no unfolding and no BLAS.
struct ReferenceDarknet {
    struct Map { var shape: [Int]; var values: [Float] }
    let config: DarknetConfig, weights: DarknetWeights

    func forward(_ input: [Float], size: Int) -> [Map] {
        var outputs: [Map] = []
        var nextConvolution = 0
        for (index, layer) in config.layers.enumerated() {
            let x = index == 0 ? Map(shape: [3, size, size], values: input) : outputs[index - 1]
            switch layer {
            case let .convolutional(filters, k, stride, padding, _, activation):
                let w = weights.convolutions[nextConvolution]
                nextConvolution += 1
                let (c, h, wd) = (x.shape[0], x.shape[1], x.shape[2])
                let (oh, ow) = ((h + 2 * padding - k) / stride + 1, (wd + 2 * padding - k) / stride + 1)
                var y = [Float](repeating: 0, count: filters * oh * ow)
                for f in 0 ..< filters {
                    for oy in 0 ..< oh {
                        for ox in 0 ..< ow {
                            var sum: Float = 0
                            for ch in 0 ..< c {
                                for ky in 0 ..< k {
                                    for kx in 0 ..< k {
                                        let iy = oy * stride + ky - padding, ix = ox * stride + kx - padding
                                        if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                                        sum += w.weights[((f * c + ch) * k + ky) * k + kx] * x.values[(ch * h + iy) * wd + ix]
                                    }
                                }
                            }
                            if let bn = w.batchNorm {
                                sum = (sum - bn.means[f]) / (bn.variances[f] + 1e-5).squareRoot() * bn.scales[f]
                            }
                            y[(f * oh + oy) * ow + ox] = Self.activate(sum + w.biases[f], activation)
                        }
                    }
                }
                outputs.append(Map(shape: [filters, oh, ow], values: y))
            case let .shortcut(from, activation):
                outputs.append(Map(shape: x.shape, values: zip(x.values, outputs[from].values).map { Self.activate($0 + $1, activation) }))
            case let .route(sources):
                let maps = sources.map { outputs[$0] }
                outputs.append(Map(shape: [maps.reduce(0) { $0 + $1.shape[0] }, maps[0].shape[1], maps[0].shape[2]], values: maps.flatMap(\.values)))
            case let .upsample(stride):
                let (c, h, wd) = (x.shape[0], x.shape[1], x.shape[2])
                var y: [Float] = []
                for ch in 0 ..< c { for oy in 0 ..< h * stride { for ox in 0 ..< wd * stride { y.append(x.values[(ch * h + oy / stride) * wd + ox / stride]) } } }
                outputs.append(Map(shape: [c, h * stride, wd * stride], values: y))
            case let .maxpool(k, stride, padding):
                let (c, h, wd) = (x.shape[0], x.shape[1], x.shape[2])
                let (oh, ow) = ((h + padding - k) / stride + 1, (wd + padding - k) / stride + 1)
                var y: [Float] = []
                for ch in 0 ..< c {
                    for oy in 0 ..< oh {
                        for ox in 0 ..< ow {
                            var best = -Float.infinity
                            for n in 0 ..< k {
                                for m in 0 ..< k {
                                    let iy = oy * stride + n - padding / 2, ix = ox * stride + m - padding / 2
                                    if iy >= 0, iy < h, ix >= 0, ix < wd { best = max(best, x.values[(ch * h + iy) * wd + ix]) }
                                }
                            }
                            y.append(best)
                        }
                    }
                }
                outputs.append(Map(shape: [c, oh, ow], values: y))
            case .yolo:
                outputs.append(x)
            }
        }
        return outputs
    }

    static func activate(_ x: Float, _ activation: DarknetActivation) -> Float {
        switch activation {
        case .linear: return x
        case .leaky: return x > 0 ? x : 0.1 * x
        case .relu: return max(0, x)
        case .logistic: return 1 / (1 + Float(Foundation.exp(Double(-x))))
        case .mish: return Float(Double(x) * Foundation.tanh(Foundation.log(1 + Foundation.exp(Double(x)))))
        }
    }

    /// The boxes of a head map, one anchor at a time in the order Darknet's forward_yolo_layer indexes them.
    static func decode(_ map: Map, anchors: [(Float, Float)], scaleXY: Float, inputSize: Int) -> [Float] {
        let g = map.shape[1], cells = g * g, per = map.shape[0] / anchors.count
        func sigmoid(_ v: Float) -> Float { 1 / (1 + Foundation.exp(-v)) }
        var out = [Float](repeating: 0, count: cells * anchors.count * 5)
        for cell in 0 ..< cells {
            for (a, anchor) in anchors.enumerated() {
                func entry(_ k: Int) -> Float { map.values[(a * per + k) * cells + cell] }
                let stride = Float(inputSize) / Float(g)
                let o = (cell * anchors.count + a) * 5
                out[o] = (Float(cell % g) + sigmoid(entry(0)) * scaleXY - (scaleXY - 1) / 2) * stride
                out[o + 1] = (Float(cell / g) + sigmoid(entry(1)) * scaleXY - (scaleXY - 1) / 2) * stride
                out[o + 2] = Foundation.exp(entry(2)) * anchor.0
                out[o + 3] = Foundation.exp(entry(3)) * anchor.1
                out[o + 4] = sigmoid(entry(4))
            }
        }
        return out
    }
}
