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

    /// A forward value against the reference, relative to its norm, or to `scale` where that is larger
    /// (the size of the terms a value near zero was summed from).
    private func compare(_ ours: [Float], _ key: String, shape: [Int], scale: Double = 0, into findings: inout [String]) throws {
        let reference = try fixture.floats(key, shape: shape)
        let relative = { (a: [Double], b: [Double]) in
            distance(a, b) / max(distance(a, a.map { _ in 0 }), distance(b, b.map { _ in 0 }), scale, 1e-12)
        }
        let error = relative(ours.map(Double.init), reference.map(Double.init))
        let tolerance = try allowed(key, base: ReferenceTolerance.forward, shape: shape, distance: relative)
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
            let search = DecisionSearch(step: step, inputs: try fixture.inputs(), context: fixture.context(mode))
            let loss = search.run()
            if model.selectedCells != (try fixture.integers("\(mode).mid.selected_cells", shape: [b, k])) {
                findings.append("\(mode).mid.selected_cells: another selection")
            }
            try compare(model.linearVS.output.array, "\(mode).mid.x_new", shape: [b, k, d], into: &findings)
            try compare(model.linearTS.output.array, "\(mode).mid.y_new", shape: [b, d], into: &findings)
            // A logit near zero is a dot product of terms up to ‖T_t‖·‖V_a,s‖ in size: the scale of its rounding.
            let terms = largestRowNorm(model.linearTS.output) * largestRowNorm(model.linearVS.output)
            try compare(step.lastLogits.array, "\(mode).mid.logits", shape: [b, 2 * b - 1], scale: terms, into: &findings)
            let expected = Double(try fixture.floats("\(mode).loss", shape: [1])[0])
            let lossTolerance = try allowed("\(mode).loss", base: ReferenceTolerance.forward * abs(expected), shape: [1]) { abs($0[0] - $1[0]) }
            if !(abs(loss - expected) <= lossTolerance) { findings.append("\(mode).loss: \(loss), reference \(expected) (allowed ±\(lossTolerance))") }
            let exact = try fixture.file.doubles("fp64.\(mode).loss")[0]
            if !(abs(loss - exact) <= max(lossTolerance, ReferenceTolerance.forward * abs(expected))) {
                findings.append("\(mode).loss: \(loss), reference in float64 \(exact)")
            }
            let match = try matchGradient(search, against: "\(mode).grad.")
            findings += match.findings
            largest[mode] = match.worst
            let params = model.params
            if fixture.file.contains("fp64.\(mode).grad.\(params.refs[0].name)") {
                largest["fp64." + mode] = try largestDifferenceFromFloat64(params, mode) { params.gradArray($0) }
                largest["reference fp64." + mode] = try largestDifferenceFromFloat64(params, mode) { try fixture.floats("\(mode).grad.\($0.name)", shape: $0.shape) }
            }
        }
        return (findings, largest)
    }

    /// The largest ‖gradient − float64 reference‖ / ‖float64 reference‖ of `mode` over tensors that do
    /// not vanish by symmetry, for the gradient `gradient` gives per parameter.
    private func largestDifferenceFromFloat64(_ params: ParameterStore, _ mode: String, _ gradient: (ParameterRef) throws -> [Float]) throws -> Double {
        let exact = try params.refs.map { try fixture.floats("fp64.\(mode).grad.\($0.name)", shape: $0.shape).map(Double.init) }
        let norms = exact.map { distance($0, Array(repeating: 0, count: $0.count)) }
        let scale = norms.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        return try zip(params.refs, zip(exact, norms)).filter { $0.1.1 > ReferenceTolerance.gradientFloor * scale }.map { ref, reference in
            distance(try gradient(ref).map(Double.init), reference.0) / reference.1
        }.max() ?? 0
    }

    /// Our gradient of the step `search` just ran against the reference's under `prefix`: as computed,
    /// or, when that differs, with the undetermined rectifier decisions reversed that explain the
    /// difference (printed), if that meets every tolerance. Leaves the compared gradient in the model's
    /// store; returns its findings, the largest relative difference of a tensor that does not vanish by
    /// symmetry, and the reversals taken.
    private func matchGradient(_ search: DecisionSearch, against prefix: String) throws
        -> (findings: [String], worst: Double, reversed: [RectifierInput]) {
        let params = search.step.model.params
        var tolerances: [Double] = [], norms: [Double] = [], reference: [Float] = []
        for ref in params.refs {
            let values = try fixture.floats(prefix + ref.name, shape: ref.shape)
            reference += values
            norms.append(values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        }
        let scale = norms.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        for (ref, norm) in zip(params.refs, norms) {
            tolerances.append(try allowed(prefix + ref.name, base: ReferenceTolerance.gradient * norm + ReferenceTolerance.gradientFloor * scale,
                                          shape: ref.shape, distance: distance))
        }
        func compared() -> (findings: [String], worst: Double) {
            var findings: [String] = [], worst = 0.0
            for (i, ref) in params.refs.enumerated() {
                let ours = params.gradArray(ref).map(Double.init), theirs = reference[ref.offset ..< ref.offset + ref.count].map(Double.init)
                let difference = distance(ours, theirs)
                if !(difference <= tolerances[i]) {
                    findings.append("\(prefix.dropLast()): ∂L/∂\(ref.name) differs by \(difference) (reference norm \(norms[i]), allowed \(tolerances[i]))")
                }
                if norms[i] > ReferenceTolerance.gradientFloor * scale { worst = max(worst, difference / norms[i]) }
            }
            return (findings, worst)
        }
        let plain = compared()
        guard !plain.findings.isEmpty else { return (plain.findings, plain.worst, []) }
        let weights = params.refs.enumerated().flatMap { i, ref in Array(repeating: 1 / (tolerances[i] * tolerances[i]), count: ref.count) }
        let reversed = search.explaining(reference, weights: weights)
        guard !reversed.isEmpty else { return (plain.findings, plain.worst, []) }
        search.run(reversing: reversed)
        let explained = compared()
        guard explained.findings.isEmpty else {
            search.run()
            return (plain.findings + ["\(prefix.dropLast()): reversing \(reversed) still leaves \(explained.findings.count) tensors apart"], plain.worst, [])
        }
        print("\(prefix.dropLast()): equal to the reference with \(reversed.count) rectifier decision(s) float32 leaves open taken its way: "
              + reversed.map(\.description).joined(separator: "; "))
        return (explained.findings, explained.worst, reversed)
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
        let context = fixture.context("trainbn"), lr = fixture.learningRate
        var decided: [Int: [RectifierInput]] = [:]
        for n in 1 ... recorded {
            if decided[n] == nil {
                decided.merge(try undeterminedDecisions(step, inputs, from: n, checkedSteps: checkedSteps, conditioned: rounding.conditioned)) { $1 }
            }
            DecisionSearch.reverse(decided[n] ?? [], in: step)
            let result = step.step(inputs, context, lr: lr)
            step.beforeBackward = nil
            let lossTolerance = rounding.lossTolerance(step: n, loss: losses[n - 1], learningRate: lr)
            if !(abs(result.loss - Double(losses[n - 1])) <= lossTolerance) {
                findings.append("loss of step \(n): \(result.loss), reference \(losses[n - 1]) (allowed ±\(lossTolerance))")
            }
            let normTolerance = rounding.normTolerance(step: n, norm: norms[n - 1])
            if !(abs(result.gradNorm - Double(norms[n - 1])) <= normTolerance) {
                findings.append("gradient norm of step \(n): \(result.gradNorm), reference \(norms[n - 1]) (allowed ±\(normTolerance))")
            }
            guard checkedSteps.contains(n) else { continue }
            // Adam moves an element by at most lr per step (eps aside): the bound where rounding decides.
            let bound = Float(2 * n) * lr
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

    /// The rectifier decisions float32 leaves open in the forwards of recorded steps from `n` on, taken
    /// the reference's way, by step. Step `n`'s alone are matched against its gradient where the fixture
    /// records it (step 1's is the training-mode gradient). Else those of every step up to the next
    /// recorded parameters are searched together against them (conditioned elements only), replaying the
    /// steps once per candidate and restoring the state: a parameter difference after step 3 can come from
    /// a decision in step 3's forward, and one reversed at step 2 would move step 3's. Empty when nothing
    /// differs or nothing explains it (the checks then report what differs).
    private func undeterminedDecisions(_ step: TeacherStep, _ inputs: TeacherInputs, from n: Int, checkedSteps: [Int],
                                       conditioned: [Bool]) throws -> [Int: [RectifierInput]] {
        let context = fixture.context("trainbn"), params = step.model.params
        let search = DecisionSearch(step: step, inputs: inputs, context: context)
        let prefix = n == 1 ? "trainbn.grad." : "trainbn.steps.grad\(n)."
        if fixture.file.contains(prefix + params.refs[0].name) {
            search.run()
            let match = try matchGradient(search, against: prefix)
            return [n: match.findings.isEmpty ? match.reversed : []]
        }
        guard let last = checkedSteps.first(where: { $0 >= n }) else { return [n: []] }
        let target = try params.refs.flatMap { try fixture.floats("trainbn.after_step\(last).\($0.name)", shape: $0.shape) }
        let weights = conditioned.map { $0 ? 1 / Double(ReferenceTolerance.parameter * ReferenceTolerance.parameter) : 0 }
        let saved = StepSnapshot(step)
        defer { saved.restore(step) }
        var found: [RectifierInput] = [], collecting = true
        func parameters(reversing reversed: [RectifierInput]) -> [Float] {
            saved.restore(step)
            for k in n ... last {
                DecisionSearch.reverse(reversed.filter { $0.step == k }, in: step)
                _ = step.step(inputs, context, lr: fixture.learningRate)
                if collecting { found += search.undetermined(step: k) }
            }
            step.beforeBackward = nil
            return params.values.array
        }
        let plain = parameters(reversing: [])
        collecting = false
        let none = Dictionary(uniqueKeysWithValues: (n ... last).map { ($0, [RectifierInput]()) })
        guard zip(zip(plain, target), conditioned).contains(where: { pair, c in c && !(abs(pair.0 - pair.1) <= ReferenceTolerance.parameter) }) else {
            return none
        }
        let reversed = DecisionSearch.explaining(target, weights: weights, among: found) { parameters(reversing: $0) }
        if !reversed.isEmpty {
            print("the parameters after step \(last) equal the reference's with \(reversed.count) rectifier decision(s) float32 leaves open "
                  + "taken its way: " + reversed.map(\.description).joined(separator: "; "))
        }
        return none.merging(Dictionary(grouping: reversed, by: \.step)) { $1 }
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

/// The largest Euclidean norm of a row (last dimension) of `t`.
private func largestRowNorm(_ t: Tensor) -> Double {
    let width = t.shape.last ?? 1
    return stride(from: 0, to: t.count, by: width).map { row in (row ..< row + width).reduce(0.0) { $0 + Double(t.data[$1]) * Double(t.data[$1]) } }
        .max().map { $0.squareRoot() } ?? 0
}

/// The Euclidean distance of two vectors.
private func distance(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
}
