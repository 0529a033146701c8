// SyntheticDataset.swift — writes a synthetic grounding dataset (DESIGN.md §6) to a directory:
//   annotations.json   the reference annotation layout, plus ref_types per expression
//   word_vectors.txt   vectors for every word the templates use (standard text format)
//   scenes.json        every scene's objects, for reports and renderings
//   synthetic.json     the configuration that made it
//   features/          the feature store: what a frozen detector would give, per image and view
// Every file is a pure function of the configuration. Feature shards are split across ranks.

import Distributed
import Foundation
import Tensors

/// Counts of what was generated.
public struct SyntheticSummary: Codable, Sendable {
    public var images: [String: Int] = [:]
    public var entries: [String: Int] = [:]
    public var expressionTypes: [String: [String: Int]] = [:]
}

public enum SyntheticDataset {
    /// Generates the dataset into `directory` (every rank calls this; rank 0 writes the small files).
    public static func generate(_ config: SyntheticConfig, into directory: String, communicator comm: Communicator,
                                progress: (String) -> Void = { _ in }) throws -> SyntheticSummary {
        try validate(config)
        var scenes: [(split: String, scene: Scene)] = []
        for (split, count) in config.splits {
            for index in 0 ..< count { scenes.append((split, Scene.generate(id: scenes.count, split: split, index: index, config: config))) }
        }
        var summary = SyntheticSummary()
        if comm.isRoot {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var splits: [String: [AnnotationEntry]] = [:]
            var sceneTable: [String: [Scene]] = [:]
            for (split, _) in config.splits {
                let inSplit = scenes.filter { $0.split == split }.map(\.scene)
                sceneTable[split] = inSplit
                splits[split] = annotate(inSplit, split: split, config: config)
                summary.images[split] = inSplit.count
                summary.entries[split] = splits[split]!.count
                var types: [String: Int] = [:]
                for entry in splits[split]! { for t in entry.refTypes ?? [] { types[t, default: 0] += 1 } }
                summary.expressionTypes[split] = types
            }
            try Annotations(splits: splits).write(to: directory + "/annotations.json")
            try writeWordVectors(config, to: directory + "/word_vectors.txt")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try writeFileAtomically(directory + "/scenes.json", bytes: [UInt8](try encoder.encode(sceneTable)))
            try writeFileAtomically(directory + "/synthetic.json", bytes: [UInt8](try encoder.encode(config)))
        }

        let images = scenes.map { ImageInfo(id: $0.scene.id, width: $0.scene.width, height: $0.scene.height) }
        let manifest = FeatureManifest(dtype: config.dtype, layout: FeatureLayout(channels: config.channels, anchorsPerCell: config.anchorsPerCell),
                                       views: config.views, imagesPerShard: config.imagesPerShard, producer: .synthetic(seed: config.seed, detectorSeed: config.detectorSeed), images: images)
        let writer = try FeatureStoreWriter(directory: directory + "/features", manifest: manifest)
        let simulator = DetectorSimulator(config: config)
        for shard in stride(from: comm.rank, to: manifest.shardCount, by: comm.size) {
            let wrote = try writer.writeShard(shard) { image, view in simulator.render(scenes[image].scene, view: config.views[view]) }
            if comm.isRoot { progress("features: shard \(shard + 1)/\(manifest.shardCount)\(wrote ? "" : " (already complete)")") }
        }
        comm.barrier()
        if comm.isRoot { try writer.finish() }
        comm.barrier()
        return summary
    }

