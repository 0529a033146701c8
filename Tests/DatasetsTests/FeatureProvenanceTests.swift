// FeatureProvenanceTests.swift — the typed `producer` of a store's manifest reads the flat JSON that
// stores made before it hold (all three kinds), writes it back unchanged, and refuses what it
// cannot read, naming the key.

import Datasets
import Foundation
import XCTest

final class FeatureProvenanceTests: XCTestCase {
    private let darknet = #"{"annotations":"data/refs.json","cfg":"d.cfg","cfg_sha256":"aa","feature_layers":"auto","image_names":"COCO_train2014_%012d.jpg","images":"data/images","kind":"darknet","normalization":"unit","preprocessing":"RGB, letterbox","weights":"d.weights","weights_sha256":"bb"}"#
    private let yolo = #"{"annotations":"a.json","feature_layers":"inputs of heads 19, 28, 37","image_names":"%d.jpg","images":"img","kind":"refclip-yolov3","normalization":"imagenet","preprocessing":"RGB, letterbox","weights":"detector.pth","weights_sha256":"cc"}"#
    private let synthetic = #"{"detector_seed":"5","kind":"synthetic","seed":"3"}"#

    private func decode(_ json: String) throws -> FeatureProvenance { try JSONDecoder().decode(FeatureProvenance.self, from: Data(json.utf8)) }

    private func encode(_ provenance: FeatureProvenance) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(provenance), as: UTF8.self)
    }

    func testReadsAndWritesTheManifestsOfEveryKind() throws {
        XCTAssertEqual(try decode(synthetic), .synthetic(seed: 3, detectorSeed: 5))
        XCTAssertEqual(try decode(darknet), .extraction(ExtractionRecord(
            detector: .darknet(cfg: RecordedFile(path: "d.cfg", sha256: "aa"), weights: RecordedFile(path: "d.weights", sha256: "bb"), featureLayers: nil),
            normalization: "unit", preprocessing: "RGB, letterbox", annotations: "data/refs.json", images: "data/images",
            imageNames: "COCO_train2014_%012d.jpg")))
        XCTAssertEqual(try decode(yolo), .extraction(ExtractionRecord(
            detector: .refclipYOLOv3(weights: RecordedFile(path: "detector.pth", sha256: "cc")),
            normalization: "imagenet", preprocessing: "RGB, letterbox", annotations: "a.json", images: "img", imageNames: "%d.jpg")))
        for json in [synthetic, darknet, yolo] { XCTAssertEqual(try encode(try decode(json)), json) }
        let layers = darknet.replacingOccurrences(of: #""feature_layers":"auto""#, with: #""feature_layers":"81,93,105""#)
        guard case .extraction(let record) = try decode(layers), case .darknet(_, _, let indices) = record.detector else { return XCTFail() }
        XCTAssertEqual(indices, [81, 93, 105])
        XCTAssertEqual(try encode(try decode(layers)), layers)
    }

    func testRefusesWhatItCannotReadNamingTheKey() {
        for (json, key) in [(#"{"kind":"camera"}"#, "kind"), (#"{"kind":"synthetic","seed":"-1","detector_seed":"5"}"#, "seed"),
                            (darknet.replacingOccurrences(of: #""feature_layers":"auto""#, with: #""feature_layers":"81,x""#), "feature_layers"),
                            (yolo.replacingOccurrences(of: #","weights_sha256":"cc""#, with: ""), "weights_sha256")] {
            XCTAssertThrowsError(try decode(json), json) { XCTAssertTrue("\($0)".contains(key), "\($0)") }
        }
    }
}
