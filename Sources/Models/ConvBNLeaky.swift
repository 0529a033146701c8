// ConvBNLeaky.swift — the detector-style conv block: Conv2d (no bias) → BatchNorm2d → LeakyReLU(0.1),
// named `name.conv` and `name.batch_norm` as in the reference; optionally a ×2 upsampling after a 1×1
// convolution, which is the reference's upsampling before it: a 1×1 convolution mixes channels and the
// upsampling mixes pixels within a channel, so the two commute, and the convolution then runs on the
// small map (a quarter of the work, and the upsampled input is never stored).
//
// Memory: the rectifier runs in place on the normalization's output and its backward takes the slope
// from that output's sign; the rectifier's and the normalization's input gradients share one buffer
// (the incoming gradient's own, when the caller allows), released once the convolution has consumed it. A block keeps two maps for backward: the
// (upsampled) convolution output, which the normalization's backward reads, and its own output.

import Layers
import Tensors

/// Convolution, [upsampling,] batch normalization and a leaky rectifier.
public final class ConvBNLeaky {
    /// The rectifier's slope for negative inputs.
    public static let slope: Float = 0.1
    /// The block's reference name (`name.conv.weight` is its convolution's weight).
    public let name: String
    public let conv: Conv2d
    public let norm: BatchNorm2d
    private let upsample: Resampling?

    /// `upsample`, only with a 1×1 kernel, resamples the convolution's output (see the file comment).
    public init(_ params: ParameterStore, buffers: ParameterStore, _ name: String, in inChannels: Int, out outChannels: Int,
                kernel: Int, upsample: Resampling? = nil, computesInputGrad: Bool = true) {
        precondition(upsample == nil || kernel == 1, "ConvBNLeaky(\(name)): an upsampling commutes only with a 1×1 convolution")
        self.name = name
        self.upsample = upsample
        conv = Conv2d(params, name + ".conv", in: inChannels, out: outChannels, kernel: kernel, computesInputGrad: computesInputGrad)
        norm = BatchNorm2d(params, buffers: buffers, name + ".batch_norm", channels: outChannels)
    }

    /// The last forward's result (the rectified normalization output, in place).
    public var output: Tensor { norm.output }

    @discardableResult
    public func forward(_ x: Tensor, _ context: ForwardContext) -> Tensor {
        let convolved = conv.forward(x)
        let y = norm.forward(upsample?.forward(convolved) ?? convolved, context)
        LeakyReLU.rectify(y.data, into: y.data, count: y.count, slope: Self.slope)
        return context.checked(y, name)
    }

    /// ∂L/∂x (the convolution's `inputGrad`, which the caller may release once consumed). With
    /// `overwritingGradient` dy is a temporary of the caller's and holds the block's intermediate
    /// gradient instead of a buffer of its own.
    @discardableResult
    public func backward(_ dy: Tensor, overwritingGradient: Bool = false) -> Tensor {
        precondition(dy.shape == output.shape, "ConvBNLeaky(\(name)): gradient \(dy.shape) does not match output \(output.shape)")
        let grad = overwritingGradient ? dy : norm.inputGrad
        grad.reshape(dy.shape)
        LeakyReLU.backward(decidedBy: output.data, dy.data, into: grad.data, count: dy.count, slope: Self.slope)
        norm.backward(grad, inPlace: true)
        let convGrad = upsample?.backward(grad) ?? grad
        let dx = conv.backward(convGrad)
        if grad !== dy { grad.release() }
        if convGrad !== dy { convGrad.release() }
        return dx
    }
}
