// ReferenceComparison.swift — the Swift teacher against one reference fixture (Tests/Fixtures/README.md):
// forward intermediates, loss, logits, selection and every gradient in both BatchNorm modes, the recorded
// clip + Adam steps with the BatchNorm statistics they leave, and the prediction. Each check returns
// what differs instead of failing, so the same checks serve the shipped fixture, a grid of generated
// ones, and a test that a deliberately perturbed model is caught.
//
// Tolerances (ReferenceTolerance) allow for float32 summation order only. Where a fixture also holds
// the reference's computation in float64 from the same float32 weights (`fp64.*`, written by
// Tests/Python/refclip_teacher.py), the reference's own float32 − float64 difference is a measured
// sample of that rounding, and a tolerance grows to `measuredRounding` times it where that is larger:
// the large-mean inputs of the `offset` stress case and the chaotic Adam steps of the `constant` one
// round far beyond the base values, in the reference as much as here.

import Distributed
import Foundation
import Layers
import Models
import Tensors
import TestSupport
import Training

/// How close the Swift teacher must come to a reference fixture, and why.
enum ReferenceTolerance {
    /// Forward values and the loss, relative to their norm: float32 sums of up to ~10⁴ terms taken in
    /// another order differ by ~1e-7 of their size per layer.
    static let forward = 1e-5
    /// A gradient tensor, relative to its norm: float32 products and sums in another order; measured
    /// up to 5e-6 over the fixture grid where the reference's own float32 and float64 agree as well.
    static let gradient = 2e-5
    /// Plus this fraction of the whole gradient's norm: tensors whose gradient vanishes by symmetry
    /// (a key bias of a softmax, linear_vs.bias) hold rounding noise of ~1e-8 of the total.
    static let gradientFloor = 1e-6
    /// The total gradient norm of an Adam step, relative: the same rounding as `gradient`.
    static let gradientNorm = 1e-4
    /// A parameter or BatchNorm statistic after the recorded steps, absolute: Adam moves an element by
    /// ~lr = 1e-4 per step; its float32 rounding stays below 1e-6.
    static let parameter: Float = 1e-5
    /// The multiple of the reference's own float32 − float64 difference any tolerance may grow to:
    /// two float32 computations in different orders differ by about √2 times what either differs
    /// from float64; 4 leaves room for the spread of that estimate.
    static let measuredRounding = 4.0
    /// An element whose gradient at some step is within this many times its tensor's float32 rounding
    /// (the fixture's `trainbn.steps.grad_margin`) has an Adam update decided by rounding: its normalized
    /// step m̂/√v̂ is a ratio of gradients, so a relative error ε in them moves it by ~ε·lr. Fixtures
    /// without margins mark elements whose first gradient is within 1e-7 of the whole gradient's norm.
    static let adamMargin: Float = 100
}

/// The reference checks on one fixture.
struct ReferenceComparison {
    let fixture: ReferenceFixture
    /// Applied to every model after it is loaded from the fixture (to show a perturbation is caught).
    var perturbation: (RefCLIPTeacher) -> Void = { _ in }

    init(_ fixture: ReferenceFixture, perturbation: @escaping (RefCLIPTeacher) -> Void = { _ in }) {
        self.fixture = fixture
        self.perturbation = perturbation
    }

    private func teacher() throws -> RefCLIPTeacher {
        let model = try fixture.teacher()
        perturbation(model)
        return model
    }

    /// The tolerance for `key` compared by `distance`: `base`, or the measured multiple of the reference's
    /// own float32 − float64 distance when the fixture holds `fp64.key` and that is larger.
    private func allowed(_ key: String, base: Double, shape: [Int], distance: ([Double], [Double]) -> Double) throws -> Double {
        guard fixture.file.contains("fp64." + key) else { return base }
        let single = try fixture.floats(key, shape: shape).map(Double.init), double = try fixture.floats("fp64." + key, shape: shape).map(Double.init)
        return max(base, ReferenceTolerance.measuredRounding * distance(single, double))
    }

