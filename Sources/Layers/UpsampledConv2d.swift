// UpsampledConv2d.swift — a 3×3 convolution (stride 1, same padding, no bias) of the nearest-neighbour
// ×2 upsampling of its input, computed on the small map without ever forming the upsampled one.
//
// An output pixel (2y + a, 2x + b) of the upsampled convolution sees, through its 3×3 window, only a
// 2×2 window of small pixels: rows y − 1, y for a = 0 (kernel row 0 → window row 0; rows 1, 2 → row 1)
// and y, y + 1 for a = 1 (rows 0, 1 → 0; row 2 → 1); columns alike. So each parity (a, b) is a 2×2
// convolution of the small map whose taps sum the 3×3 weights that land on the same small pixel: four
// 2×2 convolutions, 16 products per input channel and small pixel where the upsampled convolution does
// 36, and a saved input a quarter the size. Outside the map is zero on both grids alike. The weight is
// the 3×3 one, [out, in, 3, 3]; backward sums each parity kernel's gradient back into the taps it summed.

import Tensors

/// A 3×3 convolution of the ×2 nearest-upsampled input; weights in a `ParameterStore`.
public final class UpsampledConv2d: Convolution {
    public let inChannels: Int, outChannels: Int
    public let weight: ParameterRef
    private let params: ParameterStore
    private let computesInputGrad: Bool
    private var input: Tensor?
    /// The four parity kernels [4, out, in·4] (a·2 + b first), rebuilt from the weight every forward.
    private let parityKernels = Tensor()
    private let parityKernelGrads = Tensor()
    private let columns = Tensor(), columnGrad = Tensor()
    private let parityOutput = Tensor(), parityGrad = Tensor()
    /// The last forward's result, [B, outChannels, 2H, 2W].
    public let output = Tensor()
    /// The last backward's ∂L/∂x, at the input's (small) size.
    public let inputGrad = Tensor()

    /// Registers `name.weight` [out, in, 3, 3] with PyTorch's default initialization (as Conv2d).
    public init(_ params: ParameterStore, _ name: String, in inChannels: Int, out outChannels: Int, computesInputGrad: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.params = params
        self.computesInputGrad = computesInputGrad
        weight = params.add(name + ".weight", [outChannels, inChannels, 3, 3], .uniform(bound: 1 / Float(inChannels * 9).squareRoot()))
    }

    /// The 2×2 window row (or column) that kernel row `k` lands on for output parity `parity`.
    private static func windowIndex(parity: Int, kernel k: Int) -> Int { parity == 0 ? (k == 0 ? 0 : 1) : (k == 2 ? 1 : 0) }

    private var patch: Int { inChannels * 4 }

