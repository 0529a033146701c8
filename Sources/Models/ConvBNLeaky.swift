// ConvBNLeaky.swift — the detector-style conv block: Conv2d (no bias) → BatchNorm2d → LeakyReLU(0.1),
// named `name.conv` and `name.batch_norm` as in the reference.

import Layers
import Tensors

/// Convolution, batch normalization and a leaky rectifier.
public final class ConvBNLeaky {
    public let conv: Conv2d
    public let norm: BatchNorm2d
    private let activation = LeakyReLU(slope: 0.1)

    public init(_ params: ParameterStore, buffers: ParameterStore, _ name: String, in inChannels: Int, out outChannels: Int,
                kernel: Int, computesInputGrad: Bool = true) {
        conv = Conv2d(params, name + ".conv", in: inChannels, out: outChannels, kernel: kernel, computesInputGrad: computesInputGrad)
        norm = BatchNorm2d(params, buffers: buffers, name + ".batch_norm", channels: outChannels)
    }

    @discardableResult
    public func forward(_ x: Tensor, _ context: ForwardContext) -> Tensor {
        activation.forward(norm.forward(conv.forward(x), context))
    }

    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        conv.backward(norm.backward(activation.backward(dy)))
    }
}
