// ConfigTree.swift — a YAML configuration as the ordered list of its leaves (dotted key path, YAML
// node, where the value came from), and what is done to it before the typed decode: `--set`
// overrides replace leaves, unknown keys are refused with the nearest known key suggested, a single
// value or "a,b" text given for a list key becomes a list, and the leaves are nested again.

import Foundation
import Tensors
import Yams

/// One value of a configuration: its dotted key, its YAML node (a scalar or a sequence), and the file
/// (or `--set`) it came from.
struct ConfigLeaf {
    var path: String
    var node: Node
    var origin: String
}

/// A configuration's leaves in order.
struct ConfigTree {
    private(set) var leaves: [ConfigLeaf] = []

    init(leaves: [ConfigLeaf] = []) { self.leaves = leaves }

    /// The leaves of YAML `text` (nil or empty: none); the top level must be a mapping.
    init(yaml text: String?, origin: String) throws {
        guard let text else { return }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw InputError(file: origin, "invalid YAML: \(error)")
        }
        guard let root else { return }
        guard case .mapping = root else { throw InputError(file: origin, "the top level must be a mapping of keys") }
        leaves = Self.flatten(root, prefix: "", origin: origin)
    }

    /// The leaves of an encodable value, as the YAML encoder writes it, with numbers written the way
    /// Swift prints them ("0.25" rather than the encoder's "2.5e-1"; the same value).
    init<T: Encodable>(encoding value: T, origin: String) throws {
        try self.init(yaml: try YAMLEncoder().encode(value), origin: origin)
        func readable(_ node: Node) -> Node {
            switch node {
            case .scalar(let scalar) where Resolver.default.resolveTag(of: node) == .float: return Double(scalar.string).map { Node("\($0)") } ?? node
            case .sequence(let items): return Node(items.map(readable))
            default: return node
            }
        }
        for i in leaves.indices { leaves[i].node = readable(leaves[i].node) }
    }

    private static func flatten(_ node: Node, prefix: String, origin: String) -> [ConfigLeaf] {
        guard case .mapping(let mapping) = node else { return [ConfigLeaf(path: prefix, node: node, origin: origin)] }
        return mapping.flatMap { key, value -> [ConfigLeaf] in
            let name = key.string ?? "\(key)"
            return flatten(value, prefix: prefix.isEmpty ? name : prefix + "." + name, origin: origin)
        }
    }

    subscript(path: String) -> ConfigLeaf? { leaves.first { $0.path == path } }

    /// Sets a leaf (replacing one of the same path, else appending).
    mutating func set(_ leaf: ConfigLeaf) {
        if let i = leaves.firstIndex(where: { $0.path == leaf.path }) { leaves[i] = leaf } else { leaves.append(leaf) }
    }

    /// Applies "key=value" overrides; the value is read as YAML (`[320, 416]`, `true`, `3e-4`, text).
    mutating func apply(overrides: [String]) throws {
        for override in overrides {
            guard let eq = override.firstIndex(of: "=") else {
                throw InputError(location: "--set \(override)", "expected key=value", hint: "e.g. --set train.lr=3e-4")
            }
            let path = String(override[..<eq]), text = String(override[override.index(after: eq)...])
            let node = (try? Yams.compose(yaml: text)).flatMap { $0 } ?? Node(text)
            set(ConfigLeaf(path: path, node: node, origin: "--set"))
        }
    }

    /// Refuses every leaf whose path is not one of `known`, and every key of a list's mappings that is
    /// not one of its `listItemKeys`, naming the nearest known key.
    func refuseUnknown(known: [String], listItemKeys: [String: [String]] = [:]) throws {
        func refuse(_ key: String, at location: String, among candidates: [String], origin: String) -> InputError {
            let nearest = candidates.min { editDistance($0, key) < editDistance($1, key) }
            return InputError(file: origin, location: location, "unknown key", hint: nearest.map { "did you mean \($0)?" })
        }
        for leaf in leaves {
            guard known.contains(leaf.path) else { throw refuse(leaf.path, at: leaf.path, among: known, origin: leaf.origin) }
            guard let itemKeys = listItemKeys[leaf.path], case .sequence(let items) = leaf.node else { continue }
            for (i, item) in items.enumerated() {
                guard case .mapping(let mapping) = item else { continue }
                for key in mapping.keys.compactMap(\.string) where !itemKeys.contains(key) {
                    throw refuse(key, at: "\(leaf.path)[\(i)].\(key)", among: itemKeys, origin: leaf.origin)
                }
            }
        }
    }

    /// Where `shape` (the defaults) holds a list and this tree a scalar, the scalar becomes a list: one
    /// value, or "a,b" split at commas (as `--set train.views=320,416` writes it).
    mutating func coerceScalarsToLists(like shape: ConfigTree) {
        for i in leaves.indices {
            guard case .sequence = shape[leaves[i].path]?.node, case .scalar(let scalar) = leaves[i].node else { continue }
            let parts = scalar.string.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            leaves[i].node = Node(parts.map { Node($0) })
        }
    }

    /// The leaves nested again into one YAML mapping, in order of first appearance.
    var node: Node {
        func nest(_ leaves: [(path: [Substring], node: Node)]) -> Node {
            var keys: [Substring] = []
            var children: [Substring: [(path: [Substring], node: Node)]] = [:]
            var values: [Substring: Node] = [:]
            for leaf in leaves {
                let head = leaf.path[0]
                if !keys.contains(head) { keys.append(head) }
                if leaf.path.count == 1 { values[head] = leaf.node } else { children[head, default: []].append((Array(leaf.path.dropFirst()), leaf.node)) }
            }
            return Node(keys.map { key in (Node(String(key)), values[key] ?? nest(children[key] ?? [])) })
        }
        return nest(leaves.map { ($0.path.split(separator: "."), $0.node) })
    }

    /// "path  value" lines, aligned, lists written "a,b".
    func table(extra: [(name: String, value: String)] = [], notes: [String: String] = [:]) -> String {
        func text(_ node: Node) -> String {
            if case .sequence(let sequence) = node { return sequence.map(text).joined(separator: ",") }
            return node.string ?? "\(node)"
        }
        let rows = leaves.map { ($0.path, text($0.node)) } + extra.map { ($0.name, $0.value) }
        let width = rows.map(\.0.count).max() ?? 0
        let valueWidth = notes.isEmpty ? 0 : rows.map(\.1.count).max() ?? 0
        return rows.map { name, value in
            let line = name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value
            guard let note = notes[name] else { return line }
            return line.padding(toLength: width + 2 + valueWidth, withPad: " ", startingAt: 0) + "  " + note
        }.joined(separator: "\n")
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var row = Array(0 ... b.count)
    for i in 1 ... a.count {
        var previous = row[0]
        row[0] = i
        for j in 1 ... b.count {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return row[b.count]
}
