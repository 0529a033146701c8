// ConfigDocument.swift — a configuration file's typed form, and how every command gets one: the YAML
// is read once, `--set` overrides are applied to its tree, unknown keys are refused (with the nearest
// known key suggested), and the tree is decoded by Yams' decoder over the document's defaults; a value
// of the wrong type or a missing required key is an error naming the file (or --set) and the key. The
// resolved document is written back with Yams' encoder (run directories, checkpoints).

import Foundation
import Tensors
import Yams

/// A configuration file decoded into typed, nested sections.
public protocol ConfigDocument: Codable, Sendable {
    /// Every key's default; the keys it encodes are the keys a file may give.
    static var defaults: Self { get }
    /// Keys a file must give (dotted paths); their defaults are placeholders.
    static var requiredKeys: [String] { get }
    /// One line of help per key, shown when its value is refused or missing.
    static var help: [String: String] { get }
    /// For keys holding a list of mappings: the keys each mapping may have.
    static var listItemKeys: [String: [String]] { get }
    /// Checks what types alone cannot (ranges, multiples, consistency); errors name the key and `source`.
    func validate(source: String?) throws
}

/// A decoded document with the file it came from and its resolved form.
public struct LoadedConfig<Document: ConfigDocument>: Sendable {
    public var value: Document
    /// The config file, when there is one (for error messages).
    public let source: String?

    /// The resolved configuration as YAML, as Yams' encoder writes it (numbers as Swift prints them);
    /// loads back to the same document.
    public func yaml() throws -> String { try Yams.serialize(node: try ConfigTree(encoding: value, origin: "resolved").node) }

    /// The resolved configuration as an aligned two-column table, followed by `extra` rows (e.g. the BLAS).
    public func table(extra: [(name: String, value: String)] = []) -> String {
        ((try? ConfigTree(encoding: value, origin: "resolved")) ?? ConfigTree()).table(extra: extra)
    }

    /// The keys whose values differ from `other`'s.
    public func differences(from other: Document) -> [String] {
        guard let mine = try? ConfigTree(encoding: value, origin: ""), let theirs = try? ConfigTree(encoding: other, origin: "") else { return [] }
        return mine.leaves.filter { leaf in theirs[leaf.path].map { $0.node != leaf.node } ?? true }.map(\.path)
    }
}

extension ConfigDocument {
    public static var listItemKeys: [String: [String]] { [:] }

    /// Every key a file may give (dotted paths), in the order the document encodes them.
    public static var keys: [String] { defaultsTree.leaves.map(\.path) }

    /// Every key with its default and its help, one aligned line each (`--keys`).
    public static var keyTable: String { defaultsTree.table(notes: help) }

    private static var defaultsTree: ConfigTree { (try? ConfigTree(encoding: defaults, origin: "defaults")) ?? ConfigTree() }

    /// Loads the file at `path` (nil: defaults only) with `overrides` ("key=value").
    public static func load(path: String?, overrides: [String] = []) throws -> LoadedConfig<Self> {
        try load(tree: try ConfigTree(yaml: try readConfigFile(path), origin: path ?? "config"), source: path, overrides: overrides)
    }

    /// Loads YAML text (e.g. the config saved in a checkpoint) with `overrides`.
    public static func load(yaml text: String?, source: String? = nil, overrides: [String] = []) throws -> LoadedConfig<Self> {
        try load(tree: try ConfigTree(yaml: text, origin: source ?? "config"), source: source, overrides: overrides)
    }

    static func load(tree given: ConfigTree, source: String?, overrides: [String]) throws -> LoadedConfig<Self> {
        var tree = given
        try tree.apply(overrides: overrides)
        let defaults = try ConfigTree(encoding: Self.defaults, origin: "defaults")
        try tree.refuseUnknown(known: defaults.leaves.map(\.path), listItemKeys: listItemKeys)
        for key in requiredKeys where tree[key] == nil {
            throw InputError(file: source, location: key, "required key is missing", hint: help[key])
        }
        tree.coerceScalarsToLists(like: defaults)
        var merged = defaults
        for leaf in tree.leaves { merged.set(leaf) }
        let value: Self
        do {
            value = try YAMLDecoder().decode(Self.self, from: merged.node)
        } catch let error as DecodingError {
            throw describe(error, tree: merged, source: source)
        }
        try value.validate(source: source)
        return LoadedConfig(value: value, source: source)
    }

    /// A decoding error as the user should read it: the key, where its value came from, what was expected.
    private static func describe(_ error: DecodingError, tree: ConfigTree, source: String?) -> InputError {
        let (path, expected): ([CodingKey], String)
        switch error {
        case .typeMismatch(let type, let context): (path, expected) = (context.codingPath, describe(type))
        case .valueNotFound(let type, let context): (path, expected) = (context.codingPath, describe(type))
        case .keyNotFound(let key, let context): (path, expected) = (context.codingPath + [key], "a value")
        case .dataCorrupted(let context): (path, expected) = (context.codingPath, "one of the values the key allows")
        @unknown default: return InputError(file: source, "\(error)")
        }
        let key = path.filter { $0.intValue == nil }.map(\.stringValue).joined(separator: ".")
        let leaf = tree[key]
        let found = leaf.map { node -> String in
            if case .sequence(let items) = node.node { return "[" + items.map { $0.string ?? "\($0)" }.joined(separator: ", ") + "]" }
            return node.node.string ?? "\(node.node)"
        } ?? "nothing"
        return InputError(file: leaf?.origin ?? source, location: key, "expected \(expected), found '\(found)'", hint: help[key])
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a single value"
        case is [Int].Type: return "a list of integers"
        case is [String].Type: return "a list of values"
        default: return "\(type)"
        }
    }
}

/// The text of a config file (nil for none), or an error saying it cannot be read.
func readConfigFile(_ path: String?) throws -> String? {
    guard let path else { return nil }
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw InputError(file: path, "cannot read the config file", hint: "check the path given to --config")
    }
    return text
}

/// Throws an error naming `key` of `source` unless `ok`.
func require(_ ok: Bool, _ key: String, _ problem: String, source: String?) throws {
    if !ok { throw InputError(file: source, location: key, problem) }
}