    /// A forward value against the reference, relative to its norm.
    private func compare(_ ours: [Float], _ key: String, shape: [Int], into findings: inout [String]) throws {
        let reference = try fixture.floats(key, shape: shape)
        let error = relativeError(ours.map(Double.init), reference.map(Double.init))
        let tolerance = try allowed(key, base: ReferenceTolerance.forward, shape: shape, distance: relativeError)
        if !(error <= tolerance) { findings.append("\(key): relative error \(error) (allowed \(tolerance))") }
    }

    /// Language-encoder and fusion intermediates in both modes, and the running statistics one
    /// training-mode forward leaves.
    func forwardIntermediates() throws -> [String] {
        var findings: [String] = []
        let shape = fixture.teacherShape.language
        let (b, t, h) = (fixture.batch, shape.maxTokens, shape.hidden)
        for mode in ["evalbn", "trainbn"] {
            let model = try teacher(), inputs = try fixture.inputs(), context = fixture.context(mode)
            let language = model.language
            let sentence = language.forward(ids: inputs.tokenIDs, batch: b, context)
            if language.embedding.output.array != (try fixture.floats("\(mode).mid.emb", shape: [b, t, shape.wordDimension])) {
                findings.append("\(mode).mid.emb: the embedding lookup differs")
            }
            try compare(language.gru.output.array, "\(mode).mid.gru_out", shape: [b, t, h], into: &findings)
            try compare(language.gru.finalState.array, "\(mode).mid.gru_h", shape: [b, h], into: &findings)
            try compare(language.tokenFeatures.array, "\(mode).mid.lang_feat", shape: [b, t, h], into: &findings)
            try compare(sentence.array, "\(mode).mid.lang_flat", shape: [b, h], into: &findings)
            let mask = try fixture.integers("\(mode).mid.lang_mask", shape: [b, t]).map { $0 != 0 }
            if mask != inputs.tokenIDs.map({ $0 == 0 }) { findings.append("\(mode).mid.lang_mask: the padding mask differs") }
            // Each self-attention layer's output, recomputed layer by layer from the GRU output.
            var y = Tensor(language.gru.output.shape, language.gru.output.array)
            for (i, block) in language.blocks.enumerated() {
                let out = block.forward(y, keyMask: mask, context)
                try compare(out.array, "\(mode).mid.sa\(i)_out", shape: [b, t, h], into: &findings)
                y = Tensor(out.shape, out.array)
            }
            let v = model.fusion.forward(f52: inputs.f52, f26: inputs.f26, f13: inputs.f13, context)
            try compare(v.array, "\(mode).mid.msf_top13", shape: [b, fixture.teacherShape.fusion.hidden, fixture.grid, fixture.grid], into: &findings)
            guard mode == "trainbn" else { continue }
            for ref in model.buffers.refs {
                try compare(model.buffers.array(ref), "trainbn.bn_after_fwd1." + ref.name, shape: ref.shape, into: &findings)
            }
        }
        return findings
    }

