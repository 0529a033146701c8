// ExtractionSettings.swift — the keys of `refclip extract`'s config and their typed form: the Darknet
// detector, the annotations and images, and the feature store to write.

import Datasets
import Detector
import Tensors

/// The extraction config's keys.
public let extractionSchema: [ConfigKey] = [
    ConfigKey("detector.cfg", .string, nil, "Darknet .cfg file (YOLOv3 / YOLOv3-SPP families)"),
    ConfigKey("detector.weights", .string, nil, "Darknet .weights file matching the cfg"),
    ConfigKey("detector.feature_layers", .string, "auto",
              "layers stored for strides 8, 16, 32, e.g. 36,61,79; auto: the input of the convolution before each [yolo]"),
    ConfigKey("detector.normalization", .string, "unit", "input normalization: unit (pixels / 255, Darknet) or imagenet (mean / std)"),
    ConfigKey("data.annotations", .string, nil, "annotation JSON ({split: [entries]}); every image it names is extracted"),
    ConfigKey("data.images", .string, nil, "directory holding the image files"),
    ConfigKey("data.image_names", .string, "coco", "file names: coco (COCO_train2014_%012d.jpg), referit (%d.jpg) or a pattern with %d"),
    ConfigKey("output.features", .string, nil, "feature-store directory to write (an interrupted extraction resumes in it)"),
    ConfigKey("output.views", .intList, "416", "detector input sizes stored per image (multiples of 32)"),
    ConfigKey("output.dtype", .string, "f16", "storage type of the feature maps: f16 or f32"),
    ConfigKey("output.images_per_shard", .int, "64", "images per shard file (the unit of work and of resumption)"),
]

/// The typed extraction settings of a loaded config.
public func extractionSettings(_ config: RunConfig) throws -> ExtractionSettings {
    func fail(_ key: String, _ problem: String, hint: String? = nil) -> InputError {
        InputError(file: config.source, location: key, problem, hint: hint)
    }
    var featureLayers: [Int]?
    let layers = config.string("detector.feature_layers")
    if layers != "auto" {
        let parsed = layers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parsed.count == 3, parsed.allSatisfy({ $0 != nil }) else { throw fail("detector.feature_layers", "'\(layers)' is not auto or three layer indices") }
        featureLayers = parsed.map { $0! }
    }
    guard let normalization = InputNormalization(name: config.string("detector.normalization")) else {
        throw fail("detector.normalization", "'\(config.string("detector.normalization"))' is not unit or imagenet")
    }
    guard let dtype = FeatureDType(rawValue: config.string("output.dtype")) else { throw fail("output.dtype", "must be f16 or f32") }
    let naming: ImageNaming
    do { naming = try ImageNaming(config.string("data.image_names")) } catch let error as InputError {
        throw fail("data.image_names", error.problem, hint: error.hint)
    }
    return ExtractionSettings(cfg: config.string("detector.cfg"), weights: config.string("detector.weights"), featureLayers: featureLayers,
                              normalization: normalization, annotations: config.string("data.annotations"), imageRoot: config.string("data.images"),
                              naming: naming, output: config.string("output.features"), views: config.ints("output.views"), dtype: dtype,
                              imagesPerShard: config.int("output.images_per_shard"))
}
