// StudentHead.swift — the student's one-stage grounding head on the stride-32 map (DESIGN.md §4):
// a 1×1 stem, two 3×3 convs, and a 1×1 output of 5 channels per cell — (tx, ty, tw, th) for the box
// and a logit for objectness. A cell (row, col) of an S-pixel input with stride s decodes to
//   cx = (col + σ(tx))·s,  cy = (row + σ(ty))·s,  w = S·σ(tw),  h = S·σ(th).

import Foundation
import Layers
import Tensors

/// Output channels per cell.
public enum HeadChannel {
    public static let tx = 0, ty = 1, tw = 2, th = 3, objectness = 4, count = 5
}

/// The box a cell predicts, (x1, y1, x2, y2) in input pixels, and its parts' derivatives.
struct DecodedBox {
    var cx: Float, cy: Float, w: Float, h: Float
    /// d(cx)/d(tx), d(cy)/d(ty), d(w)/d(tw), d(h)/d(th).
    var dcx: Float, dcy: Float, dw: Float, dh: Float

    init(raw: UnsafePointer<Float>, plane: Int, cell: Int, grid: Int, inputSize: Int) {
        let stride = Float(inputSize) / Float(grid), size = Float(inputSize)
        let (sx, sy, sw, sh) = (sigmoid(raw[HeadChannel.tx * plane + cell]), sigmoid(raw[HeadChannel.ty * plane + cell]),
                                sigmoid(raw[HeadChannel.tw * plane + cell]), sigmoid(raw[HeadChannel.th * plane + cell]))
        cx = (Float(cell % grid) + sx) * stride
        cy = (Float(cell / grid) + sy) * stride
        w = size * sw
        h = size * sh
        dcx = stride * sx * (1 - sx)
        dcy = stride * sy * (1 - sy)
        dw = size * sw * (1 - sw)
        dh = size * sh * (1 - sh)
    }

    var corners: [Float] { [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] }
}

@inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

/// Stem, two 3×3 convs and the 5-channel output; names `name.stem`, `name.conv.0`, `name.conv.1`, `name.output`.
public final class StudentHead {
    private let stem: ConvBNLeaky
    private let convs: [ConvBNLeaky]
    private let output: Conv2d

    public init(_ params: ParameterStore, buffers: ParameterStore, _ name: String, channels: Int) {
        let hidden = max(1, channels / 2)
        stem = ConvBNLeaky(params, buffers: buffers, name + ".stem", in: channels, out: hidden, kernel: 1)
        convs = (0 ..< 2).map { ConvBNLeaky(params, buffers: buffers, name + ".conv.\($0)", in: hidden, out: hidden, kernel: 3) }
        output = Conv2d(params, name + ".output", in: hidden, out: HeadChannel.count, kernel: 1, bias: true)
    }

    /// Raw outputs [B, 5, g, g] from the fused map [B, C, g, g].
    @discardableResult
    public func forward(_ x: Tensor, _ context: ForwardContext) -> Tensor {
        var y = stem.forward(x, context)
        for conv in convs { y = conv.forward(y, context) }
        return output.forward(y)
    }

    @discardableResult
    public func backward(_ dRaw: Tensor) -> Tensor {
        var g = output.backward(dRaw)
        for conv in convs.reversed() { g = conv.backward(g) }
        return stem.backward(g)
    }
}
