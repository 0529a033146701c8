// RunConfig.swift — YAML run configurations checked against a schema of known keys.
//
// A config file is nested YAML; keys are addressed by their dotted path ("train.lr"). Every key of a
// schema has a kind, a default and a help line. Loading merges the file, then `--set key=value`
// overrides, and refuses unknown keys (suggesting the nearest known one) and values of the wrong kind,
// naming the file and the key. The resolved values print as a table and save as YAML.

import Foundation
import Tensors
import Yams

/// The kind of a configuration value.
public enum ConfigKind: Sendable {
    case int, float, string, bool, intList, stringList
}

/// One known configuration key.
public struct ConfigKey: Sendable {
    public let name: String
    public let kind: ConfigKind
    /// The default in canonical text form; nil means the key is required.
    public let defaultValue: String?
    public let help: String

    public init(_ name: String, _ kind: ConfigKind, _ defaultValue: String?, _ help: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.help = help
    }
}

/// Resolved configuration values, in schema order.
public struct RunConfig: Sendable {
    public let schema: [ConfigKey]
    /// Canonical text of every value.
    public private(set) var values: [String: String]
    /// The file the values came from, if any.
    public let source: String?

    /// Loads `path` (nil: defaults only) and applies `overrides` ("key=value").
    public init(schema: [ConfigKey], path: String?, overrides: [String] = []) throws {
        var text: String?
        if let path {
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw InputError(file: path, "cannot read the config file", hint: "check the path given to --config")
            }
            text = contents
        }
        try self.init(schema: schema, yaml: text, source: path, overrides: overrides)
    }

    /// Parses YAML text (e.g. the config saved in a checkpoint) and applies `overrides`.
    public init(schema: [ConfigKey], yaml text: String?, source: String? = nil, overrides: [String] = []) throws {
        self.schema = schema
        self.source = source
        values = [:]
        for key in schema { if let d = key.defaultValue { values[key.name] = try canonical(d, key, file: "defaults") } }
        let path = source ?? "config"
        if let text {
            let root: Any?
            do {
                root = try Yams.load(yaml: text)
            } catch {
                throw InputError(file: path, "invalid YAML: \(error)")
            }
            if let root {
                guard let map = root as? [String: Any] else { throw InputError(file: path, "the top level must be a mapping of keys") }
                for (key, value) in flatten(map) { try set(key, value, file: path) }
            }
        }
        for override in overrides {
            guard let eq = override.firstIndex(of: "=") else {
                throw InputError(location: "--set \(override)", "expected key=value", hint: "e.g. --set train.lr=3e-4")
            }
            try set(String(override[..<eq]), String(override[override.index(after: eq)...]), file: "--set")
        }
        for key in schema where values[key.name] == nil {
            throw InputError(file: source, location: key.name, "required key is missing", hint: key.help)
        }
    }

    private mutating func set(_ name: String, _ raw: Any, file: String) throws {
        guard let key = schema.first(where: { $0.name == name }) else {
            let nearest = schema.map(\.name).min { editDistance($0, name) < editDistance($1, name) }
            throw InputError(file: file, location: name, "unknown key", hint: nearest.map { "did you mean \($0)?" })
        }
        values[name] = try canonical(raw, key, file: file)
    }

    private func canonical(_ raw: Any, _ key: ConfigKey, file: String) throws -> String {
        func fail(_ expected: String) -> InputError {
            InputError(file: file, location: key.name, "expected \(expected), found '\(raw)'", hint: key.help)
        }
        let items: [String]
        if let list = raw as? [Any] { items = list.map { "\($0)" } } else { items = ["\(raw)"] }
        switch key.kind {
        case .int:
            guard items.count == 1, let v = Int(items[0]) else { throw fail("an integer") }
            return "\(v)"
        case .float:
            guard items.count == 1, let v = Double(items[0]), v.isFinite else { throw fail("a number") }
            return "\(v)"
        case .bool:
            guard items.count == 1, let v = Bool(items[0].lowercased()) else { throw fail("true or false") }
            return "\(v)"
        case .string:
            guard items.count == 1 else { throw fail("a single value") }
            return items[0]
        case .intList:
            let parts = items.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            guard !parts.isEmpty, parts.allSatisfy({ Int($0) != nil }) else { throw fail("a list of integers") }
            return parts.joined(separator: ",")
        case .stringList:
            let parts = items.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
            return parts.joined(separator: ",")
        }
    }

    // MARK: typed access (keys are validated at load; a wrong name here is a programming error)

    public func string(_ name: String) -> String { value(name) }
    public func int(_ name: String) -> Int { Int(value(name))! }
    public func double(_ name: String) -> Double { Double(value(name))! }
    public func float(_ name: String) -> Float { Float(double(name)) }
    public func bool(_ name: String) -> Bool { Bool(value(name))! }
    public func ints(_ name: String) -> [Int] { value(name).split(separator: ",").map { Int($0)! } }
    public func strings(_ name: String) -> [String] { value(name).split(separator: ",").map(String.init) }

    private func value(_ name: String) -> String {
        guard let v = values[name] else { preconditionFailure("config key \(name) is not in the schema") }
        return v
    }

    /// The resolved configuration as an aligned two-column table, followed by `extra` rows (e.g. the BLAS).
    public func table(extra: [(name: String, value: String)] = []) -> String {
        let rows = schema.map { ($0.name, values[$0.name] ?? "") } + extra.map { ($0.name, $0.value) }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }

    /// The resolved configuration as nested YAML that loads back to the same values (keys grouped by
    /// section, sections in the order they first appear in the schema).
    public func yaml() -> String {
        func text(_ key: ConfigKey) -> String {
            let v = values[key.name] ?? ""
            switch key.kind {
            case .string, .stringList: return "\"\(v)\""
            case .intList: return "[\(v)]"
            default: return v
            }
        }
        var lines: [String] = []
        var sections: [String] = []
        for key in schema {
            let parts = key.name.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 1 { lines.append("\(parts[0]): \(text(key))") } else if !sections.contains(parts[0]) { sections.append(parts[0]) }
        }
        for section in sections {
            lines.append("\(section):")
            for key in schema where key.name.hasPrefix(section + ".") { lines.append("  \(key.name.dropFirst(section.count + 1)): \(text(key))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Dotted paths of every leaf of a nested mapping.
private func flatten(_ map: [String: Any], prefix: String = "") -> [(String, Any)] {
    map.sorted { $0.key < $1.key }.flatMap { key, value -> [(String, Any)] in
        let name = prefix.isEmpty ? key : prefix + "." + key
        if let nested = value as? [String: Any] { return flatten(nested, prefix: name) }
        return [(name, value)]
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0 ... b.count)
    for i in 1 ... max(a.count, 1) where !a.isEmpty {
        var previous = row[0]
        row[0] = i
        for j in 1 ... max(b.count, 1) where !b.isEmpty {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return row[b.count]
}