    /// Selection, projections, logits, loss (also against float64) and every parameter gradient in
    /// both modes; also the largest relative gradient difference per mode over tensors that do not
    /// vanish by symmetry.
    func lossAndGradients() throws -> (findings: [String], largestGradientDifference: [String: Double]) {
        var findings: [String] = [], largest: [String: Double] = [:]
        let (b, k, d) = (fixture.batch, fixture.teacherShape.selectedCells, fixture.teacherShape.embedding)
        for mode in ["trainbn", "evalbn"] {
            let model = try teacher()
            let step = TeacherStep(model: model, settings: OptimizerSettings(), communicator: SingleProcessCommunicator())
            let loss = step.computeGradients(try fixture.inputs(), fixture.context(mode))
            if model.selectedCells != (try fixture.integers("\(mode).mid.selected_cells", shape: [b, k])) {
                findings.append("\(mode).mid.selected_cells: another selection")
            }
            try compare(model.linearVS.output.array, "\(mode).mid.x_new", shape: [b, k, d], into: &findings)
            try compare(model.linearTS.output.array, "\(mode).mid.y_new", shape: [b, d], into: &findings)
            try compare(step.lastLogits.array, "\(mode).mid.logits", shape: [b, 2 * b - 1], into: &findings)
            let expected = Double(try fixture.floats("\(mode).loss", shape: [1])[0])
            let lossTolerance = try allowed("\(mode).loss", base: ReferenceTolerance.forward * abs(expected), shape: [1]) { abs($0[0] - $1[0]) }
            if !(abs(loss - expected) <= lossTolerance) { findings.append("\(mode).loss: \(loss), reference \(expected) (allowed ±\(lossTolerance))") }
            let exact = try fixture.file.doubles("fp64.\(mode).loss")[0]
            if !(abs(loss - exact) <= max(lossTolerance, ReferenceTolerance.forward * abs(expected))) {
                findings.append("\(mode).loss: \(loss), reference in float64 \(exact)")
            }
            let scale = try referenceGradientNorm(model, mode)
            var worst = 0.0
            for ref in model.params.refs {
                let key = "\(mode).grad.\(ref.name)"
                let reference = try fixture.floats(key, shape: ref.shape).map(Double.init)
                let ours = model.params.gradArray(ref).map(Double.init)
                let difference = distance(ours, reference), norm = distance(reference, Array(repeating: 0, count: reference.count))
                let tolerance = try allowed(key, base: ReferenceTolerance.gradient * norm + ReferenceTolerance.gradientFloor * scale, shape: ref.shape, distance: distance)
                if !(difference <= tolerance) { findings.append("\(mode): ∂L/∂\(ref.name) differs by \(difference) (reference norm \(norm), allowed \(tolerance))") }
                if norm > ReferenceTolerance.gradientFloor * scale { worst = max(worst, difference / norm) }
            }
            largest[mode] = worst
        }
        return (findings, largest)
    }

