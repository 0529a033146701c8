// TextTests.swift — the reference tokenizer, vocabulary order and padding, and word-vector loading.

import CZlib
import Datasets
import Foundation
import Tensors
import XCTest

final class TextTests: XCTestCase {
    func testTokenizerFollowsTheReferenceRules() {
        XCTAssertEqual(tokenize("The man's hat (left)!"), ["the", "mans", "hat", "left"])
        XCTAssertEqual(tokenize("half-eaten donut/bagel; #2: \"blue\"?"), ["half", "eaten", "donut", "bagel", "2", "blue"])
        XCTAssertEqual(tokenize("  \t "), [])
    }

    func testVocabularyOrderAndEncoding() {
        let vocabulary = Vocabulary(expressions: ["the red cube", "a red ball", "the ball"])
        XCTAssertEqual(vocabulary.words, ["PAD", "UNK", "CLS", "the", "red", "cube", "a", "ball"])
        XCTAssertEqual(vocabulary.encode("The red thing", length: 5), [3, 4, Vocabulary.unknown, 0, 0])
        XCTAssertEqual(vocabulary.encode("the red cube the red cube", length: 4), [3, 4, 5, 3])
    }

    func testWordVectorsFillKnownWordsAndReportMissingOnes() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vectors-\(UUID()).txt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "red 1 2\ncube -1 0.5\nunused 9 9\n".write(toFile: path, atomically: true, encoding: .utf8)
        let vocabulary = Vocabulary(expressions: ["red cube", "blue cube"])
        let table = try WordVectorTable.load(path, for: vocabulary)
        XCTAssertEqual(table.dimension, 2)
        XCTAssertEqual(Array(table.table[6 ..< 10]), [1, 2, -1, 0.5])
        XCTAssertEqual(Array(table.table[10 ..< 12]), [0, 0], "a word without a vector gets zeros")
        XCTAssertEqual(table.missing, ["blue"])

        try "red 1 2\ncube 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WordVectorTable.load(path, for: vocabulary)) { XCTAssertTrue("\($0)".contains("line 2"), "\($0)") }
    }

    func testGzipWordVectorsReadLikePlainOnes() throws {
        // Longer than one read chunk, CRLF line ends, the wanted words last.
        var text = (0 ..< 40_000).map { "filler\($0) 0.25 -1.5 3\r\n" }.joined()
        text += "red 1 2 3\r\ncube -1 0.5 0\r\n"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vectors-\(UUID()).txt.gz").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try XCTUnwrap(gzopen(path, "wb"))
        XCTAssertEqual(Int(text.utf8.count), Int(Array(text.utf8).withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }))
        gzclose(file)
        XCTAssertLessThan(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int, text.utf8.count / 4, "the file is compressed")
        let table = try WordVectorTable.load(path, for: Vocabulary(expressions: ["red cube", "blue cube"]))
        XCTAssertEqual(table.dimension, 3)
        XCTAssertEqual(Array(table.table[9 ..< 15]), [1, 2, 3, -1, 0.5, 0])
        XCTAssertEqual(table.missing, ["blue"])
    }
}
