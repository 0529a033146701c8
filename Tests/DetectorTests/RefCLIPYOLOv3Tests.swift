// RefCLIPYOLOv3Tests.swift — the paper's detector against its PyTorch restatement
// (Tests/Python/refclip_yolov3.py, itself checked against the official modules by check_official.py)
// on random weights and a random image, at a small width: the fixture is generated here, its
// `torch.save`d weights go through the .pth reader, and every one of the 38 modules' outputs agrees
// within 1e-4 relative; the stored record holds the heads' inputs and the stride-32 anchors, and the
// cells the teacher would select are the reference's exactly. Bad weights are refused by name.

import Datasets
import Detector
import Formats
import Foundation
import Tensors
import TestSupport
import XCTest

/// The reference fixture, generated once per test process.
final class YOLOv3Fixture {
    static let shared = Result { try YOLOv3Fixture() }
    let directory: String
    let fixture: SafetensorsFile
    let config: [String: Any]
    let weights: String

    private init() throws {
        directory = NSTemporaryDirectory() + "refclip-yolov3-\(UUID().uuidString)"
        guard let python = ProcessInfo.processInfo.environment["REFCLIP_PYTHON"] else {
            throw InputError("REFCLIP_PYTHON is not set", hint: "run the suite with make test, which installs a Python with torch")
        }
        let script = packageRoot.appendingPathComponent("Tests/Python/refclip_yolov3.py").path
        let result = try runProcess(python, [script, "fixture", "--out", directory, "--width", "8", "--classes", "3", "--size", "160"])
        guard result.status == 0 else { throw InputError(file: script, "failed: \(result.output)") }
        fixture = try SafetensorsFile(path: directory + "/fixture.safetensors")
        config = try JSONSerialization.jsonObject(with: Data((fixture.metadata["config"] ?? "").utf8)) as? [String: Any] ?? [:]
        weights = directory + "/detector.safetensors"
        try TorchCheckpoint(path: directory + "/detector.pth").safetensors().write(to: weights)
    }
}

final class RefCLIPYOLOv3Tests: XCTestCase {
    private func fixture() throws -> YOLOv3Fixture { try YOLOv3Fixture.shared.get() }

    /// |a − b| ≤ 1e-4 · (|b| + rms(b)) for every element.
    private func assertClose(_ got: Tensor, _ expected: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, expected.count, "\(what): sizes", file: file, line: line)
        guard got.count == expected.count else { return }
        let rms = Float((expected.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, expected.count))).squareRoot())
        var worst: (index: Int, excess: Float)?
        for i in expected.indices {
            let excess = abs(got.data[i] - expected[i]) / (1e-4 * (abs(expected[i]) + rms))
            if excess > 1, excess > worst?.excess ?? 0 { worst = (i, excess) }
        }
        if let worst {
            XCTFail("\(what): element \(worst.index) is \(got.data[worst.index]), the reference \(expected[worst.index]) (\(worst.excess)× the tolerance)", file: file, line: line)
        }
    }

    func testEveryModuleMatchesTheReference() throws {
        let f = try fixture()
        let network = try RefCLIPYOLOv3(weights: f.weights)
        XCTAssertEqual(network.classes, f.config["classes"] as? Int)
        let width = try XCTUnwrap(f.config["width"] as? Int), size = try XCTUnwrap(f.config["size"] as? Int)
        XCTAssertEqual(network.layout, FeatureLayout(channels: [8 * width, 16 * width, 32 * width], anchorsPerCell: 4))
        network.forward(try f.fixture.tensor("input", expectedShape: [3, size, size]))
        for index in 0 ..< 38 {
            let name = "module\(index)"
            let expected = try f.fixture.entry(name)
            XCTAssertEqual(network.output(index).shape, expected.shape, name)
            assertClose(network.output(index), try f.fixture.floats(name), name)
        }
    }

    func testTheParameterTableIsTheReferenceStateDict() throws {
        let f = try fixture()
        let file = try SafetensorsFile(path: f.weights)
        let reference = file.entries.filter { !$0.name.hasSuffix("num_batches_tracked") }.map { "\($0.name) \($0.shape)" }
        let table = RefCLIPYOLOv3.parameterShapes(width: try XCTUnwrap(f.config["width"] as? Int), classes: try XCTUnwrap(f.config["classes"] as? Int))
        XCTAssertEqual(table.map { "\($0.name) \($0.shape)" }, reference)
    }

    func testTheRecordHoldsTheHeadInputsAndTheStride32AnchorsAndSelectsTheReferenceCells() throws {
        let f = try fixture()
        let network = try RefCLIPYOLOv3(weights: f.weights)
        let size = try XCTUnwrap(f.config["size"] as? Int)
        network.forward(try f.fixture.tensor("input"))
        let record = network.record(inputSize: size)
        for (map, module) in zip(record.maps, [36, 27, 18]) {
            assertClose(Tensor([map.count], map), try f.fixture.floats("module\(module)"), "map of module \(module)")
        }
        let head = try f.fixture.floats("module19"), perAnchor = 5 + network.classes
        let expectedBoxes = (0 ..< head.count / perAnchor).flatMap { row in head[row * perAnchor ..< row * perAnchor + 5] }
        XCTAssertEqual(record.boxes.count, (size / 32) * (size / 32) * 4 * 5)
        assertClose(Tensor([record.boxes.count], record.boxes), expectedBoxes, "stride-32 anchors")
        // The teacher keeps the cells of highest mean objectness over the 4 anchors.
        func selected(_ boxes: [Float], count: Int) -> [Int] {
            let cells = boxes.count / 20
            var objectness = [Float](repeating: 0, count: cells)
            for c in 0 ..< cells { for a in 0 ..< 4 { objectness[c] += boxes[(c * 4 + a) * 5 + 4] / 4 } }
            return Array((0 ..< cells).sorted { objectness[$0] > objectness[$1] }.prefix(count))
        }
        XCTAssertEqual(selected(record.boxes, count: 8), selected(expectedBoxes, count: 8))
    }

    func testWeightsThatAreNotTheDetectorAreRefusedByName() throws {
        let f = try fixture()
        let file = try SafetensorsFile(path: f.weights)
        func rewritten(dropping dropped: String? = nil, reshaping reshaped: String? = nil) throws -> String {
            var writer = SafetensorsWriter()
            for entry in file.entries where entry.name != dropped {
                let shape = entry.name == reshaped ? [entry.count] : entry.shape
                writer.add(entry.name, dtype: entry.dtype, shape: shape, bytes: try file.rawBytes(entry.name))
            }
            let path = f.directory + "/bad-\(UUID().uuidString).safetensors"
            try writer.write(to: path)
            return path
        }
        XCTAssertThrowsError(try RefCLIPYOLOv3(weights: try rewritten(dropping: "module_list.28.Feature_adaption.dconv.weight"))) { error in
            XCTAssertTrue("\(error)".contains("module_list.28.Feature_adaption.dconv.weight: is missing"), "\(error)")
        }
        XCTAssertThrowsError(try RefCLIPYOLOv3(weights: try rewritten(reshaping: "module_list.6.module_list.3.1.conv.weight"))) { error in
            XCTAssertTrue("\(error)".contains("module_list.6.module_list.3.1.conv.weight: has shape"), "\(error)")
        }
    }
}
