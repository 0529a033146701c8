// ExtractionConfig.swift — the typed configuration of `refclip extract`: the detector, the
// annotations and images, and the feature store to write; and the extraction settings it gives.

import Datasets
import Detector
import Formats
import Tensors

/// `refclip extract`'s configuration file.
public struct ExtractionConfig: ConfigDocument {
    public struct DetectorSection: Codable, Equatable, Sendable {
        /// "darknet" or "refclip-yolov3".
        public var kind = "darknet"
        public var cfg = "", weights = ""
        /// "auto" or three layer indices, e.g. "36,61,79".
        public var featureLayers = "auto"
        /// "auto" (the kind's own), "unit" or "imagenet".
        public var normalization = "auto"
        enum CodingKeys: String, CodingKey { case kind, cfg, weights, featureLayers = "feature_layers", normalization }
    }

    public struct DataSection: Codable, Equatable, Sendable {
        public var annotations = "", images = ""
        public var imageNames = "coco"
        enum CodingKeys: String, CodingKey { case annotations, images, imageNames = "image_names" }
    }

    public struct OutputSection: Codable, Equatable, Sendable {
        public var features = ""
        public var views = [416]
        public var dtype = FeatureDType.f16
        public var imagesPerShard = 64
        enum CodingKeys: String, CodingKey { case features, views, dtype, imagesPerShard = "images_per_shard" }
    }

    public var detector = DetectorSection()
    public var data = DataSection()
    public var output = OutputSection()

    public init() {}
    public static var defaults: ExtractionConfig { ExtractionConfig() }
    public static var requiredKeys: [String] { ["detector.weights", "data.annotations", "data.images", "output.features"] }

    public func validate(source: String?) throws {
        _ = try settings(source: source)
    }

    /// The extraction settings; a layer list, normalization or naming pattern that does not parse is
    /// an error naming its key.
    public func settings(source: String?) throws -> ExtractionSettings {
        let detectorSource: DetectorSource
        switch detector.kind {
        case "darknet":
            try require(!detector.cfg.isEmpty, "detector.cfg", "is required for a darknet detector", source: source)
            var featureLayers: [Int]?
            if detector.featureLayers != "auto" {
                let parsed = detector.featureLayers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                try require(parsed.count == 3 && parsed.allSatisfy { $0 != nil }, "detector.feature_layers",
                            "'\(detector.featureLayers)' is not auto or three layer indices", source: source)
                featureLayers = parsed.map { $0! }
            }
            detectorSource = .darknet(cfg: detector.cfg, weights: detector.weights, featureLayers: featureLayers)
        case "refclip-yolov3":
            try require(detector.cfg.isEmpty && detector.featureLayers == "auto", "detector.cfg",
                        "a refclip-yolov3 detector has no cfg or feature_layers (its structure is fixed, its maps are the heads' inputs)", source: source)
            detectorSource = .refclipYOLOv3(weights: detector.weights)
        default:
            throw InputError(file: source, location: "detector.kind", "'\(detector.kind)' is not darknet or refclip-yolov3")
        }
        let normalization: InputNormalization
        if detector.normalization == "auto" { normalization = detectorSource.defaultNormalization } else {
            guard let named = InputNormalization(name: detector.normalization) else {
                throw InputError(file: source, location: "detector.normalization", "'\(detector.normalization)' is not auto, unit or imagenet")
            }
            normalization = named
        }
        for view in output.views { try require(view > 0 && view % 32 == 0, "output.views", "\(view) is not a positive multiple of 32", source: source) }
        try require(output.imagesPerShard > 0, "output.images_per_shard", "must be positive", source: source)
        let naming: ImageNaming
        do { naming = try ImageNaming(data.imageNames) } catch let error as InputError {
            throw InputError(file: source, location: "data.image_names", error.problem, hint: error.hint)
        }
        return ExtractionSettings(detector: detectorSource, normalization: normalization,
                                  annotations: data.annotations, imageRoot: data.images, naming: naming, output: output.features,
                                  views: output.views, dtype: output.dtype, imagesPerShard: output.imagesPerShard)
    }

    public static var help: [String: String] { [
        "detector.kind": "darknet (a .cfg + .weights) or refclip-yolov3 (the RefCLIP/SimREC detector from its state dict)",
        "detector.cfg": "Darknet .cfg file (YOLOv3 / YOLOv3-SPP families); darknet only",
        "detector.weights": "Darknet .weights matching the cfg; for refclip-yolov3 the safetensors of refclip import-detector, or the .pth itself",
        "detector.feature_layers": "layers stored for strides 8, 16, 32, e.g. 36,61,79; auto: the input of the convolution before each [yolo]",
        "detector.normalization": "input normalization: auto (darknet: unit, refclip-yolov3: imagenet), unit (pixels / 255) or imagenet (mean / std)",
        "data.annotations": "annotation JSON ({split: [entries]}); every image it names is extracted",
        "data.images": "directory holding the image files",
        "data.image_names": "file names: coco (COCO_train2014_%012d.jpg), referit (%d.jpg) or a pattern with %d",
        "output.features": "feature-store directory to write (an interrupted extraction resumes in it)",
        "output.views": "detector input sizes stored per image (multiples of 32)",
        "output.dtype": "storage type of the feature maps: f16 or f32",
        "output.images_per_shard": "images per shard file (the unit of work and of resumption)",
    ] }
}
