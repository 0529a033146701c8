// WordVectors.swift — word vectors in the standard text format (a word, then its floats, one word per
// line), turned into an embedding table for a vocabulary; words without a vector get zeros.

import Foundation
import Tensors

/// An embedding table for a vocabulary and what the file did not cover.
public struct WordVectorTable {
    /// [vocabulary.count, dimension], row i the vector of word i.
    public var table: [Float]
    public var dimension: Int
    /// Vocabulary words (special tokens excluded) that had no vector.
    public var missing: [String]

    /// Reads `path` and keeps the vectors of `vocabulary`'s words.
    public static func load(_ path: String, for vocabulary: Vocabulary) throws -> WordVectorTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, "cannot read the word-vector file", hint: "check the path (data.word_vectors)")
        }
        var wanted: [String: Int] = [:]
        for (i, w) in vocabulary.words.enumerated() where i > Vocabulary.cls { wanted[w] = i }
        var dimension = 0
        var table: [Float] = []
        var found = Set<Int>()
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            guard !line.isEmpty else { continue }
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count >= 2 else {
                throw InputError(file: path, location: "line \(lineNumber)", "expected a word followed by its values")
            }
            if dimension == 0 {
                if lineNumber == 1, fields.count == 2, Int(String(decoding: fields[1], as: UTF8.self)) != nil { continue }  // word2vec header
                dimension = fields.count - 1
                table = Array(repeating: 0, count: vocabulary.count * dimension)
            }
            guard fields.count - 1 == dimension else {
                throw InputError(file: path, location: "line \(lineNumber)", "\(fields.count - 1) values where earlier lines have \(dimension)")
            }
            let word = String(decoding: fields[0], as: UTF8.self)
            guard let id = wanted[word], !found.contains(id) else { continue }
            for k in 0 ..< dimension {
                guard let v = Float(String(decoding: fields[k + 1], as: UTF8.self)) else {
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
}
