// LeakyReLU.swift — y = x for x > 0, slope·x otherwise; slope 0 is the ReLU. The kernels also run in
// place (a block that rectifies its normalization's output keeps one buffer): for slope ≥ 0 the output
// is positive exactly where the input is, so backward can take its decisions from either.

import Tensors

/// Leaky rectifier (slope 0.1 in the detector-style convs) and, with slope 0, the plain ReLU.
public final class LeakyReLU {
    public let slope: Float
    private var input: Tensor?
    public let output = Tensor()
    public let inputGrad = Tensor()

    public init(slope: Float) {
        precondition(slope >= 0, "LeakyReLU: the slope must not be negative, got \(slope)")
        self.slope = slope
    }

    /// The plain rectifier max(0, x).
    public static func relu() -> LeakyReLU { LeakyReLU(slope: 0) }

    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        output.reshape(x.shape)
        Self.rectify(x.data, into: output.data, count: x.count, slope: slope)
        input = x
        return output
    }

    /// dx = dy where x > 0, slope·dy elsewhere.
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("LeakyReLU.backward before forward") }
        precondition(dy.count == x.count, "LeakyReLU: gradient \(dy.shape) does not match \(x.shape)")
        inputGrad.reshape(x.shape)
        Self.backward(decidedBy: x.data, dy.data, into: inputGrad.data, count: x.count, slope: slope)
        return inputGrad
    }

    /// y[i] = x[i] > 0 ? x[i] : slope·x[i]; `y` may be `x`.
    public static func rectify(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, slope: Float) {
        for i in 0 ..< count { y[i] = x[i] > 0 ? x[i] : slope * x[i] }
    }

    /// dx[i] = dy[i] where decisions[i] > 0, slope·dy[i] elsewhere; `decisions` is the rectifier's input
    /// or its output (the same sign), and `dx` may be `dy`.
    public static func backward(decidedBy decisions: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                                count: Int, slope: Float) {
        for i in 0 ..< count { dx[i] = decisions[i] > 0 ? dy[i] : slope * dy[i] }
    }
}
