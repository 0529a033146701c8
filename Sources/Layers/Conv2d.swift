// Conv2d.swift — 2-D convolution, stride 1, same padding, PyTorch weight layout [out, in, k, k].
//
// Per image: 1×1 kernels are one matrix product Y[Cout, HW] = W[Cout, Cin]·X[Cin, HW]; 3×3 kernels
// unfold the input (im2col) to col[Cin·9, HW] first. Backward recomputes the unfolding instead of
// keeping it, which bounds memory by one image's columns; the columns are released after each pass, so
// every convolution's columns share one block (Tensor.release).

import Tensors

/// A convolution layer of a model: Conv2d, or UpsampledConv2d where its input is read upsampled.
public protocol Convolution: AnyObject {
    /// The weight, [out, in, k, k].
    var weight: ParameterRef { get }
    func forward(_ x: Tensor) -> Tensor
    /// Accumulates the weight's gradient and returns ∂L/∂x (`inputGrad`).
    func backward(_ dy: Tensor) -> Tensor
}

/// A convolution whose weights live in a `ParameterStore`.
public final class Conv2d: Convolution {
    public let inChannels: Int, outChannels: Int, kernel: Int
    public let weight: ParameterRef
    public let bias: ParameterRef?
    private let params: ParameterStore
    private let computesInputGrad: Bool
    private var input: Tensor?
    private let columns = Tensor()
    private let columnGrad = Tensor()
    /// The last forward's result, [B, outChannels, H, W].
    public let output = Tensor()
    /// The last backward's ∂L/∂x.
    public let inputGrad = Tensor()

    /// Registers `name.weight` (and `name.bias`) with PyTorch's default initialization.
    public init(_ params: ParameterStore, _ name: String, in inChannels: Int, out outChannels: Int, kernel: Int,
                bias: Bool = false, computesInputGrad: Bool = true) {
        precondition(kernel % 2 == 1, "Conv2d: same padding needs an odd kernel, got \(kernel)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.params = params
        self.computesInputGrad = computesInputGrad
        let bound = 1 / Float(inChannels * kernel * kernel).squareRoot()
        weight = params.add(name + ".weight", [outChannels, inChannels, kernel, kernel], .uniform(bound: bound))
        self.bias = bias ? params.add(name + ".bias", [outChannels], .uniform(bound: bound)) : nil
    }

    private var patch: Int { inChannels * kernel * kernel }

    /// y = conv(x) for x of shape [B, inChannels, H, W].
    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels, "Conv2d(\(weight.name)): input \(x.shape), expected [B, \(inChannels), H, W]")
        let (b, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let hw = h * w
        output.reshape([b, outChannels, h, w])
        if kernel > 1 { columns.reshape([patch, hw]) }
        for i in 0 ..< b {
            let image = x.data + i * inChannels * hw
            let source = kernel == 1 ? UnsafePointer(image) : UnsafePointer(unfold(image, h, w))
            gemm(m: outChannels, n: hw, k: patch, a: params.value(weight), b: source, c: output.data + i * outChannels * hw)
            if let bias {
                let bv = params.value(bias)
                for c in 0 ..< outChannels {
                    let row = output.data + (i * outChannels + c) * hw
                    for j in 0 ..< hw { row[j] += bv[c] }
                }
            }
        }
        columns.release()
        input = x
        return output
    }

