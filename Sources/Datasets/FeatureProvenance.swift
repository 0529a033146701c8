// FeatureProvenance.swift — what made a feature store (the `producer` of its manifest): the synthetic
// generator and its seeds, or a detector run over real images, with the detector's files and their
// SHA-256, the input normalization, the preprocessing, and where the images and annotations were.
// Stored as the flat JSON object of string fields that stores have always held, so older stores open.

import Foundation

/// A file and its SHA-256 digest (hex).
public struct RecordedFile: Codable, Equatable, Sendable {
    public var path: String
    public var sha256: String

    public init(path: String, sha256: String) {
        self.path = path
        self.sha256 = sha256
    }
}

/// The detector an extraction ran, as its files.
public enum RecordedDetector: Equatable, Sendable {
    /// A Darknet `.cfg` + `.weights`; `featureLayers` nil when the layers were found from the heads.
    case darknet(cfg: RecordedFile, weights: RecordedFile, featureLayers: [Int]?)
    /// The RefCLIP/SimREC YOLOv3 from its state dict.
    case refclipYOLOv3(weights: RecordedFile)
}

/// A feature store made by running a detector over images.
public struct ExtractionRecord: Equatable, Sendable {
    public var detector: RecordedDetector
    /// The input normalization's name (`unit`, `imagenet`).
    public var normalization: String
    /// How images became detector inputs, in words.
    public var preprocessing: String
    /// The annotations file and the image root with its file-naming pattern.
    public var annotations: String, images: String, imageNames: String

    public init(detector: RecordedDetector, normalization: String, preprocessing: String, annotations: String, images: String, imageNames: String) {
        self.detector = detector
        self.normalization = normalization
        self.preprocessing = preprocessing
        self.annotations = annotations
        self.images = images
        self.imageNames = imageNames
    }
}

/// What made a feature store.
public enum FeatureProvenance: Codable, Equatable, Sendable {
    case synthetic(seed: UInt64, detectorSeed: UInt64)
    case extraction(ExtractionRecord)

    private enum Key: String, CodingKey {
        case kind, seed, detectorSeed = "detector_seed", cfg, cfgSHA256 = "cfg_sha256", weights, weightsSHA256 = "weights_sha256"
        case featureLayers = "feature_layers", normalization, preprocessing, annotations, images, imageNames = "image_names"
    }

    /// What the manifest says of the Darknet feature layers when the heads chose them.
    private static let automaticLayers = "auto"
    /// What it says of the RefCLIP/SimREC YOLOv3's (fixed) feature layers.
    private static let yoloLayers = "inputs of heads 19, 28, 37"

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        func number(_ key: Key) throws -> UInt64 {
            let text = try c.decode(String.self, forKey: key)
            guard let value = UInt64(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "'\(text)' is not a seed (a non-negative integer)")
            }
            return value
        }
        func file(_ path: Key, _ sha: Key) throws -> RecordedFile {
            RecordedFile(path: try c.decode(String.self, forKey: path), sha256: try c.decode(String.self, forKey: sha))
        }
        let kind = try c.decode(String.self, forKey: .kind)
        let detector: RecordedDetector
        switch kind {
        case "synthetic":
            self = .synthetic(seed: try number(.seed), detectorSeed: try number(.detectorSeed))
            return
        case "darknet":
            let layers = try c.decode(String.self, forKey: .featureLayers)
            var indices: [Int]?
            if layers != Self.automaticLayers {
                let parsed = layers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
                    throw DecodingError.dataCorruptedError(forKey: .featureLayers, in: c, debugDescription: "'\(layers)' is neither auto nor layer indices")
                }
                indices = parsed.compactMap { $0 }
            }
            detector = .darknet(cfg: try file(.cfg, .cfgSHA256), weights: try file(.weights, .weightsSHA256), featureLayers: indices)
        case "refclip-yolov3":
            detector = .refclipYOLOv3(weights: try file(.weights, .weightsSHA256))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription: "unknown producer '\(kind)' (synthetic, darknet or refclip-yolov3)")
        }
        self = .extraction(ExtractionRecord(
            detector: detector, normalization: try c.decode(String.self, forKey: .normalization),
            preprocessing: try c.decode(String.self, forKey: .preprocessing), annotations: try c.decode(String.self, forKey: .annotations),
            images: try c.decode(String.self, forKey: .images), imageNames: try c.decode(String.self, forKey: .imageNames)))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        switch self {
        case let .synthetic(seed, detectorSeed):
            try c.encode("synthetic", forKey: .kind)
            try c.encode(String(seed), forKey: .seed)
            try c.encode(String(detectorSeed), forKey: .detectorSeed)
        case let .extraction(record):
            switch record.detector {
            case let .darknet(cfg, weights, layers):
                try c.encode("darknet", forKey: .kind)
                try c.encode(cfg.path, forKey: .cfg)
                try c.encode(cfg.sha256, forKey: .cfgSHA256)
                try c.encode(weights.path, forKey: .weights)
                try c.encode(weights.sha256, forKey: .weightsSHA256)
                try c.encode(layers.map { $0.map(String.init).joined(separator: ",") } ?? Self.automaticLayers, forKey: .featureLayers)
            case let .refclipYOLOv3(weights):
                try c.encode("refclip-yolov3", forKey: .kind)
                try c.encode(weights.path, forKey: .weights)
                try c.encode(weights.sha256, forKey: .weightsSHA256)
                try c.encode(Self.yoloLayers, forKey: .featureLayers)
            }
            try c.encode(record.normalization, forKey: .normalization)
            try c.encode(record.preprocessing, forKey: .preprocessing)
            try c.encode(record.annotations, forKey: .annotations)
            try c.encode(record.images, forKey: .images)
            try c.encode(record.imageNames, forKey: .imageNames)
        }
    }
}
