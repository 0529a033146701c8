// RandomTeacherProblem.swift — a random global batch for the teacher (maps, anchor boxes, token ids),
// from which any rank can cut its rows; used to compare runs at different world sizes.

import Models
import Tensors

/// A deterministic random global batch at a given teacher shape.
public struct RandomTeacherProblem {
    public let shape: TeacherShape
    public let globalBatch: Int
    public let grid = 13, anchorsPerCell = 4
    private let f52: Tensor, f26: Tensor, f13: Tensor, boxes: Tensor
    private let tokenIDs: [Int]
    /// One box per row (x1, y1, x2, y2 at input size 416), for the attention–mask consistency loss.
    private let targets: [[Float]]

    public init(shape: TeacherShape, globalBatch: Int, seed: UInt64) {
        self.shape = shape
        self.globalBatch = globalBatch
        let g = grid, key = RandomKey(seed: seed)
        f52 = randomTensor([globalBatch, shape.fusion.channels52, 4 * g, 4 * g], seed: seed &+ 1)
        f26 = randomTensor([globalBatch, shape.fusion.channels26, 2 * g, 2 * g], seed: seed &+ 2)
        f13 = randomTensor([globalBatch, shape.fusion.channels13, g, g], seed: seed &+ 3)
        boxes = Tensor([globalBatch, g * g, anchorsPerCell, AnchorBoxes.channels])
        for i in 0 ..< globalBatch * g * g * anchorsPerCell {
            let b = boxes.data + i * AnchorBoxes.channels
            b[0] = 416 * key.uniform(5 * i); b[1] = 416 * key.uniform(5 * i + 1)
            b[2] = 20 + 200 * key.uniform(5 * i + 2); b[3] = 20 + 200 * key.uniform(5 * i + 3)
            b[4] = key.uniform(5 * i + 4)
        }
        targets = (0 ..< globalBatch).map { row in
            let x = 300 * key.child("box").uniform(2 * row), y = 300 * key.child("box").uniform(2 * row + 1)
            return [x, y, x + 40 + 60 * key.child("size").uniform(row), y + 50]
        }
        let t = shape.language.maxTokens
        tokenIDs = (0 ..< globalBatch).flatMap { row -> [Int] in
            let length = 2 + key.child("length").index(row, below: t - 2)
            return (0 ..< t).map { $0 < length ? 1 + key.child("id").index(row * t + $0, below: shape.language.vocabularySize - 1) : 0 }
        }
    }

    /// The inputs of rows first..<first+count.
    public func rows(_ first: Int, _ count: Int) -> TeacherInputs {
        func slice(_ t: Tensor) -> Tensor {
            let per = t.count / t.shape[0]
            return Tensor([count] + Array(t.shape.dropFirst()), Array(t.array[first * per ..< (first + count) * per]))
        }
        let t = shape.language.maxTokens
        return TeacherInputs(f52: slice(f52), f26: slice(f26), f13: slice(f13), anchorBoxes: slice(boxes),
                             tokenIDs: Array(tokenIDs[first * t ..< (first + count) * t]),
                             cellMasks: targets[first ..< first + count].flatMap { boxCoverage($0, grid: grid, size: 416) })
    }
}
