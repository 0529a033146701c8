// DarknetConfig.swift — Darknet `.cfg` files: `[section]` headers followed by `key=value` lines, `#`
// and `;` comments. Parsed into typed layer descriptions with Darknet's defaults; every error names
// the file and the line of the section at fault.

import Tensors

/// A layer's nonlinearity.
public enum DarknetActivation: String, Sendable {
    case leaky, linear, mish, logistic, relu
}

/// One layer of a Darknet network, with its options resolved.
public enum DarknetLayerSpec: Equatable, Sendable {
    /// Convolution (optionally with batch normalization) and activation. `padding` is per side.
    case convolutional(filters: Int, size: Int, stride: Int, padding: Int, batchNormalize: Bool, activation: DarknetActivation)
    /// Adds the output of layer `from` (absolute index) to the previous layer's, then the activation.
    case shortcut(from: Int, activation: DarknetActivation)
    /// Concatenates the outputs of `layers` (absolute indices) along channels.
    case route(layers: [Int])
    /// Nearest-neighbour upsampling by an integer factor.
    case upsample(stride: Int)
    /// Max pooling; `padding` is the total padding (Darknet's convention: size − 1 by default).
    case maxpool(size: Int, stride: Int, padding: Int)
    /// A detection head: the anchors (w, h in input pixels) it predicts, and the number of classes.
    case yolo(anchors: [(Float, Float)], classes: Int, scaleXY: Float)

    public static func == (a: DarknetLayerSpec, b: DarknetLayerSpec) -> Bool { "\(a)" == "\(b)" }
}

/// A parsed `.cfg`: the network input and its layers.
public struct DarknetConfig: Sendable {
    public var width: Int, height: Int, channels: Int
    public var layers: [DarknetLayerSpec]
    /// The line of each layer's section header, for messages.
    public var lines: [Int]
    public var source: String

    /// Parses the text of a `.cfg` file; `source` names it in errors.
    public init(text: String, source: String) throws {
        self.source = source
        var sections: [(name: String, line: Int, options: [String: (value: String, line: Int)])] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\r", with: "")
            if line.isEmpty || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw InputError(file: source, location: "line \(number + 1)", "unclosed section header '\(line)'") }
                sections.append((String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces), number + 1, [:]))
                continue
            }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !sections.isEmpty else {
                throw InputError(file: source, location: "line \(number + 1)", "expected key=value inside a section, found '\(line)'")
            }
            sections[sections.count - 1].options[parts[0]] = (parts[1], number + 1)
        }
        guard let net = sections.first, net.name == "net" || net.name == "network" else {
            throw InputError(file: source, "the first section must be [net]", hint: "is this a Darknet .cfg file?")
        }
        func reader(_ section: (name: String, line: Int, options: [String: (value: String, line: Int)])) -> OptionReader {
            OptionReader(source: source, section: section.name, line: section.line, options: section.options)
        }
        let netOptions = reader(net)
        width = try netOptions.int("width", 416)
        height = try netOptions.int("height", 416)
        channels = try netOptions.int("channels", 3)
        guard width > 0, height > 0, channels > 0 else { throw netOptions.error(nil, "width, height and channels must be positive") }
        layers = []
        lines = []
        for section in sections.dropFirst() {
            let options = reader(section)
            let index = layers.count
            layers.append(try options.layer(index: index))
            lines.append(section.line)
        }
        guard !layers.isEmpty else { throw InputError(file: source, "the network has no layers") }
    }
}

/// Typed access to one section's options, with errors naming the line.
private struct OptionReader {
    let source: String, section: String, line: Int
    let options: [String: (value: String, line: Int)]

    func error(_ key: String?, _ problem: String) -> InputError {
        let at = key.flatMap { options[$0]?.line } ?? line
        return InputError(file: source, location: "line \(at)", "[\(section)]\(key.map { " \($0)" } ?? ""): \(problem)")
    }

    func int(_ key: String, _ fallback: Int? = nil) throws -> Int {
        guard let text = options[key]?.value else {
            if let fallback { return fallback }
            throw error(nil, "missing key '\(key)'")
        }
        guard let value = Int(text) else { throw error(key, "'\(text)' is not an integer") }
        guard abs(value) <= DarknetConfig.valueLimit else { throw error(key, "\(value) is beyond ±\(DarknetConfig.valueLimit)") }
        return value
    }

    func ints(_ key: String) throws -> [Int] {
        guard let text = options[key]?.value else { throw error(nil, "missing key '\(key)'") }
        return try text.split(separator: ",").map {
            guard let v = Int($0.trimmingCharacters(in: .whitespaces)), abs(v) <= DarknetConfig.valueLimit else {
                throw error(key, "'\(text)' is not a list of integers within ±\(DarknetConfig.valueLimit)")
            }
            return v
        }
    }

    func float(_ key: String, _ fallback: Float) throws -> Float {
        guard let text = options[key]?.value else { return fallback }
        guard let value = Float(text) else { throw error(key, "'\(text)' is not a number") }
        return value
    }

    func activation(_ fallback: DarknetActivation) throws -> DarknetActivation {
        guard let text = options["activation"]?.value else { return fallback }
        guard let value = DarknetActivation(rawValue: text) else {
            throw error("activation", "unsupported activation '\(text)' (supported: leaky, linear, mish, logistic, relu)")
        }
        return value
    }

