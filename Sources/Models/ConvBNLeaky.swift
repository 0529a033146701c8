// ConvBNLeaky.swift — the detector-style conv block: Conv2d (no bias) → BatchNorm2d → LeakyReLU(0.1),
// named `name.conv` and `name.batch_norm` as in the reference, and the forms of it that compute the
// reference's ×2 upsampling followed by such a block without the upsampled map (its `Resolution`):
// a 1×1 convolution commutes with any upsampling (it mixes channels, the upsampling mixes pixels within
// a channel), and BatchNorm and the rectifier commute with a nearest one (same statistics, elementwise),
// so the block runs on the small map and the next 3×3 convolution reads it upsampled (UpsampledConv2d).
//
// Memory: the rectifier runs in place on the normalization's output and its backward takes the slope
// from that output's sign; the rectifier's and the normalization's input gradients share one buffer
// (the incoming gradient's own, when the caller allows), released once the convolution has consumed it.
// A block keeps two maps for backward: the normalization's input, released at the end of backward, and
// its own output, which the next layer's backward reads before this one's.

import Layers
import Tensors

/// Convolution, batch normalization and a leaky rectifier.
public final class ConvBNLeaky {
    /// Where the block sits relative to a ×2 upsampling of the reference.
    public enum Resolution {
        /// No upsampling.
        case plain
        /// The reference upsamples the input of this 1×1 block: the convolution runs first, on the
        /// small map, and its output is upsampled (any upsampling).
        case upsampledAfterConvolution(Resampling)
        /// The reference nearest-upsamples the input of this 1×1 block: the whole block runs on the
        /// small map, its output to be read upsampled by the next block.
        case nearestUpsampledLater
        /// This 3×3 block reads its input nearest-upsampled.
        case readsNearestUpsampled
    }

    /// The rectifier's slope for negative inputs.
    public static let slope: Float = 0.1
    /// The block's reference name (`name.conv.weight` is its convolution's weight).
    public let name: String
    public let conv: Convolution
    public let norm: BatchNorm2d
    private let upsample: Resampling?
    /// The normalization's input of the last forward, released once backward has read it.
    private var normInput: Tensor?

    public init(_ params: ParameterStore, buffers: ParameterStore, _ name: String, in inChannels: Int, out outChannels: Int,
                kernel: Int, resolution: Resolution = .plain, computesInputGrad: Bool = true) {
        self.name = name
        var replication = 1
        switch resolution {
        case .plain:
            upsample = nil
        case .upsampledAfterConvolution(let sampler):
            precondition(kernel == 1, "ConvBNLeaky(\(name)): an upsampling commutes only with a 1×1 convolution")
            upsample = sampler
        case .nearestUpsampledLater:
            precondition(kernel == 1, "ConvBNLeaky(\(name)): an upsampling commutes only with a 1×1 convolution")
            upsample = nil
            replication = 4
        case .readsNearestUpsampled:
            precondition(kernel == 3, "ConvBNLeaky(\(name)): the upsampled convolution is 3×3")
            upsample = nil
        }
        if case .readsNearestUpsampled = resolution {
            conv = UpsampledConv2d(params, name + ".conv", in: inChannels, out: outChannels, computesInputGrad: computesInputGrad)
        } else {
            conv = Conv2d(params, name + ".conv", in: inChannels, out: outChannels, kernel: kernel, computesInputGrad: computesInputGrad)
        }
        norm = BatchNorm2d(params, buffers: buffers, name + ".batch_norm", channels: outChannels, replication: replication)
    }

    /// The last forward's result (the rectified normalization output, in place).
    public var output: Tensor { norm.output }

    @discardableResult
    public func forward(_ x: Tensor, _ context: ForwardContext) -> Tensor {
        let convolved = conv.forward(x)
        let normalized = upsample?.forward(convolved) ?? convolved
        if normalized !== convolved { convolved.release() }
        normInput = normalized
        let y = norm.forward(normalized, context)
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
        normInput?.release()
        return dx
    }
}
