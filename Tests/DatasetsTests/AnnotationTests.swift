// AnnotationTests.swift — annotation files load, and bad ones are refused with the entry and field.

import Datasets
import Foundation
import Tensors
import XCTest

final class AnnotationTests: XCTestCase {
    private func load(_ json: String) throws -> Annotations {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("annotations-\(UUID()).json").path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Annotations.load(path)
    }

    private func assertRefused(_ json: String, mentioning phrases: String..., file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(json), file: file, line: line) { error in
            for phrase in phrases { XCTAssertTrue("\(error)".contains(phrase), "\"\(error)\" lacks \"\(phrase)\"", file: file, line: line) }
        }
    }

    func testLoadsTheReferenceLayout() throws {
        let a = try load(#"{"train": [{"iid": 7, "bbox": [1, 2, 30, 40], "cat_id": 3, "refs": ["the dog", "brown dog"], "mask_id": 9}], "val": []}"#)
        XCTAssertEqual(a.splitNames, ["train", "val"])
        XCTAssertEqual(a.splits["train"]![0].corners, [1, 2, 31, 42])
        XCTAssertEqual(a.splits["train"]![0].refs.count, 2)
    }

    func testRefusesBadEntriesNamingThem() {
        assertRefused("{not json", mentioning: "not valid JSON")
        assertRefused(#"{"train": [{"iid": 7, "cat_id": 3, "refs": ["a"]}]}"#, mentioning: "train[0]", "missing field 'bbox'")
        assertRefused(#"{"val": [{"iid": "x", "bbox": [1, 2, 3, 4], "cat_id": 3, "refs": ["a"]}]}"#, mentioning: "val[0].iid", "wrong type")
        assertRefused(#"{"train": [{"iid": 1, "bbox": [1, 2, 3], "cat_id": 3, "refs": ["a"]}]}"#, mentioning: "train[0].bbox", "expected [x, y, w, h]")
        assertRefused(#"{"train": [{"iid": 1, "bbox": [1, 2, 0, 4], "cat_id": 3, "refs": ["a"]}]}"#, mentioning: "train[0].bbox", "no area")
        assertRefused(#"{"train": [{"iid": 1, "bbox": [1, 2, 3, 4], "cat_id": 3, "refs": []}]}"#, mentioning: "train[0].refs", "no expressions")
        assertRefused(#"{"testA": [{"iid": 1, "bbox": [1, 2, 3, 4], "cat_id": 3, "refs": ["ok", "?!"]}]}"#, mentioning: "testA[0].refs[1]", "no words")
        assertRefused(#"{"train": [{"iid": 1, "bbox": [1, 2, 3, 4], "cat_id": 3, "refs": ["a"], "ref_types": []}]}"#, mentioning: "ref_types")
        assertRefused(#"{"tain": [{"iid": 1, "bbox": [1, 2, 3, 4], "cat_id": 3, "refs": ["a"]}]}"#, mentioning: "tain", "unknown split name")
    }
}
