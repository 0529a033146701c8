// SyntheticDataConfig.swift — the typed configuration of `refclip synth` (DESIGN.md §6): the file's
// nested sections, with SyntheticConfig's defaults, and the generator configuration they give.

import Datasets
import Formats
import Tensors

/// `refclip synth`'s configuration file.
public struct SyntheticDataConfig: ConfigDocument {
    public struct Images: Codable, Equatable, Sendable {
        public var train: Int, val: Int, testA: Int, testB: Int
    }

    public struct Scene: Codable, Equatable, Sendable {
        public var minObjects: Int, maxObjects: Int, minClutter: Int, maxClutter: Int
        public var lookalikeRate: Double
        public var categoryWeights: [Int], colourWeights: [Int]
        public var minWidth: Int, maxWidth: Int, minHeight: Int, maxHeight: Int

        enum CodingKeys: String, CodingKey {
            case minObjects = "min_objects", maxObjects = "max_objects", minClutter = "min_clutter", maxClutter = "max_clutter"
            case lookalikeRate = "lookalike_rate", categoryWeights = "category_weights", colourWeights = "colour_weights"
            case minWidth = "min_width", maxWidth = "max_width", minHeight = "min_height", maxHeight = "max_height"
        }
    }

    public struct Detector: Codable, Equatable, Sendable {
        public var views: [Int], channels: [Int]
        public var anchorsPerCell: Int
        public var noise: Double, positionSignal: Double, boxJitter: Double

        enum CodingKeys: String, CodingKey {
            case views, channels, anchorsPerCell = "anchors_per_cell", noise, positionSignal = "position_signal", boxJitter = "box_jitter"
        }
    }

    public struct Expressions: Codable, Equatable, Sendable {
        public var attributeShare: Double, positionShare: Double, relationShare: Double
        public var perObject: Int

        enum CodingKeys: String, CodingKey {
            case attributeShare = "attribute_share", positionShare = "position_share", relationShare = "relation_share", perObject = "per_object"
        }
    }

    public struct Storage: Codable, Equatable, Sendable {
        public var dtype: FeatureDType
        public var imagesPerShard: Int

        enum CodingKeys: String, CodingKey { case dtype, imagesPerShard = "images_per_shard" }
    }

    public var seed: UInt64
    public var detectorSeed: UInt64
    public var images: Images
    public var scene: Scene
    public var detector: Detector
    public var expressions: Expressions
    public var wordDimension: Int
    public var storage: Storage

    enum CodingKeys: String, CodingKey {
        case seed, detectorSeed = "detector_seed", images, scene, detector, expressions, wordDimension = "word_dimension", storage
    }

    /// The document of a generator configuration.
    public init(_ s: SyntheticConfig) {
        seed = s.seed
        detectorSeed = s.detectorSeed
        images = Images(train: s.trainImages, val: s.valImages, testA: s.testAImages, testB: s.testBImages)
        scene = Scene(minObjects: s.minObjects, maxObjects: s.maxObjects, minClutter: s.minClutter, maxClutter: s.maxClutter,
                      lookalikeRate: s.lookalikeRate, categoryWeights: s.categoryWeights, colourWeights: s.colourWeights,
                      minWidth: s.minWidth, maxWidth: s.maxWidth, minHeight: s.minHeight, maxHeight: s.maxHeight)
        detector = Detector(views: s.views, channels: s.channels, anchorsPerCell: s.anchorsPerCell, noise: s.noise,
                            positionSignal: s.positionSignal, boxJitter: s.boxJitter)
        expressions = Expressions(attributeShare: s.attributeShare, positionShare: s.positionShare, relationShare: s.relationShare,
                                  perObject: s.expressionsPerObject)
        wordDimension = s.wordDimension
        storage = Storage(dtype: s.dtype, imagesPerShard: s.imagesPerShard)
    }

    /// The generator configuration this document describes.
    public var generator: SyntheticConfig {
        var s = SyntheticConfig()
        (s.seed, s.detectorSeed) = (seed, detectorSeed)
        (s.trainImages, s.valImages, s.testAImages, s.testBImages) = (images.train, images.val, images.testA, images.testB)
        (s.minObjects, s.maxObjects, s.minClutter, s.maxClutter) = (scene.minObjects, scene.maxObjects, scene.minClutter, scene.maxClutter)
        s.lookalikeRate = scene.lookalikeRate
        (s.categoryWeights, s.colourWeights) = (scene.categoryWeights, scene.colourWeights)
        (s.minWidth, s.maxWidth, s.minHeight, s.maxHeight) = (scene.minWidth, scene.maxWidth, scene.minHeight, scene.maxHeight)
        (s.views, s.channels, s.anchorsPerCell) = (detector.views, detector.channels, detector.anchorsPerCell)
        (s.noise, s.positionSignal, s.boxJitter) = (detector.noise, detector.positionSignal, detector.boxJitter)
        (s.attributeShare, s.positionShare, s.relationShare) = (expressions.attributeShare, expressions.positionShare, expressions.relationShare)
        s.expressionsPerObject = expressions.perObject
        s.wordDimension = wordDimension
        (s.dtype, s.imagesPerShard) = (storage.dtype, storage.imagesPerShard)
        return s
    }

    public static var defaults: SyntheticDataConfig { SyntheticDataConfig(SyntheticConfig()) }
    public static var requiredKeys: [String] { [] }

    public func validate(source: String?) throws {
        for (key, value) in [("storage.images_per_shard", storage.imagesPerShard), ("word_dimension", wordDimension),
                             ("expressions.per_object", expressions.perObject)] {
            try require(value > 0, key, "must be positive", source: source)
        }
    }

    public static var help: [String: String] { [
        "seed": "seed of scenes, expressions and feature noise",
        "detector_seed": "seed of the simulated detector and word vectors (keep fixed across datasets)",
        "images.train": "training images",
        "images.val": "validation images",
        "images.testA": "testA images (expressions about cube, ball, cone)",
        "images.testB": "testB images (expressions about star, ring, cylinder)",
        "scene.min_objects": "fewest named objects per scene",
        "scene.max_objects": "most named objects per scene",
        "scene.min_clutter": "fewest unnameable clutter blobs per scene",
        "scene.max_clutter": "most unnameable clutter blobs per scene",
        "scene.lookalike_rate": "chance that an object copies another's category",
        "scene.category_weights": "relative frequencies of cube, ball, cone, star, ring, cylinder",
        "scene.colour_weights": "relative frequencies of red, green, blue, yellow, purple, orange",
        "scene.min_width": "smallest image width",
        "scene.max_width": "largest image width",
        "scene.min_height": "smallest image height",
        "scene.max_height": "largest image height",
        "detector.views": "input sizes stored per image",
        "detector.channels": "channels of the stride-8, 16, 32 maps",
        "detector.anchors_per_cell": "anchors per cell of the stride-32 grid",
        "detector.noise": "feature noise σ relative to the attribute signal",
        "detector.position_signal": "amplitude of the position signal",
        "detector.box_jitter": "neighbour anchors' box jitter (fraction of object size)",
        "expressions.attribute_share": "share of attribute expressions",
        "expressions.position_share": "share of position expressions",
        "expressions.relation_share": "share of relation expressions",
        "expressions.per_object": "expressions per training object (at most)",
        "word_dimension": "dimension of the generated word vectors",
        "storage.dtype": "feature storage type: f16 or f32",
        "storage.images_per_shard": "images per feature-store shard",
    ] }
}
