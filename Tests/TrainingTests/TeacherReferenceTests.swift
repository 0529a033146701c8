// TeacherReferenceTests.swift — the Swift teacher equals the reference implementation on
// Tests/Fixtures/refclip_small.safetensors: selected cells, logits and loss in both BatchNorm modes,
// every parameter gradient, parameters and BatchNorm statistics after 1 and 3 clip+Adam steps, and the
// prediction (cell, anchor, box). Tolerances are the fixture README's, the same at every size. Every
// dimension, the learning rate, Adam's settings and the clipping norm come from the fixture's config
// (ReferenceFixture); every tensor read is checked against the shape that config implies.
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
        let fixture = try ReferenceFixture.load()
        let (b, k, d) = (fixture.batch, fixture.teacherShape.selectedCells, fixture.teacherShape.embedding)
        for mode in ["trainbn", "evalbn"] {
            let model = try fixture.teacher()
            let step = TeacherStep(model: model, settings: OptimizerSettings(), communicator: SingleProcessCommunicator())
            let loss = step.computeGradients(try fixture.inputs(), fixture.context(mode))
            XCTAssertEqual(model.selectedCells, try fixture.integers("\(mode).mid.selected_cells", shape: [b, k]), "\(mode): selected cells")
            assertClose(model.linearVS.output.array, try fixture.floats("\(mode).mid.x_new", shape: [b, k, d]), relative: 1e-5, "\(mode): projected anchors")
            assertClose(model.linearTS.output.array, try fixture.floats("\(mode).mid.y_new", shape: [b, d]), relative: 1e-5, "\(mode): projected text")
            assertClose(step.lastLogits.array, try fixture.floats("\(mode).mid.logits", shape: [b, 2 * b - 1]), relative: 1e-5, "\(mode): logits")
            let expected = Double(try fixture.floats("\(mode).loss", shape: [1])[0])
            XCTAssertEqual(loss, expected, accuracy: 1e-5 * abs(expected), "\(mode): loss")
            try fixture.check("fp64.\(mode).loss", shape: [1])
            XCTAssertEqual(loss, try fixture.file.doubles("fp64.\(mode).loss")[0], accuracy: 1e-5 * abs(expected), "\(mode): loss vs float64")
            let scale = try referenceGradientNorm(fixture, model, mode)
            for ref in model.params.refs {
                let reference = try fixture.floats("\(mode).grad.\(ref.name)", shape: ref.shape).map(Double.init)
                let ours = model.params.gradArray(ref).map(Double.init)
                let difference = zip(ours, reference).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                let norm = reference.map { $0 * $0 }.reduce(0, +).squareRoot()
                XCTAssertLessThanOrEqual(difference, 1e-4 * norm + 1e-6 * scale,
                                         "\(mode): ∂L/∂\(ref.name) differs by \(difference) (reference norm \(norm))")
            }
        }
    }

    func testParametersAndStatisticsAfterTheRecordedAdamSteps() throws {
        let fixture = try ReferenceFixture.load()
        let model = try fixture.teacher()
        let step = TeacherStep(model: model, settings: OptimizerSettings(beta1: fixture.beta1, beta2: fixture.beta2, eps: fixture.eps, clipNorm: fixture.clipNorm),
                               communicator: SingleProcessCommunicator())
        let inputs = try fixture.inputs()
        let recorded = try fixture.file.entry("trainbn.steps.loss").count
        let losses = try fixture.floats("trainbn.steps.loss", shape: [recorded])
        let norms = try fixture.floats("trainbn.steps.grad_total_norm_before_clip", shape: [recorded])
        let checkedSteps = (1 ... recorded).filter { fixture.file.contains("trainbn.after_step\($0).\(model.params.refs[0].name)") }
        XCTAssertFalse(checkedSteps.isEmpty, "the fixture records parameters after at least one step")
        let initial = model.params.values.array
        let noiseLevel = 1e-7 * (try referenceGradientNorm(fixture, model, "trainbn"))
        var isNoise: [Bool] = []
        for ref in model.params.refs { isNoise += try fixture.floats("trainbn.grad.\(ref.name)", shape: ref.shape).map { Double(abs($0)) <= noiseLevel } }
        for n in 1 ... recorded {
            let result = step.step(inputs, fixture.context("trainbn"), lr: fixture.learningRate)
            XCTAssertEqual(result.loss, Double(losses[n - 1]), accuracy: 1e-5 * Double(losses[n - 1]), "loss of step \(n)")
            XCTAssertEqual(result.gradNorm, Double(norms[n - 1]), accuracy: 1e-4 * Double(norms[n - 1]), "gradient norm of step \(n)")
            if n == 1 {
                for ref in model.buffers.refs {
                    assertAllClose(model.buffers.array(ref), try fixture.floats("trainbn.bn_after_fwd1.\(ref.name)", shape: ref.shape), absolute: 1e-5,
                                   "running statistic \(ref.name) after one forward")
                }
            }
            guard checkedSteps.contains(n) else { continue }
            // Adam moves an element by at most lr per step (eps aside): the bound for noise elements.
            let bound = Float(2 * n) * fixture.learningRate
            for ref in model.params.refs {
                let ours = model.params.array(ref), reference = try fixture.floats("trainbn.after_step\(n).\(ref.name)", shape: ref.shape)
                for i in 0 ..< ref.count {
                    let j = ref.offset + i
                    if isNoise[j] {
                        XCTAssertLessThanOrEqual(abs(ours[i] - initial[j]), bound, "\(ref.name)[\(i)] moved beyond Adam's bound")
                    } else {
                        XCTAssertEqual(ours[i], reference[i], accuracy: 1e-5, "\(ref.name)[\(i)] after \(n) steps")
                    }
                }
            }
        }
        for ref in model.buffers.refs {
            assertAllClose(model.buffers.array(ref), try fixture.floats("trainbn.bn_after_step\(recorded).\(ref.name)", shape: ref.shape), absolute: 1e-5,
                           "running statistic \(ref.name) after \(recorded) steps")
        }
    }

    /// The norm of the whole reference gradient of a mode.
    private func referenceGradientNorm(_ fixture: ReferenceFixture, _ model: RefCLIPTeacher, _ mode: String) throws -> Double {
        try model.params.refs.map { ref in try fixture.floats("\(mode).grad.\(ref.name)", shape: ref.shape).map { Double($0) * Double($0) }.reduce(0, +) }
            .reduce(0, +).squareRoot()
    }

    func testPrediction() throws {
        let fixture = try ReferenceFixture.load()
        let (b, k) = (fixture.batch, fixture.teacherShape.selectedCells)
        let model = try fixture.teacher()
        let inputs = try fixture.inputs()
        let predictions = model.predict(inputs, fixture.context("evalbn"))
        XCTAssertEqual(model.selectedCells, try fixture.integers("pred.selected_cells", shape: [b, k]))
        XCTAssertEqual(predictions.map(\.rankInSelected), try fixture.integers("pred.rank_in_selected", shape: [b]))
        XCTAssertEqual(predictions.map(\.cell), try fixture.integers("pred.cell_index", shape: [b]))
        XCTAssertEqual(predictions.map(\.anchor), try fixture.integers("pred.anchor_in_cell", shape: [b]))
        XCTAssertEqual(predictions.map { $0.cell * fixture.anchorsPerCell + $0.anchor }, try fixture.integers("pred.flat_anchor_index", shape: [b]))
        XCTAssertEqual(predictions.flatMap { $0.box + [$0.objectness] }, try fixture.floats("pred.box_x1y1x2y2_obj", shape: [b, 5]))
        // Confidence: the chosen cell's softmax probability over the selected cells, recomputed in Double.
        let (anchors, text, _) = model.forward(inputs, fixture.context("evalbn"))
        let d = anchors.shape[2]
        for (i, prediction) in predictions.enumerated() {
            let scores = (0 ..< k).map { s in (0 ..< d).reduce(0.0) { $0 + Double(text.data[i * d + $1]) * Double(anchors.data[(i * k + s) * d + $1]) } }
            let probability = exp(scores[prediction.rankInSelected]) / scores.map { exp($0) }.reduce(0, +)
            XCTAssertEqual(Double(prediction.confidence), probability, accuracy: 1e-5, "expression \(i)")
            XCTAssertEqual(scores.max(), scores[prediction.rankInSelected], "the most similar cell is chosen")
        }
    }
}
