// DarknetWeights.swift — Darknet `.weights` files: a header (major, minor, revision as int32, then
// the images seen: int64 from version 0.2 on, int32 before), then for every convolutional layer in
// order its biases, its batch-norm scales, rolling means and rolling variances when it has batch
// normalization, and its weights [filters, channels, size, size]; little-endian Float32 throughout.
// For inference the batch norm is folded into the convolution.

import Foundation
import Tensors

/// One convolution's stored values.
public struct ConvolutionWeights: Equatable, Sendable {
    /// [filters, channels, size, size].
    public var weights: [Float]
    public var biases: [Float]
    /// Batch-norm scales (γ), rolling means and rolling variances, when the layer has batch norm.
    public var batchNorm: (scales: [Float], means: [Float], variances: [Float])?

    public init(weights: [Float], biases: [Float], batchNorm: (scales: [Float], means: [Float], variances: [Float])?) {
        self.weights = weights
        self.biases = biases
        self.batchNorm = batchNorm
    }

    public static func == (a: ConvolutionWeights, b: ConvolutionWeights) -> Bool {
        a.weights == b.weights && a.biases == b.biases && a.batchNorm?.scales == b.batchNorm?.scales
            && a.batchNorm?.means == b.batchNorm?.means && a.batchNorm?.variances == b.batchNorm?.variances
    }

    /// Darknet's batch-norm epsilon at inference: y = γ·(x − μ)/√(σ² + ε) + β.
    public static let batchNormEpsilon: Float = 1e-5

    /// The equivalent convolution without batch norm: w·γ/√(σ²+ε) and β − γ·μ/√(σ²+ε).
    public func folded() -> (weights: [Float], biases: [Float]) {
        guard let bn = batchNorm else { return (weights, biases) }
        let filters = biases.count, perFilter = weights.count / filters
        var w = weights, b = biases
        for f in 0 ..< filters {
            let factor = bn.scales[f] / (bn.variances[f] + Self.batchNormEpsilon).squareRoot()
            for k in 0 ..< perFilter { w[f * perFilter + k] *= factor }
            b[f] = biases[f] - bn.means[f] * factor
        }
        return (w, b)
    }
}

/// The header and convolution values of a `.weights` file.
public struct DarknetWeights: Equatable, Sendable {
    public var major: Int32, minor: Int32, revision: Int32
    public var seen: Int64
    public var convolutions: [ConvolutionWeights]

    public init(major: Int32 = 0, minor: Int32 = 2, revision: Int32 = 0, seen: Int64 = 0, convolutions: [ConvolutionWeights]) {
        self.major = major
        self.minor = minor
        self.revision = revision
        self.seen = seen
        self.convolutions = convolutions
    }

    /// Whether the header stores `seen` as 64 bits.
    static func seenIsWide(major: Int32, minor: Int32) -> Bool { Int(major) * 10 + Int(minor) >= 2 && major < 1000 && minor < 1000 }

    /// Reads the values of `config`'s convolutions from `path`; the file must hold exactly those values.
    public init(contentsOf path: String, for config: DarknetConfig) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, "cannot read the weights file", hint: "check detector.weights")
        }
        let bytes = [UInt8](data)
        var offset = 0
        func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard offset + MemoryLayout<T>.size <= bytes.count else { throw InputError(file: path, "the file ends inside its header") }
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[offset ..< offset + MemoryLayout<T>.size]) }
            offset += MemoryLayout<T>.size
            return T(littleEndian: value)
        }
        major = try integer(Int32.self)
        minor = try integer(Int32.self)
        revision = try integer(Int32.self)
        seen = Self.seenIsWide(major: major, minor: minor) ? try integer(Int64.self) : Int64(try integer(Int32.self))
        let needed = try config.convolutionShapes().reduce(0) { $0 + $1.valueCount }
        let available = (bytes.count - offset) / 4
        guard available == needed, (bytes.count - offset) % 4 == 0 else {
            throw InputError(file: path, "holds \(available) values after its header, the network \(config.source) needs \(needed)",
                             hint: "the .cfg and .weights files must belong to the same model")
        }
        var values = [Float](repeating: 0, count: needed)
        values.withUnsafeMutableBytes { $0.copyBytes(from: bytes[offset...]) }
        if UInt32(littleEndian: 1) != 1 { for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) } }
        var at = 0
        func take(_ n: Int) -> [Float] { defer { at += n }; return Array(values[at ..< at + n]) }
        convolutions = try config.convolutionShapes().map { shape in
            let biases = take(shape.filters)
            let bn = shape.batchNormalize ? (take(shape.filters), take(shape.filters), take(shape.filters)) : nil
            return ConvolutionWeights(weights: take(shape.filters * shape.channels * shape.size * shape.size), biases: biases, batchNorm: bn)
        }
    }

    /// The file's bytes, in the layout `init(contentsOf:for:)` reads.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        put(major); put(minor); put(revision)
        if Self.seenIsWide(major: major, minor: minor) { put(seen) } else { put(Int32(truncatingIfNeeded: seen)) }
        for conv in convolutions {
            var all = conv.biases
            if let bn = conv.batchNorm { all += bn.scales + bn.means + bn.variances }
            all += conv.weights
            for v in all { put(v.bitPattern) }
        }
        return out
    }
}

/// What a convolution layer of a config holds.
public struct ConvolutionShape: Equatable, Sendable {
    public var filters: Int, channels: Int, size: Int, batchNormalize: Bool
    var valueCount: Int { filters * (batchNormalize ? 4 : 1) + filters * channels * size * size }
}

extension DarknetConfig {
    /// The most weights one convolution may have (8 GiB of float32; YOLOv3's largest has 4.7 M).
    static let weightLimit = 1 << 31

    /// The shapes of the convolutions in layer order, their input channels derived from the graph.
    public func convolutionShapes() throws -> [ConvolutionShape] {
        let shapes = try outputShapes(width: width, height: height)
        return try layers.indices.compactMap { index in
            guard case let .convolutional(filters, size, _, _, batchNormalize, _) = layers[index] else { return nil }
            let shape = ConvolutionShape(filters: filters, channels: index == 0 ? channels : shapes[index - 1].channels,
                                         size: size, batchNormalize: batchNormalize)
            guard let weights = CheckedSize.product([shape.filters, shape.channels, shape.size, shape.size]), weights <= Self.weightLimit else {
                throw InputError(file: source, location: "line \(lines[index])", "layer \(index): a \(size)×\(size) convolution of \(shape.channels) → \(filters) channels has more than \(Self.weightLimit) weights")
            }
            return shape
        }
    }
}