    /// dW += dY·colᵀ, db += Σ dY, and returns dx = fold(Wᵀ·dY).
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Conv2d(\(weight.name)).backward before forward") }
        precondition(dy.shape == output.shape, "Conv2d(\(weight.name)): gradient \(dy.shape) does not match output \(output.shape)")
        let (b, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let hw = h * w
        if computesInputGrad { inputGrad.reshape(x.shape) }
        if kernel > 1 {
            columns.reshape([patch, hw])
            columnGrad.reshape([patch, hw])
        }
        for i in 0 ..< b {
            let image = x.data + i * inChannels * hw
            let dyImage = dy.data + i * outChannels * hw
            let source = kernel == 1 ? UnsafePointer(image) : UnsafePointer(unfold(image, h, w))
            gemm(transB: true, m: outChannels, n: patch, k: hw, a: dyImage, b: source, beta: 1, c: params.grad(weight))
            if let bias {
                let g = params.grad(bias)
                for c in 0 ..< outChannels {
                    let row = dyImage + c * hw
                    var s: Float = 0
                    for j in 0 ..< hw { s += row[j] }
                    g[c] += s
                }
            }
            guard computesInputGrad else { continue }
            let dxImage = inputGrad.data + i * inChannels * hw
            if kernel == 1 {
                gemm(transA: true, m: inChannels, n: hw, k: outChannels, a: params.value(weight), b: dyImage, c: dxImage)
            } else {
                gemm(transA: true, m: patch, n: hw, k: outChannels, a: params.value(weight), b: dyImage, c: columnGrad.data)
                fold(columnGrad.data, into: dxImage, h, w)
            }
        }
        columns.release()
        columnGrad.release()
        return inputGrad
    }

    /// im2col: col[(c·k + ky)·k + kx, y·W + x] = image[c, y + ky − p, x + kx − p], zero outside.
    /// Each (c, ky, kx) row is the channel's plane shifted by (ky − p, kx − p): one block copy, then
    /// the rows and the column that fell outside the image are zeroed.
    private func unfold(_ image: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int) -> UnsafeMutablePointer<Float> {
        let pad = kernel / 2
        let col = columns.data
        let hw = h * w
        for c in 0 ..< inChannels {
            let plane = image + c * hw
            for ky in 0 ..< kernel {
                let dy = ky - pad
                let yBegin = max(0, -dy), yEnd = min(h, h - dy)
                for kx in 0 ..< kernel {
                    let dx = kx - pad
                    let row = col + ((c * kernel + ky) * kernel + kx) * hw
                    // Rows without a source row are zero; the others copy the shifted plane in one block.
                    row.update(repeating: 0, count: yBegin * w)
                    (row + yEnd * w).update(repeating: 0, count: (h - yEnd) * w)
                    guard yBegin < yEnd else { continue }
                    let first = yBegin * w, last = yEnd * w  // output range [first, last)
                    let sourceStart = first + dy * w + dx
                    let copyBegin = max(first, -sourceStart + first), copyEnd = min(last, hw - sourceStart + first)
                    if copyBegin < copyEnd {
                        (row + copyBegin).update(from: plane + sourceStart + (copyBegin - first), count: copyEnd - copyBegin)
                    }
                    for x in first ..< copyBegin { row[x] = 0 }
                    for x in max(copyEnd, first) ..< last { row[x] = 0 }
                    // A horizontal shift wraps one column into the neighbouring row: zero it.
                    if dx > 0 { for y in yBegin ..< yEnd { for x in (w - dx) ..< w { row[y * w + x] = 0 } } }
                    if dx < 0 { for y in yBegin ..< yEnd { for x in 0 ..< -dx { row[y * w + x] = 0 } } }
                }
            }
        }
        return col
    }

    /// col2im, the adjoint of `unfold`: image[c, y + ky − p, x + kx − p] += col[…] (image zeroed first).
    private func fold(_ col: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int) {
        let pad = kernel / 2
        image.update(repeating: 0, count: inChannels * h * w)
        for c in 0 ..< inChannels {
            for ky in 0 ..< kernel {
                for kx in 0 ..< kernel {
                    let row = col + ((c * kernel + ky) * kernel + kx) * h * w
                    let dx = kx - pad
                    let xBegin = max(0, -dx), xEnd = min(w, w - dx)
                    guard xBegin < xEnd else { continue }
                    for y in 0 ..< h {
                        let sy = y + ky - pad
                        guard sy >= 0, sy < h else { continue }
                        let dst = image + (c * h + sy) * w + dx
                        let src = row + y * w
                        for x in xBegin ..< xEnd { dst[x] += src[x] }
                    }
                }
            }
        }
    }
}