    /// A layer index as written (negative = relative to `index`) made absolute and checked.
    func absolute(_ written: Int, index: Int, key: String) throws -> Int {
        let resolved = written < 0 ? index + written : written
        guard resolved >= 0, resolved < index else { throw error(key, "layer \(written) does not refer to an earlier layer") }
        return resolved
    }

    func layer(index: Int) throws -> DarknetLayerSpec {
        switch section {
        case "convolutional", "conv":
            let size = try int("size", 1), stride = try int("stride", 1)
            let pad = try int("pad", 0)
            let padding = pad != 0 ? size / 2 : try int("padding", 0)
            guard try int("groups", 1) == 1 else { throw error("groups", "grouped convolutions are not supported") }
            let filters = try int("filters", 1)
            guard size > 0, stride > 0, filters > 0, padding >= 0 else { throw error(nil, "size, stride and filters must be positive") }
            return .convolutional(filters: filters, size: size, stride: stride, padding: padding,
                                  batchNormalize: try int("batch_normalize", 0) != 0, activation: try activation(.logistic))
        case "shortcut":
            return .shortcut(from: try absolute(try int("from"), index: index, key: "from"), activation: try activation(.linear))
        case "route":
            guard options["groups"] == nil else { throw error("groups", "grouped routes are not supported") }
            return .route(layers: try ints("layers").map { try absolute($0, index: index, key: "layers") })
        case "upsample":
            let stride = try int("stride", 2)
            guard stride > 0 else { throw error("stride", "upsampling needs a positive stride") }
            return .upsample(stride: stride)
        case "maxpool":
            let stride = try int("stride", 1), size = try int("size", stride)
            guard size > 0, stride > 0 else { throw error(nil, "size and stride must be positive") }
            return .maxpool(size: size, stride: stride, padding: try int("padding", size - 1))
        case "yolo":
            let all = try ints("anchors")
            guard all.count % 2 == 0, !all.isEmpty else { throw error("anchors", "anchors come in (w, h) pairs") }
            let pairs = stride(from: 0, to: all.count, by: 2).map { (Float(all[$0]), Float(all[$0 + 1])) }
            let mask = options["mask"] == nil ? Array(pairs.indices) : try ints("mask")
            guard mask.allSatisfy({ pairs.indices.contains($0) }) else { throw error("mask", "mask refers to anchors beyond the \(pairs.count) given") }
            return .yolo(anchors: mask.map { pairs[$0] }, classes: try int("classes", 80), scaleXY: try float("scale_x_y", 1))
        default:
            throw error(nil, "unsupported layer type (supported: convolutional, shortcut, route, upsample, maxpool, yolo)")
        }
    }
}

/// The size of one layer's output.
public struct MapShape: Equatable, Sendable {
    public var channels: Int, height: Int, width: Int
    public var count: Int { channels * height * width }

    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }
}

extension DarknetConfig {
    /// The largest number a .cfg may give, and the largest channel count, height or width a layer may
    /// produce: far beyond any real network, small enough that no shape or weight count overflows.
    static let valueLimit = 1 << 20

    /// Every layer's output shape for an input of `width`×`height`, checking that the graph fits:
    /// routes join maps of one size, shortcuts add maps of one shape, no layer shrinks to nothing.
    public func outputShapes(width: Int, height: Int) throws -> [MapShape] {
        var shapes: [MapShape] = []
        for (index, layer) in layers.enumerated() {
            let input = index == 0 ? MapShape(channels: channels, height: height, width: width) : shapes[index - 1]
            func fail(_ problem: String) -> InputError {
                InputError(file: source, location: "line \(lines[index])", "layer \(index): \(problem) at input \(width)×\(height)")
            }
            let shape: MapShape
            switch layer {
            case let .convolutional(filters, size, stride, padding, _, _):
                shape = MapShape(channels: filters, height: (input.height + 2 * padding - size) / stride + 1,
                                 width: (input.width + 2 * padding - size) / stride + 1)
            case let .shortcut(from, _):
                guard shapes[from] == input else { throw fail("shortcut adds \(shapes[from]) to \(input)") }
                shape = input
            case let .route(sources):
                guard let first = sources.first, sources.allSatisfy({ shapes[$0].height == shapes[first].height && shapes[$0].width == shapes[first].width }) else {
                    throw fail("route joins maps of different sizes \(sources.map { shapes[$0] })")
                }
                shape = MapShape(channels: sources.reduce(0) { $0 + shapes[$1].channels }, height: shapes[first].height, width: shapes[first].width)
            case let .upsample(stride):
                shape = MapShape(channels: input.channels, height: input.height * stride, width: input.width * stride)
            case let .maxpool(size, stride, padding):
                shape = MapShape(channels: input.channels, height: (input.height + padding - size) / stride + 1,
                                 width: (input.width + padding - size) / stride + 1)
            case let .yolo(anchors, classes, _):
                guard input.channels == anchors.count * (5 + classes) else {
                    throw fail("the head needs \(anchors.count) × (5 + \(classes)) channels, its input has \(input.channels)")
                }
                shape = input
            }
            guard shape.height > 0, shape.width > 0 else { throw fail("the output would be empty") }
            guard shape.channels <= Self.valueLimit, shape.height <= Self.valueLimit, shape.width <= Self.valueLimit else {
                throw fail("the output \(shape.channels)@\(shape.height)×\(shape.width) is beyond \(Self.valueLimit) in a dimension")
            }
            shapes.append(shape)
        }
        return shapes
    }
}
