// ConfigurationTests.swift — configs decode into typed documents with defaults and overrides; unknown
// keys, wrong types, missing keys and files are refused naming the file (or --set) and the key; every
// shipped config loads and every key it gives is decoded, none ignored; configs saved by earlier
// versions (checkpoint headers) still load.

import Configuration
import Datasets
import Foundation
import Tensors
import TestSupport
import Training
import XCTest
import Yams

final class ConfigurationTests: XCTestCase {
    private func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID()).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private let required = "data:\n  annotations: a.json\n  features: f\n  word_vectors: w.txt\n"

    func testDefaultsFileAndOverrides() throws {
        let path = try file(required + "train:\n  lr: 3.0e-4\n  eval_splits: [val, testA]\nmodel:\n  hidden: 32\n  heads: 4\n")
        let loaded = try TeacherConfig.load(path: path, overrides: ["train.batch=16", "model.upsampling=bilinear"])
        let config = loaded.value
        XCTAssertEqual(config.train.lr, 3e-4)
        XCTAssertEqual(config.train.batch, 16)
        XCTAssertEqual(config.train.epochs, 25, "defaults are the reference recipe")
        XCTAssertEqual(config.train.evalSplits, ["val", "testA"])
        XCTAssertEqual(config.model.upsampling, .bilinear)
        XCTAssertEqual(config.model.layers, 3, "the teacher's default")
        XCTAssertEqual(config.model.extras.selectedCells, 17)
        XCTAssertEqual(try TeacherConfig.load(yaml: try loaded.yaml()).value, config, "the saved YAML loads back to the same document")
        XCTAssertEqual(loaded.differences(from: try TeacherConfig.load(path: path).value), ["model.upsampling", "train.batch"])
        let student = try StudentConfig.load(path: path, overrides: ["phase=student", "train.views=320,416"])
        XCTAssertEqual(student.value.train.extras.views, [320, 416], "a list from --set a,b")
        XCTAssertEqual(student.value.model.layers, 1, "the student's default")
        XCTAssertEqual(try StudentConfig.load(yaml: try student.yaml()).value, student.value, "also with the phase's own keys")
        XCTAssertTrue(loaded.table().contains("train.lr"))
        let shape = config.shape(vocabularySize: 10, wordDimension: 4, channels: [2, 3, 4])
        XCTAssertEqual(shape.fusion.channels26, 3)
        XCTAssertEqual(shape.language.hidden, 32)
        guard case .student(let byPhase) = try TrainingConfiguration.load(path: path, overrides: ["phase=student"]) else {
            return XCTFail("--set phase=student loads the student's document")
        }
        XCTAssertEqual(byPhase.value.train.extras.views, [416])
    }

    func testErrorsNameTheFileAndTheKey() throws {
        func refused<D: ConfigDocument>(_ type: D.Type, _ path: String?, _ overrides: [String] = [], mentioning parts: [String],
                                        line: UInt = #line) {
            XCTAssertThrowsError(try D.load(path: path, overrides: overrides), line: line) { error in
                for part in parts { XCTAssertTrue("\(error)".contains(part), "\(error) lacks \(part)", line: line) }
                XCTAssertTrue(error is InputError, "\(error)", line: line)
            }
        }
        let unknown = try file(required + "train:\n  lrr: 1\n")
        refused(TeacherConfig.self, unknown, mentioning: [unknown, "train.lrr", "did you mean train.lr?"])
        refused(TeacherConfig.self, try file(required), ["train.views=320"], mentioning: ["--set", "train.views", "unknown key"])
        let wrongType = try file(required + "train:\n  batch: many\n")
        refused(TeacherConfig.self, wrongType, mentioning: [wrongType, "train.batch", "expected an integer, found 'many'", "global batch size"])
        refused(TeacherConfig.self, try file(required), ["train.lr=fast"], mentioning: ["--set", "train.lr", "expected a number"])
        refused(TeacherConfig.self, try file(required), ["model.upsampling=cubic"], mentioning: ["model.upsampling", "cubic"])
        refused(TeacherConfig.self, "/no/such/config.yaml", mentioning: ["/no/such/config.yaml", "cannot read"])
        refused(TeacherConfig.self, try file("data:\n  annotations: a.json\n"), mentioning: ["data.features", "required"])
        refused(TeacherConfig.self, try file(required + "train: [unclosed\n"), mentioning: ["invalid YAML"])
        refused(TeacherConfig.self, try file("- a\n- b\n"), mentioning: ["top level must be a mapping"])
        refused(TeacherConfig.self, nil, ["train.lr"], mentioning: ["key=value"])
        refused(TeacherConfig.self, try file(required + "model:\n  hidden: 30\n  heads: 4\n"), mentioning: ["model.heads", "must divide model.hidden"])
        refused(StudentConfig.self, try file(required), ["phase=student", "data.max_tokens=5000"], mentioning: ["data.max_tokens", "at most 1024"])
        refused(StudentConfig.self, try file(required + "phase: teacher\n"), mentioning: ["phase", "expected 'student', the config says 'teacher'"])
        refused(StudentConfig.self, try file(required + "phase: student\ntrain:\n  views: [320, 400]\n"), mentioning: ["train.views", "400"])
        refused(SyntheticDataConfig.self, nil, ["storage.dtype=f64"], mentioning: ["storage.dtype", "f64", "f16 or f32"])
        XCTAssertThrowsError(try TrainingConfiguration.load(path: try file(required + "phase: critic\n"))) {
            XCTAssertTrue("\($0)".contains("unknown phase 'critic'"), "\($0)")
        }
    }

    /// Every config the repository ships loads as its document, and every key it gives is decoded:
    /// the resolved document holds the file's value for each of the file's keys.
    func testShippedConfigsLoadAndEveryKeyIsDecoded() throws {
        let directory = packageRoot.appendingPathComponent("configs")
        let training = ["synthetic-teacher", "synthetic-student", "synthetic-student-mix", "synthetic-teacher-amc", "synthetic-teacher-boxes",
                        "refcoco-teacher", "refcoco-student"]
        let data = ["synthetic-data", "synthetic-shifted", "synthetic-extra"]
        let all = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertEqual(Set(all), Set((training + data + ["refcoco-extract", "refcoco-extract-paper"]).map { $0 + ".yaml" }), "every shipped config is checked here")
        func path(_ name: String) -> String { directory.appendingPathComponent(name + ".yaml").path }
        for name in training {
            let config = try TrainingConfiguration.load(path: path(name))
            XCTAssertEqual(config.phase, name.contains("student") ? .student : .teacher, name)
            try assertEveryKeyDecoded(file: path(name), resolved: try config.yaml())
        }
        for name in data { try assertEveryKeyDecoded(file: path(name), resolved: try SyntheticDataConfig.load(path: path(name)).yaml()) }
        let extraction = try ExtractionConfig.load(path: path("refcoco-extract"))
        try assertEveryKeyDecoded(file: path("refcoco-extract"), resolved: try extraction.yaml())
        let settings = try extraction.value.settings(source: nil)
        XCTAssertEqual(settings.views, [320, 416, 512])
        XCTAssertEqual(settings.detector, .darknet(cfg: "data/darknet/yolov3.cfg", weights: "data/darknet/yolov3.weights", featureLayers: nil))
        XCTAssertEqual(settings.normalization, .unitRange)
        let paper = try ExtractionConfig.load(path: path("refcoco-extract-paper"))
        try assertEveryKeyDecoded(file: path("refcoco-extract-paper"), resolved: try paper.yaml())
        let paperSettings = try paper.value.settings(source: nil)
        XCTAssertEqual(paperSettings.detector, .refclipYOLOv3(weights: "data/refclip-detector/yolov3_coco.safetensors"))
        XCTAssertEqual(paperSettings.normalization, .imageNet)
        XCTAssertEqual(paperSettings.views, settings.views)
        XCTAssertThrowsError(try ExtractionConfig.load(path: path("refcoco-extract-paper"), overrides: ["detector.cfg=x.cfg"])) {
            XCTAssertTrue("\($0)".contains("detector.cfg") && "\($0)".contains("refclip-yolov3"), "\($0)")
        }
        XCTAssertThrowsError(try ExtractionConfig.load(path: path("refcoco-extract"), overrides: ["detector.kind=yolov5"])) {
            XCTAssertTrue("\($0)".contains("detector.kind") && "\($0)".contains("yolov5"), "\($0)")
        }
        XCTAssertEqual(settings.imagePath(9), "data/coco/train2014/COCO_train2014_000000000009.jpg")
        guard case .student(let student) = try TrainingConfiguration.load(path: path("refcoco-student")) else { return XCTFail("refcoco-student") }
        XCTAssertTrue(Set(student.value.train.extras.views).isSubset(of: settings.views), "the student's views are extracted")
        XCTAssertThrowsError(try ExtractionConfig.load(path: path("refcoco-extract"), overrides: ["data.image_names=img%s.jpg"])) {
            XCTAssertTrue("\($0)".contains("data.image_names"), "\($0)")
        }
    }

    /// The synthetic boxes mixed into the student's training (configs/synthetic-extra.yaml) come from
    /// another seed and scene distribution than the training set and the shifted evaluation set, and
    /// none of its training scenes is an evaluation scene of either.
    func testTheMixedSyntheticSetSharesNoSceneWithAnEvaluationSet() throws {
        func generator(_ name: String) throws -> SyntheticConfig {
            try SyntheticDataConfig.load(path: packageRoot.appendingPathComponent("configs/\(name).yaml").path).value.generator
        }
        let (training, shifted, extra) = (try generator("synthetic-data"), try generator("synthetic-shifted"), try generator("synthetic-extra"))
        XCTAssertEqual(Set([training.seed, shifted.seed, extra.seed]).count, 3, "three seeds")
        XCTAssertEqual(Set([training.categoryWeights, shifted.categoryWeights, extra.categoryWeights]).count, 3, "three category mixes")
        XCTAssertEqual(Set([training.colourWeights, shifted.colourWeights, extra.colourWeights]).count, 3, "three colour mixes")
        XCTAssertEqual([training.detectorSeed, shifted.detectorSeed], [extra.detectorSeed, extra.detectorSeed], "one simulated detector")
        XCTAssertEqual(extra.valImages + extra.testAImages + extra.testBImages, 0, "the mixed set is training data only")
        /// A scene's layout: image size and every object's category, colour and box.
        func layouts(_ config: SyntheticConfig, splits: [String]) -> Set<String> {
            Set(config.splits.filter { splits.contains($0.name) }.flatMap { split in
                (0 ..< split.images).map { index in
                    let scene = Scene.generate(id: index, split: split.name, index: index, config: config)
                    return "\(scene.width)x\(scene.height):" + scene.objects.map { "\($0.category),\($0.colour),\($0.box.map { Int($0.rounded()) })" }.joined(separator: ";")
                }
            })
        }
        let mixed = layouts(extra, splits: ["train"])
        XCTAssertEqual(mixed.count, extra.trainImages, "every training scene of the mixed set is its own")
        for (name, config) in [("synthetic-data", training), ("synthetic-shifted", shifted)] {
            let evaluation = layouts(config, splits: ["val", "testA", "testB"])
            XCTAssertFalse(evaluation.isEmpty, name)
            XCTAssertTrue(mixed.isDisjoint(with: evaluation), "\(name): \(mixed.intersection(evaluation).count) evaluation scenes in the mixed training set")
        }
    }

    /// Each leaf of `file` appears in `resolved` with the same value (numbers compared as numbers).
    private func assertEveryKeyDecoded(file: String, resolved: String, line: UInt = #line) throws {
        func leaves(_ node: Node, _ prefix: String = "") -> [String: Node] {
            guard case .mapping(let mapping) = node else { return [prefix: node] }
            var out: [String: Node] = [:]
            for (key, value) in mapping { out.merge(leaves(value, prefix.isEmpty ? key.string! : prefix + "." + key.string!)) { $1 } }
            return out
        }
        func values(_ node: Node) -> [String] {
            switch node {
            case .sequence(let items): return items.flatMap(values)
            case .mapping(let pairs): return pairs.flatMap { key, value in values(value).map { "\(key.string ?? "")=\($0)" } }
            default:
                let text = node.string ?? ""
                return [Double(text).map { "\($0)" } ?? text]
            }
        }
        let given = leaves(try XCTUnwrap(try Yams.compose(yaml: try String(contentsOfFile: file, encoding: .utf8))))
        let decoded = leaves(try XCTUnwrap(try Yams.compose(yaml: resolved)))
        for (key, node) in given {
            XCTAssertEqual(decoded[key].map(values), values(node), "\(file): \(key)", line: line)
        }
    }

    /// A config as refclip wrote it into checkpoints before the typed configuration (quoted strings,
    /// lists as "a,b" text or flow sequences) loads to the document it described.
    func testConfigsSavedByEarlierVersionsLoad() throws {
        let earlier = """
            phase: "student"
            name: "old-student"
            data:
              annotations: "runs/t/pseudo-labels.json"
              features: "data/synthetic/features"
              word_vectors: "data/synthetic/word_vectors.txt"
              view: 416
              max_tokens: 15
            train:
              batch: 32
              lr: 0.002
              eval_splits: "val,testA"
              views: [320,416]
              init_from: ""
            model:
              upsampling: "nearest"
              box_weight: 5.0
            runtime:
              debug_checks: false
            output:
              dir: "runs"

            """
        let config = try TrainingConfiguration.load(yaml: earlier, source: "old.refclip")
        guard case .student(let loaded) = config else { return XCTFail("a student") }
        XCTAssertEqual(loaded.value.name, "old-student")
        XCTAssertEqual(loaded.value.train.evalSplits, ["val", "testA"])
        XCTAssertEqual(loaded.value.train.extras.views, [320, 416])
        XCTAssertEqual(loaded.value.train.lr, 0.002)
        XCTAssertEqual(loaded.value.train.initFrom, "")
        XCTAssertEqual(loaded.value.model.extras.boxWeight, 5)
        XCTAssertEqual(config.runDirectory, "runs/old-student")
        XCTAssertEqual(try config.changedKeys(from: earlier), [], "the earlier text and the resolved document agree")
        XCTAssertEqual(try config.changedKeys(from: earlier.replacingOccurrences(of: "lr: 0.002", with: "lr: 0.003")), ["train.lr"])
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

/// Every key of every document has a line of help, and every line of help belongs to a key: a key
/// renamed or added without its help fails here.
final class ConfigurationHelpTests: XCTestCase {
    private func assertHelpCoversTheKeys<Document: ConfigDocument>(_ type: Document.Type, file: StaticString = #filePath, line: UInt = #line) {
        let keys = Set(Document.keys), documented = Set(Document.help.keys)
        XCTAssertFalse(keys.isEmpty, file: file, line: line)
        XCTAssertEqual(keys.subtracting(documented).sorted(), [], "\(Document.self): keys without help", file: file, line: line)
        XCTAssertEqual(documented.subtracting(keys).sorted(), [], "\(Document.self): help for keys that do not exist", file: file, line: line)
    }

    func testEveryKeyHasHelpAndEveryHelpAKey() {
        assertHelpCoversTheKeys(TeacherConfig.self)
        assertHelpCoversTheKeys(StudentConfig.self)
        assertHelpCoversTheKeys(ExtractionConfig.self)
        assertHelpCoversTheKeys(SyntheticDataConfig.self)
    }
}
