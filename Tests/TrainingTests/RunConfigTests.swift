// RunConfigTests.swift — configs load with defaults and overrides; unknown keys, wrong types and
// missing files are refused naming the file and the key.

import Foundation
import Tensors
import TestSupport
import Training
import XCTest

final class RunConfigTests: XCTestCase {
    private func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID()).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private let required = "data:\n  annotations: a.json\n  features: f\n  word_vectors: w.txt\n"

    func testDefaultsFileAndOverrides() throws {
        let path = try file(required + "train:\n  lr: 3.0e-4\n  eval_splits: [val, testA]\nmodel:\n  hidden: 32\n  heads: 4\n")
        let config = try RunConfig(schema: teacherSchema, path: path, overrides: ["train.batch=16", "model.upsampling=bilinear"])
        XCTAssertEqual(config.double("train.lr"), 3e-4)
        XCTAssertEqual(config.int("train.batch"), 16)
        XCTAssertEqual(config.int("train.epochs"), 25, "defaults are the reference recipe")
        XCTAssertEqual(config.strings("train.eval_splits"), ["val", "testA"])
        XCTAssertEqual(config.string("model.upsampling"), "bilinear")
        let again = try RunConfig(schema: teacherSchema, yaml: config.yaml())
        XCTAssertEqual(again.values, config.values, "the saved YAML loads back to the same values")
        let student = try RunConfig(schema: studentSchema, path: path, overrides: ["phase=student", "train.views=320,416"])
        XCTAssertEqual(try RunConfig(schema: studentSchema, yaml: student.yaml()).values, student.values, "also when a section's keys are apart")
        XCTAssertTrue(config.table().contains("train.lr"))
        XCTAssertNoThrow(try RunSettings(config, phase: "teacher"))
        XCTAssertNoThrow(try teacherShape(config, vocabularySize: 10, wordDimension: 4, channels: [2, 3, 4]))
    }

    func testErrorsNameTheFileAndTheKey() throws {
        let unknown = try file(required + "train:\n  lrr: 1\n")
        XCTAssertThrowsError(try RunConfig(schema: teacherSchema, path: unknown)) {
            XCTAssertTrue("\($0)".contains(unknown) && "\($0)".contains("train.lrr") && "\($0)".contains("did you mean train.lr?"), "\($0)")
        }
        let wrongType = try file(required + "train:\n  batch: many\n")
        XCTAssertThrowsError(try RunConfig(schema: teacherSchema, path: wrongType)) {
            XCTAssertTrue("\($0)".contains("train.batch") && "\($0)".contains("expected an integer"), "\($0)")
        }
        XCTAssertThrowsError(try RunConfig(schema: teacherSchema, path: "/no/such/config.yaml")) {
            XCTAssertTrue("\($0)".contains("/no/such/config.yaml") && "\($0)".contains("cannot read"), "\($0)")
        }
        XCTAssertThrowsError(try RunConfig(schema: teacherSchema, path: try file("data:\n  annotations: a.json\n"))) {
            XCTAssertTrue("\($0)".contains("data.features") && "\($0)".contains("required"), "\($0)")
        }
        XCTAssertThrowsError(try RunConfig(schema: teacherSchema, path: try file(required + "train: [unclosed\n"))) {
            XCTAssertTrue("\($0)".contains("invalid YAML"), "\($0)")
        }
        XCTAssertThrowsError(try RunConfig(schema: teacherSchema, path: nil, overrides: ["train.lr"])) {
            XCTAssertTrue("\($0)".contains("key=value"), "\($0)")
        }
        let badHeads = try RunConfig(schema: teacherSchema, path: try file(required + "model:\n  hidden: 30\n  heads: 4\n"))
        XCTAssertThrowsError(try teacherShape(badHeads, vocabularySize: 10, wordDimension: 4, channels: [2, 3, 4])) {
            XCTAssertTrue("\($0)".contains("model.heads"), "\($0)")
        }
        XCTAssertThrowsError(try RunSettings(badHeads, phase: "student")) { XCTAssertTrue("\($0)".contains("phase"), "\($0)") }
    }

    /// Every config the repository ships loads against its keys: training configs give a valid model,
    /// data configs a valid generator configuration.
    func testShippedConfigsLoad() throws {
        let directory = packageRoot.appendingPathComponent("configs")
        let training = ["synthetic-teacher", "synthetic-student", "synthetic-teacher-amc", "synthetic-teacher-boxes", "refcoco-teacher", "refcoco-student"]
        let data = ["synthetic-data", "synthetic-shifted"]
        let all = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertEqual(Set(all), Set((training + data + ["refcoco-extract"]).map { $0 + ".yaml" }), "every shipped config is checked here")
        for name in training {
            let (phase, config) = try loadPhaseConfig(path: directory.appendingPathComponent(name + ".yaml").path, overrides: [])
            XCTAssertEqual(phase, name.contains("student") ? "student" : "teacher", name)
            XCTAssertNoThrow(try RunSettings(config, phase: phase), name)
            if phase == "student" {
                XCTAssertNoThrow(try studentShape(config, vocabularySize: 10, wordDimension: 4, channels: [2, 3, 4]), name)
                XCTAssertTrue(config.ints("train.views").allSatisfy { $0 % 32 == 0 }, name)
            } else {
                XCTAssertNoThrow(try teacherShape(config, vocabularySize: 10, wordDimension: 4, channels: [2, 3, 4]), name)
            }
        }
        for name in data {
            let config = try RunConfig(schema: syntheticSchema, path: directory.appendingPathComponent(name + ".yaml").path)
            XCTAssertNoThrow(try syntheticConfig(config), name)
        }
    }

    func testShippedExtractionConfigLoads() throws {
        let path = packageRoot.appendingPathComponent("configs/refcoco-extract.yaml").path
        let settings = try extractionSettings(try RunConfig(schema: extractionSchema, path: path))
        XCTAssertEqual(settings.views, [320, 416, 512])
        XCTAssertNil(settings.featureLayers)
        XCTAssertEqual(settings.imagePath(9), "data/coco/train2014/COCO_train2014_000000000009.jpg")
        let student = try loadPhaseConfig(path: packageRoot.appendingPathComponent("configs/refcoco-student.yaml").path, overrides: []).config
        XCTAssertTrue(Set(student.ints("train.views")).isSubset(of: settings.views), "the student's views are extracted")
        XCTAssertThrowsError(try extractionSettings(try RunConfig(schema: extractionSchema, path: path, overrides: ["data.image_names=img%s.jpg"]))) {
            XCTAssertTrue("\($0)".contains("data.image_names"), "\($0)")
        }
    }

    func testLearningRateSchedule() {
        let s = LearningRateSchedule(base: 1e-4, warmupStart: 1e-7, final: 1e-6, warmupSteps: 30, totalSteps: 250)
        XCTAssertEqual(s.rate(at: 0), 1e-7)
        XCTAssertEqual(s.rate(at: 15), 1e-7 + (1e-4 - 1e-7) / 2, accuracy: 1e-15)
        XCTAssertEqual(s.rate(at: 30), 1e-4, accuracy: 1e-15)
        XCTAssertEqual(s.rate(at: 140), 1e-6 + (1e-4 - 1e-6) / 2, accuracy: 1e-12, "half-way down the cosine")
        XCTAssertEqual(s.rate(at: 250), 1e-6, accuracy: 1e-15)
    }
}
