// DarknetConvolution.swift — an inference convolution with any kernel, stride and padding, batch norm
// folded into its weights and bias, then the activation. 1×1 stride-1 kernels are one matrix product
// Y[F, HW] = W[F, C]·X[C, HW]; other kernels unfold the input first (im2col) into
// col[C·k·k, OH·OW], so every layer is a single OpenBLAS sgemm.

import Tensors

/// One `[convolutional]` layer ready for inference.
final class DarknetConvolution {
    let filters: Int, channels: Int, size: Int, stride: Int, padding: Int
    let activation: DarknetActivation
    /// [filters, channels·size·size] and [filters], batch norm folded in.
    private let weights: [Float], biases: [Float]
    private let columns = Tensor()

    init(shape: ConvolutionShape, stride: Int, padding: Int, activation: DarknetActivation, values: ConvolutionWeights) {
        (filters, channels, size) = (shape.filters, shape.channels, shape.size)
        self.stride = stride
        self.padding = padding
        self.activation = activation
        (weights, biases) = values.folded()
        precondition(weights.count == filters * channels * size * size && biases.count == filters, "convolution values do not fit their shape")
    }

    /// Multiply–adds of one forward at input `h`×`w`.
    func multiplyAdds(height h: Int, width w: Int) -> Int {
        let (oh, ow) = outputSize(h, w)
        return filters * channels * size * size * oh * ow
    }

    func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * padding - size) / stride + 1, (w + 2 * padding - size) / stride + 1)
    }

    /// y = act(W ⊛ x + b) for x [channels, h, w], into `output` [filters, oh, ow].
    func forward(_ x: UnsafePointer<Float>, height h: Int, width w: Int, into output: Tensor) {
        let (oh, ow) = outputSize(h, w)
        output.reshape([filters, oh, ow])
        let n = oh * ow
        let source: UnsafePointer<Float>
        if size == 1, stride == 1, padding == 0 {
            source = x
        } else {
            columns.reshape([channels * size * size, n])
            unfold(x, h, w, oh, ow)
            source = UnsafePointer(columns.data)
        }
        weights.withUnsafeBufferPointer { gemm(m: filters, n: n, k: channels * size * size, a: $0.baseAddress!, b: source, c: output.data) }
        for f in 0 ..< filters {
            let row = output.data + f * n, bias = biases[f]
            for j in 0 ..< n { row[j] += bias }
        }
        applyActivation(activation, output.data, output.count)
    }

    /// im2col: col[(c·k + ky)·k + kx, oy·OW + ox] = x[c, oy·s + ky − p, ox·s + kx − p], zero outside.
    private func unfold(_ x: UnsafePointer<Float>, _ h: Int, _ w: Int, _ oh: Int, _ ow: Int) {
        let col = columns.data
        for c in 0 ..< channels {
            let plane = x + c * h * w
            for ky in 0 ..< size {
                for kx in 0 ..< size {
                    let row = col + ((c * size + ky) * size + kx) * oh * ow
                    // Output columns whose source column lies inside the image: [first, last).
                    let offset = kx - padding
                    let first = min(ow, max(0, (-offset + stride - 1) / stride))
                    let last = w - 1 - offset < 0 ? first : max(first, min(ow, (w - 1 - offset) / stride + 1))
                    for oy in 0 ..< oh {
                        let out = row + oy * ow
                        let iy = oy * stride + ky - padding
                        guard iy >= 0, iy < h else { out.update(repeating: 0, count: ow); continue }
                        out.update(repeating: 0, count: first)
                        (out + last).update(repeating: 0, count: ow - last)
                        let input = plane + iy * w + offset
                        if stride == 1 {
                            (out + first).update(from: input + first, count: last - first)
                        } else {
                            for ox in first ..< last { out[ox] = input[ox * stride] }
                        }
                    }
                }
            }
        }
    }
}
