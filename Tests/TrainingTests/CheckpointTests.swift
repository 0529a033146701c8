// CheckpointTests.swift — a teacher checkpoint round-trips its tensors and header; truncation and
// bit flips are refused naming the file.

import Distributed
import Foundation
import Layers
import Models
import Tensors
import TestSupport
@testable import Training
import XCTest

final class CheckpointTests: XCTestCase {
    func testTeacherRoundTripAndDamage() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID()).refclip").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = RefCLIPTeacher(shape: WorldSizeEquivalenceTests.shape, seed: 3)
        for ref in model.frozen.refs { model.frozen.set(ref, randomTensor(ref.shape, seed: 4).array) }
        let optimizer = Adam(parameterCount: model.params.count)
        model.params.grads.data.update(repeating: 0.01, count: model.params.count)
        optimizer.update(model.params.values, grads: model.params.grads, lr: 1e-3)
        let average = ModelAverage(params: model.params, buffers: model.buffers, maxDecay: 0.9)
        average.update(params: model.params, buffers: model.buffers)
        let position = TrainingPosition(epoch: 2, stepInEpoch: 5, globalStep: 17, seed: 9, worldSize: 2)
        try Checkpoint.write(path, phase: .teacher, model: .teacher(model.shape), params: model.params,
                             buffers: model.buffers, frozen: model.frozen, optimizer: optimizer, average: average, position: position,
                             config: "name: x\n", vocabulary: ["PAD", "UNK", "CLS", "cube"])

        let (header, _, _) = try Checkpoint.readHeader(path)
        XCTAssertEqual(header.position, position)
        XCTAssertEqual(header.adamStep, 1)
        XCTAssertEqual(header.model, .teacher(model.shape))
        XCTAssertEqual(header.layout["params"]?.map(\.name), model.params.refs.map(\.name))
        let checkpoint = try Checkpoint.read(path)
        XCTAssertEqual(checkpoint.tensors["params"], model.params.values.array)
        XCTAssertEqual(checkpoint.tensors["adam.v"], optimizer.secondMoment.array)
        XCTAssertEqual(checkpoint.tensors["ema.params"], average.params.values.array)
        let raw = try checkpoint.model(as: RefCLIPTeacher.self, path: path, average: false), averaged = try checkpoint.model(as: RefCLIPTeacher.self, path: path, average: true)
        XCTAssertEqual(raw.params.values.array, model.params.values.array)
        XCTAssertEqual(averaged.params.values.array, average.params.values.array)
        XCTAssertEqual(raw.frozen.values.array, model.frozen.values.array)

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let good = bytes
        bytes[bytes.count - 100] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint.read(path)) { XCTAssertTrue("\($0)".contains(path) && "\($0)".contains("damaged"), "\($0)") }
        try Data(good.prefix(good.count - 10)).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint.read(path)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
    }

    func testStudentShapeWrittenBeforeCoordinatesReadsAsWithout() throws {
        let shape = StudentTrainingTests.shape
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(shape)) as! [String: Any]
        XCTAssertEqual(json.removeValue(forKey: "coordinates") as? Bool, true)
        let old = try JSONDecoder().decode(StudentShape.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertFalse(old.coordinates)
        XCTAssertEqual(old.language, shape.language)
        XCTAssertEqual(old.fusion, shape.fusion)
        XCTAssertEqual(try JSONDecoder().decode(StudentShape.self, from: JSONEncoder().encode(shape)), shape)
    }
}

