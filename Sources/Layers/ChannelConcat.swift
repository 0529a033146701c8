// ChannelConcat.swift — concatenation of [B, C1, H, W] and [B, C2, H, W] along channels; backward
// splits. With `halving`, both inputs are 2×2 average-pooled (stride 2) on the way in, which is the
// pooling of the concatenation without the full-size concatenation ever being stored: the fusion's
// down branches pool what they concatenate, and pooling backward needs no saved input.

import Tensors

/// Channel concatenation of two feature maps of the same batch and spatial size, optionally halved.
public final class ChannelConcat {
    /// Whether both inputs are 2×2 average-pooled.
    public let halving: Bool
    /// Whether backward gives the second input's gradient (not when it is a frozen input).
    public let computesSecondGrad: Bool
    private var firstChannels = 0, secondChannels = 0
    private var inputHeight = 0, inputWidth = 0
    public let output = Tensor()
    /// ∂L/∂first and ∂L/∂second after backward, at the inputs' size; release them once consumed.
    public let firstGrad = Tensor(), secondGrad = Tensor()

    public init(halving: Bool = false, computesSecondGrad: Bool = true) {
        self.halving = halving
        self.computesSecondGrad = computesSecondGrad
    }

    @discardableResult
    public func forward(_ first: Tensor, _ second: Tensor) -> Tensor {
        precondition(first.shape.count == 4 && second.shape.count == 4 && first.shape[0] == second.shape[0]
                     && first.shape[2...] == second.shape[2...], "ChannelConcat: shapes \(first.shape) and \(second.shape) differ outside channels")
        let (h, w) = (first.shape[2], first.shape[3])
        precondition(!halving || (h % 2 == 0 && w % 2 == 0), "ChannelConcat: halving needs an even height and width, got \(first.shape)")
        (firstChannels, secondChannels, inputHeight, inputWidth) = (first.shape[1], second.shape[1], h, w)
        let b = first.shape[0], total = firstChannels + secondChannels
        let (oh, ow) = halving ? (h / 2, w / 2) : (h, w)
        output.reshape([b, total, oh, ow])
        func place(_ source: Tensor, _ channels: Int, at offset: Int, image i: Int) {
            let from = source.data + i * channels * h * w, to = output.data + (i * total + offset) * oh * ow
            if halving {
                for c in 0 ..< channels { pool(from + c * h * w, into: to + c * oh * ow) }
            } else {
                to.update(from: from, count: channels * h * w)
            }
        }
        for i in 0 ..< b {
            place(first, firstChannels, at: 0, image: i)
            place(second, secondChannels, at: firstChannels, image: i)
        }
        return output
    }

    /// Splits dy into the two inputs' gradients (spread back over each 2×2 window when halving).
    public func backward(_ dy: Tensor) {
        let b = dy.shape[0], total = firstChannels + secondChannels
        let (h, w) = (inputHeight, inputWidth), (oh, ow) = halving ? (h / 2, w / 2) : (h, w)
        precondition(dy.shape == [b, total, oh, ow], "ChannelConcat: gradient \(dy.shape) does not match the output")
        firstGrad.reshape([b, firstChannels, h, w])
        if computesSecondGrad { secondGrad.reshape([b, secondChannels, h, w]) }
        func split(into target: Tensor, _ channels: Int, at offset: Int, image i: Int) {
            let from = dy.data + (i * total + offset) * oh * ow, to = target.data + i * channels * h * w
            if halving {
                for c in 0 ..< channels { unpool(from + c * oh * ow, into: to + c * h * w) }
            } else {
                to.update(from: from, count: channels * h * w)
            }
        }
        for i in 0 ..< b {
            split(into: firstGrad, firstChannels, at: 0, image: i)
            if computesSecondGrad { split(into: secondGrad, secondChannels, at: firstChannels, image: i) }
        }
    }

    /// One plane's 2×2 means.
    private func pool(_ plane: UnsafePointer<Float>, into pooled: UnsafeMutablePointer<Float>) {
        let (w, oh, ow) = (inputWidth, inputHeight / 2, inputWidth / 2)
        for y in 0 ..< oh {
            let r0 = plane + 2 * y * w, r1 = r0 + w
            for x in 0 ..< ow { pooled[y * ow + x] = (r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1]) * 0.25 }
        }
    }

    /// The adjoint of `pool`: each mean's gradient, a quarter to each pixel of its window.
    private func unpool(_ grad: UnsafePointer<Float>, into plane: UnsafeMutablePointer<Float>) {
        let (w, oh, ow) = (inputWidth, inputHeight / 2, inputWidth / 2)
        for y in 0 ..< oh {
            let r0 = plane + 2 * y * w, r1 = r0 + w
            for x in 0 ..< ow {
                let v = grad[y * ow + x] * 0.25
                r0[2 * x] = v; r0[2 * x + 1] = v; r1[2 * x] = v; r1[2 * x + 1] = v
            }
        }
    }
}
