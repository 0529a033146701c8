// GroundingEvaluation.swift — grounds every expression of a split with any grounding model, distributed:
// each rank takes a contiguous slice of the items, asks the model for a choice per expression, scores it
// (with the detector-only baselines), and rank 0 gathers the scores.

import Datasets
import Distributed
import Models
import Tensors

/// A model's answer for one expression: the stride-32 cell it chose and its box in letterbox pixels.
public struct GroundingChoice: Equatable, Sendable {
    public var cell: Int
    public var box: [Float]

    public init(cell: Int, box: [Float]) {
        self.cell = cell
        self.box = box
    }
}

/// The split's report (on every rank, so decisions taken from it agree) and every item's outcome in
/// order (rank 0; empty elsewhere).
public struct GroundingEvaluation {
    public let report: SplitReport
    public let outcomes: [GroundingOutcome]
}

/// Evaluates `model` on `items` of `split` at input size `view` (every rank calls this alike). The
/// random-anchor baseline chooses among the model's `baselineCells` most object-like cells.
public func evaluateGrounding(_ model: GroundingModel, split: String, items: [GroundingItem], store: FeatureStore, view: Int, batch: Int,
                              communicator comm: Communicator) throws -> GroundingEvaluation {
    try model.checkReads(store, view: view)
    let baselineCells = model.baselineCells
    let perRank = (items.count + comm.size - 1) / comm.size
    let mine = Array(items[min(items.count, comm.rank * perRank) ..< min(items.count, (comm.rank + 1) * perRank)])
    let fields = 9  // valid, correct, pointing, random, objectness, x1, y1, x2, y2
    var encoded: [Double] = []
    var features = FeatureBatch()
    var scratch = FeatureStore.ReadScratch()
    for start in stride(from: 0, to: mine.count, by: batch) {
        let chunk = Array(mine[start ..< min(mine.count, start + batch)])
        try features.load(store, images: chunk.map(\.image), view: view, scratch: &scratch)
        let choices = model.choose(features, tokenIDs: chunk.flatMap { $0.expressions[0] }, inputSize: view, communicator: comm)
        let (cells, anchors) = (features.boxes.shape[1], features.boxes.shape[2])
        let selected = selectCells(features.boxes, count: baselineCells)
        for (i, item) in chunk.enumerated() {
            let info = store.manifest.images[item.image]
            let letterbox = Letterbox(originalWidth: info.width, originalHeight: info.height, size: view)
            let o = scoreGrounding(choices[i], boxes: features.boxes.data + i * cells * anchors * 5, cells: cells, anchorsPerCell: anchors,
                                   selectedCells: selected[i * baselineCells ..< (i + 1) * baselineCells], letterbox: letterbox, truth: item.box)
            encoded += [1, o.correct ? 1 : 0, o.pointing ? 1 : 0, o.randomAnchor, o.objectnessBaseline ? 1 : 0] + o.box
        }
    }
    encoded += Array(repeating: 0, count: (perRank - mine.count) * fields)
    let all = comm.gather(encoded, root: 0)
    var report = SplitReport(split: split)
    var outcomes: [GroundingOutcome] = []
    if comm.isRoot {
        var index = 0
        for record in stride(from: 0, to: all.count, by: fields) where all[record] == 1 {
            let o = GroundingOutcome(correct: all[record + 1] == 1, pointing: all[record + 2] == 1, randomAnchor: all[record + 3],
                                     objectnessBaseline: all[record + 4] == 1, box: Array(all[record + 5 ..< record + 9]))
            outcomes.append(o)
            report.overall.add(o, lookalikes: items[index].lookalikes)
            report.byType[items[index].types[0], default: GroundingTally()].add(o, lookalikes: items[index].lookalikes)
            index += 1
        }
    }
    return GroundingEvaluation(report: try comm.broadcast(value: comm.isRoot ? report : nil), outcomes: outcomes)
}
