// FeatureStoreTests.swift — records round-trip in both dtypes and several views; shards already
// written are skipped; damaged or missing data is refused naming the file.

import Datasets
import Formats
import Foundation
import Tensors
import TestSupport
import XCTest

final class FeatureStoreTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    private let layout = FeatureLayout(channels: [2, 3, 4], anchorsPerCell: 2)

    private func record(_ image: Int, _ view: Int, size: Int) -> FeatureRecord {
        let counts = layout.counts(view: size)
        let key = RandomKey(seed: 1).child(image).child(view)
        return FeatureRecord(maps: counts.maps.enumerated().map { s, n in (0 ..< n).map { key.child(s).normal($0) } },
                             boxes: (0 ..< counts.boxes).map { 416 * key.child("boxes").uniform($0) })
    }

    private func write(dtype: FeatureDType, views: [Int] = [64, 96], images: Int = 5) throws -> FeatureStoreWriter {
        let manifest = FeatureManifest(dtype: dtype, layout: layout, views: views, imagesPerShard: 2, producer: .synthetic(seed: 3, detectorSeed: 5),
                                       images: (0 ..< images).map { ImageInfo(id: 100 + $0, width: 50 + $0, height: 40) })
        let writer = try FeatureStoreWriter(directory: directory, manifest: manifest)
        for shard in 0 ..< manifest.shardCount { try writer.writeShard(shard) { i, v in self.record(i, v, size: views[v]) } }
        try writer.finish()
        return writer
    }

    func testRoundTripInBothDTypesAndEveryView() throws {
        for dtype in [FeatureDType.f32, .f16] {
            try? FileManager.default.removeItem(atPath: directory)
            _ = try write(dtype: dtype)
            let store = try FeatureStore(directory: directory)
            XCTAssertEqual(store.index(ofImage: 103), 3)
            XCTAssertEqual(store.manifest.images[4].width, 54)
            for image in 0 ..< 5 {
                for (v, size) in [64, 96].enumerated() {
                    let expected = record(image, v, size: size)
                    let got = try store.read(image: image, view: v)
                    XCTAssertEqual(got.boxes, expected.boxes, "boxes are stored in F32")
                    for s in 0 ..< 3 {
                        let want = dtype == .f32 ? expected.maps[s] : expected.maps[s].map { Float(float16Bits: $0.float16Bits) }
                        XCTAssertEqual(got.maps[s], want, "\(dtype) image \(image) view \(size) scale \(s)")
                    }
                }
            }
            let batch = try FeatureBatch.load(store, images: [4, 1], view: 96)
            XCTAssertEqual(batch.maps[2].shape, [2, 4, 3, 3])
            XCTAssertEqual(Array(batch.boxes.array.prefix(9 * 2 * 5)), try store.read(image: 4, view: 1).boxes)
            XCTAssertThrowsError(try store.viewIndex(128)) { XCTAssertTrue("\($0)".contains("not stored")) }
        }
    }

    func testCompleteShardsAreSkippedOnResume() throws {
        let writer = try write(dtype: .f16)
        let shardPath = directory + "/shard-00001.bin"
        let before = try FileManager.default.attributesOfItem(atPath: shardPath)[.modificationDate] as! Date
        var calls = 0
        XCTAssertFalse(try writer.writeShard(1) { i, v in calls += 1; return self.record(i, v, size: [64, 96][v]) })
        XCTAssertEqual(calls, 0)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: shardPath)[.modificationDate] as! Date, before)
        // An unfinished shard (data without its index) is written again.
        try FileManager.default.removeItem(atPath: directory + "/shard-00001.index.json")
        XCTAssertTrue(try writer.writeShard(1) { i, v in calls += 1; return self.record(i, v, size: [64, 96][v]) })
        XCTAssertEqual(calls, 4)
    }

    func testDamageIsReportedWithTheFile() throws {
        _ = try write(dtype: .f32)
        let shard = directory + "/shard-00000.bin"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: shard)))
        bytes[bytes.count / 3] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: shard))
        let store = try FeatureStore(directory: directory)
        var failures = 0
        for image in 0 ..< 2 { for view in 0 ..< 2 {
            do { _ = try store.read(image: image, view: view) } catch {
                failures += 1
                XCTAssertTrue("\(error)".contains("shard-00000.bin"), "\(error)")
            }
        } }
        XCTAssertEqual(failures, 1, "exactly the record holding the flipped bit is refused")
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: shard))
        XCTAssertThrowsError(try store.read(image: 1, view: 1)) { XCTAssertTrue("\($0)".contains("short read"), "\($0)") }
        XCTAssertThrowsError(try FeatureStore(directory: directory + "/nowhere")) { XCTAssertTrue("\($0)".contains("refclip synth"), "\($0)") }
    }
}