    /// y = conv3×3(upsample×2(x)) for x of shape [B, inChannels, H, W].
    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels,
                     "UpsampledConv2d(\(weight.name)): input \(x.shape), expected [B, \(inChannels), H, W]")
        let (b, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let hw = h * w
        buildParityKernels()
        output.reshape([b, outChannels, 2 * h, 2 * w])
        columns.reshape([patch, hw])
        parityOutput.reshape([outChannels, hw])
        for i in 0 ..< b {
            let image = x.data + i * inChannels * hw
            for parity in 0 ..< 4 {
                unfold(image, h, w, parity: parity)
                gemm(m: outChannels, n: hw, k: patch, a: parityKernels.data + parity * outChannels * patch, b: columns.data, c: parityOutput.data)
                scatter(parityOutput.data, into: output.data + i * outChannels * 4 * hw, h, w, parity: parity)
            }
        }
        columns.release()
        parityOutput.release()
        input = x
        return output
    }

    /// dW += the parity kernels' gradients summed into their taps; returns dx (at the input's size).
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("UpsampledConv2d(\(weight.name)).backward before forward") }
        precondition(dy.shape == output.shape, "UpsampledConv2d(\(weight.name)): gradient \(dy.shape) does not match output \(output.shape)")
        let (b, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let hw = h * w
        parityKernelGrads.reshapeZeroed([4, outChannels, patch])
        columns.reshape([patch, hw])
        parityGrad.reshape([outChannels, hw])
        if computesInputGrad {
            inputGrad.reshapeZeroed(x.shape)
            columnGrad.reshape([patch, hw])
        }
        for i in 0 ..< b {
            let image = x.data + i * inChannels * hw
            for parity in 0 ..< 4 {
                gather(dy.data + i * outChannels * 4 * hw, into: parityGrad.data, h, w, parity: parity)
                unfold(image, h, w, parity: parity)
                gemm(transB: true, m: outChannels, n: patch, k: hw, a: parityGrad.data, b: columns.data, beta: 1,
                     c: parityKernelGrads.data + parity * outChannels * patch)
                guard computesInputGrad else { continue }
                gemm(transA: true, m: patch, n: hw, k: outChannels, a: parityKernels.data + parity * outChannels * patch, b: parityGrad.data,
                     c: columnGrad.data)
                fold(columnGrad.data, into: inputGrad.data + i * inChannels * hw, h, w, parity: parity)
            }
        }
        accumulateTapGradients()
        for temporary in [columns, columnGrad, parityGrad, parityKernelGrads] { temporary.release() }
        return inputGrad
    }

    /// parityKernels[a·2 + b][o, (c·2 + r)·2 + s] = Σ W[o, c, ky, kx] over the taps with window row r, column s.
    private func buildParityKernels() {
        parityKernels.reshapeZeroed([4, outChannels, patch])
        let wv = params.value(weight)
        forEachTap { parity, tap, window in
            let kernel = parityKernels.data + parity * outChannels * patch
            for oc in 0 ..< outChannels * inChannels { kernel[oc * 4 + window] += wv[oc * 9 + tap] }
        }
    }

    /// dW[o, c, ky, kx] += Σ over parities of the parity kernel's gradient at the tap's window position.
    private func accumulateTapGradients() {
        let dw = params.grad(weight)
        forEachTap { parity, tap, window in
            let kernelGrad = parityKernelGrads.data + parity * outChannels * patch
            for oc in 0 ..< outChannels * inChannels { dw[oc * 9 + tap] += kernelGrad[oc * 4 + window] }
        }
    }

    /// Calls `body` for every parity and 3×3 tap (ky·3 + kx) with the 2×2 window position (r·2 + s) it lands on.
    private func forEachTap(_ body: (_ parity: Int, _ tap: Int, _ window: Int) -> Void) {
        for parity in 0 ..< 4 {
            for ky in 0 ..< 3 {
                for kx in 0 ..< 3 {
                    body(parity, ky * 3 + kx, Self.windowIndex(parity: parity / 2, kernel: ky) * 2 + Self.windowIndex(parity: parity % 2, kernel: kx))
                }
            }
        }
    }

    /// Calls `body` for every input channel's plane and every position (r, s) of `parity`'s 2×2 window:
    /// the plane's offset in an image, the window position's row of the columns, and the shift (dy, dx)
    /// from an output pixel to the small pixel it reads — the window starts one row (column) above
    /// (left of) the pixel for parity 0 and at it for parity 1.
    private func forEachWindowPosition(parity: Int, _ h: Int, _ w: Int, _ body: (_ plane: Int, _ row: Int, _ dy: Int, _ dx: Int) -> Void) {
        let (oy, ox) = (parity / 2 == 0 ? -1 : 0, parity % 2 == 0 ? -1 : 0)
        for c in 0 ..< inChannels {
            for r in 0 ..< 2 {
                for s in 0 ..< 2 { body(c * h * w, ((c * 2 + r) * 2 + s) * h * w, r + oy, s + ox) }
            }
        }
    }

    /// col[(c·2 + r)·2 + s, y·W + x] = image[c, y + dy, x + dx], zero outside (see forEachWindowPosition).
    private func unfold(_ image: UnsafePointer<Float>, _ h: Int, _ w: Int, parity: Int) {
        let col = columns.data
        forEachWindowPosition(parity: parity, h, w) { planeOffset, rowOffset, dy, dx in
            let plane = image + planeOffset, row = col + rowOffset
            let xBegin = max(0, -dx), xEnd = min(w, w - dx)
            for y in 0 ..< h {
                let sy = y + dy, out = row + y * w
                guard sy >= 0, sy < h else { out.update(repeating: 0, count: w); continue }
                for x in 0 ..< xBegin { out[x] = 0 }
                if xBegin < xEnd { (out + xBegin).update(from: plane + sy * w + xBegin + dx, count: xEnd - xBegin) }
                for x in max(xEnd, xBegin) ..< w { out[x] = 0 }
            }
        }
    }

    /// The adjoint of `unfold`: image[c, y + dy, x + dx] += col[(c·2 + r)·2 + s, y·W + x].
    private func fold(_ col: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int, parity: Int) {
        forEachWindowPosition(parity: parity, h, w) { planeOffset, rowOffset, dy, dx in
            let plane = image + planeOffset, row = col + rowOffset
            let xBegin = max(0, -dx), xEnd = min(w, w - dx)
            guard xBegin < xEnd else { return }
            for y in 0 ..< h {
                let sy = y + dy
                guard sy >= 0, sy < h else { continue }
                let dst = plane + sy * w + dx, src = row + y * w
                for x in xBegin ..< xEnd { dst[x] += src[x] }
            }
        }
    }

    /// Writes one parity's [out, H·W] result into the image's [out, 2H, 2W] output.
    private func scatter(_ result: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int, parity: Int) {
        let (a, b) = (parity / 2, parity % 2)
        for o in 0 ..< outChannels {
            let src = result + o * h * w, plane = image + o * 4 * h * w
            for y in 0 ..< h {
                let out = plane + (2 * y + a) * 2 * w + b, row = src + y * w
                for x in 0 ..< w { out[2 * x] = row[x] }
            }
        }
    }

    /// Reads one parity's [out, H·W] gradient from the image's [out, 2H, 2W] gradient.
    private func gather(_ image: UnsafePointer<Float>, into result: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int, parity: Int) {
        let (a, b) = (parity / 2, parity % 2)
        for o in 0 ..< outChannels {
            let dst = result + o * h * w, plane = image + o * 4 * h * w
            for y in 0 ..< h {
                let source = plane + (2 * y + a) * 2 * w + b, row = dst + y * w
                for x in 0 ..< w { row[x] = source[2 * x] }
            }
        }
    }
}
