// ChannelConcat.swift — concatenation of [B, C1, H, W] and [B, C2, H, W] along channels; backward splits.

import Tensors

/// Channel concatenation of two feature maps of the same batch and spatial size.
public final class ChannelConcat {
    private var firstChannels = 0, secondChannels = 0
    public let output = Tensor()
    /// ∂L/∂first and ∂L/∂second after backward.
    public let firstGrad = Tensor(), secondGrad = Tensor()

    public init() {}

    @discardableResult
    public func forward(_ first: Tensor, _ second: Tensor) -> Tensor {
        precondition(first.shape.count == 4 && second.shape.count == 4 && first.shape[0] == second.shape[0]
                     && first.shape[2...] == second.shape[2...], "ChannelConcat: shapes \(first.shape) and \(second.shape) differ outside channels")
        let (b, hw) = (first.shape[0], first.shape[2] * first.shape[3])
        (firstChannels, secondChannels) = (first.shape[1], second.shape[1])
        let total = firstChannels + secondChannels
        output.reshape([b, total, first.shape[2], first.shape[3]])
        for i in 0 ..< b {
            (output.data + i * total * hw).update(from: first.data + i * firstChannels * hw, count: firstChannels * hw)
            (output.data + (i * total + firstChannels) * hw).update(from: second.data + i * secondChannels * hw, count: secondChannels * hw)
        }
        return output
    }

    /// Splits dy into the two inputs' gradients.
    public func backward(_ dy: Tensor) {
        let (b, h, w) = (dy.shape[0], dy.shape[2], dy.shape[3])
        let (hw, total) = (h * w, firstChannels + secondChannels)
        precondition(dy.shape[1] == total, "ChannelConcat: gradient \(dy.shape) does not match the output")
        firstGrad.reshape([b, firstChannels, h, w])
        secondGrad.reshape([b, secondChannels, h, w])
        for i in 0 ..< b {
            (firstGrad.data + i * firstChannels * hw).update(from: dy.data + i * total * hw, count: firstChannels * hw)
            (secondGrad.data + i * secondChannels * hw).update(from: dy.data + (i * total + firstChannels) * hw, count: secondChannels * hw)
        }
    }
}