    static func validate(_ config: SyntheticConfig) throws {
        func check(_ ok: Bool, _ key: String, _ problem: String) throws {
            if !ok { throw InputError(location: key, problem) }
        }
        try check(config.minObjects >= 1 && config.maxObjects >= config.minObjects, "objects", "need 1 ≤ min_objects ≤ max_objects")
        try check(config.minClutter >= 0 && config.maxClutter >= config.minClutter, "clutter", "need 0 ≤ min_clutter ≤ max_clutter")
        try check(config.channels.count == 3 && config.channels.allSatisfy { $0 > 0 }, "channels", "need three positive channel counts")
        try check(!config.views.isEmpty && config.views.allSatisfy { $0 >= 64 && $0 % 32 == 0 }, "views", "input sizes must be multiples of 32, at least 64")
        try check(config.anchorsPerCell >= 1, "anchors_per_cell", "need at least one anchor per cell")
        for (name, weights) in [("scene.category_weights", config.categoryWeights), ("scene.colour_weights", config.colourWeights)] {
            try check(weights.count == 6 && weights.allSatisfy { $0 >= 0 } && weights.reduce(0, +) > 0, name, "need six non-negative weights, not all zero")
        }
        try check(config.attributeShare + config.positionShare + config.relationShare > 0, "shares", "expression shares are all zero")
        try check(config.minWidth >= 32 && config.maxWidth >= config.minWidth && config.minHeight >= 32 && config.maxHeight >= config.minHeight,
                  "image sizes", "need 32 ≤ min ≤ max for width and height")
    }

    /// Entries of one split: train one per object with several expressions; val/test one per
    /// expression, testA/testB restricted to their categories.
    static func annotate(_ scenes: [Scene], split: String, config: SyntheticConfig) -> [AnnotationEntry] {
        var targets: [(scene: Scene, object: Int, candidates: [ExpressionType: [String]])] = []
        for scene in scenes {
            for (i, object) in scene.objects.enumerated() where !object.isClutter {
                if split == "testA", !SyntheticVocabulary.testACategories.contains(object.category) { continue }
                if split == "testB", SyntheticVocabulary.testACategories.contains(object.category) { continue }
                let candidates = candidateExpressions(for: i, in: scene)
                if !candidates.isEmpty { targets.append((scene, i, candidates)) }
            }
        }
        // Choose a kind with probability ∝ share / availability, so that the realized mix approaches the shares.
        let shares: [ExpressionType: Double] = [.attribute: config.attributeShare, .position: config.positionShare, .relation: config.relationShare]
        var weight: [ExpressionType: Double] = [:]
        for type in ExpressionType.allCases {
            let available = Double(targets.filter { $0.candidates[type] != nil }.count) / Double(max(targets.count, 1))
            weight[type] = available > 0 ? shares[type]! / available : 0
        }
        let perObject = split == "train" ? config.expressionsPerObject : 1
        return targets.compactMap { target in
            var rng = KeyedGenerator(RandomKey(seed: config.seed).child("expressions").child(target.scene.id).child(target.object))
            var refs: [String] = [], types: [String] = []
            for _ in 0 ..< perObject {
                let kinds = ExpressionType.allCases.filter { target.candidates[$0] != nil && weight[$0]! > 0 }
                guard !kinds.isEmpty else { break }
                let total = kinds.reduce(0) { $0 + weight[$1]! }
                var pick = Double(rng.uniform()) * total
                let kind = kinds.first { pick -= weight[$0]!; return pick < 0 } ?? kinds.last!
                let options = target.candidates[kind]!
                let text = options[rng.index(below: options.count)]
                if !refs.contains(text) { refs.append(text); types.append(kind.rawValue) }
            }
            guard !refs.isEmpty else { return nil }
            let objects = target.scene.objects, me = objects[target.object]
            let lookalikes = objects.indices.filter { $0 != target.object && !objects[$0].isClutter && objects[$0].category == me.category }.count
            return AnnotationEntry(iid: target.scene.id, bbox: [me.box[0], me.box[1], me.box[2] - me.box[0], me.box[3] - me.box[1]],
                                   catID: me.category, refs: refs, maskID: target.object, refTypes: types, lookalikes: lookalikes)
        }
    }

    /// A vector per template word, keyed by the detector seed and the word (shared across datasets).
    /// Elements have standard deviation 0.4, the scale of GloVe's.
    static func writeWordVectors(_ config: SyntheticConfig, to path: String) throws {
        var text = ""
        for word in syntheticWords {
            let key = RandomKey(seed: config.detectorSeed).child("word").child(word)
            text += word + (0 ..< config.wordDimension).map { " " + String(format: "%.6f", key.normal($0) * 0.4) }.joined() + "\n"
        }
        try writeFileAtomically(path, bytes: Array(text.utf8))
    }
}
