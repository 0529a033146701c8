// SyntheticSettings.swift — the configuration keys of `refclip synth` and their typed form.

import Datasets
import Tensors

/// Keys of the synthetic data configuration; defaults are SyntheticConfig's.
public let syntheticSchema: [ConfigKey] = {
    let d = SyntheticConfig()
    return [
        ConfigKey("seed", .int, "\(d.seed)", "seed of scenes, expressions and feature noise"),
        ConfigKey("detector_seed", .int, "\(d.detectorSeed)", "seed of the simulated detector and word vectors (keep fixed across datasets)"),
        ConfigKey("images.train", .int, "\(d.trainImages)", "training images"),
        ConfigKey("images.val", .int, "\(d.valImages)", "validation images"),
        ConfigKey("images.testA", .int, "\(d.testAImages)", "testA images (expressions about cube, ball, cone)"),
        ConfigKey("images.testB", .int, "\(d.testBImages)", "testB images (expressions about star, ring, cylinder)"),
        ConfigKey("scene.min_objects", .int, "\(d.minObjects)", "fewest named objects per scene"),
        ConfigKey("scene.max_objects", .int, "\(d.maxObjects)", "most named objects per scene"),
        ConfigKey("scene.min_clutter", .int, "\(d.minClutter)", "fewest unnameable clutter blobs per scene"),
        ConfigKey("scene.max_clutter", .int, "\(d.maxClutter)", "most unnameable clutter blobs per scene"),
        ConfigKey("scene.lookalike_rate", .float, "\(d.lookalikeRate)", "chance that an object copies another's category"),
        ConfigKey("scene.category_weights", .intList, d.categoryWeights.map(String.init).joined(separator: ","),
                  "relative frequencies of cube, ball, cone, star, ring, cylinder"),
        ConfigKey("scene.colour_weights", .intList, d.colourWeights.map(String.init).joined(separator: ","),
                  "relative frequencies of red, green, blue, yellow, purple, orange"),
        ConfigKey("scene.min_width", .int, "\(d.minWidth)", "smallest image width"),
        ConfigKey("scene.max_width", .int, "\(d.maxWidth)", "largest image width"),
        ConfigKey("scene.min_height", .int, "\(d.minHeight)", "smallest image height"),
        ConfigKey("scene.max_height", .int, "\(d.maxHeight)", "largest image height"),
        ConfigKey("detector.views", .intList, d.views.map(String.init).joined(separator: ","), "input sizes stored per image"),
        ConfigKey("detector.channels", .intList, d.channels.map(String.init).joined(separator: ","), "channels of the stride-8, 16, 32 maps"),
        ConfigKey("detector.anchors_per_cell", .int, "\(d.anchorsPerCell)", "anchors per cell of the stride-32 grid"),
        ConfigKey("detector.noise", .float, "\(d.noise)", "feature noise σ relative to the attribute signal"),
        ConfigKey("detector.position_signal", .float, "\(d.positionSignal)", "amplitude of the position signal"),
        ConfigKey("detector.box_jitter", .float, "\(d.boxJitter)", "neighbour anchors' box jitter (fraction of object size)"),
        ConfigKey("expressions.attribute_share", .float, "\(d.attributeShare)", "share of attribute expressions"),
        ConfigKey("expressions.position_share", .float, "\(d.positionShare)", "share of position expressions"),
        ConfigKey("expressions.relation_share", .float, "\(d.relationShare)", "share of relation expressions"),
        ConfigKey("expressions.per_object", .int, "\(d.expressionsPerObject)", "expressions per training object (at most)"),
        ConfigKey("word_dimension", .int, "\(d.wordDimension)", "dimension of the generated word vectors"),
        ConfigKey("storage.dtype", .string, d.dtype.rawValue, "feature storage type: f16 or f32"),
        ConfigKey("storage.images_per_shard", .int, "\(d.imagesPerShard)", "images per feature-store shard"),
    ]
}()

/// The typed synthetic configuration.
public func syntheticConfig(_ config: RunConfig) throws -> SyntheticConfig {
    var s = SyntheticConfig()
    s.seed = UInt64(config.int("seed"))
    s.detectorSeed = UInt64(config.int("detector_seed"))
    (s.trainImages, s.valImages, s.testAImages, s.testBImages) = (config.int("images.train"), config.int("images.val"), config.int("images.testA"), config.int("images.testB"))
    (s.minObjects, s.maxObjects) = (config.int("scene.min_objects"), config.int("scene.max_objects"))
    (s.minClutter, s.maxClutter) = (config.int("scene.min_clutter"), config.int("scene.max_clutter"))
    s.lookalikeRate = config.double("scene.lookalike_rate")
    (s.categoryWeights, s.colourWeights) = (config.ints("scene.category_weights"), config.ints("scene.colour_weights"))
    (s.minWidth, s.maxWidth, s.minHeight, s.maxHeight) = (config.int("scene.min_width"), config.int("scene.max_width"), config.int("scene.min_height"), config.int("scene.max_height"))
    s.views = config.ints("detector.views")
    s.channels = config.ints("detector.channels")
    s.anchorsPerCell = config.int("detector.anchors_per_cell")
    s.noise = config.double("detector.noise")
    s.positionSignal = config.double("detector.position_signal")
    s.boxJitter = config.double("detector.box_jitter")
    (s.attributeShare, s.positionShare, s.relationShare) = (config.double("expressions.attribute_share"), config.double("expressions.position_share"), config.double("expressions.relation_share"))
    s.expressionsPerObject = config.int("expressions.per_object")
    s.wordDimension = config.int("word_dimension")
    guard let dtype = FeatureDType(rawValue: config.string("storage.dtype")) else {
        throw InputError(file: config.source, location: "storage.dtype", "must be f16 or f32")
    }
    s.dtype = dtype
    s.imagesPerShard = config.int("storage.images_per_shard")
    guard s.imagesPerShard > 0, s.wordDimension > 0, s.expressionsPerObject > 0 else {
        throw InputError(file: config.source, "storage.images_per_shard, word_dimension and expressions.per_object must be positive")
    }
    return s
}
