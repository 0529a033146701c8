// DeformableConvolution.swift — a deformable convolution for inference, as DCN v1 computes it (the
// CUDA kernel of the RefCLIP/SimREC detector; torchvision's deform_conv2d agrees): every kernel tap
// (i, j) of output (oy, ox) reads the input at (oy·s − p + i + Δy, ox·s − p + j + Δx) by bilinear
// interpolation, corners outside the image counting as zero and the whole tap zero unless the point
// lies in (−1, H) × (−1, W). The input channels form `deformableGroups` consecutive groups; group g
// takes its offsets from channels [2gK, 2(g+1)K) of the offset map, (Δy, Δx) of tap k = i·k + j at
// channels 2k and 2k + 1. The sampled taps form the same column matrix as im2col, so the product is
// one OpenBLAS sgemm; with zero offsets the columns equal im2col's exactly.

import Tensors

/// One deformable convolution layer ready for inference.
final class DeformableConvolution {
    let filters: Int, channels: Int, size: Int, stride: Int, padding: Int, deformableGroups: Int
    /// [filters, channels·size·size] and [filters].
    private let weights: [Float], biases: [Float]
    private let columns = Tensor()
    /// Per tap and output position of one group: the four corners' input indices and weights.
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
        if corners.count != 4 * taps * n {
            corners = [Int32](repeating: 0, count: 4 * taps * n)
            cornerWeights = [Float](repeating: 0, count: 4 * taps * n)
        }
        let perGroup = channels / deformableGroups
        for group in 0 ..< deformableGroups {
            locateCorners(offsets + group * 2 * taps * n, height: h, width: w, oh: oh, ow: ow)
            corners.withUnsafeBufferPointer { index in
                cornerWeights.withUnsafeBufferPointer { weight in
                    for c in group * perGroup ..< (group + 1) * perGroup {
                        let plane = x + c * h * w
                        let row = columns.data + c * taps * n
                        for t in 0 ..< taps * n {
                            let q = 4 * t
                            row[t] = weight[q] * plane[Int(index[q])] + weight[q + 1] * plane[Int(index[q + 1])]
                                + weight[q + 2] * plane[Int(index[q + 2])] + weight[q + 3] * plane[Int(index[q + 3])]
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

    /// The bilinear corners of every tap of one group: weight 0 (index 0) for a corner outside the
    /// image or a point outside (−1, h) × (−1, w).
    private func locateCorners(_ offsets: UnsafePointer<Float>, height h: Int, width w: Int, oh: Int, ow: Int) {
        let n = oh * ow
        for i in 0 ..< size {
            for j in 0 ..< size {
                let tap = i * size + j
                let dy = offsets + 2 * tap * n, dx = offsets + (2 * tap + 1) * n
                for oy in 0 ..< oh {
                    for ox in 0 ..< ow {
                        let p = oy * ow + ox, q = 4 * (tap * n + p)
                        let y = Float(oy * stride - padding + i) + dy[p], xx = Float(ox * stride - padding + j) + dx[p]
                        for corner in 0 ..< 4 { corners[q + corner] = 0; cornerWeights[q + corner] = 0 }
                        guard y > -1, xx > -1, y < Float(h), xx < Float(w) else { continue }
                        let y0 = Int(y.rounded(.down)), x0 = Int(xx.rounded(.down))
                        let ly = y - Float(y0), lx = xx - Float(x0)
                        // Corners (y0, x0), (y0, x0+1), (y0+1, x0), (y0+1, x0+1), in the kernel's order.
                        for corner in 0 ..< 4 {
                            let cy = y0 + corner / 2, cx = x0 + corner % 2
                            guard cy >= 0, cy < h, cx >= 0, cx < w else { continue }
                            corners[q + corner] = Int32(cy * w + cx)
                            cornerWeights[q + corner] = (corner / 2 == 0 ? 1 - ly : ly) * (corner % 2 == 0 ? 1 - lx : lx)
                        }
                    }
                }
            }
        }
    }
}
