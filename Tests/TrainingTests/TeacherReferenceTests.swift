// TeacherReferenceTests.swift — the Swift teacher equals the reference implementation on
// Tests/Fixtures/refclip_small.safetensors: selected cells, logits and loss in both BatchNorm modes,
// every parameter gradient, parameters and BatchNorm statistics after 1 and 3 clip+Adam steps, and the
// prediction (cell, anchor, box). Tolerances are the fixture README's. Nothing here depends on the
// fixture's particular sizes beyond building the model from its configuration.
//
// Some gradients vanish by symmetry: a key bias (or AttFlat's score bias) shifts every logit of a
// softmax equally, and linear_vs.bias shifts every similarity in a text's row by the same ⟨T_t, b⟩.
// The reference stores float rounding noise there (1e-10..1e-8 against a total norm of ~12), and Adam
// with eps 1e-9 turns such noise into ±lr steps. Those elements are recognised by their size — at most
// 1e-7 of the whole gradient's norm — and are only required to be noise in ours as well and to move
// no more than Adam allows; everything else must match to the stated tolerances. Gradient tensors are
// compared in norm within 1e-4 of their own norm plus 1e-6 of the whole gradient's norm: float32
// sums over ~1e4 cancelling terms (BatchNorm on the 52×52 map) differ between implementations there.

import Distributed
import Foundation
import Layers
import Models
import Tensors
import TestSupport
import Training
import XCTest

final class TeacherReferenceTests: XCTestCase {
    func testLossLogitsSelectionAndGradientsInBothBatchNormModes() throws {
        let file = try referenceFixture()
        for mode in ["trainbn", "evalbn"] {
            let model = try ReferenceFixture.teacher(file)
            let step = TeacherStep(model: model, settings: OptimizerSettings(), communicator: SingleProcessCommunicator())
            let loss = step.computeGradients(try ReferenceFixture.inputs(file), ReferenceFixture.context(mode))
            XCTAssertEqual(model.selectedCells, try file.integers("\(mode).mid.selected_cells"), "\(mode): selected cells")
            assertClose(model.linearVS.output.array, try file.floats("\(mode).mid.x_new"), relative: 1e-5, "\(mode): projected anchors")
            assertClose(model.linearTS.output.array, try file.floats("\(mode).mid.y_new"), relative: 1e-5, "\(mode): projected text")
            assertClose(step.lastLogits.array, try file.floats("\(mode).mid.logits"), relative: 1e-5, "\(mode): logits")
            let expected = try file.doubles("\(mode).loss")[0]
            XCTAssertEqual(loss, expected, accuracy: 1e-5 * abs(expected), "\(mode): loss")
            XCTAssertEqual(loss, try file.doubles("fp64.\(mode).loss")[0], accuracy: 1e-5 * abs(expected), "\(mode): loss vs float64")
            let scale = try referenceGradientNorm(file, mode)
            for ref in model.params.refs {
                let reference = try file.floats("\(mode).grad.\(ref.name)").map(Double.init)
                let ours = model.params.gradArray(ref).map(Double.init)
                let difference = zip(ours, reference).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                let norm = reference.map { $0 * $0 }.reduce(0, +).squareRoot()
                XCTAssertLessThanOrEqual(difference, 1e-4 * norm + 1e-6 * scale,
                                         "\(mode): ∂L/∂\(ref.name) differs by \(difference) (reference norm \(norm))")
            }
        }
    }