/// The model kind of checkpoints written before ModelShape (a header `model` with an optional
/// `teacher` and `student`) reads as that kind; both or neither is refused.
final class ModelShapeTests: XCTestCase {
    func testCheckpointsWrittenBeforeTheEnumLoadAndAmbiguousShapesAreRefused() throws {
        let path = fixturesDirectory.appendingPathComponent("fuzz-seeds/checkpoint/tiny-teacher.refclip").path
        let checkpoint = try Checkpoint.read(path)
        guard case .teacher(let shape) = checkpoint.header.model else { return XCTFail("\(checkpoint.header.model)") }
        XCTAssertEqual(try checkpoint.model(as: RefCLIPTeacher.self, path: path, average: true).shape, shape)
        XCTAssertThrowsError(try checkpoint.model(as: SimRECStudent.self, path: path, average: true)) {
            XCTAssertTrue("\($0)".contains(path) && "\($0)".contains("holds a teacher model, not a student"), "\($0)")
        }
        let teacher = String(decoding: try JSONEncoder().encode(checkpoint.header.model), as: UTF8.self)
        XCTAssertTrue(teacher.hasPrefix(#"{"teacher":{"#), teacher)
        let student = String(decoding: try JSONEncoder().encode(ModelShape.student(StudentShape(
            language: shape.language, fusion: shape.fusion, boxWeight: 1))), as: UTF8.self)
        let both = #"{"teacher":"# + teacher.dropFirst(#"{"teacher":"#.count).dropLast() + "," + student.dropFirst()
        for json in [both, "{}"] {
            XCTAssertThrowsError(try JSONDecoder().decode(ModelShape.self, from: Data(json.utf8)), json) {
                XCTAssertTrue("\($0)".contains("exactly one of teacher, student"), "\($0)")
            }
        }
    }

    /// Every model's lower bound of values holds below what the model allocates, and within a small
    /// factor of it: the bound is what a header's dimensions are checked against.
    func testTheLowerBoundOfAModelsValuesHolds() {
        let reference = LanguageShape(vocabularySize: 10_000, wordDimension: 300, hidden: 512, heads: 8, feedForward: 2048, layers: 3,
                                      maxTokens: 15, dropout: 0.1)
        let referenceFusion = FusionShape(channels52: 256, channels26: 512, channels13: 1024, hidden: 1024)
        let teachers = [WorldSizeEquivalenceTests.shape, TeacherShape(language: reference, fusion: referenceFusion, selectedCells: 17)]
        let students = [StudentTrainingTests.shape, StudentShape(language: reference, fusion: referenceFusion, boxWeight: 5, coordinates: true)]
        func check<Model: TrainableModel>(_ model: Model, _ shape: Model.Shape) {
            let held = model.params.count + model.buffers.count + model.frozen.count
            guard let least = shape.minimumValueCount else { return XCTFail("\(shape) overflows") }
            XCTAssertLessThanOrEqual(least, held, "\(shape)")
            XCTAssertGreaterThan(least, held / 3, "\(shape): the bound is loose")
        }
        for shape in teachers { check(RefCLIPTeacher(shape: shape, seed: 0), shape) }
        for shape in students { check(SimRECStudent(shape: shape, seed: 0), shape) }
    }

    /// A checkpoint whose header gives dimensions its payload cannot hold, or that no model has, is
    /// refused naming the file before any model is built.
    func testHostileModelDimensionsAreRefusedBeforeTheModelIsBuilt() throws {
        let source = fixturesDirectory.appendingPathComponent("fuzz-seeds/checkpoint/tiny-teacher.refclip").path
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let length = Int(UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) }))
        let header = try JSONSerialization.jsonObject(with: Data(bytes[16 ..< 16 + length])) as! [String: Any]
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID()).refclip").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cases: [(section: String, key: String, value: Int, message: String)] = [
            ("language", "hidden", 1 << 40, "more values than the checkpoint"), ("language", "layers", 1 << 50, "more values than the checkpoint"),
            ("language", "vocabularySize", Int.max / 2, "more values than the checkpoint"), ("fusion", "hidden", 1 << 31, "more values than the checkpoint"),
            ("language", "heads", 0, "heads 0 is out of range"), ("language", "maxTokens", 1 << 40, "max tokens"),
            ("fusion", "channels13", -3, "fusion channels"),
        ]
        for hostile in cases {
            var edited = header, model = header["model"] as! [String: Any], teacher = model["teacher"] as! [String: Any]
            var section = teacher[hostile.section] as! [String: Any]
            section[hostile.key] = hostile.value
            teacher[hostile.section] = section
            model["teacher"] = teacher
            edited["model"] = model
            let json = try JSONSerialization.data(withJSONObject: edited)
            try Data(Array(bytes[0 ..< 8]) + withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json + bytes[(16 + length)...])
                .write(to: URL(fileURLWithPath: path))
            let checkpoint = try Checkpoint.read(path)
            XCTAssertThrowsError(try checkpoint.groundingModel(path: path, average: true), "\(hostile)") {
                XCTAssertTrue("\($0)".contains(path) && "\($0)".contains(hostile.message), "\(hostile): \($0)")
            }
        }
    }
}
