// GroundingData.swift — what training and evaluation need from the annotations, prepared once by
// rank 0 and broadcast: the vocabulary (first-seen order over all splits), the word-vector table,
// the image table, and per split the items — training items one per object with all its expressions,
// evaluation items one per expression.

import Distributed
import Foundation
import Tensors

/// One object to ground, with its expressions as padded token ids.
public struct GroundingItem: Codable, Equatable, Sendable {
    /// Index of the image in the feature store.
    public var image: Int
    /// Ground-truth box (x1, y1, x2, y2) in original pixels; used only for evaluation.
    public var box: [Double]
    /// Token ids, `maxTokens` per expression.
    public var expressions: [[Int]]
    /// The expressions' text.
    public var texts: [String]
    /// Per expression: attribute, position or relation (synthetic data), else empty.
    public var types: [String]
    /// The object's index within its synthetic scene (the annotation's mask_id), if any.
    public var object: Int?
    /// The annotation's category id.
    public var category: Int
    /// Other objects of the same category in the scene (synthetic data), if known.
    public var lookalikes: Int?
    /// A pseudo-label's confidence (the teacher's probability for its cell); nil for annotated boxes.
    public var confidence: Double?
}

/// Vocabulary, word vectors and items of every split.
public struct GroundingData: Codable, Sendable {
    public var vocabulary: Vocabulary
    public var wordDimension: Int
    /// [vocabulary.count, wordDimension]
    public var wordVectors: [Float]
    public var missingWords: [String]
    public var maxTokens: Int
    public var images: [ImageInfo]
    public var splits: [String: [GroundingItem]]
    /// Entries left out because the feature store could not read their image.
    public var skippedEntries = 0

    /// Reads annotations and word vectors and checks them against the feature store's images. The
    /// expressions are encoded with `vocabulary` when given (a trained model's: words it does not
    /// know read as UNK), else with the vocabulary of the annotations.
    public static func prepare(annotations path: String, wordVectors vectorPath: String, store: FeatureStore,
                               maxTokens: Int, vocabulary given: Vocabulary? = nil) throws -> GroundingData {
        let annotations = try Annotations.load(path)
        let vocabulary = given ?? annotations.vocabulary
        let vectors = try WordVectorTable.load(vectorPath, for: vocabulary)
        var splits: [String: [GroundingItem]] = [:]
        let unavailable = Set(store.manifest.unavailableImages ?? [])
        var skipped = 0
        for split in annotations.splitNames {
            var items: [GroundingItem] = []
            for (i, entry) in annotations.splits[split]!.enumerated() {
                if unavailable.contains(entry.iid) {
                    skipped += 1
                    continue
                }
                guard let image = store.index(ofImage: entry.iid) else {
                    throw InputError(file: path, location: "\(split)[\(i)].iid", "image \(entry.iid) is not in the feature store \(store.directory)",
                                     hint: "extract features for every annotated image")
                }
                let info = store.manifest.images[image]
                let box = entry.corners
                let tolerance = 1.0
                guard box[0] >= -tolerance, box[1] >= -tolerance, box[2] <= Double(info.width) + tolerance, box[3] <= Double(info.height) + tolerance else {
                    throw InputError(file: path, location: "\(split)[\(i)].bbox", "box \(entry.bbox) lies outside the \(info.width)×\(info.height) image \(entry.iid)")
                }
                let ids = entry.refs.map { vocabulary.encode($0, length: maxTokens) }
                let types = entry.refTypes ?? Array(repeating: "", count: entry.refs.count)
                if split == "train" {
                    items.append(GroundingItem(image: image, box: box, expressions: ids, texts: entry.refs, types: types, object: entry.maskID,
                                               category: entry.catID, lookalikes: entry.lookalikes, confidence: entry.confidence))
                } else {
                    for k in entry.refs.indices {
                        items.append(GroundingItem(image: image, box: box, expressions: [ids[k]], texts: [entry.refs[k]], types: [types[k]],
                                                   object: entry.maskID, category: entry.catID, lookalikes: entry.lookalikes))
                    }
                }
            }
            splits[split] = items
        }
        return GroundingData(vocabulary: vocabulary, wordDimension: vectors.dimension, wordVectors: vectors.table,
                             missingWords: vectors.missing, maxTokens: maxTokens, images: store.manifest.images, splits: splits,
                             skippedEntries: skipped)
    }

    /// Rank 0 prepares (`make`), the others receive it.
    public static func shared(_ comm: Communicator, _ make: () throws -> GroundingData) throws -> GroundingData {
        try JSONDecoder().decode(GroundingData.self, from: Data(comm.fromRoot { [UInt8](try JSONEncoder().encode(try make())) }))
    }

    /// The items of a split, or an error naming the splits there are.
    public func items(_ split: String) throws -> [GroundingItem] {
        guard let items = splits[split] else {
            throw InputError(location: split, "no split of this name", hint: "the annotations hold: \(splits.keys.sorted().joined(separator: ", "))")
        }
        return items
    }
}
