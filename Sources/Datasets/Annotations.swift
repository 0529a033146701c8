// Annotations.swift — referring-expression annotations in the reference's JSON layout (DESIGN.md §5):
// one object {split: [entries]}; train entries one per object with all its expressions, val/test
// entries one per expression. Synthetic data adds `ref_types` (attribute / position / relation).

import Foundation
import Tensors

/// One annotated object and its expressions.
public struct AnnotationEntry: Codable, Equatable, Sendable {
    /// Image id (names the image file and the feature-store record).
    public var iid: Int
    /// Ground-truth box [x, y, w, h] in original image pixels.
    public var bbox: [Double]
    public var catID: Int
    /// The referring expressions.
    public var refs: [String]
    public var maskID: Int?
    /// Per expression: "attribute", "position" or "relation" (synthetic data only).
    public var refTypes: [String]?
    /// How many other named objects of the scene share the object's category (synthetic data only):
    /// choosing among the look-alikes at random is right 1 / (1 + lookalikes) of the time.
    public var lookalikes: Int?
    /// Pseudo-labels only: the teacher's probability for the cell it chose (AnchorPrediction.confidence).
    public var confidence: Double?

    public init(iid: Int, bbox: [Double], catID: Int, refs: [String], maskID: Int? = nil, refTypes: [String]? = nil, lookalikes: Int? = nil,
                confidence: Double? = nil) {
        self.iid = iid
        self.bbox = bbox
        self.catID = catID
        self.refs = refs
        self.maskID = maskID
        self.refTypes = refTypes
        self.lookalikes = lookalikes
        self.confidence = confidence
    }

    enum CodingKeys: String, CodingKey {
        case iid, bbox, refs, lookalikes, confidence
        case catID = "cat_id", maskID = "mask_id", refTypes = "ref_types"
    }

    /// The box as (x1, y1, x2, y2).
    public var corners: [Double] { [bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]] }
}

/// All splits of an annotation file, and its optional `info` strings (provenance of pseudo-labels).
public struct Annotations: Sendable {
    public var splits: [String: [AnnotationEntry]]
    public var info: [String: String]

    public init(splits: [String: [AnnotationEntry]], info: [String: String] = [:]) {
        self.splits = splits
        self.info = info
    }

    /// Split names in a fixed order: train, val, testA, testB, test, then the rest alphabetically.
    public var splitNames: [String] {
        let preferred = ["train", "val", "testA", "testB", "test"]
        return preferred.filter { splits[$0] != nil } + splits.keys.filter { !preferred.contains($0) }.sorted()
    }

    /// The vocabulary of every expression, words in first-seen order over the splits in `splitNames` order.
    public var vocabulary: Vocabulary {
        var vocabulary = Vocabulary()
        for split in splitNames { for entry in splits[split]! { for ref in entry.refs { for token in tokenize(ref) { vocabulary.add(token) } } } }
        return vocabulary
    }

    /// Reads and validates `path`: every entry needs a positive-size box of four numbers and at least
    /// one expression with a word in it; `ref_types`, when present, matches the expressions.
    public static func load(_ path: String) throws -> Annotations {
        try decode(try bytes(path), source: path)
    }

    /// The raw bytes of the annotation file at `path`.
    public static func bytes(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, "cannot read the annotation file", hint: "check the path (data.annotations)")
        }
        return data
    }

    /// Decodes and validates annotation JSON; `source` names it in errors.
    public static func decode(_ data: Data, source path: String) throws -> Annotations {
        let file: AnnotationFile
        do {
            file = try JSONDecoder().decode(AnnotationFile.self, from: data)
        } catch let error as DecodingError {
            throw InputError(file: path, location: decodingLocation(error), decodingProblem(error),
                             hint: "entries need iid, bbox [x, y, w, h], cat_id and refs")
        } catch {
            throw InputError(file: path, "not valid JSON: \(error.localizedDescription)")
        }
        let annotations = Annotations(splits: file.splits, info: file.info)
        try annotations.validate(file: path)
        return annotations
    }

    /// The split names of the RefCOCO family, ReferIt and the synthetic sets.
    public static let knownSplits: Set<String> = ["train", "val", "test", "testA", "testB", "testC"]

    func validate(file: String) throws {
        for split in splitNames where !Self.knownSplits.contains(split) {
            throw InputError(file: file, location: split, "unknown split name", hint: "splits are \(Self.knownSplits.sorted().joined(separator: ", "))")
        }
        for split in splitNames {
            for (i, entry) in splits[split]!.enumerated() {
                let place = "\(split)[\(i)]"
                guard entry.bbox.count == 4 else { throw InputError(file: file, location: place + ".bbox", "has \(entry.bbox.count) numbers, expected [x, y, w, h]") }
                guard entry.bbox.allSatisfy(\.isFinite), entry.bbox[2] > 0, entry.bbox[3] > 0 else {
                    throw InputError(file: file, location: place + ".bbox", "box \(entry.bbox) has no area or is not finite")
                }
                guard !entry.refs.isEmpty else { throw InputError(file: file, location: place + ".refs", "no expressions") }
                for (j, sentence) in entry.refs.enumerated() where tokenize(sentence).isEmpty {
                    throw InputError(file: file, location: "\(place).refs[\(j)]", "expression \"\(sentence)\" has no words")
                }
                if let types = entry.refTypes, types.count != entry.refs.count {
                    throw InputError(file: file, location: place + ".ref_types", "\(types.count) types for \(entry.refs.count) expressions")
                }
            }
        }
    }

    /// Writes the annotations as JSON (sorted keys, so the bytes depend only on the contents).
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try writeFileAtomically(path, bytes: [UInt8](try encoder.encode(AnnotationFile(splits: splits, info: info))))
    }
}

/// The file layout: every key a split, except `info`, an object of strings.
private struct AnnotationFile: Codable {
    var splits: [String: [AnnotationEntry]]
    var info: [String: String]

    init(splits: [String: [AnnotationEntry]], info: [String: String]) {
        self.splits = splits
        self.info = info
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        splits = [:]
        info = [:]
        for key in container.allKeys {
            if key.stringValue == "info" { info = try container.decode([String: String].self, forKey: key) }
            else { splits[key.stringValue] = try container.decode([AnnotationEntry].self, forKey: key) }
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (name, entries) in splits { try container.encode(entries, forKey: Key(stringValue: name)) }
        if !info.isEmpty { try container.encode(info, forKey: Key(stringValue: "info")) }
    }
}

private func decodingLocation(_ error: DecodingError) -> String {
    let path: [CodingKey]
    switch error {
    case .keyNotFound(let key, let context): path = context.codingPath + [key]
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): path = context.codingPath
    @unknown default: path = []
    }
    return path.reduce("") { text, key in key.intValue.map { text + "[\($0)]" } ?? (text.isEmpty ? key.stringValue : text + "." + key.stringValue) }
}

private func decodingProblem(_ error: DecodingError) -> String {
    switch error {
    case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
    case .typeMismatch(let type, _): return "wrong type, expected \(type)"
    case .valueNotFound(let type, _): return "missing value, expected \(type)"
    case .dataCorrupted(let context): return context.debugDescription
    @unknown default: return "cannot decode"
    }
}
