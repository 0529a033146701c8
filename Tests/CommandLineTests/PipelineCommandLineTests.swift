// PipelineCommandLineTests.swift — the whole method through the binary on the tiny dataset: teacher,
// pseudo-labels, student, and both evaluated side by side; evaluation after every step on 2 ranks
// (debug threads and mpirun), where decisions taken from evaluations must agree across ranks.

import Formats
import Foundation
import Tensors
import TestSupport
import Training
import XCTest

final class PipelineCommandLineTests: XCTestCase {
    typealias W = RefclipWorkspace

    func testTeacherPseudoLabelsStudentAndSideBySideEvaluation() throws {
        let data = try W.dataset()
        let everyStep = ["--set", "train.eval_every=1", "--set", "train.max_steps=5"]
        try W.succeed(try W.train("pipeline-teacher", everyStep + ["--debug", "--ranks", "2"]))
        try W.succeed(try W.train("pipeline-teacher-mpi", everyStep), ranks: 2)
        let labels = W.root.path + "/pseudo-labels.json"
        let output = try W.succeed(["pseudo-label", "--checkpoint", "\(W.runs)/pipeline-teacher/best.refclip", "--out", labels], ranks: 2)
        XCTAssertTrue(output.contains("training expressions labelled"), output)
        let annotations = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: labels))) as! [String: Any]
        let info = try XCTUnwrap(annotations["info"] as? [String: String])
        XCTAssertEqual(info["teacher_sha256"], try Checksum.sha256Hex(file: "\(W.runs)/pipeline-teacher/best.refclip"))
        XCTAssertNotNil(Double(info["pseudo_label_accuracy"] ?? ""))
        let confidences = (annotations["train"] as! [[String: Any]]).compactMap { $0["confidence"] as? Double }
        XCTAssertEqual(confidences.count, (annotations["train"] as! [[String: Any]]).count, "every pseudo-label carries the teacher's confidence")
        XCTAssertTrue(confidences.allSatisfy { $0 > 0 && $0 <= 1 }, "\(confidences.prefix(5))")
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: data + "/annotations.json"))) as! [String: Any]
        let expressions = (original["train"] as! [[String: Any]]).reduce(0) { $0 + ($1["refs"] as! [String]).count }
        XCTAssertEqual((annotations["train"] as! [[String: Any]]).count, expressions, "one entry per training expression")
        XCTAssertEqual((annotations["val"] as! [[String: Any]]).count, (original["val"] as! [[String: Any]]).count, "evaluation splits are copied")

        try W.succeed(try W.student("pipeline-student", annotations: labels, everyStep + ["--debug", "--ranks", "2"]))
        try W.succeed(try W.student("pipeline-student-mpi", annotations: labels, everyStep), ranks: 2)
        let table = try W.succeed(["eval", "--checkpoint", "\(W.runs)/pipeline-teacher/best.refclip",
                                   "--checkpoint", "\(W.runs)/pipeline-student/best.refclip", "--split", "val", "--pseudo-labels", labels, "--paired"])
        XCTAssertTrue(table.contains("| teacher ") && table.contains("| student ") && table.contains("(EMA, step") && table.contains("pseudo-labels"), table)
        // The paired row's difference is the two accuracies' difference, over the same items.
        let rows = table.split(separator: "\n").map { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } }
        let accuracies = try XCTUnwrap(rows.first { $0.first == "val" && $0.count > 6 && !$0[1].hasPrefix("student") })
        let paired = try XCTUnwrap(rows.first { $0.first == "val" && $0.count > 1 && $0[1].hasPrefix("student") }, table)
        XCTAssertEqual(paired[2], accuracies[1], "items compared")
        XCTAssertEqual(Double(paired[5])!, Double(accuracies[4])! - Double(accuracies[2])!, accuracy: 0.011, table)
        XCTAssertEqual(Double(paired[5])!, 100 * (Double(paired[3])! - Double(paired[4])!) / Double(paired[2])!, accuracy: 0.006, table)
        let (status, refusal) = try W.run(["eval", "--checkpoint", "\(W.runs)/pipeline-teacher/best.refclip", "--paired"])
        XCTAssertEqual(status, 64, refusal)
        XCTAssertTrue(refusal.contains("two or more"), refusal)
    }
}

extension PipelineCommandLineTests {
    func testStudentAverageFollowsItsRecurrenceAndSurvivesResume() throws {
        let data = try W.dataset()
        let extra = ["--set", "train.checkpoint_every=1", "--set", "train.keep_checkpoints=10", "--set", "train.ema_decay=0.9997",
                     "--set", "train.views=320,416"]
        try W.succeed(try W.student("average", annotations: data + "/annotations.json", extra + ["--set", "train.max_steps=6"]))
        // ema_t = d·ema_(t−1) + (1 − d)·params_t with d = min(0.9997, (n + 1)/(n + 10)), n updates before.
        var average = try XCTUnwrap(try W.checkpoint("average", step: 1).tensors["ema.params"])
        for t in 2 ... 6 {
            let params = try XCTUnwrap(try W.checkpoint("average", step: t).tensors["params"])
            let d = min(Float(0.9997), Float(t) / Float(t + 9))
            average = zip(average, params).map { d * $0 + (1 - d) * $1 }
            XCTAssertEqual(try W.checkpoint("average", step: t).header.emaUpdates, t)
        }
        XCTAssertEqual(try W.checkpoint("average", step: 6).tensors["ema.params"], average, "the EMA is the recurrence over the recorded parameters")

        try W.succeed(try W.student("average-halves", annotations: data + "/annotations.json", extra + ["--set", "train.max_steps=3"]))
        try W.succeed(try W.student("average-halves", annotations: data + "/annotations.json", extra + ["--set", "train.max_steps=6", "--resume", "latest"]))
        for name in ["ema.params", "ema.buffers", "params", "adam.v"] {
            XCTAssertEqual(try W.checkpoint("average-halves", step: 6).tensors[name], try W.checkpoint("average", step: 6).tensors[name],
                           "\(name) after resuming")
        }
        XCTAssertEqual(try W.losses("average-halves").map(\.loss), try W.losses("average").map(\.loss))
    }
}

