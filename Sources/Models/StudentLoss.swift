// StudentLoss.swift — the student's training signal (DESIGN.md §4): the target box is assigned to
// the cell holding its centre; objectness is binary cross-entropy over every cell (1 there, 0
// elsewhere), and the assigned cell's box is pulled toward the target with the GIoU loss:
//   L = Σ_images w_i [ Σ_cells BCE(o, t) + boxWeight · (1 − GIoU(box, target)) ] / normalizer
// with per-image weights w_i (1 unless given: e.g. a pseudo-label's confidence).

import Foundation
import Tensors

/// Objectness BCE plus GIoU box loss, forward and backward.
public final class StudentLoss {
    public let boxWeight: Float
    private var raw: Tensor?
    private var targets: [[Float]] = []
    private var weights: [Float]?
    private var inputSize = 0, normalizer = 1
    /// The last forward's loss of each image, unweighted and not normalized.
    public private(set) var imageLosses: [Double] = []
    public let inputGrad = Tensor()

    public init(boxWeight: Float = 5) { self.boxWeight = boxWeight }

    /// The cell whose area holds the centre of `box` (x1, y1, x2, y2) on a grid of `grid` cells a side.
    public static func assignedCell(_ box: [Float], grid: Int, inputSize: Int) -> Int {
        let stride = Float(inputSize) / Float(grid)
        let col = min(grid - 1, max(0, Int((box[0] + box[2]) / 2 / stride)))
        let row = min(grid - 1, max(0, Int((box[1] + box[3]) / 2 / stride)))
        return row * grid + col
    }

    /// This rank's share of the loss; `targets` are (x1, y1, x2, y2) in input pixels, one per image,
    /// `weights` one per image (nil: all 1).
    public func forward(_ raw: Tensor, targets: [[Float]], weights: [Float]? = nil, inputSize: Int, normalizer: Int) -> Double {
        precondition(raw.shape.count == 4 && raw.shape[1] == HeadChannel.count && targets.count == raw.shape[0] && (weights?.count ?? targets.count) == targets.count,
                     "student loss: raw \(raw.shape) for \(targets.count) targets")
        self.raw = raw
        self.targets = targets
        self.weights = weights
        self.inputSize = inputSize
        self.normalizer = normalizer
        let (b, grid) = (raw.shape[0], raw.shape[2])
        let plane = grid * grid
        imageLosses = (0 ..< b).map { i in
            let r = raw.data + i * HeadChannel.count * plane
            let positive = Self.assignedCell(targets[i], grid: grid, inputSize: inputSize)
            let logits = r + HeadChannel.objectness * plane
            var loss = 0.0
            for cell in 0 ..< plane {
                let z = logits[cell], t: Float = cell == positive ? 1 : 0
                loss += Double(max(z, 0) - z * t + log1pf(expf(-abs(z))))
            }
            let box = DecodedBox(raw: r, plane: plane, cell: positive, grid: grid, inputSize: inputSize)
            return loss + Double(boxWeight) * (1 - Double(generalizedIoU(box.corners, targets[i]).value))
        }
        guard let weights else { return imageLosses.reduce(0, +) / Double(normalizer) }
        return zip(imageLosses, weights).reduce(0) { $0 + $1.0 * Double($1.1) } / Double(normalizer)
    }

    /// ∂L/∂raw.
    @discardableResult
    public func backward() -> Tensor {
        guard let raw else { preconditionFailure("StudentLoss.backward before forward") }
        let (b, grid) = (raw.shape[0], raw.shape[2])
        let plane = grid * grid
        let scale = 1 / Float(normalizer)
        inputGrad.reshapeZeroed(raw.shape)
        for i in 0 ..< b {
            let scale = scale * (weights?[i] ?? 1)
            let r = raw.data + i * HeadChannel.count * plane, g = inputGrad.data + i * HeadChannel.count * plane
            let positive = Self.assignedCell(targets[i], grid: grid, inputSize: inputSize)
            for cell in 0 ..< plane {
                let z = r[HeadChannel.objectness * plane + cell]
                g[HeadChannel.objectness * plane + cell] = (sigmoid(z) - (cell == positive ? 1 : 0)) * scale
            }
            let box = DecodedBox(raw: r, plane: plane, cell: positive, grid: grid, inputSize: inputSize)
            let d = generalizedIoU(box.corners, targets[i]).gradient  // ∂GIoU/∂(x1, y1, x2, y2)
            let k = -boxWeight * scale  // L holds −boxWeight·GIoU
            let dcx = (d[0] + d[2]) * k, dcy = (d[1] + d[3]) * k
            let dw = (d[2] - d[0]) / 2 * k, dh = (d[3] - d[1]) / 2 * k
            g[HeadChannel.tx * plane + positive] = dcx * box.dcx
            g[HeadChannel.ty * plane + positive] = dcy * box.dcy
            g[HeadChannel.tw * plane + positive] = dw * box.dw
            g[HeadChannel.th * plane + positive] = dh * box.dh
        }
        return inputGrad
    }
}

/// GIoU of boxes a and b, (x1, y1, x2, y2), with its gradient with respect to a's corners.
func generalizedIoU(_ a: [Float], _ b: [Float]) -> (value: Float, gradient: [Float]) {
    let iw = min(a[2], b[2]) - max(a[0], b[0]), ih = min(a[3], b[3]) - max(a[1], b[1])
    let overlaps = iw > 0 && ih > 0
    let inter = overlaps ? iw * ih : 0
    let areaA = (a[2] - a[0]) * (a[3] - a[1]), areaB = (b[2] - b[0]) * (b[3] - b[1])
    let union = areaA + areaB - inter
    let cw = max(a[2], b[2]) - min(a[0], b[0]), ch = max(a[3], b[3]) - min(a[1], b[1])
    let enclosing = cw * ch
    let value = inter / union - (enclosing - union) / enclosing
    // GIoU = I/U − 1 + U/C: differentiate I, U (through A and I) and C with respect to a's corners.
    var dI: [Float] = [0, 0, 0, 0]
    if overlaps {
        if a[0] > b[0] { dI[0] = -ih }
        if a[2] < b[2] { dI[2] = ih }
        if a[1] > b[1] { dI[1] = -iw }
        if a[3] < b[3] { dI[3] = iw }
    }
    let (w, h) = (a[2] - a[0], a[3] - a[1])
    let dA: [Float] = [-h, -w, h, w]
    var dC: [Float] = [0, 0, 0, 0]
    if a[0] < b[0] { dC[0] = -ch }
    if a[2] > b[2] { dC[2] = ch }
    if a[1] < b[1] { dC[1] = -cw }
    if a[3] > b[3] { dC[3] = cw }
    let gradient = (0 ..< 4).map { k -> Float in
        let dU = dA[k] - dI[k]
        return (dI[k] * union - inter * dU) / (union * union) + (dU * enclosing - union * dC[k]) / (enclosing * enclosing)
    }
    return (value, gradient)
}
