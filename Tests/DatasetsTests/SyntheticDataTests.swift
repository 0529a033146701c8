// SyntheticDataTests.swift — the generator is deterministic, independent of the world size, keeps to
// its stated structure, and every expression names exactly one object.

import Datasets
import Distributed
import Foundation
import Tensors
import XCTest

final class SyntheticDataTests: XCTestCase {
    private func smallConfig() -> SyntheticConfig {
        var c = SyntheticConfig()
        (c.trainImages, c.valImages, c.testAImages, c.testBImages) = (30, 10, 10, 10)
        c.channels = [4, 6, 8]
        c.imagesPerShard = 16
        return c
    }

    private func contents(_ directory: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.subpathsOfDirectory(atPath: directory).sorted() {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory)
            if !isDirectory.boolValue { files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)) }
        }
        return files
    }

    func testSameBytesAtEveryWorldSizeAndOnRepetition() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        _ = try SyntheticDataset.generate(smallConfig(), into: base + "/one", communicator: SingleProcessCommunicator())
        _ = try ThreadCommunicator.run(ranks: 2) { try SyntheticDataset.generate(self.smallConfig(), into: base + "/two", communicator: $0) }
        _ = try SyntheticDataset.generate(smallConfig(), into: base + "/again", communicator: SingleProcessCommunicator())
        let one = try contents(base + "/one")
        XCTAssertEqual(Set(one.keys), ["annotations.json", "word_vectors.txt", "scenes.json", "synthetic.json", "features/manifest.json",
                                       "features/shard-00000.bin", "features/shard-00000.index.json", "features/shard-00001.bin",
                                       "features/shard-00001.index.json", "features/shard-00002.bin", "features/shard-00002.index.json",
                                       "features/shard-00003.bin", "features/shard-00003.index.json", "features/plan.json"])
        XCTAssertEqual(one, try contents(base + "/two"), "2 ranks write the same bytes as 1")
        XCTAssertEqual(one, try contents(base + "/again"), "the same config gives the same bytes")

        var other = smallConfig()
        other.seed = 2
        _ = try SyntheticDataset.generate(other, into: base + "/other", communicator: SingleProcessCommunicator())
        XCTAssertNotEqual(one["annotations.json"], try contents(base + "/other")["annotations.json"])
        XCTAssertEqual(one["word_vectors.txt"], try contents(base + "/other")["word_vectors.txt"], "word vectors follow the detector seed")
    }

    func testScenesAndExpressionsKeepTheirPromises() {
        let config = smallConfig()
        for index in 0 ..< 200 {
            let scene = Scene.generate(id: index, split: "train", index: index, config: config)
            let named = scene.objects.filter { !$0.isClutter }
            XCTAssertLessThanOrEqual(named.count, config.maxObjects)
            XCTAssertLessThanOrEqual(scene.objects.count - named.count, config.maxClutter)
            for o in scene.objects {
                XCTAssertTrue(o.box[0] >= 0 && o.box[1] >= 0 && o.box[2] <= Double(scene.width) && o.box[3] <= Double(scene.height))
            }
            for (i, object) in scene.objects.enumerated() where !object.isClutter {
                for (type, texts) in candidateExpressions(for: i, in: scene) {
                    for text in texts where type == .attribute {
                        // An attribute expression's words fit the target and no other named object.
                        let words = Set(tokenize(text))
                        let fits = scene.objects.indices.filter { j in
                            let o = scene.objects[j]
                            guard !o.isClutter, words.contains(SyntheticVocabulary.categories[o.category]) else { return false }
                            let colours = Set(SyntheticVocabulary.colours).intersection(words), sizes = Set(SyntheticVocabulary.sizes).intersection(words)
                            return colours.allSatisfy { $0 == SyntheticVocabulary.colours[o.colour] } && sizes.allSatisfy { $0 == SyntheticVocabulary.sizes[o.big ? 1 : 0] }
                        }
                        XCTAssertEqual(fits, [i], "\"\(text)\" in scene \(index)")
                    }
                    if type != .attribute {
                        XCTAssertTrue(scene.objects.enumerated().contains { $0.offset != i && $0.element.category == object.category },
                                      "\(type) expressions are only made among look-alikes")
                    }
                }
            }
        }
    }
}
