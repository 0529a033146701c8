// GroundingOutcome.swift — how one grounded expression scores (DESIGN.md §3): correct when the
// predicted box, mapped back to the original image, has IoU > 0.5 with the ground truth; the pointing
// game is won when the chosen cell's centre, mapped back, lies strictly inside the ground-truth box.
// Two baselines score the same image: a random choice among the selected cells (its expected
// accuracy, computed exactly) and the single most object-like anchor of the image.

import Datasets
import Tensors

/// Scores of one expression.
public struct GroundingOutcome: Equatable, Sendable {
    public var correct: Bool
    public var pointing: Bool
    /// Expected accuracy of choosing one of the selected cells uniformly (its best-objectness anchor).
    public var randomAnchor: Double
    /// Whether the image's highest-objectness anchor has IoU > 0.5.
    public var objectnessBaseline: Bool
    /// The predicted box (x1, y1, x2, y2) in original pixels.
    public var box: [Double]

    public init(correct: Bool, pointing: Bool, randomAnchor: Double, objectnessBaseline: Bool, box: [Double]) {
        self.correct = correct
        self.pointing = pointing
        self.randomAnchor = randomAnchor
        self.objectnessBaseline = objectnessBaseline
        self.box = box
    }
}

/// Scores `choice` for the image whose anchors are `boxes` ([cells, anchorsPerCell, 5], flat).
public func scoreGrounding(_ choice: GroundingChoice, boxes: UnsafePointer<Float>, cells: Int, anchorsPerCell: Int,
                           selectedCells: ArraySlice<Int>, letterbox: Letterbox, truth: [Double]) -> GroundingOutcome {
    let grid = Int(Double(cells).squareRoot())
    let stride = Double(letterbox.size) / Double(grid)
    func anchorBox(_ cell: Int, _ anchor: Int) -> [Double] {
        let p = boxes + (cell * anchorsPerCell + anchor) * 5
        let (x1, y1) = (p[0] - p[2] / 2, p[1] - p[3] / 2)
        return letterbox.toOriginal(box: [Double(x1), Double(y1), Double(x1 + p[2]), Double(y1 + p[3])])
    }
    func bestAnchor(_ cell: Int) -> Int {
        (0 ..< anchorsPerCell).max { boxes[(cell * anchorsPerCell + $0) * 5 + 4] < boxes[(cell * anchorsPerCell + $1) * 5 + 4] }!
    }
    let box = letterbox.toOriginal(box: choice.box.map(Double.init))
    let centre = letterbox.toOriginal(x: (Double(choice.cell % grid) + 0.5) * stride, y: (Double(choice.cell / grid) + 0.5) * stride)
    let pointing = centre.x > truth[0] && centre.x < truth[2] && centre.y > truth[1] && centre.y < truth[3]
    let hits = selectedCells.filter { intersectionOverUnion(anchorBox($0, bestAnchor($0)), truth) > 0.5 }.count
    var top = (cell: 0, anchor: 0)
    for cell in 0 ..< cells {
        for a in 0 ..< anchorsPerCell where boxes[(cell * anchorsPerCell + a) * 5 + 4] > boxes[(top.cell * anchorsPerCell + top.anchor) * 5 + 4] {
            top = (cell, a)
        }
    }
    return GroundingOutcome(correct: intersectionOverUnion(box, truth) > 0.5, pointing: pointing,
                            randomAnchor: Double(hits) / Double(max(selectedCells.count, 1)),
                            objectnessBaseline: intersectionOverUnion(anchorBox(top.cell, top.anchor), truth) > 0.5, box: box)
}
