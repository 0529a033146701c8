// ContainerTests.swift — the two refclip containers byte by byte against hand-computed layouts: a
// feature record (F16 maps, F32 boxes, each part shuffled on its own, one zstd frame) and the
// checkpoint container (magic, header length, header JSON, one frame of the shuffled tensors), with
// their round trips and the errors a damaged file gets.

import Formats
import Foundation
import Tensors
import XCTest

final class ContainerTests: XCTestCase {
    func testFeatureRecordBytesAndRoundTrip() throws {
        let codec = FeatureRecordCodec(dtype: .f16, mapCounts: [2, 1], boxCount: 1)
        XCTAssertEqual(codec.payloadBytes, 3 * 2 + 4)
        let frame = codec.encode(maps: [[1, -2], [0.5]], boxes: [0.5], level: 3)
        // 1 = 0x3C00, -2 = 0xC000 (low bytes first, then high bytes); 0.5 = 0x3800; 0.5f = 0x3F000000.
        let payload = try frame.withUnsafeBytes { try Zstd.decompress($0, expectedSize: codec.payloadBytes) }
        XCTAssertEqual(payload, [0x00, 0x00, 0x3C, 0xC0, 0x00, 0x38, 0x00, 0x00, 0x00, 0x3F])

        var decoded = [Float](repeating: .nan, count: 4)
        var scratch = FeatureRecordCodec.Scratch()
        try decoded.withUnsafeMutableBufferPointer { d in
            try frame.withUnsafeBytes { try codec.decode($0, maps: [d.baseAddress!, d.baseAddress! + 2], boxes: d.baseAddress! + 3, scratch: &scratch) }
        }
        XCTAssertEqual(decoded, [1, -2, 0.5, 0.5])

        let other = FeatureRecordCodec(dtype: .f32, mapCounts: [2, 1], boxCount: 1)
        var sink = [Float](repeating: 0, count: 4)
        XCTAssertThrowsError(try sink.withUnsafeMutableBufferPointer { s in
            try frame.withUnsafeBytes { try other.decode($0, maps: [s.baseAddress!, s.baseAddress! + 2], boxes: s.baseAddress! + 3, scratch: &scratch) }
        }, "a frame of another layout's size is refused")
    }

    private struct Header: CheckpointContainerHeader, Equatable {
        var note = "test"
        var tensors: [CheckpointTensor] = []
        var payloadBytes = 0, compressedBytes = 0
        var unsupportedFormat: String? { note == "test" ? nil : "not a test header" }
    }

    private struct Damaged: Error, CustomStringConvertible { let description: String }

    func testCheckpointContainerLayoutAndRoundTrip() throws {
        let path = NSTemporaryDirectory() + "refclip-container-\(getpid()).bin"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [-1]
        try a.withUnsafeBufferPointer { a in
            try b.withUnsafeBufferPointer { b in
                try CheckpointContainer.write(path, header: Header(), tensors: [("a", [2, 3], a), ("b", [1], b)])
            }
        }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(bytes[0 ..< 8]), Array("RCLIPCK1".utf8))
        let length = Int(bytes[8]) | Int(bytes[9]) << 8
        XCTAssertEqual(Array(bytes[10 ..< 16]), [0, 0, 0, 0, 0, 0])
        let header = try JSONDecoder().decode(Header.self, from: Data(bytes[16 ..< 16 + length]))
        XCTAssertEqual(header.tensors, [CheckpointTensor(name: "a", shape: [2, 3], offset: 0), CheckpointTensor(name: "b", shape: [1], offset: 6)])
        XCTAssertEqual(header.payloadBytes, 28)
        XCTAssertEqual(header.compressedBytes, bytes.count - 16 - length)
        // The payload is the seven floats shuffled as one array: every first byte, then every second …
        let payload = try bytes[(16 + length)...].withUnsafeBytes { try Zstd.decompress($0, expectedSize: 28) }
        let plain = (a + b).flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        XCTAssertEqual(payload, (0 ..< 4).flatMap { byte in (0 ..< 7).map { plain[4 * $0 + byte] } })

        let (read, start, file) = try CheckpointContainer.readHeader(path, as: Header.self) { Damaged(description: $0) }
        XCTAssertEqual(read, header)
        XCTAssertEqual(try CheckpointContainer.readTensors(header: read, payloadStart: start, file: file), ["a": a, "b": b])

        // A table naming the same bytes twice (more values than the payload holds) is refused.
        var doubled = header
        doubled.tensors.append(CheckpointTensor(name: "c", shape: [6], offset: 0))
        let json = try JSONEncoder().encode(doubled)
        try Data(Array(bytes[0 ..< 8]) + withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json + bytes[(16 + length)...])
            .write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try CheckpointContainer.readHeader(path, as: Header.self) { Damaged(description: $0) }) {
            XCTAssertTrue("\($0)".contains("table holds 13 values, the payload 7"), "\($0)")
        }

        try Data(bytes.dropLast()).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try CheckpointContainer.readHeader(path, as: Header.self) { Damaged(description: $0) }) {
            XCTAssertTrue("\($0)".contains("truncated"), "\($0)")
        }
    }
}
