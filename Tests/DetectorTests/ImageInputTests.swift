// ImageInputTests.swift — decoding (PNG exact, JPEG within compression error, bad files refused by
// path), letterbox geometry for landscape, portrait and square images, and the letterboxed input
// tensor against hand-computed values.

import CImage
import Datasets
import Detector
import Foundation
import Tensors
import XCTest

final class ImageInputTests: XCTestCase {
    private func pattern(width: Int, height: Int) -> RGBImage {
        RGBImage(width: width, height: height, pixels: (0 ..< width * height * 3).map { UInt8(truncatingIfNeeded: $0 * 37 + $0 / 7) })
    }

    private func temporaryFile(_ bytes: [UInt8], _ suffix: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("image-\(UUID())\(suffix)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testPNGDecodesExactly() throws {
        let image = pattern(width: 13, height: 7)
        let path = try temporaryFile(try image.pngData(), ".png")
        XCTAssertEqual(try RGBImage(contentsOf: path), image)
    }

    func testJPEGDecodesWithinCompressionError() throws {
        // A smooth gradient, encoded by libjpeg-turbo at quality 100 without chroma subsampling.
        let (width, height) = (32, 24)
        var pixels: [UInt8] = []
        for y in 0 ..< height { for x in 0 ..< width { pixels += [UInt8(x * 8), UInt8(y * 10), UInt8((x + y) * 4)] } }
        let image = RGBImage(width: width, height: height, pixels: pixels)
        let handle = try XCTUnwrap(tjInitCompress())
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        XCTAssertEqual(tjCompress2(handle, pixels, Int32(width), 0, Int32(height), Int32(TJPF_RGB.rawValue), &buffer, &size,
                                   Int32(TJSAMP_444.rawValue), 100, 0), 0)
        let jpeg = Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
        tjFree(buffer)
        let decoded = try RGBImage(contentsOf: try temporaryFile(jpeg, ".jpg"))
        XCTAssertEqual([decoded.width, decoded.height], [width, height])
        let worst = zip(decoded.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 3)
    }

    func testBadFilesAreRefusedByPath() throws {
        let text = try temporaryFile(Array("not an image".utf8), ".jpg")
        XCTAssertThrowsError(try RGBImage(contentsOf: text)) { XCTAssertTrue("\($0)".contains(text) && "\($0)".contains("not a JPEG or PNG"), "\($0)") }
        let truncated = try temporaryFile(Array(try pattern(width: 40, height: 40).pngData().prefix(60)), ".png")
        XCTAssertThrowsError(try RGBImage(contentsOf: truncated)) { XCTAssertTrue("\($0)".contains(truncated), "\($0)") }
        XCTAssertThrowsError(try RGBImage(contentsOf: "/nonexistent/x.png")) { XCTAssertTrue("\($0)".contains("cannot read"), "\($0)") }
    }

    func testLetterboxForwardAndInverseAgreeForEveryOrientation() {
        for (width, height) in [(640, 427), (427, 640), (500, 500), (1, 300)] {
            let box = Letterbox(originalWidth: width, originalHeight: height, size: 416)
            XCTAssertEqual(max(box.width, box.height), 416)
            XCTAssertEqual(box.dx, (416 - box.width) / 2)
            XCTAssertEqual(box.dy, (416 - box.height) / 2)
            let original = [0.1 * Double(width), 0.2 * Double(height), 0.9 * Double(width), Double(height)]
            let back = box.toOriginal(box: box.toCanvas(box: original))
            for (a, b) in zip(back, original) { XCTAssertEqual(a, b, accuracy: 1e-9 * Double(max(width, height))) }
            let corners = box.toCanvas(box: [0, 0, Double(width), Double(height)])
            XCTAssertEqual(corners, [Double(box.dx), Double(box.dy), Double(box.dx + box.width), Double(box.dy + box.height)])
        }
        XCTAssertEqual(Letterbox(originalWidth: 640, originalHeight: 427, size: 416).height, 277, "427·416/640 = 277.5, truncated")
    }

    func testLetterboxedInputHoldsTheResizedImageOnTheFill() {
        // 4×2 with long side 2: a 2×1 image at the top of a 2×2 canvas (dy = (2 − 1)/2 = 0).
        let image = RGBImage(width: 4, height: 2, pixels: [
            0, 0, 0, 40, 0, 0, 80, 0, 0, 120, 0, 0,
            200, 0, 0, 240, 0, 0, 255, 0, 0, 255, 0, 0,
        ])
        let box = Letterbox(originalWidth: 4, originalHeight: 2, size: 2)
        XCTAssertEqual([box.width, box.height, box.dx, box.dy], [2, 1, 0, 0])
        let tensor = Tensor()
        letterboxInput(image, box, normalization: .unitRange, into: tensor)
        XCTAssertEqual(tensor.shape, [1, 3, 2, 2])
        // Source positions (i + ½)·2 − ½ = 0.5 and 2.5 in x, (0 + ½)·2 − ½ = 0.5 in y: the mean of 2×2 blocks.
        let red = Array(UnsafeBufferPointer(start: tensor.data, count: 4))
        XCTAssertEqual(red[0], (0 + 40 + 200 + 240) / 4 / 255, accuracy: 1e-6)
        XCTAssertEqual(red[1], (80 + 120 + 255 + 255) / 4 / 255, accuracy: 1e-6)
        XCTAssertEqual(red[2], 127 / 255, accuracy: 1e-7, "the fill below the image")
        XCTAssertEqual(tensor.data[4 + 0], 0, "green of the image")
        XCTAssertEqual(tensor.data[4 + 3], 127 / 255, accuracy: 1e-7)

        // Same size: an identity copy, normalized per channel.
        let square = pattern(width: 5, height: 5)
        letterboxInput(square, Letterbox(originalWidth: 5, originalHeight: 5, size: 5), normalization: .imageNet, into: tensor)
        for c in 0 ..< 3 {
            let (mean, std): (Float, Float) = ([0.485, 0.456, 0.406][c], [0.229, 0.224, 0.225][c])
            for p in 0 ..< 25 { XCTAssertEqual(tensor.data[c * 25 + p], (Float(square.pixels[p * 3 + c]) / 255 - mean) / std, accuracy: 1e-5) }
        }
    }
}
