// ExtractCommandLineTests.swift — `refclip extract` end to end on a tiny real-format dataset made
// here (PNG images with coloured boxes, RefCOCO-layout annotations, word vectors, the tiny Darknet
// cfg with random weights): 2 ranks under mpirun write the single-rank store byte for byte; an
// interrupted extraction redoes only its unfinished shard; a missing image is reported, not fatal;
// and a short teacher training runs on the store — also on a store of the paper's detector (the
// RefCLIP/SimREC YOLOv3 at a small width, random weights written by torch.save).

import Application
import Datasets
import Detector
import Formats
import Foundation
import Tensors
import TestSupport
import Training
import XCTest

final class ExtractCommandLineTests: XCTestCase {
    /// The dataset's directory: images/, annotations.json, word_vectors.txt, tiny.cfg, tiny.weights, extract.yaml.
    private static let dataset: URL = {
        let root = RefclipWorkspace.root.appendingPathComponent("real")
        try? FileManager.default.createDirectory(at: root.appendingPathComponent("images"), withIntermediateDirectories: true)
        return root
    }()

    private static let colours: [(name: String, rgb: [UInt8])] = [("red", [220, 30, 30]), ("green", [30, 200, 40]), ("blue", [30, 40, 220])]

    /// Seven images of alternating orientation, two coloured boxes each; image 8 is named but missing.
    private static func makeDataset() throws {
        let root = dataset.path
        guard !FileManager.default.fileExists(atPath: root + "/extract.yaml") else { return }
        var train: [AnnotationEntry] = [], val: [AnnotationEntry] = []
        for id in 1 ... 7 {
            let (width, height) = id % 2 == 0 ? (120, 90) : (80, 110)
            var pixels = [UInt8](repeating: 90, count: width * height * 3)
            for k in 0 ..< 2 {
                let colour = colours[(id + k) % 3]
                let box = [Double(8 + k * width / 2), Double(10 + k * 7), Double(width / 3), Double(height / 3)]
                for y in Int(box[1]) ..< Int(box[1] + box[3]) {
                    for x in Int(box[0]) ..< Int(box[0] + box[2]) { for c in 0 ..< 3 { pixels[(y * width + x) * 3 + c] = colour.rgb[c] } }
                }
                let entry = AnnotationEntry(iid: id, bbox: box, catID: k + 1, refs: ["the \(colour.name) box", "\(colour.name) one"], maskID: id * 10 + k)
                if id <= 5 { train.append(entry) } else { val.append(AnnotationEntry(iid: id, bbox: box, catID: k + 1, refs: [entry.refs[0]], maskID: entry.maskID)) }
            }
            try Data(try RGBImage(width: width, height: height, pixels: pixels).pngData()).write(to: URL(fileURLWithPath: "\(root)/images/\(id).png"))
        }
        train.append(AnnotationEntry(iid: 8, bbox: [1, 1, 5, 5], catID: 1, refs: ["the lost box"], maskID: 80))
        try Annotations(splits: ["train": train, "val": val]).write(to: root + "/annotations.json")
        let words = ["the", "red", "green", "blue", "box", "one", "lost"]
        try words.enumerated().map { i, w in w + " " + (0 ..< 6).map { String(Float((i * 7 + $0) % 5) * 0.1 - 0.2) }.joined(separator: " ") }
            .joined(separator: "\n").write(toFile: root + "/word_vectors.txt", atomically: true, encoding: .utf8)
        try tinyDarknetConfigText.write(toFile: root + "/tiny.cfg", atomically: true, encoding: .utf8)
        let config = try DarknetConfig(text: tinyDarknetConfigText, source: "tiny.cfg")
        try Data(try randomDarknetWeights(config, seed: 11).encoded()).write(to: URL(fileURLWithPath: root + "/tiny.weights"))
        try """
        detector:
          cfg: \(root)/tiny.cfg
          weights: \(root)/tiny.weights
        data:
          annotations: \(root)/annotations.json
          images: \(root)/images
          image_names: "%d.png"
        output:
          features: \(root)/features
          views: [64, 96]
          dtype: f32
          images_per_shard: 2
        """.write(toFile: root + "/extract.yaml", atomically: true, encoding: .utf8)
    }

