// LeakyReLU.swift — y = x for x > 0, slope·x otherwise; slope 0 is the ReLU.

import Tensors

/// Leaky rectifier (slope 0.1 in the detector-style convs) and, with slope 0, the plain ReLU.
public final class LeakyReLU {
    public let slope: Float
    private var input: Tensor?
    public let output = Tensor()
    public let inputGrad = Tensor()

    public init(slope: Float) { self.slope = slope }

    /// The plain rectifier max(0, x).
    public static func relu() -> LeakyReLU { LeakyReLU(slope: 0) }

    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        output.reshape(x.shape)
        let (src, dst, s) = (x.data, output.data, slope)
        for i in 0 ..< x.count { dst[i] = src[i] > 0 ? src[i] : s * src[i] }
        input = x
        return output
    }

    /// dx = dy where x > 0, slope·dy elsewhere.
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("LeakyReLU.backward before forward") }
        precondition(dy.count == x.count, "LeakyReLU: gradient \(dy.shape) does not match \(x.shape)")
        inputGrad.reshape(x.shape)
        let (src, g, dx, s) = (x.data, dy.data, inputGrad.data, slope)
        for i in 0 ..< x.count { dx[i] = src[i] > 0 ? g[i] : s * g[i] }
        return inputGrad
    }
}
