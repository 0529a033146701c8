// StudentMixCommandLineTests.swift — the student trained on a mixture (`data.mix`) through the
// binary: pseudo-labels with confidences (weighted by `train.confidence_gamma`) mixed with a synthetic
// set of another seed. One process, 2 and 4 ranks under mpirun give the same losses (overall and per
// source) and parameters; an interrupted run resumes to exactly the uninterrupted one; a mix entry
// with an unknown key is refused naming it.

import Foundation
import TestSupport
import Training
import XCTest

final class StudentMixCommandLineTests: XCTestCase {
    typealias W = RefclipWorkspace

    /// The tiny dataset's annotations as pseudo-labels: every training entry with a confidence.
    private func pseudoLabels() throws -> String {
        let path = W.root.path + "/mix-pseudo-labels.json"
        guard !FileManager.default.fileExists(atPath: path) else { return path }
        var annotations = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try W.dataset() + "/annotations.json")))
            as? [String: Any])
        let train = try XCTUnwrap(annotations["train"] as? [[String: Any]])
        annotations["train"] = train.enumerated().map { i, entry in entry.merging(["confidence": 0.2 + 0.7 * Double(i % 5) / 4]) { $1 } }
        try JSONSerialization.data(withJSONObject: annotations).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func mixed(_ name: String, _ extra: [String]) throws -> [String] {
        let other = try W.dataset(named: "data-other", seed: 2)
        return try W.student(name, annotations: try pseudoLabels(), [
            "--set", "data.mix=[{annotations: \(other)/annotations.json, features: \(other)/features, weight: 0.6}]",
            "--set", "train.confidence_gamma=1", "--set", "train.min_confidence=0.3", "--set", "train.views=320,416",
            // Adam turns a gradient far below eps into a step proportional to it: with eps 1e-4, gradients
            // that vanish by symmetry (rounding noise, which differs with the world size's summation
            // order and the BLAS kernel) move parameters by ~lr·noise/eps instead of ±lr.
            "--set", "train.eps=1e-4",
        ] + extra)
    }

    /// The per-source losses of each logged step, and the sources the start record names.
    private func sourceLosses(_ name: String) throws -> (sources: [String], losses: [[Double]]) {
        let records = try MetricsRecord.read("\(W.runs)/\(name)/metrics.jsonl")
        var sources: [String] = [], losses: [[Double]] = []
        for record in records {
            if case .start(let start) = record { sources = start.sources ?? [] }
            if case .step(let step) = record { losses.append(try XCTUnwrap(step.sourceLosses).map { try XCTUnwrap($0) }) }
        }
        return (sources, losses)
    }

    func testWorldSizesAgreeOnAMixture() throws {
        try W.succeed(try mixed("mix-one", ["--set", "train.max_steps=4"]))
        let reference = try W.losses("mix-one").map(\.loss)
        let (sources, referenceBySource) = try sourceLosses("mix-one")
        XCTAssertEqual(sources.count, 2)
        XCTAssertTrue(sources[1].hasSuffix("data-other/annotations.json"), "\(sources)")
        XCTAssertEqual(referenceBySource.count, 4)
        XCTAssertTrue(referenceBySource.allSatisfy { $0.count == 2 && $0[0] != $0[1] }, "\(referenceBySource)")
        let parameters = try XCTUnwrap(try W.checkpoint("mix-one", step: 4).tensors["params"])
        for ranks in [2, 4] {
            let name = "mix-mpi\(ranks)"
            try W.succeed(try mixed(name, ["--set", "train.max_steps=4"]), ranks: ranks)
            for (a, b) in zip(try W.losses(name).map(\.loss), reference) { XCTAssertEqual(a, b, accuracy: 1e-5 * b, "\(name): loss") }
            for (a, b) in zip(try sourceLosses(name).losses.joined(), referenceBySource.joined()) {
                XCTAssertEqual(a, b, accuracy: 1e-5 * b, "\(name): loss of a source")
            }
            assertAllClose(try XCTUnwrap(try W.checkpoint(name, step: 4).tensors["params"]), parameters, absolute: 1e-5, "\(name): parameters")
        }
        // The weights matter: without them the same data trains to other parameters.
        try W.succeed(try mixed("mix-unweighted", ["--set", "train.max_steps=4", "--set", "train.confidence_gamma=0", "--set", "train.min_confidence=0"]))
        XCTAssertNotEqual(try W.losses("mix-unweighted").map(\.loss), reference)
    }

    func testAnInterruptedMixtureResumesExactly() throws {
        let checkpoints = ["--set", "train.checkpoint_every=1"]
        try W.succeed(try mixed("mix-straight", checkpoints + ["--set", "train.max_steps=6"]))
        try W.succeed(try mixed("mix-halves", checkpoints + ["--set", "train.max_steps=3"]))
        try W.succeed(try mixed("mix-halves", checkpoints + ["--set", "train.max_steps=6", "--resume", "latest"]))
        XCTAssertEqual(try W.losses("mix-halves").map(\.loss), try W.losses("mix-straight").map(\.loss), "the loss sequence is bitwise the same")
        XCTAssertEqual(try sourceLosses("mix-halves").losses, try sourceLosses("mix-straight").losses)
        for name in ["params", "adam.m", "adam.v", "ema.params"] {
            XCTAssertEqual(try W.checkpoint("mix-halves", step: 6).tensors[name], try W.checkpoint("mix-straight", step: 6).tensors[name], name)
        }
    }

    func testAMixEntryWithAnUnknownKeyIsRefused() throws {
        let other = try W.dataset(named: "data-other", seed: 2)
        let (status, output) = try W.run(try W.student("mix-bad", annotations: try pseudoLabels(), [
            "--set", "data.mix=[{annotations: \(other)/annotations.json, featurs: \(other)/features, weight: 1}]",
        ]))
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains("data.mix[0].featurs") && output.contains("did you mean features?"), output)
    }
}
