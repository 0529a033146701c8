// ScoringTests.swift — IoU accuracy, pointing game and both baselines for a hand-made image; a model
// refuses a store it cannot read (other channels, fewer cells than it selects) before grounding.

import Datasets
import Evaluation
import Foundation
import Models
import Tensors
import XCTest

final class ScoringTests: XCTestCase {
    func testScoresByHand() {
        // A 2×2 grid on a 64-pixel canvas (cells of 32), one anchor per cell; the image is 128×128.
        let letterbox = Letterbox(originalWidth: 128, originalHeight: 128, size: 64)
        var boxes: [Float] = [
            16, 16, 30, 30, 0.9,   // cell 0: a box around (16, 16) of 30 px → original (2..62)
            48, 16, 10, 10, 0.2,   // cell 1
            16, 48, 30, 30, 0.5,   // cell 2
            48, 48, 30, 30, 0.1,   // cell 3
        ]
        let truth: [Double] = [4, 4, 60, 60]  // original pixels; cell 0's box is (2, 2, 62, 62): IoU 3136/3600 > 0.5
        let prediction = GroundingChoice(cell: 0, box: [1, 1, 31, 31])
        let outcome = boxes.withUnsafeBufferPointer {
            scoreGrounding(prediction, boxes: $0.baseAddress!, cells: 4, anchorsPerCell: 1, selectedCells: [0, 2], letterbox: letterbox, truth: truth)
        }
        XCTAssertTrue(outcome.correct)
        XCTAssertTrue(outcome.pointing, "cell 0's centre (16, 16) → (32, 32) lies inside the box")
        XCTAssertEqual(outcome.randomAnchor, 0.5, "one of the two selected cells hits")
        XCTAssertTrue(outcome.objectnessBaseline)
        XCTAssertEqual(outcome.box, [2, 2, 62, 62])

        boxes[4] = 0.05  // now cell 2 is the most object-like, and it misses
        let wrong = GroundingChoice(cell: 2, box: [1, 33, 31, 63])
        let miss = boxes.withUnsafeBufferPointer {
            scoreGrounding(wrong, boxes: $0.baseAddress!, cells: 4, anchorsPerCell: 1, selectedCells: [0, 2], letterbox: letterbox, truth: truth)
        }
        XCTAssertFalse(miss.correct)
        XCTAssertFalse(miss.pointing, "cell 2's centre maps to (32, 96), below the box")
        XCTAssertFalse(miss.objectnessBaseline)
    }

    func testLookalikeChanceInTheTables() {
        let hit = GroundingOutcome(correct: true, pointing: true, randomAnchor: 0.5, objectnessBaseline: false, box: [0, 0, 1, 1])
        var report = SplitReport(split: "val")
        // Two position expressions with one and three look-alikes: chance (1/2 + 1/4) / 2 = 37.5%.
        for lookalikes in [1, 3] {
            report.overall.add(hit, lookalikes: lookalikes)
            report.byType["position", default: GroundingTally()].add(hit, lookalikes: lookalikes)
        }
        XCTAssertEqual(report.overall.lookalikeChanceAccuracy ?? 0, 37.5, accuracy: 1e-9)
        XCTAssertTrue(reportTable([report]).contains("| val | 2 | 100.00 | 100.00 | 50.00 | 0.00 | 37.50 |"), reportTable([report]))
        let table = comparisonTable([ModelReports(name: "a", reports: [report]), ModelReports(name: "b", reports: [report])])
        XCTAssertTrue(table.contains("look-alike chance") && table.contains("|   val/position | 2 | 100.00 | 100.00 | 100.00 | 100.00 | 50.00 | 0.00 | 37.50 |"), table)
        var unknown = SplitReport(split: "val")
        unknown.overall.add(hit)
        XCTAssertNil(unknown.overall.lookalikeChanceAccuracy)
        XCTAssertFalse(reportTable([unknown]).contains("look-alike"), "real data has no look-alike column")
    }

