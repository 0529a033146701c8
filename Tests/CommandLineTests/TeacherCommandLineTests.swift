// TeacherCommandLineTests.swift — the built `refclip` end to end on a tiny synthetic dataset:
// synth, then three teacher steps as one process, as debug thread-ranks, and under mpirun with 2
// and 4 ranks — the per-step losses and the parameters after three steps must agree — then eval.

import Foundation
import TestSupport
import Training
import XCTest

final class TeacherCommandLineTests: XCTestCase {
    private static var workspace: URL!

    /// One tiny dataset for every test of this class.
    override class func setUp() {
        workspace = FileManager.default.temporaryDirectory.appendingPathComponent("refclip-cli-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
    }

    override class func tearDown() { try? FileManager.default.removeItem(at: workspace) }

    private var binary: String { get throws { try XCTUnwrap(refclipBinary(), "build the refclip binary first (make test does)") } }

    private func refclip(_ arguments: [String], ranks: Int? = nil) throws -> String {
        let refclip = try binary
        var (program, args) = (refclip, arguments)
        if let ranks { (program, args) = (try XCTUnwrap(mpirunPath(), "mpirun is missing"), ["-np", "\(ranks)", "--oversubscribe", refclip] + arguments) }
        let (status, output) = try runProcess(program, args, environment: mpirunEnvironment, timeout: 600)
        XCTAssertEqual(status, 0, "refclip \(arguments.joined(separator: " ")):\n\(output)")
        return output
    }

    private func dataset() throws -> String {
        let data = Self.workspace.appendingPathComponent("data").path
        if !FileManager.default.fileExists(atPath: data + "/features/manifest.json") {
            _ = try refclip(["synth", "--out", data, "--set", "images.train=24", "--set", "images.val=8", "--set", "images.testA=4",
                             "--set", "images.testB=4", "--set", "detector.channels=4,6,8", "--set", "storage.images_per_shard=8"])
        }
        return data
    }

    private func trainArguments(_ data: String, name: String) -> [String] {
        ["train", "--config", packageRoot.appendingPathComponent("configs/synthetic-teacher.yaml").path,
         "--set", "data.annotations=\(data)/annotations.json", "--set", "data.features=\(data)/features",
         "--set", "data.word_vectors=\(data)/word_vectors.txt", "--set", "output.dir=\(Self.workspace.path)/runs", "--set", "name=\(name)",
         "--set", "model.hidden=16", "--set", "model.ffn=24", "--set", "model.fusion_hidden=12", "--set", "train.batch=8",
         "--set", "train.max_steps=3", "--set", "train.log_every=1", "--set", "train.eval_batch=5", "--blas-threads", "1",
         // eps 1e-6 keeps gradients that vanish by symmetry (rounding noise) from turning into ±lr steps.
         "--set", "train.eps=1e-6"]
    }

    private func losses(_ run: String) throws -> [Double] {
        let text = try String(contentsOfFile: "\(Self.workspace.path)/runs/\(run)/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").compactMap { line -> Double? in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return object["event"] as? String == "step" ? object["loss"] as? Double : nil
        }
    }

    private func parameters(_ run: String) throws -> [Float] {
        try XCTUnwrap(try Checkpoint.read("\(Self.workspace.path)/runs/\(run)/checkpoints/step-00000003.refclip").tensors["params"])
    }

    func testWorldSizesAgreeAndEvaluationRuns() throws {
        let data = try dataset()
        _ = try refclip(trainArguments(data, name: "one"))
        let reference = try losses("one"), referenceParameters = try parameters("one")
        XCTAssertEqual(reference.count, 3)
        for (name, ranks, debug) in [("debug2", nil, 2), ("mpi2", 2, nil), ("mpi4", 4, nil)] as [(String, Int?, Int?)] {
            _ = try refclip(trainArguments(data, name: name) + (debug.map { ["--debug", "--ranks", "\($0)"] } ?? []), ranks: ranks)
            let got = try losses(name)
            XCTAssertEqual(got.count, 3, name)
            for (a, b) in zip(got, reference) { XCTAssertEqual(a, b, accuracy: 1e-5 * b, "\(name): loss") }
            assertAllClose(try parameters(name), referenceParameters, absolute: 1e-5, "\(name): parameters after 3 steps")
        }
        let output = try refclip(["eval", "--checkpoint", "\(Self.workspace.path)/runs/mpi2/best.refclip", "--split", "val", "--split", "testA",
                                  "--json", "\(Self.workspace.path)/eval.json"])
        XCTAssertTrue(output.contains("| val |") && output.contains("| testA |") && output.contains("top objectness"), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(Self.workspace.path)/eval.json"))
    }

    func testBadInputGetsAnErrorNotACrash() throws {
        let data = try dataset()
        let (status, output) = try runProcess(try binary, trainArguments(data, name: "bad") + ["--set", "train.lrr=1"])
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains("train.lrr") && output.contains("did you mean train.lr?"), output)
        let (status2, output2) = try runProcess(try binary, trainArguments(data, name: "bad") + ["--set", "data.features=/nonexistent"])
        XCTAssertEqual(status2, 2, output2)
        XCTAssertTrue(output2.contains("/nonexistent/manifest.json") && output2.contains("refclip synth"), output2)
    }
}
