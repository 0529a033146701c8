// LayerCheck.swift — checks one layer's backward against finite differences: ∂L/∂x and ∂L/∂θ for
// every parameter the layer registered, under the loss L = Σ w ⊙ layer(x) with fixed random w.

import Layers
import Tensors
import XCTest

/// Runs `forward` once, `backward` with ∂L/∂y = w, and compares the gradients of the input (when
/// `backward` returns one) and of every parameter in `params` with central differences; parameters
/// named in `zeroGradient` must get a zero gradient (see `assertGradient`).
public func assertLayerGradients(
    _ what: String, input: Tensor?, params: ParameterStore?, tolerance: Double = 5e-3, step: Float = 1e-2, zeroGradient: Set<String> = [],
    forward: () -> Tensor, backward: (Tensor) -> Tensor?,
    file: StaticString = #filePath, line: UInt = #line
) {
    let y = forward()
    let loss = ProjectionLoss(shape: y.shape, seed: 99)
    params?.zeroGrads()
    let dx = backward(loss.weights).map { t -> [Float] in t.array }
    func evaluate() -> Double { loss.value(forward()) }
    if let input, let dx {
        dx.withUnsafeBufferPointer {
            assertGradient("\(what) ∂L/∂x", values: input.data, analytic: $0.baseAddress!, count: input.count,
                           tolerance: tolerance, step: step, loss: evaluate, file: file, line: line)
        }
    }
    guard let params else { return }
    let grads = params.grads.array
    for ref in params.refs {
        grads.withUnsafeBufferPointer {
            assertGradient("\(what) ∂L/∂\(ref.name)", values: params.value(ref), analytic: $0.baseAddress! + ref.offset,
                           count: ref.count, tolerance: tolerance, step: step, expectZero: zeroGradient.contains(ref.name), loss: evaluate,
                           file: file, line: line)
        }
    }
}