    /// The recorded clip + Adam steps from the fixture's weights: each step's loss and gradient norm,
    /// parameters after every recorded step, BatchNorm statistics after the last.
    func adamSteps() throws -> [String] {
        var findings: [String] = []
        let model = try teacher()
        let step = TeacherStep(model: model, settings: OptimizerSettings(beta1: fixture.beta1, beta2: fixture.beta2, eps: fixture.eps, clipNorm: fixture.clipNorm),
                               communicator: SingleProcessCommunicator())
        let inputs = try fixture.inputs()
        let recorded = try fixture.file.entry("trainbn.steps.loss").count
        let losses = try fixture.floats("trainbn.steps.loss", shape: [recorded])
        let norms = try fixture.floats("trainbn.steps.grad_total_norm_before_clip", shape: [recorded])
        let checkedSteps = (1 ... recorded).filter { fixture.file.contains("trainbn.after_step\($0).\(model.params.refs[0].name)") }
        if checkedSteps.isEmpty { findings.append("the fixture records parameters after no step") }
        let initial = model.params.values.array
        let rounding = try StepRounding(fixture, model, steps: recorded)
        for n in 1 ... recorded {
            let result = step.step(inputs, fixture.context("trainbn"), lr: fixture.learningRate)
            let lossTolerance = rounding.lossTolerance(step: n, loss: losses[n - 1], learningRate: fixture.learningRate)
            if !(abs(result.loss - Double(losses[n - 1])) <= lossTolerance) {
                findings.append("loss of step \(n): \(result.loss), reference \(losses[n - 1]) (allowed ±\(lossTolerance))")
            }
            let normTolerance = rounding.normTolerance(step: n, norm: norms[n - 1])
            if !(abs(result.gradNorm - Double(norms[n - 1])) <= normTolerance) {
                findings.append("gradient norm of step \(n): \(result.gradNorm), reference \(norms[n - 1]) (allowed ±\(normTolerance))")
            }
            guard checkedSteps.contains(n) else { continue }
            // Adam moves an element by at most lr per step (eps aside): the bound where rounding decides.
            let bound = Float(2 * n) * fixture.learningRate
            for ref in model.params.refs {
                let ours = model.params.array(ref), reference = try fixture.floats("trainbn.after_step\(n).\(ref.name)", shape: ref.shape)
                var outside = 0, worst: (Float, Int) = (0, 0)
                for i in 0 ..< ref.count {
                    let j = ref.offset + i
                    let difference = rounding.conditioned[j] ? abs(ours[i] - reference[i]) : abs(ours[i] - initial[j])
                    if !(difference <= (rounding.conditioned[j] ? ReferenceTolerance.parameter : bound)) {
                        outside += 1
                        if difference > worst.0 { worst = (difference, i) }
                    }
                }
                if outside > 0 {
                    findings.append("\(ref.name) after \(n) steps: \(outside) elements outside, element \(worst.1) by \(worst.0) (\(ours[worst.1]) vs \(reference[worst.1]))")
                }
            }
        }
        for ref in model.buffers.refs {
            let key = "trainbn.bn_after_step\(recorded).\(ref.name)"
            let reference = try fixture.floats(key, shape: ref.shape), ours = model.buffers.array(ref)
            let tolerance = try allowed(key, base: Double(ReferenceTolerance.parameter), shape: ref.shape) { a, b in zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
            let worst = zip(ours, reference).map { Double(abs($0 - $1)) }.max() ?? 0
            if !(worst <= tolerance) { findings.append("\(key): differs by up to \(worst) (allowed \(tolerance))") }
        }
        return findings
    }

    /// The inference path: cells, ranks, anchors and boxes exactly; the confidence against the
    /// softmax of the similarities recomputed in Double.
    func prediction() throws -> [String] {
        var findings: [String] = []
        let (b, k) = (fixture.batch, fixture.teacherShape.selectedCells)
        let model = try teacher(), inputs = try fixture.inputs()
        let predictions = model.predict(inputs, fixture.context("evalbn"))
        let exact: [(String, [Int], [Int])] = [
            ("pred.selected_cells", model.selectedCells, [b, k]), ("pred.rank_in_selected", predictions.map(\.rankInSelected), [b]),
            ("pred.cell_index", predictions.map(\.cell), [b]), ("pred.anchor_in_cell", predictions.map(\.anchor), [b]),
            ("pred.flat_anchor_index", predictions.map { $0.cell * fixture.anchorsPerCell + $0.anchor }, [b]),
        ]
        for (key, ours, shape) in exact where ours != (try fixture.integers(key, shape: shape)) { findings.append("\(key): \(ours)") }
        if predictions.flatMap({ $0.box + [$0.objectness] }) != (try fixture.floats("pred.box_x1y1x2y2_obj", shape: [b, 5])) {
            findings.append("pred.box_x1y1x2y2_obj differs")
        }
        let (anchors, text, _) = model.forward(inputs, fixture.context("evalbn"))
        let d = anchors.shape[2]
        for (i, prediction) in predictions.enumerated() {
            let scores = (0 ..< k).map { s in (0 ..< d).reduce(0.0) { $0 + Double(text.data[i * d + $1]) * Double(anchors.data[(i * k + s) * d + $1]) } }
            let probability = exp(scores[prediction.rankInSelected]) / scores.map { exp($0) }.reduce(0, +)
            if !(abs(Double(prediction.confidence) - probability) <= ReferenceTolerance.forward) {
                findings.append("expression \(i): confidence \(prediction.confidence), softmax \(probability)")
            }
            if scores.max() != scores[prediction.rankInSelected] { findings.append("expression \(i): not the most similar cell") }
        }
        return findings
    }

    /// Every check's findings.
    func all() throws -> [String] {
        try forwardIntermediates() + lossAndGradients().findings + adamSteps() + prediction()
    }

    /// The norm of the whole reference gradient of a mode.
    private func referenceGradientNorm(_ model: RefCLIPTeacher, _ mode: String) throws -> Double {
        try model.params.refs.map { ref in try fixture.floats("\(mode).grad.\(ref.name)", shape: ref.shape).map { Double($0) * Double($0) }.reduce(0, +) }
            .reduce(0, +).squareRoot()
    }
}

/// What rounding leaves undecided in the recorded Adam steps. With the reference's per-step gradients
/// in float32 and float64 (`[fp64.]trainbn.steps.grad<n>.*`), an element is conditioned when its
/// gradient stays `adamMargin` times its tensor's rounding (rms of float32 − float64) from zero at
/// every step; without them, when its first gradient exceeds 1e-7 of the whole gradient's norm.
private struct StepRounding {
    /// Per flat parameter: whether its updates are decided by the gradients rather than by rounding.
    private(set) var conditioned: [Bool] = []
    /// Per step, the reference's gradient (flat, float32) and ‖float32 − float64‖, when recorded.
    private var gradients: [[Float]] = [], divergence: [Double] = []