    private func extract(into directory: String, ranks: Int? = nil) throws -> String {
        try Self.makeDataset()
        return try RefclipWorkspace.succeed(["extract", "--config", Self.dataset.path + "/extract.yaml", "--set", "output.features=\(directory)",
                                             "--blas-threads", "1"], ranks: ranks)
    }

    /// Every file of a directory and its bytes.
    private func contents(_ directory: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        }
        return files
    }

    /// Trains a small teacher on `store` as run `name`; its output and best checkpoint.
    private func trainTeacher(on store: String, name: String) throws -> (output: String, checkpoint: String) {
        let root = Self.dataset.path
        let output = try RefclipWorkspace.succeed([
            "train", "--config", packageRoot.appendingPathComponent("configs/synthetic-teacher.yaml").path,
            "--set", "data.annotations=\(root)/annotations.json", "--set", "data.features=\(store)",
            "--set", "data.word_vectors=\(root)/word_vectors.txt", "--set", "data.view=96", "--set", "output.dir=\(RefclipWorkspace.runs)",
            "--set", "name=\(name)", "--set", "model.hidden=16", "--set", "model.ffn=24", "--set", "model.fusion_hidden=12",
            "--set", "model.selected_cells=4", "--set", "train.batch=4", "--set", "train.epochs=2", "--set", "train.eval_batch=3",
            "--set", "train.eval_splits=val", "--blas-threads", "1",
        ])
        return (output, RefclipWorkspace.runs + "/\(name)/best.refclip")
    }

    /// `ground` on image 6's file prints the box the model gives on the stored features of that image.
    private func assertGroundingMatchesTheStore(checkpoint: String, store directory: String, extra: [String] = [],
                                                file: StaticString = #filePath, line: UInt = #line) throws {
        let grounded = try RefclipWorkspace.succeed(["ground", "--checkpoint", checkpoint, "--image", Self.dataset.path + "/images/6.png",
                                                     "--text", "the green box!"] + extra)
        let printed = try XCTUnwrap(grounded.split(separator: "\n").first { $0.contains("in image pixels") }, grounded, file: file, line: line)
        let numbers = printed.split(separator: ":").last!.split(separator: " ").compactMap { Double($0) }
        let store = try FeatureStore(directory: directory)
        let image = try XCTUnwrap(store.index(ofImage: 6), file: file, line: line)
        let choice = try SingleImageGrounder(checkpoint: checkpoint).ground(try store.read(image: image, view: try store.viewIndex(96)), expression: "the green box!")
        let expected = Letterbox(originalWidth: 120, originalHeight: 90, size: 96).toOriginal(box: choice.box.map(Double.init))
        XCTAssertEqual(numbers.count, 4, grounded, file: file, line: line)
        for (a, b) in zip(numbers, expected) { XCTAssertEqual(a, b, accuracy: 0.051, grounded, file: file, line: line) }
    }

    func testTwoRanksWriteTheSingleRankStoreByteForByte() throws {
        let single = Self.dataset.path + "/store-1", double = Self.dataset.path + "/store-2"
        let output = try extract(into: single)
        XCTAssertTrue(output.contains("skipping image 8") && output.contains("/8.png"), output)
        XCTAssertTrue(output.contains("1 images unavailable"), output)
        _ = try extract(into: double, ranks: 2)
        let (a, b) = (try contents(single), try contents(double))
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        XCTAssertEqual(a.keys.filter { $0.hasSuffix(".bin") }.count, 4, "7 images, 2 per shard")
        for (name, bytes) in a { XCTAssertEqual(bytes, b[name], name) }

        let store = try FeatureStore(directory: single)
        XCTAssertEqual(store.manifest.layout, FeatureLayout(channels: [32, 20, 24], anchorsPerCell: 3))
        XCTAssertEqual(store.manifest.images.map(\.id), Array(1 ... 7))
        XCTAssertEqual(store.manifest.images[1], ImageInfo(id: 2, width: 120, height: 90))
        XCTAssertEqual(store.manifest.unavailableImages, [8])
        guard case .extraction(let record) = store.manifest.producer, case let .darknet(cfg, weights, layers) = record.detector else {
            return XCTFail("not a Darknet extraction: \(store.manifest.producer)")
        }
        XCTAssertEqual(cfg.sha256, try Checksum.sha256Hex(file: cfg.path))
        XCTAssertEqual(weights.sha256, try Checksum.sha256Hex(file: weights.path))
        XCTAssertNil(layers, "the heads chose the feature layers")

        // The stored record is the detector's output on the letterboxed image. This process may run
        // another BLAS kernel or thread count than the refclip that wrote it: equal within rounding.
        let network = try DarknetNetwork(cfg: Self.dataset.path + "/tiny.cfg", weights: Self.dataset.path + "/tiny.weights")
        let image = try RGBImage(contentsOf: Self.dataset.path + "/images/2.png")
        let input = Tensor()
        letterboxInput(image, Letterbox(originalWidth: 120, originalHeight: 90, size: 96), normalization: .unitRange, into: input)
        network.forward(input)
        let (stored, computed) = (try store.read(image: 1, view: try store.viewIndex(96)), network.record(inputSize: 96))
        XCTAssertEqual(stored.maps.count, computed.maps.count)
        for (scale, (a, b)) in zip(stored.maps, computed.maps).enumerated() { assertClose(a, b, relative: 1e-5, "stored map \(scale)") }
        assertClose(stored.boxes, computed.boxes, relative: 1e-5, "stored anchors")
    }

    func testATeacherTrainsOnAStoreOfThePapersDetector() throws {
        try Self.makeDataset()
        let root = Self.dataset.path, detector = Self.dataset.path + "/paper-detector"
        let python = try XCTUnwrap(ProcessInfo.processInfo.environment["REFCLIP_PYTHON"], "make test sets REFCLIP_PYTHON (a Python with torch)")
        let made = try runProcess(python, [packageRoot.appendingPathComponent("Tests/Python/refclip_yolov3.py").path, "fixture", "--out", detector,
                                           "--width", "8", "--classes", "3", "--size", "96"])
        XCTAssertEqual(made.status, 0, made.output)
        let imported = try RefclipWorkspace.succeed(["import-detector", detector + "/detector.pth", "--out", detector + "/detector.safetensors"])
        XCTAssertTrue(imported.contains("3 classes; maps of 64, 128, 256 channels"), imported)
        try """
        detector:
          kind: refclip-yolov3
          weights: \(detector)/detector.safetensors
        data:
          annotations: \(root)/annotations.json
          images: \(root)/images
          image_names: "%d.png"
        output:
          features: \(root)/store-paper
          views: [96]
          dtype: f32
          images_per_shard: 3
        """.write(toFile: root + "/extract-paper.yaml", atomically: true, encoding: .utf8)
        try RefclipWorkspace.succeed(["extract", "--config", root + "/extract-paper.yaml", "--blas-threads", "1"], ranks: 2)
        let store = try FeatureStore(directory: root + "/store-paper")
        XCTAssertEqual(store.manifest.layout, FeatureLayout(channels: [64, 128, 256], anchorsPerCell: 4))
        guard case .extraction(let record) = store.manifest.producer, case .refclipYOLOv3(let weights) = record.detector else {
            return XCTFail("not an extraction by the paper's detector: \(store.manifest.producer)")
        }
        XCTAssertEqual(weights.sha256, try Checksum.sha256Hex(file: detector + "/detector.safetensors"))
        XCTAssertEqual(record.normalization, "imagenet")

        // The stored record is the detector's output on the letterboxed image, normalized as the reference does.
        let network = try RefCLIPYOLOv3(weights: try DetectorSource.stateDict(detector + "/detector.pth"))  // the .pth read directly
        let input = Tensor()
        letterboxInput(try RGBImage(contentsOf: root + "/images/2.png"), Letterbox(originalWidth: 120, originalHeight: 90, size: 96),
                       normalization: .imageNet, into: input)
        network.forward(input)
        let (stored, computed) = (try store.read(image: 1, view: 0), network.record(inputSize: 96))
        for (scale, (a, b)) in zip(stored.maps, computed.maps).enumerated() { assertClose(a, b, relative: 1e-5, "stored map \(scale)") }
        assertClose(stored.boxes, computed.boxes, relative: 1e-5, "stored anchors")

        let (output, checkpoint) = try trainTeacher(on: root + "/store-paper", name: "paper-detector-teacher")
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint), output)
        // `ground` runs the detector the store names on the image file.
        try assertGroundingMatchesTheStore(checkpoint: checkpoint, store: root + "/store-paper")
        try assertTheReportEmbedsTheImageFiles(run: "paper-detector-teacher")
    }

    /// The report draws its predictions over the image files themselves, embedded byte for byte.
    private func assertTheReportEmbedsTheImageFiles(run: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let root = Self.dataset.path, page = root + "/report-\(run).html"
        try RefclipWorkspace.succeed(["report", RefclipWorkspace.runs + "/" + run, "--out", page, "--samples", "3"])
        let html = try String(contentsOfFile: page, encoding: .utf8)
        let embedded = html.components(separatedBy: "data:image/png;base64,").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        XCTAssertEqual(embedded.count, 3, "\(run): one image per sample", file: file, line: line)
        let files = try FileManager.default.contentsOfDirectory(atPath: root + "/images").map { try Data(contentsOf: URL(fileURLWithPath: root + "/images/" + $0)) }
        for payload in embedded {
            XCTAssertTrue(files.contains(try XCTUnwrap(Data(base64Encoded: payload))), "\(run): an embedded image is one of the files", file: file, line: line)
        }
    }

    func testAnInterruptedExtractionRedoesOnlyItsUnfinishedShard() throws {
        let directory = Self.dataset.path + "/store-resumed"
        _ = try extract(into: directory)
        let complete = try contents(directory)
        // An interruption inside shard 2: its data may be written, its index (written last) is not.
        try FileManager.default.removeItem(atPath: directory + "/shard-00002.index.json")
        try FileManager.default.removeItem(atPath: directory + "/manifest.json")
        let before = try FileManager.default.attributesOfItem(atPath: directory + "/shard-00000.bin")[.modificationDate] as? Date
        Thread.sleep(forTimeInterval: 0.01)
        let output = try extract(into: directory)
        XCTAssertTrue(output.contains("1 shards written, 3 already complete"), output)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: directory + "/shard-00000.bin")[.modificationDate] as? Date, before)
        XCTAssertEqual(try contents(directory), complete)

        // A different extraction into the same directory is refused, not mixed in.
        let (status, refusal) = try RefclipWorkspace.run(["extract", "--config", Self.dataset.path + "/extract.yaml",
                                                          "--set", "output.features=\(directory)", "--set", "output.views=64"])
        XCTAssertEqual(status, 2, refusal)
        XCTAssertTrue(refusal.contains("different extraction") && refusal.contains("plan.json"), refusal)
    }

    func testATeacherTrainsOnTheExtractedStore() throws {
        let directory = Self.dataset.path + "/store-train"
        _ = try extract(into: directory)
        let root = Self.dataset.path
        let (output, checkpoint) = try trainTeacher(on: directory, name: "real-teacher")
        XCTAssertTrue(output.contains("1 annotation entries skipped"), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint), output)

        let svg = root + "/ground.svg"
        try assertGroundingMatchesTheStore(checkpoint: checkpoint, store: directory, extra: ["--out", svg])
        let drawing = try String(contentsOfFile: svg, encoding: .utf8)
        XCTAssertTrue(drawing.hasPrefix("<svg") && drawing.contains("data:image/png;base64,") && drawing.contains("<rect"), drawing)
        XCTAssertTrue(drawing.contains("the green box!"))

        let (status, refusal) = try RefclipWorkspace.run(["ground", "--checkpoint", checkpoint, "--image", root + "/images/8.png", "--text", "x"])
        XCTAssertEqual(status, 2)
        XCTAssertTrue(refusal.contains("8.png"), refusal)

        try assertTheReportEmbedsTheImageFiles(run: "real-teacher")
    }
}