    func testParametersAndStatisticsAfterOneAndThreeAdamSteps() throws {
        let file = try referenceFixture()
        let model = try ReferenceFixture.teacher(file)
        let step = TeacherStep(model: model, settings: OptimizerSettings(beta1: 0.9, beta2: 0.98, eps: 1e-9, clipNorm: 0.15),
                               communicator: SingleProcessCommunicator())
        let inputs = try ReferenceFixture.inputs(file)
        let losses = try file.floats("trainbn.steps.loss"), norms = try file.floats("trainbn.steps.grad_total_norm_before_clip")
        let initial = model.params.values.array
        let noiseLevel = 1e-7 * (try referenceGradientNorm(file, "trainbn"))
        var isNoise: [Bool] = []
        for ref in model.params.refs { isNoise += try file.floats("trainbn.grad.\(ref.name)").map { Double(abs($0)) <= noiseLevel } }
        for n in 1 ... 3 {
            let result = step.step(inputs, ReferenceFixture.context("trainbn"), lr: 1e-4)
            XCTAssertEqual(result.loss, Double(losses[n - 1]), accuracy: 1e-5 * Double(losses[n - 1]), "loss of step \(n)")
            XCTAssertEqual(result.gradNorm, Double(norms[n - 1]), accuracy: 1e-4 * Double(norms[n - 1]), "gradient norm of step \(n)")
            if n == 1 {
                for ref in model.buffers.refs {
                    assertAllClose(model.buffers.array(ref), try file.floats("trainbn.bn_after_fwd1.\(ref.name)"), absolute: 1e-5,
                                   "running statistic \(ref.name) after one forward")
                }
            }
            guard n == 1 || n == 3 else { continue }
            for ref in model.params.refs {
                let ours = model.params.array(ref), reference = try file.floats("trainbn.after_step\(n).\(ref.name)")
                for i in 0 ..< ref.count {
                    let j = ref.offset + i
                    if isNoise[j] {
                        XCTAssertLessThanOrEqual(abs(ours[i] - initial[j]), Float(2 * n) * 1e-4, "\(ref.name)[\(i)] moved beyond Adam's bound")
                    } else {
                        XCTAssertEqual(ours[i], reference[i], accuracy: 1e-5, "\(ref.name)[\(i)] after \(n) steps")
                    }
                }
            }
        }
        for ref in model.buffers.refs {
            assertAllClose(model.buffers.array(ref), try file.floats("trainbn.bn_after_step3.\(ref.name)"), absolute: 1e-5,
                           "running statistic \(ref.name) after three steps")
        }
    }

    /// The norm of the whole reference gradient of a mode.
    private func referenceGradientNorm(_ file: SafetensorsFile, _ mode: String) throws -> Double {
        try file.names.filter { $0.hasPrefix("\(mode).grad.") }.map { try file.floats($0).map { Double($0) * Double($0) }.reduce(0, +) }
            .reduce(0, +).squareRoot()
    }

    func testPrediction() throws {
        let file = try referenceFixture()
        let model = try ReferenceFixture.teacher(file)
        let inputs = try ReferenceFixture.inputs(file)
        let predictions = model.predict(inputs, ReferenceFixture.context("evalbn"))
        XCTAssertEqual(model.selectedCells, try file.integers("pred.selected_cells"))
        XCTAssertEqual(predictions.map(\.rankInSelected), try file.integers("pred.rank_in_selected"))
        XCTAssertEqual(predictions.map(\.cell), try file.integers("pred.cell_index"))
        XCTAssertEqual(predictions.map(\.anchor), try file.integers("pred.anchor_in_cell"))
        let anchorsPerCell = inputs.anchorBoxes.shape[2]
        XCTAssertEqual(predictions.map { $0.cell * anchorsPerCell + $0.anchor }, try file.integers("pred.flat_anchor_index"))
        XCTAssertEqual(predictions.flatMap { $0.box + [$0.objectness] }, try file.floats("pred.box_x1y1x2y2_obj"))
        // Confidence: the chosen cell's softmax probability over the selected cells, recomputed in Double.
        let (anchors, text, _) = model.forward(inputs, ReferenceFixture.context("evalbn"))
        let (k, d) = (anchors.shape[1], anchors.shape[2])
        for (i, prediction) in predictions.enumerated() {
            let scores = (0 ..< k).map { s in (0 ..< d).reduce(0.0) { $0 + Double(text.data[i * d + $1]) * Double(anchors.data[(i * k + s) * d + $1]) } }
            let probability = exp(scores[prediction.rankInSelected]) / scores.map { exp($0) }.reduce(0, +)
            XCTAssertEqual(Double(prediction.confidence), probability, accuracy: 1e-5, "expression \(i)")
            XCTAssertEqual(scores.max(), scores[prediction.rankInSelected], "the most similar cell is chosen")
        }
    }
}
