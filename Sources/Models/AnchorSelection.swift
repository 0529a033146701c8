// AnchorSelection.swift — RefCLIP's anchor selection: per image, the cells of the stride-32 grid
// whose anchors have the highest mean objectness, kept in ascending cell order; and the gather of
// the fused features at those cells (with its scatter backward).

import Tensors

/// Detector anchor boxes on the stride-32 grid: [B, cells, anchorsPerCell, 5] holding
/// (cx, cy, w, h in letterbox pixels, objectness).
public enum AnchorBoxes {
    public static let channels = 5
    public static let objectness = 4
}

/// The `count` most object-like cells of each image, ascending within the image.
/// Cells are scored by the mean objectness of their anchors; ties go to the lower cell index.
public func selectCells(_ boxes: Tensor, count: Int) -> [Int] {
    precondition(boxes.shape.count == 4 && boxes.shape[3] >= AnchorBoxes.channels, "anchor boxes \(boxes.shape), expected [B, cells, A, ≥5]")
    let (b, cells, anchors, channels) = (boxes.shape[0], boxes.shape[1], boxes.shape[2], boxes.shape[3])
    precondition(count <= cells, "cannot select \(count) of \(cells) cells")
    var selected: [Int] = []
    selected.reserveCapacity(b * count)
    var scores = [Float](repeating: 0, count: cells)
    for i in 0 ..< b {
        for cell in 0 ..< cells {
            var sum: Float = 0
            for a in 0 ..< anchors { sum += boxes.data[((i * cells + cell) * anchors + a) * channels + AnchorBoxes.objectness] }
            scores[cell] = sum / Float(anchors)
        }
        let top = (0 ..< cells).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(count)
        selected.append(contentsOf: top.sorted())
    }
    return selected
}

/// Gathers feature vectors [B, C, H, W] at selected cells into [B, K, C]; backward scatters them back.
public final class CellGather {
    private var inputShape: [Int] = []
    private var cells: [Int] = []
    public let output = Tensor()
    public let inputGrad = Tensor()

    public init() {}

    /// `cells` holds K cell indices (row-major over H×W) per image.
    @discardableResult
    public func forward(_ x: Tensor, cells: [Int]) -> Tensor {
        let (b, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        precondition(cells.count % b == 0, "CellGather: \(cells.count) cells for \(b) images")
        let k = cells.count / b
        inputShape = x.shape
        self.cells = cells
        output.reshape([b, k, c])
        for i in 0 ..< b {
            for s in 0 ..< k {
                let cell = cells[i * k + s], out = output.data + (i * k + s) * c
                for ch in 0 ..< c { out[ch] = x.data[(i * c + ch) * hw + cell] }
            }
        }
        return output
    }

    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        let (b, c, hw) = (inputShape[0], inputShape[1], inputShape[2] * inputShape[3])
        let k = cells.count / b
        inputGrad.reshapeZeroed(inputShape)
        for i in 0 ..< b {
            for s in 0 ..< k {
                let cell = cells[i * k + s], g = dy.data + (i * k + s) * c
                for ch in 0 ..< c { inputGrad.data[(i * c + ch) * hw + cell] += g[ch] }
            }
        }
        return inputGrad
    }
}

/// Rows of a [B, N, D] tensor, K chosen per sample: [B, K, D]. Backward scatters into a zeroed
/// [B, N, D] gradient.
public final class RowGather {
    private var inputShape: [Int] = []
    private var rows: [Int] = []
    public let output = Tensor()
    public let inputGrad = Tensor()

    public init() {}

    /// `rows` holds K row indices per sample.
    @discardableResult
    public func forward(_ x: Tensor, rows: [Int]) -> Tensor {
        let (b, n, d) = (x.shape[0], x.shape[1], x.shape[2])
        precondition(rows.count % b == 0, "RowGather: \(rows.count) rows for \(b) samples")
        let k = rows.count / b
        inputShape = x.shape
        self.rows = rows
        output.reshape([b, k, d])
        for i in 0 ..< b {
            for s in 0 ..< k { (output.data + (i * k + s) * d).update(from: x.data + (i * n + rows[i * k + s]) * d, count: d) }
        }
        return output
    }

    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        let (b, n, d) = (inputShape[0], inputShape[1], inputShape[2])
        let k = rows.count / b
        inputGrad.reshapeZeroed(inputShape)
        for i in 0 ..< b {
            for s in 0 ..< k {
                let target = inputGrad.data + (i * n + rows[i * k + s]) * d, g = dy.data + (i * k + s) * d
                for j in 0 ..< d { target[j] += g[j] }
            }
        }
        return inputGrad
    }
}
