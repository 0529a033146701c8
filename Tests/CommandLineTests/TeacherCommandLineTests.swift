// TeacherCommandLineTests.swift — the built `refclip` end to end on a tiny synthetic dataset:
// three teacher steps as one process, as debug thread-ranks (with their per-step checks) and under
// mpirun, each with 2 and 4 ranks — the per-step losses and the parameters after three steps must
// agree — then eval; bad input; `--keys`.

import Foundation
import TestSupport
import Training
import XCTest

final class TeacherCommandLineTests: XCTestCase {
    typealias W = RefclipWorkspace

    func testWorldSizesAgreeAndEvaluationRuns() throws {
        try W.succeed(try W.train("one", ["--set", "train.max_steps=3"]))
        let reference = try W.losses("one").map(\.loss)
        let referenceParameters = try XCTUnwrap(try W.checkpoint("one", step: 3).tensors["params"])
        XCTAssertEqual(reference.count, 3)
        for (name, ranks, debug) in [("debug2", nil, 2), ("mpi2", 2, nil), ("debug4", nil, 4), ("mpi4", 4, nil)] as [(String, Int?, Int?)] {
            try W.succeed(try W.train(name, ["--set", "train.max_steps=3"] + (debug.map { ["--debug", "--ranks", "\($0)"] } ?? [])), ranks: ranks)
            let got = try W.losses(name).map(\.loss)
            XCTAssertEqual(got.count, 3, name)
            for (a, b) in zip(got, reference) { XCTAssertEqual(a, b, accuracy: 1e-5 * b, "\(name): loss") }
            assertAllClose(try XCTUnwrap(try W.checkpoint(name, step: 3).tensors["params"]), referenceParameters, absolute: 1e-5,
                           "\(name): parameters after 3 steps")
        }
        let output = try W.succeed(["eval", "--checkpoint", "\(W.runs)/mpi2/best.refclip", "--split", "val", "--split", "testA",
                                    "--json", "\(W.root.path)/eval.json"])
        XCTAssertTrue(output.contains("| val |") && output.contains("| testA |") && output.contains("top objectness"), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(W.root.path)/eval.json"))
    }

    func testBadInputGetsAnErrorNotACrash() throws {
        var (status, output) = try W.run(try W.train("bad", ["--set", "train.lrr=1"]))
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains("train.lrr") && output.contains("did you mean train.lr?"), output)
        // --keys lists what may be set: every key of both phases with its default and help.
        (status, output) = try W.run(["train", "--keys"])
        XCTAssertEqual(status, 0, output)
        let lines = output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        XCTAssertTrue(lines.contains { $0.starts(with: ["model.selected_cells", "17", "cells", "kept"]) }, output)
        XCTAssertTrue(lines.contains { $0.starts(with: ["train.views", "416", "input", "sizes"]) }, output)
        XCTAssertEqual(lines.filter { $0.first == "train.lr" }.count, 2, "one line per phase")
        (status, output) = try W.run(try W.train("bad", ["--set", "data.features=/nonexistent"]))
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains("/nonexistent/manifest.json") && output.contains("refclip synth"), output)
        (status, output) = try W.run(["train", "--config", "/no/such.yaml"])
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains("/no/such.yaml") && output.contains("cannot read"), output)
        let broken = W.root.path + "/broken.json"
        try #"{"train": [{"iid": 0, "bbox": [1, 2, 3, 4], "cat_id": 1}]}"#.write(toFile: broken, atomically: true, encoding: .utf8)
        (status, output) = try W.run(try W.train("bad", ["--set", "data.annotations=\(broken)"]), ranks: 2)
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains(broken) && output.contains("train[0]") && output.contains("refs"), output)
        try #"{"train": [{"iid": 0, "bbox": [1000, 5, 30, 40], "cat_id": 1, "refs": ["the cube"]}]}"#.write(toFile: broken, atomically: true, encoding: .utf8)
        (status, output) = try W.run(try W.train("bad", ["--set", "data.annotations=\(broken)"]))
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains("train[0].bbox") && output.contains("outside"), output)
    }

    func testNonFiniteGradientsAreSkippedThenStopTheRun() throws {
        let (status, output) = try W.run(try W.train("nan", ["--set", "train.lr=1e30", "--set", "train.warmup_epochs=0",
                                                             "--set", "train.max_skipped_steps=2", "--set", "train.max_steps=20"]), ranks: 2)
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains("update skipped on every rank"), output)
        XCTAssertTrue(output.contains("3 consecutive steps had non-finite gradients"), output)
    }
}
