// UndeterminedDecisions.swift — rectifier decisions float32 leaves open, and which way a reference took
// them.
//
// A LeakyReLU's derivative jumps from 0.1 to 1 where its input crosses zero. The fusion's rectifier
// inputs carry the float32 rounding of every layer before them (rms ~5e-7 of their spread, up to ~6e-6
// seen; Tests/Python/refclip_teacher.py audit): an input nearer zero than that takes its side from
// summation order, and two correct float32 implementations then part by 1e-4 to 1e-3 of a gradient
// tensor's norm. PyTorch parts from its own fixtures so when only its convolution kernel changes
// (oneDNN off, channels-last). Of 120 fixtures drawn by the official recipe (batch 1–8, the official
// layout), 15 meet such an input where refclip and the reference took different sides; in two of the
// four checked against float64, refclip's side is float64's and the reference's float32 is the one off.
//
// So a gradient that differs from a reference's is given one more chance: the fusion rectifier inputs of
// that forward within `nearZero` of their block's spread are the candidates, each one's decision is
// reversed alone (its backward reads the sign of the block's in-place rectified output; setting that
// value to ± the smallest float changes no forward result beyond rounding), and the reversals that bring the gradient closest to the reference's
// are kept, greedily, while each more than halves the weighted distance. The comparison then passes only
// if the gradient with those reversals meets every tolerance: a real difference is not explained by a
// few sign changes of values within rounding of zero (ReferenceGridTests checks that a perturbed
// BatchNorm statistic is still caught).

import Layers
import Models
import Tensors
import Training

/// One input of a fusion rectifier: the recorded step whose forward it belongs to (0: a single forward),
/// its block (forward order), element and value.
struct RectifierInput: Hashable, CustomStringConvertible {
    let step: Int, block: Int, element: Int
    let name: String
    let value: Float
    var description: String { (step > 0 ? "step \(step): " : "") + "\(name) rectifier input \(element) (\(value))" }
}

/// Gradients of one teacher step with chosen rectifier decisions reversed, and the search for the
/// reversals that explain a reference gradient.
struct DecisionSearch {
    /// An input is a candidate within this fraction of its block's rms input: ~3× the largest float32
    /// rounding seen there, and a few dozen candidates in a forward of ~2·10⁶ inputs.
    static let nearZero: Float = 2e-5

    let step: TeacherStep
    let inputs: TeacherInputs
    let context: ForwardContext

    /// Makes `step`'s next backward take `reversed` the other way.
    static func reverse(_ reversed: [RectifierInput], in step: TeacherStep) {
        let blocks = step.model.fusion.blocks
        step.beforeBackward = reversed.isEmpty ? nil : {
            for input in reversed {
                let y = blocks[input.block].output.data + input.element
                y.pointee = y.pointee > 0 ? -.leastNonzeroMagnitude : .leastNonzeroMagnitude
            }
        }
    }

    /// The step's loss, leaving its gradient in the model's store, with `reversed` decisions reversed;
    /// BatchNorm running statistics are left as they were.
    @discardableResult
    func run(reversing reversed: [RectifierInput] = []) -> Double {
        let statistics = step.model.buffers.values.array
        Self.reverse(reversed, in: step)
        defer {
            step.beforeBackward = nil
            step.model.buffers.set(all: statistics)
        }
        return step.computeGradients(inputs, context)
    }

    /// The rectifier inputs of the last unreversed forward within `nearZero` of their block's rms, as
    /// inputs of recorded step `recorded`.
    func undetermined(step recorded: Int = 0) -> [RectifierInput] {
        step.model.fusion.blocks.enumerated().flatMap { block, layer -> [RectifierInput] in
            // The block rectifies in place: its inputs are the outputs with the negative slope undone.
            let y = layer.output
            let z = (0 ..< y.count).map { y.data[$0] > 0 ? y.data[$0] : y.data[$0] / ConvBNLeaky.slope }
            let rms = z.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(z.count, 1))
            let limit = Self.nearZero * Float(rms.squareRoot())
            return z.indices.filter { abs(z[$0]) < limit }.map { RectifierInput(step: recorded, block: block, element: $0, name: layer.name, value: z[$0]) }
        }
    }

    /// The reversals among the undetermined inputs of the step's forward that explain the gradient
    /// `reference` (flat, in parameter order). Leaves the unreversed gradient in the store.
    func explaining(_ reference: [Float], weights: [Double]) -> [RectifierInput] {
        run()
        let candidates = undetermined()
        defer { run() }
        return Self.explaining(reference, weights: weights, among: candidates) { reversed in
            run(reversing: reversed)
            return step.model.params.grads.array
        }
    }

    /// Greedily, the reversals among `candidates` that bring `outcome` (what is compared, given the
    /// reversals) closest to `target` in Σ weight·(outcome − target)², each kept while it more than
    /// halves that distance. One `outcome` per candidate: effects are taken as additive.
    static func explaining(_ target: [Float], weights: [Double], among candidates: [RectifierInput],
                           outcome: ([RectifierInput]) -> [Float]) -> [RectifierInput] {
        guard !candidates.isEmpty else { return [] }
        let base = outcome([])
        let effects = candidates.map { candidate in zip(outcome([candidate]), base).map { Double($0) - Double($1) } }
        var residual = zip(base, target).map { Double($0) - Double($1) }
        func cost(adding effect: [Double]?) -> Double {
            (0 ..< residual.count).reduce(0.0) { sum, j in
                let r = residual[j] + (effect?[j] ?? 0)
                return sum + weights[j] * r * r
            }
        }
        var chosen: [Int] = []
        while true {
            let current = cost(adding: nil)
            let trials = candidates.indices.filter { !chosen.contains($0) }.map { ($0, cost(adding: effects[$0])) }
            guard let best = trials.min(by: { $0.1 < $1.1 }), best.1 < current / 2 else { break }
            chosen.append(best.0)
            for j in residual.indices { residual[j] += effects[best.0][j] }
        }
        return chosen.map { candidates[$0] }
    }
}

/// Everything a teacher step changes: parameters, BatchNorm running statistics, Adam's moments and count.
struct StepSnapshot {
    private let params: [Float], statistics: [Float], firstMoment: [Float], secondMoment: [Float], count: Int

    init(_ step: TeacherStep) {
        (params, statistics) = (step.model.params.values.array, step.model.buffers.values.array)
        (firstMoment, secondMoment, count) = (step.optimizer.firstMoment.array, step.optimizer.secondMoment.array, step.optimizer.step)
    }

    func restore(_ step: TeacherStep) {
        step.model.params.set(all: params)
        step.model.buffers.set(all: statistics)
        step.optimizer.firstMoment.copy(from: Tensor([firstMoment.count], firstMoment))
        step.optimizer.secondMoment.copy(from: Tensor([secondMoment.count], secondMoment))
        step.optimizer.step = count
    }
}
