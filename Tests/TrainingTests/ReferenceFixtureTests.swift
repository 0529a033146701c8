// ReferenceFixtureTests.swift — the reference tests hold for any fixture the reference code writes,
// and a fixture whose config and tensors disagree fails them cleanly: the shipped fixture rewritten
// with another batch in its config (or a key removed) is refused naming the key and both shapes, and
// the reference test classes, run on it in a separate process, all run and report (failures, no trap).

import Formats
import Foundation
import Tensors
import TestSupport
import XCTest

final class ReferenceFixtureTests: XCTestCase {
    /// The shipped fixture with its `config` metadata changed by `edit`, written to a temporary file.
    private func rewrittenFixture(_ edit: (inout [String: Any]) -> Void) throws -> String {
        let shipped = fixturesDirectory.appendingPathComponent("refclip_small.safetensors")
        let bytes = try Data(contentsOf: shipped)
        let headerLength = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes.subdata(in: 8 ..< 8 + headerLength)) as? [String: Any])
        var metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(metadata["config"]).utf8)) as? [String: Any])
        edit(&config)
        metadata["config"] = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        header["__metadata__"] = metadata
        var newHeader = try JSONSerialization.data(withJSONObject: header)
        while newHeader.count % 8 != 0 { newHeader.append(UInt8(ascii: " ")) }
        var out = withUnsafeBytes(of: UInt64(newHeader.count).littleEndian) { Data($0) }
        out.append(newHeader)
        out.append(bytes.subdata(in: 8 + headerLength ..< bytes.count))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fixture-\(UUID().uuidString).safetensors").path
        try out.write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testTheShippedFixtureReadsItsOwnDimensions() throws {
        let shipped = fixturesDirectory.appendingPathComponent("refclip_small.safetensors").path
        let fixture = try ReferenceFixture(file: try SafetensorsFile(path: shipped))
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(fixture.file.metadata["config"]).utf8)) as? [String: Any])
        XCTAssertEqual(fixture.batch, config["batch"] as? Int)
        XCTAssertEqual(fixture.teacherShape.selectedCells, (config["cfg"] as? [String: Any])?["SELECT_NUM"] as? Int)
        for key in ["in.f52", "in.f26", "in.f13", "in.boxes13", "in.token_ids"] {
            XCTAssertEqual(try fixture.file.entry(key).shape, fixture.expectedInputShape(key), key)
        }
        XCTAssertEqual([fixture.learningRate, fixture.beta1, fixture.beta2, fixture.eps, fixture.clipNorm], [1e-4, 0.9, 0.98, 1e-9, 0.15])
    }

    func testAConfigThatDisagreesWithTheTensorsIsRefusedNamingKeyAndShapes() throws {
        let path = try rewrittenFixture { $0["batch"] = 6 }
        let fixture = try ReferenceFixture(file: try SafetensorsFile(path: path))
        XCTAssertThrowsError(try fixture.inputs()) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("in.boxes13: shape [4, 169, 4, 85] in the file, [6, 169, 4, 85] from the fixture's config"), message)
        }
        let missing = try rewrittenFixture { config in
            var cfg = config["cfg"] as? [String: Any] ?? [:]
            cfg["N_SA"] = nil
            config["cfg"] = cfg
        }
        XCTAssertThrowsError(try ReferenceFixture(file: try SafetensorsFile(path: missing))) { error in
            XCTAssertTrue("\(error)".contains("__metadata__.config.cfg.N_SA: missing"), "\(error)")
        }
    }

    /// The reference test classes on the rewritten fixture, in a process of their own: every test runs
    /// and reports; the ones that read inputs fail with the key and shapes named; nothing traps.
    func testTheReferenceTestsReportCleanlyOnAMalformedFixture() throws {
        let path = try rewrittenFixture { $0["batch"] = 6 }
        var testBundle = ProcessInfo.processInfo.arguments[0]
        if !testBundle.hasPrefix("/") { testBundle = FileManager.default.currentDirectoryPath + "/" + testBundle }
        guard testBundle.hasSuffix(".xctest") else { throw XCTSkip("not run from an XCTest bundle (\(testBundle))") }
        let (status, output) = try runProcess(testBundle, ["TrainingTests.TeacherReferenceTests"], environment: [ReferenceFixture.pathVariable: path])
        XCTAssertEqual(status, 1, "the run ends with failures reported, not a crash:\n\(output)")
        XCTAssertTrue(output.contains("Executed 5 tests, with 4 failures"), output)
        for test in ["TeacherReferenceTests.testForwardIntermediatesInBothBatchNormModes",
                     "TeacherReferenceTests.testLossLogitsSelectionAndGradientsInBothBatchNormModes",
                     "TeacherReferenceTests.testParametersAndStatisticsAfterTheRecordedAdamSteps", "TeacherReferenceTests.testPrediction"] {
            let failure = output.split(separator: "\n").first { $0.contains(test) && $0.contains("error") }
            XCTAssertTrue(failure?.contains("in.boxes13: shape [4, 169, 4, 85] in the file, [6, 169, 4, 85] from the fixture's config") == true,
                          "\(test): \(failure ?? "no failure reported")")
        }
        XCTAssertTrue(output.contains("TeacherReferenceTests.testLoadingRefusesWrongShapesNamingThem' passed"), output)
    }
}
