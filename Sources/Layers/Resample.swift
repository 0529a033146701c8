// Resample.swift — the fusion's bilinear ×2 upsampling (aligned corners), a linear map within each
// channel whose backward applies the transpose. (Its nearest upsampling is never formed: see
// UpsampledConv2d; its 2×2 average pooling is part of ChannelConcat, which pools what it concatenates.)

import Tensors

/// A ×2 upsampling of [B, C, H, W] to [B, C, 2H, 2W].
public protocol Resampling: AnyObject {
    func forward(_ x: Tensor) -> Tensor
    /// ∂L/∂x (the sampler's `inputGrad`, which the caller may release once consumed).
    func backward(_ dy: Tensor) -> Tensor
}

/// Bilinear ×2 upsampling of [B, C, H, W] to [B, C, 2H, 2W] with `align_corners=True`: output pixel i
/// samples input coordinate i·(H−1)/(2H−1).
public final class UpsampleBilinear2x: Resampling {
    private var inputShape: [Int] = []
    public let output = Tensor()
    public let inputGrad = Tensor()

    public init() {}

    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4, "UpsampleBilinear2x: input \(x.shape), expected [B, C, H, W]")
        inputShape = x.shape
        let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        output.reshape([x.shape[0], x.shape[1], 2 * h, 2 * w])
        let rows = taps(h), cols = taps(w)
        for p in 0 ..< planes {
            let src = x.data + p * h * w, dst = output.data + p * 4 * h * w
            for (oy, ry) in rows.enumerated() {
                let top = src + ry.low * w, bottom = src + ry.high * w
                let out = dst + oy * 2 * w
                for (ox, rx) in cols.enumerated() {
                    let t = top[rx.low] * (1 - rx.frac) + top[rx.high] * rx.frac
                    let b = bottom[rx.low] * (1 - rx.frac) + bottom[rx.high] * rx.frac
                    out[ox] = t * (1 - ry.frac) + b * ry.frac
                }
            }
        }
        return output
    }

    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        let (planes, h, w) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3])
        precondition(dy.count == planes * 4 * h * w, "UpsampleBilinear2x: gradient \(dy.shape) does not match the output")
        inputGrad.reshapeZeroed(inputShape)
        let rows = taps(h), cols = taps(w)
        for p in 0 ..< planes {
            let g = dy.data + p * 4 * h * w, dx = inputGrad.data + p * h * w
            for (oy, ry) in rows.enumerated() {
                let top = dx + ry.low * w, bottom = dx + ry.high * w
                let row = g + oy * 2 * w
                for (ox, rx) in cols.enumerated() {
                    let v = row[ox]
                    let vt = v * (1 - ry.frac), vb = v * ry.frac
                    top[rx.low] += vt * (1 - rx.frac)
                    top[rx.high] += vt * rx.frac
                    bottom[rx.low] += vb * (1 - rx.frac)
                    bottom[rx.high] += vb * rx.frac
                }
            }
        }
        return inputGrad
    }

    /// For each of the 2n output positions: the two input neighbours and the weight of the upper one.
    private func taps(_ n: Int) -> [(low: Int, high: Int, frac: Float)] {
        let scale = n > 1 ? Float(n - 1) / Float(2 * n - 1) : 0
        return (0 ..< 2 * n).map { i in
            let source = Float(i) * scale
            let low = min(Int(source), n - 1)
            let high = min(low + 1, n - 1)
            return (low, high, source - Float(low))
        }
    }
}
