// Dropout.swift — inverted dropout whose mask is a pure function of (step key, site, global sample
// index, element): the same sample gets the same mask at any world size and on any rank.

import Tensors

/// Zeroes each element with probability `rate` and scales the rest by 1/(1 − rate) while training.
public final class Dropout {
    public let rate: Float
    /// Names this dropout site in the random key, e.g. "lang_encoder.sa_list.0.dropout1".
    public let site: String
    private let mask = Tensor()
    private var active = false
    public let output = Tensor()
    public let inputGrad = Tensor()

    public init(rate: Float, site: String) {
        precondition(rate >= 0 && rate < 1, "Dropout rate \(rate) outside [0, 1)")
        self.rate = rate
        self.site = site
    }

    /// x's first dimension is the batch; row b uses sample `context.sampleIndices[b]`'s stream.
    @discardableResult
    public func forward(_ x: Tensor, _ context: ForwardContext) -> Tensor {
        active = context.dropout && rate > 0
        output.reshape(x.shape)
        guard active else {
            output.data.update(from: x.data, count: x.count)
            return output
        }
        let rows = x.shape[0], perRow = x.count / max(rows, 1)
        precondition(context.sampleIndices.count == rows, "Dropout(\(site)): \(context.sampleIndices.count) sample indices for \(rows) rows")
        mask.reshape(x.shape)
        let keep = 1 / (1 - rate)
        let siteKey = context.stepKey.child(site)
        for r in 0 ..< rows {
            let key = siteKey.child(context.sampleIndices[r])
            let m = mask.data + r * perRow, src = x.data + r * perRow, dst = output.data + r * perRow
            for i in 0 ..< perRow {
                m[i] = key.uniform(i) < rate ? 0 : keep
                dst[i] = src[i] * m[i]
            }
        }
        return output
    }

    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        inputGrad.reshape(dy.shape)
        if active {
            for i in 0 ..< dy.count { inputGrad.data[i] = dy.data[i] * mask.data[i] }
        } else {
            inputGrad.data.update(from: dy.data, count: dy.count)
        }
        return inputGrad
    }
}
