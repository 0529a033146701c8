// SyntheticConfig.swift — the knobs of the synthetic grounding generator (DESIGN.md §6).

import Formats

/// Everything that determines a synthetic dataset; the dataset is a pure function of it.
public struct SyntheticConfig: Codable, Equatable, Sendable {
    /// Seed of scenes, expressions and feature noise.
    public var seed: UInt64 = 1
    /// Seed of the simulated detector (its projections) and of the word vectors: keep it fixed across
    /// datasets that one model should read, as a real detector and GloVe are fixed.
    public var detectorSeed: UInt64 = 7
    /// Images per split.
    public var trainImages = 1000, valImages = 200, testAImages = 200, testBImages = 200
    /// Named objects and unnameable clutter blobs per scene (inclusive ranges).
    public var minObjects = 2, maxObjects = 6, minClutter = 0, maxClutter = 2
    /// Chance that an object copies another's category (half of those also copy its colour).
    public var lookalikeRate = 0.25
    /// Relative frequencies of the categories and colours of new objects (in vocabulary order): an
    /// evaluation set drawn with other mixes than the training set measures transfer, not recall.
    public var categoryWeights = [1, 1, 1, 1, 1, 1], colourWeights = [1, 1, 1, 1, 1, 1]
    /// Original image sizes (inclusive ranges, pixels).
    public var minWidth = 320, maxWidth = 640, minHeight = 240, maxHeight = 480
    /// Detector input sizes stored per image.
    public var views = [416]
    /// Channels of the stride-8, 16 and 32 feature maps.
    public var channels = [16, 32, 64]
    public var anchorsPerCell = 4
    /// Feature noise σ relative to a unit attribute signal.
    public var noise = 1.0
    /// Amplitude of the position signal each cell carries.
    public var positionSignal = 0.3
    /// Jitter of neighbour cells' anchor boxes, as a fraction of the object's size.
    public var boxJitter = 0.2
    /// Share of attribute / position / relation expressions (the mix the generator aims at).
    public var attributeShare = 0.70, positionShare = 0.25, relationShare = 0.05
    /// Expressions per training object (at most).
    public var expressionsPerObject = 3
    /// Dimension of the generated word vectors.
    public var wordDimension = 32
    /// Storage type of the feature maps.
    public var dtype: FeatureDType = .f16
    public var imagesPerShard = 128

    public init() {}

    /// Split names and image counts, in order.
    public var splits: [(name: String, images: Int)] {
        [("train", trainImages), ("val", valImages), ("testA", testAImages), ("testB", testBImages)]
    }
}

/// The synthetic world's nameable concepts.
public enum SyntheticVocabulary {
    public static let categories = ["cube", "ball", "cone", "star", "ring", "cylinder"]
    /// testA refers to these categories, testB to the others (as RefCOCO's testA refers to people).
    public static let testACategories: Set<Int> = [0, 1, 2]
    public static let colours = ["red", "green", "blue", "yellow", "purple", "orange"]
    public static let sizes = ["small", "big"]
}
