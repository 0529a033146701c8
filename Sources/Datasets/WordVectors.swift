// WordVectors.swift — word vectors in the standard text format (a word, then its floats, one word per
// line; plain or gzip-compressed), turned into an embedding table for a vocabulary; words without a
// vector get zeros and are reported.

import CZlib
import Foundation
import Tensors

/// An embedding table for a vocabulary and what the file did not cover.
public struct WordVectorTable {
    /// [vocabulary.count, dimension], row i the vector of word i.
    public var table: [Float]
    public var dimension: Int
    /// Vocabulary words (special tokens excluded) that had no vector.
    public var missing: [String]

    /// Streams `path` (plain text or gzip) and keeps the vectors of `vocabulary`'s words; other
    /// lines are skipped without parsing their numbers, so a multi-gigabyte GloVe file costs one pass
    /// and no more memory than the table.
    public static func load(_ path: String, for vocabulary: Vocabulary) throws -> WordVectorTable {
        var wanted: [String: Int] = [:]
        for (i, w) in vocabulary.words.enumerated() where i > Vocabulary.cls { wanted[w] = i }
        var dimension = 0
        var table: [Float] = []
        var found = Set<Int>()
        try forEachLine(path) { line, lineNumber in
            guard !line.isEmpty else { return }
            guard let space = line.firstIndex(of: UInt8(ascii: " ")), space > line.startIndex else {
                throw InputError(file: path, location: "line \(lineNumber)", "expected a word followed by its values")
            }
            if dimension == 0 {
                let fields = line.split(separator: UInt8(ascii: " "))
                if lineNumber == 1, fields.count == 2, Int(String(decoding: fields[1], as: UTF8.self)) != nil { return }  // word2vec header
                dimension = fields.count - 1
                table = Array(repeating: 0, count: vocabulary.count * dimension)
            }
            let word = String(decoding: line[..<space], as: UTF8.self)
            guard let id = wanted[word], !found.contains(id) else { return }
            let fields = line[(space + 1)...].split(separator: UInt8(ascii: " "))
            guard fields.count == dimension else {
                throw InputError(file: path, location: "line \(lineNumber)", "\(fields.count) values where earlier lines have \(dimension)")
            }
            for (k, field) in fields.enumerated() {
                guard let v = Float(String(decoding: field, as: UTF8.self)) else {
                    throw InputError(file: path, location: "line \(lineNumber)", "value \(k + 1) of '\(word)' is not a number")
                }
                table[id * dimension + k] = v
            }
            found.insert(id)
        }
        guard dimension > 0 else { throw InputError(file: path, "no word vectors found", hint: "the file is empty") }
        let missing = wanted.filter { !found.contains($0.value) }.sorted { $0.value < $1.value }.map(\.key)
        return WordVectorTable(table: table, dimension: dimension, missing: missing)
    }

    /// Calls `body` with every line of a plain or gzip file (without its newline or carriage return).
    private static func forEachLine(_ path: String, _ body: (ArraySlice<UInt8>, Int) throws -> Void) throws {
        guard let file = gzopen(path, "rb") else {
            throw InputError(file: path, "cannot read the word-vector file", hint: "check the path (data.word_vectors)")
        }
        defer { gzclose(file) }
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var lineNumber = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            guard n >= 0 else { throw InputError(file: path, "cannot decompress the word-vector file", hint: "the gzip file may be truncated") }
            if n == 0 { break }
            pending += chunk[..<Int(n)]
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                lineNumber += 1
                var line = pending[start ..< newline]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                try body(line, lineNumber)
                start = newline + 1
            }
            pending.removeSubrange(..<start)
        }
        if !pending.isEmpty { try body(pending[...], lineNumber + 1) }
    }
}
