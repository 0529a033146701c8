// GRU.swift — one-layer unidirectional GRU over a batch-first padded sequence, PyTorch semantics:
//   r = σ(W_ir x + b_ir + W_hr h + b_hr)
//   z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//   h' = (1 − z) ⊙ n + z ⊙ h
// Weights [3H, I] and [3H, H] with gate blocks in the order r, z, n. The input projection of all time
// steps is one matrix product; the recurrence does one [B, H]·[H, 3H] product per step. Backward runs
// through time in reverse and finishes with one product per weight.

import Foundation
import Tensors

/// A gated recurrent unit whose weights live in a `ParameterStore`.
public final class GRU {
    public let inputSize: Int, hiddenSize: Int
    public let weightIH: ParameterRef, weightHH: ParameterRef, biasIH: ParameterRef, biasHH: ParameterRef
    private let params: ParameterStore
    private var input: Tensor?
    private var batch = 0, steps = 0
    private let inputGates = Tensor()   // [B·T, 3H] = x·W_ihᵀ + b_ih, rows b·T + t
    private let hiddenGates = Tensor()  // [T, B, 3H] = h_{t−1}·W_hhᵀ + b_hh
    private let gates = Tensor()        // [T, B, 3H] = r, z, n
    private let states = Tensor()       // [T + 1, B, H], states[0] = 0
    private let inputGateGrad = Tensor(), hiddenGateGrad = Tensor(), carry = Tensor()
    /// Every step's hidden state, [B, T, H].
    public let output = Tensor()
    /// The last hidden state, [B, H].
    public let finalState = Tensor()
    public let inputGrad = Tensor()

    /// Registers `name.weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0` (U(±1/√H)).
    public init(_ params: ParameterStore, _ name: String, inputSize: Int, hiddenSize: Int) {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.params = params
        let bound = 1 / Float(hiddenSize).squareRoot()
        weightIH = params.add(name + ".weight_ih_l0", [3 * hiddenSize, inputSize], .uniform(bound: bound))
        weightHH = params.add(name + ".weight_hh_l0", [3 * hiddenSize, hiddenSize], .uniform(bound: bound))
        biasIH = params.add(name + ".bias_ih_l0", [3 * hiddenSize], .uniform(bound: bound))
        biasHH = params.add(name + ".bias_hh_l0", [3 * hiddenSize], .uniform(bound: bound))
    }

    /// Runs the sequence x [B, T, inputSize] from a zero state.
    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 3 && x.shape[2] == inputSize, "GRU: input \(x.shape), expected [B, T, \(inputSize)]")
        let (b, t, h) = (x.shape[0], x.shape[1], hiddenSize)
        (batch, steps) = (b, t)
        let g3 = 3 * h
        inputGates.reshape([b * t, g3])
        gemm(transB: true, m: b * t, n: g3, k: inputSize, a: x.data, b: params.value(weightIH), c: inputGates.data)
        addRowVector(inputGates.data, rows: b * t, params.value(biasIH), g3)
        hiddenGates.reshape([t, b, g3])
        gates.reshape([t, b, g3])
        states.reshapeZeroed([t + 1, b, h])
        output.reshape([b, t, h])
        for step in 0 ..< t {
            let previous = states.data + step * b * h, next = previous + b * h
            let gh = hiddenGates.data + step * b * g3, gate = gates.data + step * b * g3
            gemm(transB: true, m: b, n: g3, k: h, a: previous, b: params.value(weightHH), c: gh)
            addRowVector(gh, rows: b, params.value(biasHH), g3)
            for row in 0 ..< b {
                let gi = inputGates.data + (row * t + step) * g3, ghRow = gh + row * g3, gRow = gate + row * g3
                for j in 0 ..< h {
                    let r = sigmoid(gi[j] + ghRow[j])
                    let z = sigmoid(gi[h + j] + ghRow[h + j])
                    let n = tanhf(gi[2 * h + j] + r * ghRow[2 * h + j])
                    gRow[j] = r; gRow[h + j] = z; gRow[2 * h + j] = n
                    next[row * h + j] = (1 - z) * n + z * previous[row * h + j]
                }
                (output.data + (row * t + step) * h).update(from: next + row * h, count: h)
            }
        }
        finalState.reshape([b, h])
        finalState.data.update(from: states.data + t * b * h, count: b * h)
        input = x
        return output
    }

    /// Backpropagation through time from dy [B, T, H] (the gradient of every step's output).
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("GRU.backward before forward") }
        let (b, t, h) = (batch, steps, hiddenSize)
        let g3 = 3 * h
        precondition(dy.count == b * t * h, "GRU: gradient \(dy.shape) does not match the output [\(b), \(t), \(h)]")
        inputGateGrad.reshape([b * t, g3])
        hiddenGateGrad.reshape([t, b, g3])
        carry.reshapeZeroed([b, h])  // ∂L/∂h_t arriving from later steps
        for step in stride(from: t - 1, through: 0, by: -1) {
            let previous = states.data + step * b * h
            let gh = hiddenGates.data + step * b * g3, gate = gates.data + step * b * g3
            let dgh = hiddenGateGrad.data + step * b * g3
            for row in 0 ..< b {
                let gRow = gate + row * g3, ghRow = gh + row * g3
                let dgi = inputGateGrad.data + (row * t + step) * g3, dghRow = dgh + row * g3
                let dOut = dy.data + (row * t + step) * h
                for j in 0 ..< h {
                    let dh = carry.data[row * h + j] + dOut[j]
                    let (r, z, n) = (gRow[j], gRow[h + j], gRow[2 * h + j])
                    let dnPre = dh * (1 - z) * (1 - n * n)
                    let dzPre = dh * (previous[row * h + j] - n) * z * (1 - z)
                    let drPre = dnPre * ghRow[2 * h + j] * r * (1 - r)
                    dgi[j] = drPre; dgi[h + j] = dzPre; dgi[2 * h + j] = dnPre
                    dghRow[j] = drPre; dghRow[h + j] = dzPre; dghRow[2 * h + j] = dnPre * r
                    carry.data[row * h + j] = dh * z
                }
            }
            // ∂L/∂h_{t−1} = dh·z + dgh·W_hh
            gemm(m: b, n: h, k: g3, a: dgh, b: params.value(weightHH), beta: 1, c: carry.data)
        }
        gemm(transA: true, m: g3, n: h, k: t * b, a: hiddenGateGrad.data, b: states.data, beta: 1, c: params.grad(weightHH))
        sumRows(hiddenGateGrad.data, rows: t * b, g3, into: params.grad(biasHH))
        gemm(transA: true, m: g3, n: inputSize, k: b * t, a: inputGateGrad.data, b: x.data, beta: 1, c: params.grad(weightIH))
        sumRows(inputGateGrad.data, rows: b * t, g3, into: params.grad(biasIH))
        inputGrad.reshape(x.shape)
        gemm(m: b * t, n: inputSize, k: g3, a: inputGateGrad.data, b: params.value(weightIH), c: inputGrad.data)
        return inputGrad
    }
}

@inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
