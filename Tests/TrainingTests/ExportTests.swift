// ExportTests.swift — exported teachers carry exactly the reference state dict: the names, shapes and
// dtypes of the fixture's weights at small size and of Tests/Fixtures/refclip_state_dict_keys.txt at
// full size (read back by Python's safetensors package, as a PyTorch user would), and import restores
// the weights.

import Application
import Formats
import Foundation
import Layers
import Models
import Tensors
import TestSupport
import XCTest
@testable import Training

final class ExportTests: XCTestCase {
    /// A checkpoint in memory holding a teacher of `shape` with distinct values everywhere.
    private func checkpoint(_ shape: TeacherShape, step: Int = 7) -> (Checkpoint, RefCLIPTeacher) {
        let model = RefCLIPTeacher(shape: shape, seed: 3)
        for store in [model.buffers, model.frozen] { for i in 0 ..< store.count { store.values.data[i] = Float(i % 97) * 0.01 } }
        var header = CheckpointHeader(codeVersion: refclipVersion, created: "", phase: .teacher, config: "name: x\n",
                                      model: .teacher(shape), layout: [:],
                                      vocabulary: (0 ..< shape.language.vocabularySize).map { "w\($0)" },
                                      position: TrainingPosition(epoch: 1, stepInEpoch: 0, globalStep: step, seed: 1, worldSize: 1),
                                      adamStep: step, emaUpdates: 0, tensors: [], payloadBytes: 0, compressedBytes: 0)
        header.tensors = []
        let tensors = ["params": model.params.values.array, "buffers": model.buffers.values.array, "frozen": model.frozen.values.array]
        return (Checkpoint(header: header, tensors: tensors), model)
    }

    private func image(_ writer: SafetensorsWriter) throws -> SafetensorsFile {
        let bytes = writer.serialized()
        let holder = BytesHolder(bytes)
        return try holder.bytes.withUnsafeBytes { try SafetensorsFile(bytes: UnsafeRawBufferPointer(start: $0.baseAddress, count: $0.count), owner: holder, name: "export") }
    }

    func testSmallExportHasTheReferenceStateDictOfTheFixture() throws {
        let fixture = try ReferenceFixture.load()
        let (ckpt, model) = checkpoint(fixture.teacherShape)
        let exported = try image(try ckpt.exportWeights(path: "memory", average: false))
        let reference = fixture.file.entries.filter { $0.name.hasPrefix("w.") }
        XCTAssertEqual(Set(exported.names), Set(reference.map { String($0.name.dropFirst(2)) }))
        for entry in reference {
            let mine = try exported.entry(String(entry.name.dropFirst(2)))
            XCTAssertEqual(mine.shape, entry.shape, entry.name)
            XCTAssertEqual(mine.dtype, entry.dtype, entry.name)
        }
        XCTAssertEqual(try exported.floats("linear_vs.weight"), model.params.array(model.params.ref("linear_vs.weight")!))
        XCTAssertEqual(try exported.integers("multi_scale_manner.top_proj.batch_norm.num_batches_tracked"), [7])
        XCTAssertEqual(exported.metadata["refclip.weights"], "raw")
    }

    func testFullSizeExportMatchesTheReferenceKeysReadByPython() throws {
        let python = try XCTUnwrap(ProcessInfo.processInfo.environment["REFCLIP_PYTHON"], "make test sets REFCLIP_PYTHON (a Python with safetensors)")
        let shape = TeacherShape(language: LanguageShape(vocabularySize: 10000, wordDimension: 300, hidden: 512, heads: 8, feedForward: 2048,
                                                         layers: 3, maxTokens: 15, dropout: 0.1),
                                 fusion: FusionShape(channels52: 256, channels26: 512, channels13: 1024, hidden: 1024), selectedCells: 17)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (ckpt, model) = checkpoint(shape)
        try ckpt.exportWeights(path: "memory", average: false).write(to: path)

        let script = "import json, sys\nfrom safetensors.numpy import load_file\nd = load_file(sys.argv[1])\n"
            + "print(json.dumps({k: [list(v.shape), str(v.dtype)] for k, v in d.items()}))"
        let (status, output) = try runProcess(python, ["-c", script, path])
        XCTAssertEqual(status, 0, output)
        let read = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: [Any]]

        let keys = try String(contentsOf: fixturesDirectory.appendingPathComponent("refclip_state_dict_keys.txt"), encoding: .utf8)
        var expected: [String: ([Int], String)] = [:]
        for line in keys.split(separator: "\n") where !line.hasPrefix("#") && line.contains(" | ") {
            let fields = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 3 else { continue }
            let dims = fields[1] == "scalar" ? [] : fields[1].split(separator: "x").compactMap { Int($0) }
            expected[fields[0]] = (dims, fields[2])
        }
        XCTAssertEqual(expected.count, 129)
        XCTAssertEqual(Set(read.keys), Set(expected.keys))
        for (name, (dims, dtype)) in expected {
            let got = try XCTUnwrap(read[name], name)
            XCTAssertEqual(got[0] as? [Int], dims, name)
            XCTAssertEqual(got[1] as? String, dtype, name)
        }

        // Import brings the same weights back.
        let imported = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID()).refclip").path
        defer { try? FileManager.default.removeItem(atPath: imported) }
        try importTeacher(try SafetensorsFile(path: path), shape: shape, vocabulary: ckpt.header.vocabulary, config: "name: x\n", to: imported)
        let back = try Checkpoint.read(imported).model(as: RefCLIPTeacher.self, path: imported, average: false)
        XCTAssertEqual(back.params.values.array, model.params.values.array)
        XCTAssertEqual(back.buffers.values.array, model.buffers.values.array)
        XCTAssertEqual(back.frozen.values.array, model.frozen.values.array)
    }
}

/// Keeps a byte array alive for a SafetensorsFile parsed from it.
private final class BytesHolder {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}
