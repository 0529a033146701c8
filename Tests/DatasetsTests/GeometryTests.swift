// GeometryTests.swift — letterbox placement and its inverse for landscape, portrait and square images,
// and IoU by hand.

import Datasets
import XCTest

final class GeometryTests: XCTestCase {
    func testLetterboxPlacementByHand() {
        let landscape = Letterbox(originalWidth: 640, originalHeight: 480, size: 416)
        XCTAssertEqual([landscape.width, landscape.height, landscape.dx, landscape.dy], [416, 312, 0, 52])
        let portrait = Letterbox(originalWidth: 333, originalHeight: 500, size: 416)
        XCTAssertEqual([portrait.width, portrait.height, portrait.dx, portrait.dy], [277, 416, 69, 0])  // 333·0.832 = 277.056 → 277
        let square = Letterbox(originalWidth: 200, originalHeight: 200, size: 416)
        XCTAssertEqual([square.width, square.height, square.dx, square.dy], [416, 416, 0, 0])
    }

    func testForwardAndInverseAreConsistent() {
        for (w, h) in [(640, 480), (333, 500), (200, 200), (1000, 37)] {
            let letterbox = Letterbox(originalWidth: w, originalHeight: h, size: 416)
            let box = [0.1 * Double(w), 0.2 * Double(h), 0.7 * Double(w), 0.9 * Double(h)]
            let back = letterbox.toOriginal(box: letterbox.toCanvas(box: box))
            for (a, b) in zip(back, box) { XCTAssertEqual(a, b, accuracy: 1e-9, "\(w)×\(h)") }
            let corner = letterbox.toCanvas(x: 0, y: 0)
            XCTAssertEqual(corner.x, Double(letterbox.dx))
            XCTAssertEqual(corner.y, Double(letterbox.dy))
        }
    }

    func testIntersectionOverUnion() {
        XCTAssertEqual(intersectionOverUnion([0, 0, 2, 2], [1, 1, 3, 3]), 1.0 / 7.0, accuracy: 1e-12)
        XCTAssertEqual(intersectionOverUnion([0, 0, 1, 1], [2, 2, 3, 3]), 0)
        XCTAssertEqual(intersectionOverUnion([0, 0, 4, 4], [0, 0, 4, 4]), 1)
    }
}
