// RefclipWorkspace.swift — runs the built `refclip` on a tiny synthetic dataset made once per test
// process, with a small teacher that trains a step in milliseconds.

import Foundation
import TestSupport
import Training
import XCTest

enum RefclipWorkspace {
    static let root: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("refclip-cli-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static var runs: String { root.path + "/runs" }

    static func binary() throws -> String { try XCTUnwrap(refclipBinary(), "build the refclip binary first (make test does)") }

    /// Runs refclip (under mpirun when `ranks` is given) with `environment` added; returns status and output.
    static func run(_ arguments: [String], ranks: Int? = nil, environment: [String: String] = [:],
                    timeout: TimeInterval = 600) throws -> (status: Int32, output: String) {
        let refclip = try binary()
        let environment = mpirunEnvironment.merging(environment) { $1 }
        if let ranks {
            let mpirun = try XCTUnwrap(mpirunPath(), "mpirun is missing: make deps installs openmpi-bin")
            return try runProcess(mpirun, ["-np", "\(ranks)", "--oversubscribe", refclip] + arguments, environment: environment, timeout: timeout)
        }
        return try runProcess(refclip, arguments, environment: environment, timeout: timeout)
    }

    /// Runs refclip and fails the test unless it succeeds.
    @discardableResult
    static func succeed(_ arguments: [String], ranks: Int? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let (status, output) = try run(arguments, ranks: ranks)
        XCTAssertEqual(status, 0, "refclip \(arguments.joined(separator: " ")):\n\(output)", file: file, line: line)
        return output
    }

    /// The tiny dataset (made on first use); another `name` and `seed` make another of the same shape.
    static func dataset(named name: String = "data", seed: Int = 1) throws -> String {
        let data = root.path + "/" + name
        if !FileManager.default.fileExists(atPath: data + "/features/manifest.json") {
            try succeed(["synth", "--out", data, "--set", "seed=\(seed)", "--set", "images.train=24", "--set", "images.val=8", "--set", "images.testA=4",
                         "--set", "images.testB=4", "--set", "detector.channels=4,6,8", "--set", "storage.images_per_shard=8", "--set", "detector.views=320,416"])
        }
        return data
    }

    /// `refclip train` of the tiny student on `annotations` as run `name`, plus `extra` arguments.
    static func student(_ name: String, annotations: String, _ extra: [String] = []) throws -> [String] {
        let data = try dataset()
        return ["train", "--config", packageRoot.appendingPathComponent("configs/synthetic-student.yaml").path,
                "--set", "data.annotations=\(annotations)", "--set", "data.features=\(data)/features",
                "--set", "data.word_vectors=\(data)/word_vectors.txt", "--set", "output.dir=\(runs)", "--set", "name=\(name)",
                "--set", "model.hidden=16", "--set", "model.ffn=24", "--set", "model.fusion_hidden=12", "--set", "train.batch=8",
                "--set", "train.log_every=1", "--set", "train.eval_batch=5", "--set", "train.views=416", "--blas-threads", "1"] + extra
    }

    /// `refclip train` of the tiny teacher as run `name`, plus `extra` arguments.
    static func train(_ name: String, _ extra: [String] = []) throws -> [String] {
        let data = try dataset()
        return ["train", "--config", packageRoot.appendingPathComponent("configs/synthetic-teacher.yaml").path,
                "--set", "data.annotations=\(data)/annotations.json", "--set", "data.features=\(data)/features",
                "--set", "data.word_vectors=\(data)/word_vectors.txt", "--set", "output.dir=\(runs)", "--set", "name=\(name)",
                "--set", "model.hidden=16", "--set", "model.ffn=24", "--set", "model.fusion_hidden=12", "--set", "train.batch=8",
                "--set", "train.log_every=1", "--set", "train.eval_batch=5", "--blas-threads", "1",
                // eps 1e-6 keeps gradients that vanish by symmetry (rounding noise) from turning into ±lr steps.
                "--set", "train.eps=1e-6"] + extra
    }

    /// Per-step losses of a run's metrics.jsonl, in file order, with their step numbers.
    static func losses(_ name: String) throws -> [(step: Int, loss: Double)] {
        let text = (try? String(contentsOfFile: "\(runs)/\(name)/metrics.jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["event"] as? String == "step", let step = object["step"] as? Int, let loss = object["loss"] as? Double else { return nil }
            return (step, loss)
        }
    }

    /// A checkpoint of a run's directory.
    static func checkpoint(_ name: String, step: Int) throws -> Checkpoint {
        try Checkpoint.read(String(format: "%@/%@/checkpoints/step-%08d.refclip", runs, name, step))
    }

    /// The steps of a run's indexed (complete) checkpoints.
    static func indexedSteps(_ name: String) throws -> [Int] {
        try CheckpointDirectory(run: "\(runs)/\(name)").entries().map(\.step)
    }
}
