// DeformableConvolution.swift — a deformable convolution for inference, as DCN v1 computes it (the
// CUDA kernel of the RefCLIP/SimREC detector; torchvision's deform_conv2d agrees): every kernel tap
// (i, j) of output (oy, ox) reads the input at (oy·s − p + i + Δy, ox·s − p + j + Δx) by bilinear
// interpolation, corners outside the image counting as zero and the whole tap zero unless the point
// lies in (−1, H) × (−1, W). The input channels form `deformableGroups` consecutive groups; group g
// takes its offsets from channels [2gK, 2(g+1)K) of the offset map, (Δy, Δx) of tap k = i·k + j at
// channels 2k and 2k + 1. The sampled taps form the same column matrix as im2col, so the product is
// one OpenBLAS sgemm; with zero offsets the columns equal im2col's exactly. Each channel is sampled
// from a copy framed by one row and column of zeros, so a tap's four corners are always the four
// neighbours of one index (a corner outside the image reads a zero, as DCN's zero weight gives).

import Tensors

/// One deformable convolution layer ready for inference.
final class DeformableConvolution {
    let filters: Int, channels: Int, size: Int, stride: Int, padding: Int, deformableGroups: Int
    /// [filters, channels·size·size] and [filters].
    private let weights: [Float], biases: [Float]
    private let columns = Tensor()
    /// One input channel inside a frame of zeros, [(h + 2) × (w + 2)].
    private var framed: [Float] = []
    /// Per tap and output position of one group: the framed index of the top-left corner, and the
    /// four corners' weights (top-left, top-right, bottom-left, bottom-right).
    private var corners: [Int32] = [], cornerWeights: [Float] = []

    init(weights: [Float], biases: [Float], filters: Int, channels: Int, size: Int, stride: Int = 1, padding: Int, deformableGroups: Int) {
        precondition(weights.count == filters * channels * size * size && biases.count == filters, "deformable convolution values do not fit its shape")
        precondition(channels % deformableGroups == 0, "\(channels) channels do not split into \(deformableGroups) deformable groups")
        (self.filters, self.channels, self.size, self.stride, self.padding, self.deformableGroups) = (filters, channels, size, stride, padding, deformableGroups)
        self.weights = weights
        self.biases = biases
    }

    /// Channels of the offset map: (Δy, Δx) per tap per deformable group.
    var offsetChannels: Int { 2 * deformableGroups * size * size }

    func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * padding - size) / stride + 1, (w + 2 * padding - size) / stride + 1)
    }

    /// Multiply–adds of the product at input `h`×`w` (the sampling adds four per column entry).
    func multiplyAdds(height h: Int, width w: Int) -> Int {
        let (oh, ow) = outputSize(h, w)
        return filters * channels * size * size * oh * ow
    }

    /// y = W ⊛ₒ x + b for x [channels, h, w] and offsets [offsetChannels, oh, ow], into `output` [filters, oh, ow].
    func forward(_ x: UnsafePointer<Float>, height h: Int, width w: Int, offsets: UnsafePointer<Float>, into output: Tensor) {
        let (oh, ow) = outputSize(h, w)
        let n = oh * ow, taps = size * size
        output.reshape([filters, oh, ow])
        columns.reshape([channels * taps, n])
        if corners.count != taps * n {
            corners = [Int32](repeating: 0, count: taps * n)
            cornerWeights = [Float](repeating: 0, count: 4 * taps * n)
        }
        let fw = w + 2
        if framed.count != (h + 2) * fw { framed = [Float](repeating: 0, count: (h + 2) * fw) }  // the frame stays zero
        let perGroup = channels / deformableGroups
        for group in 0 ..< deformableGroups {
            locateCorners(offsets + group * 2 * taps * n, height: h, width: w, oh: oh, ow: ow)
            corners.withUnsafeBufferPointer { index in
                cornerWeights.withUnsafeBufferPointer { weight in
                    framed.withUnsafeMutableBufferPointer { frame in
                        let frame = frame.baseAddress!
                        for c in group * perGroup ..< (group + 1) * perGroup {
                            for y in 0 ..< h { (frame + (y + 1) * fw + 1).update(from: x + (c * h + y) * w, count: w) }
                            let row = columns.data + c * taps * n
                            for t in 0 ..< taps * n {
                                let corner = frame + Int(index[t]), q = 4 * t
                                row[t] = weight[q] * corner[0] + weight[q + 1] * corner[1] + weight[q + 2] * corner[fw] + weight[q + 3] * corner[fw + 1]
                            }
                        }
                    }
                }
            }
        }
        weights.withUnsafeBufferPointer { gemm(m: filters, n: n, k: channels * taps, a: $0.baseAddress!, b: UnsafePointer(columns.data), c: output.data) }
        for f in 0 ..< filters {
            let row = output.data + f * n, bias = biases[f]
            for j in 0 ..< n { row[j] += bias }
        }
    }

    /// The bilinear corners of every tap of one group, as framed indices: a point outside (−1, h) ×
    /// (−1, w) gets zero weights (at index 0, a zero of the frame).
    private func locateCorners(_ offsets: UnsafePointer<Float>, height h: Int, width w: Int, oh: Int, ow: Int) {
        let n = oh * ow, fw = w + 2
        for i in 0 ..< size {
            for j in 0 ..< size {
                let tap = i * size + j
                let dy = offsets + 2 * tap * n, dx = offsets + (2 * tap + 1) * n
                for oy in 0 ..< oh {
                    for ox in 0 ..< ow {
                        let p = oy * ow + ox, t = tap * n + p, q = 4 * t
                        let y = Float(oy * stride - padding + i) + dy[p], xx = Float(ox * stride - padding + j) + dx[p]
                        guard y > -1, xx > -1, y < Float(h), xx < Float(w) else {
                            corners[t] = 0
                            for corner in 0 ..< 4 { cornerWeights[q + corner] = 0 }
                            continue
                        }
                        let y0 = y.rounded(.down), x0 = xx.rounded(.down)
                        let ly = y - y0, lx = xx - x0
                        corners[t] = Int32((Int(y0) + 1) * fw + Int(x0) + 1)
                        cornerWeights[q] = (1 - ly) * (1 - lx)
                        cornerWeights[q + 1] = (1 - ly) * lx
                        cornerWeights[q + 2] = ly * (1 - lx)
                        cornerWeights[q + 3] = ly * lx
                    }
                }
            }
        }
    }
}
