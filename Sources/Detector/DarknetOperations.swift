// DarknetOperations.swift — Darknet's layers without weights, on single images stored [C, H, W]:
// activations, shortcut (residual add), route (channel concatenation), nearest upsampling, max
// pooling with Darknet's padding convention, and the decoding of a `[yolo]` head into boxes.

import Foundation
import Tensors

/// Applies `activation` in place to `count` values.
func applyActivation(_ activation: DarknetActivation, _ x: UnsafeMutablePointer<Float>, _ count: Int) {
    switch activation {
    case .linear: return
    case .leaky: for i in 0 ..< count where x[i] < 0 { x[i] *= 0.1 }
    case .relu: for i in 0 ..< count where x[i] < 0 { x[i] = 0 }
    case .logistic: for i in 0 ..< count { x[i] = logistic(x[i]) }
    case .mish: for i in 0 ..< count { x[i] *= tanh(softplus(x[i])) }
    }
}

@inline(__always) func logistic(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

/// Darknet's softplus: exact within ±20, its asymptotes outside.
@inline(__always) func softplus(_ x: Float) -> Float {
    if x > 20 { return x }
    if x < -20 { return exp(x) }
    return log1p(exp(x))
}

/// output = act(a + b), all of one shape.
func shortcut(_ a: Tensor, _ b: Tensor, activation: DarknetActivation, into output: Tensor) {
    output.reshape(a.shape)
    for i in 0 ..< a.count { output.data[i] = a.data[i] + b.data[i] }
    applyActivation(activation, output.data, output.count)
}

/// The inputs stacked along channels (they share height and width).
func route(_ inputs: [Tensor], into output: Tensor) {
    output.reshape([inputs.reduce(0) { $0 + $1.shape[0] }, inputs[0].shape[1], inputs[0].shape[2]])
    var at = output.data
    for input in inputs {
        at.update(from: input.data, count: input.count)
        at += input.count
    }
}

/// Each value repeated in a `stride`×`stride` block.
func upsample(_ x: Tensor, stride: Int, into output: Tensor) {
    let (c, h, w) = (x.shape[0], x.shape[1], x.shape[2])
    let (oh, ow) = (h * stride, w * stride)
    output.reshape([c, oh, ow])
    for k in 0 ..< c {
        for oy in 0 ..< oh {
            let source = x.data + (k * h + oy / stride) * w, target = output.data + (k * oh + oy) * ow
            for ox in 0 ..< ow { target[ox] = source[ox / stride] }
        }
    }
}

/// Max over `size`×`size` windows at `stride`; the window of output (oy, ox) starts at
/// (oy·stride − padding/2, ox·stride − padding/2), positions outside the image are ignored.
func maxpool(_ x: Tensor, size: Int, stride: Int, padding: Int, into output: Tensor) {
    let (c, h, w) = (x.shape[0], x.shape[1], x.shape[2])
    let (oh, ow) = ((h + padding - size) / stride + 1, (w + padding - size) / stride + 1)
    output.reshape([c, oh, ow])
    let shift = padding / 2
    for k in 0 ..< c {
        let plane = x.data + k * h * w
        for oy in 0 ..< oh {
            let y0 = max(0, oy * stride - shift), y1 = min(h, oy * stride - shift + size)
            for ox in 0 ..< ow {
                let x0 = max(0, ox * stride - shift), x1 = min(w, ox * stride - shift + size)
                var best = -Float.greatestFiniteMagnitude
                for y in y0 ..< y1 { for xx in x0 ..< x1 { best = max(best, plane[y * w + xx]) } }
                output.data[(k * oh + oy) * ow + ox] = best
            }
        }
    }
}

/// Decodes a `[yolo]` head's raw map [A·(5 + classes), g, g] at network input size `inputSize` into
/// [g·g, A, 5] rows (cx, cy, w, h, objectness), cells row by row, boxes in input pixels:
/// cx = (col + σ(tx)·s − (s − 1)/2)·stride, w = e^tw · anchor_w, objectness = σ(to).
func decodeYoloHead(_ x: Tensor, anchors: [(Float, Float)], classes: Int, scaleXY: Float, inputSize: Int) -> [Float] {
    let (g, gw) = (x.shape[1], x.shape[2])
    let cells = g * gw, perAnchor = 5 + classes
    let strideY = Float(inputSize) / Float(g), strideX = Float(inputSize) / Float(gw)
    var boxes = [Float](repeating: 0, count: cells * anchors.count * 5)
    for a in anchors.indices {
        let base = x.data + a * perAnchor * cells
        for row in 0 ..< g {
            for col in 0 ..< gw {
                let cell = row * gw + col
                func raw(_ k: Int) -> Float { base[k * cells + cell] }
                let o = (cell * anchors.count + a) * 5
                boxes[o] = (Float(col) + logistic(raw(0)) * scaleXY - (scaleXY - 1) / 2) * strideX
                boxes[o + 1] = (Float(row) + logistic(raw(1)) * scaleXY - (scaleXY - 1) / 2) * strideY
                boxes[o + 2] = exp(raw(2)) * anchors[a].0
                boxes[o + 3] = exp(raw(3)) * anchors[a].1
                boxes[o + 4] = logistic(raw(4))
            }
        }
    }
    return boxes
}
