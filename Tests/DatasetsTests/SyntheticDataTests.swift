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

    func testMixesShiftTheDistributionAndEntriesCountTheirLookalikes() throws {
        var config = smallConfig()
        config.categoryWeights = [0, 0, 0, 0, 1, 0]
        config.colourWeights = [1, 0, 0, 0, 0, 3]
        var colours = [0, 0, 0, 0, 0, 0]
        for index in 0 ..< 100 {
            for object in Scene.generate(id: index, split: "val", index: index, config: config).objects where !object.isClutter {
                XCTAssertEqual(object.category, 4, "only rings")
                colours[object.colour] += 1
            }
        }
        XCTAssertEqual(colours[1 ... 4].reduce(0, +), 0, "only red and orange")
        XCTAssertGreaterThan(colours[5], 2 * colours[0], "orange about three times as often as red")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try SyntheticDataset.generate(smallConfig(), into: directory, communicator: SingleProcessCommunicator())
        let annotations = try Annotations.load(directory + "/annotations.json")
        let scenes = try JSONDecoder().decode([String: [Scene]].self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/scenes.json")))
        for entry in annotations.splits["val"]! {
            let scene = try XCTUnwrap(scenes["val"]!.first { $0.id == entry.iid })
            let sameCategory = scene.objects.filter { !$0.isClutter && $0.category == entry.catID }.count
            XCTAssertEqual(entry.lookalikes, sameCategory - 1)
        }
    }
}
