// Linear.swift — y = x·Wᵀ + b over the last dimension, PyTorch layout W [out, in].

import Tensors

/// A fully connected layer whose weights live in a `ParameterStore`.
public final class Linear {
    public let inFeatures: Int, outFeatures: Int
    public let weight: ParameterRef
    public let bias: ParameterRef?
    private let params: ParameterStore
    private let computesInputGrad: Bool
    private var input: Tensor?
    /// The last forward's result, [..., outFeatures].
    public let output = Tensor()
    /// The last backward's ∂L/∂x.
    public let inputGrad = Tensor()

    /// Registers `name.weight` (and `name.bias`) with PyTorch's default initialization.
    /// `computesInputGrad: false` skips ∂L/∂x for layers that read frozen inputs.
    public init(_ params: ParameterStore, _ name: String, in inFeatures: Int, out outFeatures: Int,
                bias: Bool = true, computesInputGrad: Bool = true) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.params = params
        self.computesInputGrad = computesInputGrad
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = params.add(name + ".weight", [outFeatures, inFeatures], .uniform(bound: bound))
        self.bias = bias ? params.add(name + ".bias", [outFeatures], .uniform(bound: bound)) : nil
    }

    /// y = x·Wᵀ + b for x of shape [..., inFeatures].
    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == inFeatures, "Linear(\(weight.name)): input \(x.shape), expected [..., \(inFeatures)]")
        let rows = x.count / inFeatures
        output.reshape(Array(x.shape.dropLast()) + [outFeatures])
        gemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: x.data, b: params.value(weight), c: output.data)
        if let bias { addRowVector(output.data, rows: rows, params.value(bias), outFeatures) }
        input = x
        return output
    }

    /// dW += dyᵀ·x, db += Σ dy, and returns dx = dy·W.
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Linear(\(weight.name)).backward before forward") }
        let rows = x.count / inFeatures
        precondition(dy.count == rows * outFeatures, "Linear(\(weight.name)): gradient \(dy.shape) does not match output \(output.shape)")
        gemm(transA: true, m: outFeatures, n: inFeatures, k: rows, a: dy.data, b: x.data, beta: 1, c: params.grad(weight))
        if let bias { sumRows(dy.data, rows: rows, outFeatures, into: params.grad(bias)) }
        if computesInputGrad {
            inputGrad.reshape(x.shape)
            gemm(m: rows, n: inFeatures, k: outFeatures, a: dy.data, b: params.value(weight), c: inputGrad.data)
        }
        return inputGrad
    }
}
