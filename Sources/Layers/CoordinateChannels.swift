// CoordinateChannels.swift — a feature map with two constant channels appended: the x and y of each
// cell's centre, normalised to (−1, 1) — x = 2·(col + ½)/W − 1, y = 2·(row + ½)/H − 1 — so that a
// following 1×1 convolution can weigh where a cell is as well as what it sees (the spatial features
// of one-stage REC models). Forward only: its users feed it frozen detector maps, which need no
// gradient, and the coordinates are constants.

import Tensors

/// Appends the cell-centre coordinate channels to a [B, C, H, W] map.
public final class CoordinateChannels {
    /// Channels this layer adds.
    public static let count = 2
    public let output = Tensor()

    public init() {}

    /// [B, C, H, W] → [B, C + 2, H, W].
    @discardableResult
    public func forward(_ map: Tensor) -> Tensor {
        precondition(map.shape.count == 4, "CoordinateChannels: expects [B, C, H, W], got \(map.shape)")
        let (b, c, h, w) = (map.shape[0], map.shape[1], map.shape[2], map.shape[3])
        let (hw, total) = (h * w, c + Self.count)
        output.reshape([b, total, h, w])
        for i in 0 ..< b {
            (output.data + i * total * hw).update(from: map.data + i * c * hw, count: c * hw)
            let xs = output.data + (i * total + c) * hw, ys = xs + hw
            for row in 0 ..< h {
                let y = 2 * (Float(row) + 0.5) / Float(h) - 1
                for col in 0 ..< w {
                    xs[row * w + col] = 2 * (Float(col) + 0.5) / Float(w) - 1
                    ys[row * w + col] = y
                }
            }
        }
        return output
    }
}