    init(_ fixture: ReferenceFixture, _ model: RefCLIPTeacher, steps: Int) throws {
        let refs = model.params.refs
        let recorded = (1 ... steps).allSatisfy { n in refs.allSatisfy { fixture.file.contains("fp64.trainbn.steps.grad\(n).\($0.name)") } }
        guard recorded else {
            let first = try refs.map { try fixture.floats("trainbn.grad.\($0.name)", shape: $0.shape) }
            let scale = first.joined().map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
            conditioned = first.joined().map { Double(abs($0)) > 1e-7 * scale }
            return
        }
        var margin = [Float](repeating: .infinity, count: model.params.count)
        for n in 1 ... steps {
            var flat = [Float](repeating: 0, count: model.params.count), squared = 0.0
            for ref in refs {
                let single = try fixture.floats("trainbn.steps.grad\(n).\(ref.name)", shape: ref.shape)
                let double = try fixture.floats("fp64.trainbn.steps.grad\(n).\(ref.name)", shape: ref.shape)
                let tensorSquared = zip(single, double).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +)
                let rms = Float((tensorSquared / Double(ref.count)).squareRoot())
                squared += tensorSquared
                for i in 0 ..< ref.count {
                    flat[ref.offset + i] = single[i]
                    margin[ref.offset + i] = min(margin[ref.offset + i], abs(single[i]) / max(rms, .leastNormalMagnitude))
                }
            }
            gradients.append(flat)
            divergence.append(squared.squareRoot())
        }
        conditioned = margin.map { $0 >= ReferenceTolerance.adamMargin }
    }

    /// The loss of step n (at the parameters after n − 1 steps): `forward` of it, or, to first order,
    /// what the rounding-decided elements can move it by Adam's bound 2(n − 1)·lr.
    func lossTolerance(step n: Int, loss: Float, learningRate: Float) -> Double {
        let base = ReferenceTolerance.forward * abs(Double(loss))
        guard n - 1 < gradients.count else { return base }
        let movable = zip(gradients[n - 1], conditioned).reduce(0.0) { $0 + ($1.1 ? 0 : Double(abs($1.0))) }
        return max(base, movable * Double(2 * (n - 1)) * Double(learningRate))
    }

    /// The gradient norm of step n: `gradientNorm` of it, or the measured multiple of how far the
    /// reference's own float64 gradient of that step lies from its float32 one.
    func normTolerance(step n: Int, norm: Float) -> Double {
        let base = ReferenceTolerance.gradientNorm * Double(norm)
        guard n - 1 < divergence.count else { return base }
        return max(base, ReferenceTolerance.measuredRounding * divergence[n - 1])
    }
}

/// The Euclidean distance of two vectors.
private func distance(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
}
