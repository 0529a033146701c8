// SafetensorsTests.swift — round trips of every dtype, the reference fixture's header, and refusal
// of malformed files with messages that name the problem.

import Formats
import Foundation
import Tensors
import TestSupport
import XCTest

final class SafetensorsTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testRoundTripOfEveryDType() throws {
        var writer = SafetensorsWriter()
        writer.metadata = ["format": "pt", "note": "ünïcode / slashes"]
        writer.add("f32", shape: [2, 3], floats: [1, -2, 3.5, 0, .infinity, -0.25])
        writer.add("f64", shape: [2], doubles: [1e-300, -3.25])
        writer.add("i64", shape: [3], int64s: [-1, 0, Int(Int64.max)])
        let halves: [UInt16] = [Float(1.5).float16Bits, Float(-65504).float16Bits, Float(6.1e-5).float16Bits]
        halves.withUnsafeBytes { writer.add("f16", dtype: .f16, shape: [3], bytes: $0) }
        let bfloat: [UInt16] = [0x3FC0, 0xC000]  // 1.5, -2
        bfloat.withUnsafeBytes { writer.add("bf16", dtype: .bf16, shape: [2], bytes: $0) }
        let int32s: [Int32] = [-7, 1 << 30]
        int32s.withUnsafeBytes { writer.add("i32", dtype: .i32, shape: [2], bytes: $0) }
        let bools: [UInt8] = [1, 0, 1]
        bools.withUnsafeBytes { writer.add("mask", dtype: .bool, shape: [3, 1], bytes: $0) }
        writer.add("empty", shape: [0, 4], floats: [])
        writer.add("scalar", shape: [], floats: [42])
        let path = directory.appendingPathComponent("all.safetensors").path
        try writer.write(to: path)

        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, writer.metadata)
        XCTAssertEqual(try file.floats("f32"), [1, -2, 3.5, 0, .infinity, -0.25])
        XCTAssertEqual(try file.entry("f32").shape, [2, 3])
        XCTAssertEqual(try file.doubles("f64"), [1e-300, -3.25])
        XCTAssertEqual(try file.integers("i64"), [-1, 0, Int(Int64.max)])
        XCTAssertEqual(try file.floats("f16"), [1.5, -65504, Float(Float(6.1e-5).float16Bits == 0 ? 0 : Float(float16Bits: Float(6.1e-5).float16Bits))])
        XCTAssertEqual(try file.floats("bf16"), [1.5, -2])
        XCTAssertEqual(try file.integers("i32"), [-7, 1 << 30])
        XCTAssertEqual(try file.integers("mask"), [1, 0, 1])
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(try file.floats("scalar"), [42])
        XCTAssertEqual(Set(file.names), ["f32", "f64", "i64", "f16", "bf16", "i32", "mask", "empty", "scalar"])
        XCTAssertThrowsError(try file.integers("f32"))
        XCTAssertThrowsError(try file.floats("missing")) { XCTAssertTrue("\($0)".contains("missing")) }

        // The bytes are a function of the contents: writing again gives the same file.
        XCTAssertEqual(writer.serialized(), try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
    }

    func testHalfPrecisionConversionIsExactAndRoundsToNearestEven() {
        for bits in UInt16.min ... UInt16.max {
            let value = Float(float16Bits: bits)
            if value.isNaN { continue }
            XCTAssertEqual(value.float16Bits, bits, "half \(bits) does not round-trip")
        }
        XCTAssertEqual(Float(float16Bits: Float(1 + 1.0 / 2048).float16Bits), 1, "ties go to even")
        XCTAssertEqual(Float(float16Bits: Float(1 + 3.0 / 2048).float16Bits), 1 + 2.0 / 1024, "ties go to even")
        XCTAssertEqual(Float(float16Bits: Float(70000).float16Bits), .infinity)
        XCTAssertEqual(Float(float16Bits: Float(1e-9).float16Bits), 0)
    }

    /// A file written by PyTorch's safetensors: shapes agree with its own metadata, dtypes are PyTorch's
    /// (a padding mask is `bool`, or `u8` where the writer stored the mask as bytes).
    func testReadsTheReferenceFixture() throws {
        let fixture = try ReferenceFixture.load()
        let file = fixture.file
        XCTAssertEqual(try file.entry("in.f52").shape, fixture.expectedInputShape("in.f52"))
        XCTAssertEqual(try file.entry("in.token_ids").dtype, .i64)
        let mask = try file.entry("evalbn.mid.lang_mask").dtype
        XCTAssertTrue([.bool, .u8].contains(mask), "padding mask dtype \(mask)")
        let (hidden, fusion) = (fixture.teacherShape.language.hidden, fixture.teacherShape.fusion.hidden)
        XCTAssertEqual(try file.floats("w.linear_vs.weight").count, hidden * fusion)
    }

    /// A file image with a hand-written header and `dataBytes` zero bytes of data.
    private func image(header: String, dataBytes: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8))
        bytes.append(contentsOf: [UInt8](repeating: 0, count: dataBytes))
        return bytes
    }

    private func assertRefused(_ bytes: [UInt8], mentioning phrase: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = directory.appendingPathComponent("bad.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SafetensorsFile(path: path), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(phrase), "message \"\(message)\" lacks \"\(phrase)\"", file: file, line: line)
            XCTAssertTrue(message.contains("bad.safetensors"), "message \"\(message)\" lacks the file name", file: file, line: line)
        }
    }

    func testRefusesMalformedFiles() throws {
        try assertRefused([1, 2, 3], mentioning: "shorter than the 8-byte header length")
        var huge = image(header: "{}", dataBytes: 0)
        huge[0] = 0xFF; huge[5] = 0x01
        try assertRefused(huge, mentioning: "exceeds the file size")
        try assertRefused(image(header: "{not json", dataBytes: 0), mentioning: "not valid JSON")
        try assertRefused(image(header: "[1, 2]", dataBytes: 0), mentioning: "does not start with '{'")
        try assertRefused(image(header: #"{"a":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4), mentioning: "unknown or missing dtype")
        try assertRefused(image(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataBytes: 4), mentioning: "negative")
        try assertRefused(image(header: #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, dataBytes: 4), mentioning: "non-integer")
        try assertRefused(image(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4), mentioning: "needs 8 bytes")
        try assertRefused(image(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#, dataBytes: 4), mentioning: "outside")
        try assertRefused(image(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, dataBytes: 4), mentioning: "outside")
        try assertRefused(image(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8),
                          mentioning: "overlaps")
        try assertRefused(image(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8), mentioning: "hole")
        try assertRefused(image(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 12), mentioning: "not described")
        try assertRefused(image(header: #"{"__metadata__":{"k":3}}"#, dataBytes: 0), mentioning: "not a string")
        try assertRefused(image(header: #"{"a":{"dtype":"F32","shape":[1]}}"#, dataBytes: 4), mentioning: "data_offsets")
    }
}