    func testPairedComparisonByHand() {
        // gained: items 1 and 4; lost: items 0, 2, 3, 5, 6, 7, 8, 9 (wrong for both: 10, 11).
        let reference = [true, false, true, true, false, true, true, true, true, true, false, false]
        let this = [false, true, false, false, true, false, false, false, false, false, false, false]
        let c = PairedComparison(reference: reference, this: this)
        XCTAssertEqual([c.gained, c.lost, c.count], [2, 8, 12])
        XCTAssertEqual(c.difference, -50, accuracy: 1e-12)
        XCTAssertEqual(c.pValue, 2 * Double(1 + 10 + 45) / 1024, accuracy: 1e-12, "2·(C(10,0)+C(10,1)+C(10,2))/2¹⁰")
        XCTAssertEqual(PairedComparison(reference: [true, true, true, true, true], this: [false, false, false, false, false]).pValue, 2.0 / 32, accuracy: 1e-12)
        XCTAssertEqual(PairedComparison(reference: [true, false], this: [false, true]).pValue, 1, "balanced: capped at 1")
        XCTAssertEqual(PairedComparison(reference: [true, false], this: [true, false]).pValue, 1, "no discordant items")
        // Large n stays finite: 1000 against 1100 discordant items; the exact sum in integers is 0.030721.
        let big = PairedComparison(reference: Array(repeating: true, count: 1000) + Array(repeating: false, count: 1100),
                                   this: Array(repeating: false, count: 1000) + Array(repeating: true, count: 1100))
        XCTAssertEqual(big.pValue, 0.030721, accuracy: 1e-5)
    }

    func testPairedComparisonTableSplitsByType() {
        let names = ["a", "b"]
        let outcomes = [[SplitOutcomes(split: "val", correct: [true, true, false, false], types: ["attribute", "position", "position", "attribute"])],
                        [SplitOutcomes(split: "val", correct: [true, false, true, true], types: ["attribute", "position", "position", "attribute"])]]
        let lines = pairedComparisonTable(names: names, outcomes: outcomes).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 5)
        XCTAssertEqual(lines[2], "| val | b | 4 | 2 | 1 | +25.00 | 1 |")
        XCTAssertEqual(lines[3], "|   val/attribute | b | 2 | 1 | 0 | +50.00 | 1 |")
        XCTAssertEqual(lines[4], "|   val/position | b | 2 | 1 | 1 | +0.00 | 1 |")
    }

    func testAModelRefusesAStoreItCannotRead() throws {
        let directory = NSTemporaryDirectory() + "refclip-reads-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func store(channels: [Int], view: Int) throws -> FeatureStore {
            try? FileManager.default.removeItem(atPath: directory)
            let layout = FeatureLayout(channels: channels, anchorsPerCell: 3)
            let manifest = FeatureManifest(dtype: .f32, layout: layout, views: [view], imagesPerShard: 1,
                                           producer: .synthetic(seed: 1, detectorSeed: 1), images: [ImageInfo(id: 1, width: 8, height: 8)])
            let writer = try FeatureStoreWriter(directory: directory, manifest: manifest)
            let counts = layout.counts(view: view)
            try writer.writeShard(0) { _, _ in FeatureRecord(maps: counts.maps.map { [Float](repeating: 0, count: $0) }, boxes: [Float](repeating: 0, count: counts.boxes)) }
            try writer.finish()
            return try FeatureStore(directory: directory)
        }
        let teacher = RefCLIPTeacher(shape: TeacherShape(
            language: LanguageShape(vocabularySize: 5, wordDimension: 4, hidden: 8, heads: 2, feedForward: 8, layers: 0, maxTokens: 4, dropout: 0),
            fusion: FusionShape(channels52: 4, channels26: 6, channels13: 8, hidden: 4), selectedCells: 5), seed: 0)
        XCTAssertNoThrow(try teacher.checkReads(try store(channels: [4, 6, 8], view: 96), view: 96), "9 cells hold 5")
        XCTAssertThrowsError(try teacher.checkReads(try store(channels: [4, 6, 8], view: 64), view: 64)) {
            XCTAssertTrue("\($0)".contains("input size 64 gives 4 cells; the model chooses among its 5"), "\($0)")
        }
        XCTAssertThrowsError(try teacher.checkReads(try store(channels: [4, 6, 9], view: 96), view: 96)) {
            XCTAssertTrue("\($0)".contains(directory + "/manifest.json") && "\($0)".contains("[4, 6, 9] channels; this model reads [4, 6, 8]"), "\($0)")
        }
    }
}
