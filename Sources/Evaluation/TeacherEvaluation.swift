// TeacherEvaluation.swift — grounds every expression of a split with the teacher, distributed: each
// rank takes a contiguous slice of the items, predicts in inference mode, scores, and rank 0 gathers
// the scores.

import Datasets
import Distributed
import Layers
import Models
import Tensors

/// The outcome of every item on this rank's slice, and the split's report on rank 0.
public struct TeacherEvaluation {
    public let report: SplitReport
    /// Rank 0: outcomes of all items in order (empty elsewhere).
    public let outcomes: [GroundingOutcome]
}

/// Evaluates `items` of `split` (every rank calls this with the same arguments).
public func evaluateTeacher(_ model: RefCLIPTeacher, split: String, items: [GroundingItem], store: FeatureStore, view: Int,
                            batch: Int, communicator comm: Communicator) throws -> TeacherEvaluation {
    let perRank = (items.count + comm.size - 1) / comm.size
    let mine = Array(items[min(items.count, comm.rank * perRank) ..< min(items.count, (comm.rank + 1) * perRank)])
    var encoded: [Double] = []  // per item: valid, correct, pointing, random, objectness, x1, y1, x2, y2
    let fields = 9
    for start in stride(from: 0, to: mine.count, by: batch) {
        let chunk = Array(mine[start ..< min(mine.count, start + batch)])
        let features = try FeatureBatch.load(store, images: chunk.map(\.image), view: view)
        let inputs = TeacherInputs(f52: features.maps[0], f26: features.maps[1], f13: features.maps[2], anchorBoxes: features.boxes,
                                   tokenIDs: chunk.flatMap { $0.expressions[0] })
        let context = ForwardContext.inference(samples: Array(0 ..< chunk.count), communicator: comm)
        let predictions = model.predict(inputs, context)
        let (cells, anchors) = (features.boxes.shape[1], features.boxes.shape[2])
        let k = model.shape.selectedCells
        for (i, item) in chunk.enumerated() {
            let info = store.manifest.images[item.image]
            let letterbox = Letterbox(originalWidth: info.width, originalHeight: info.height, size: view)
            let o = scoreGrounding(predictions[i], boxes: features.boxes.data + i * cells * anchors * 5, cells: cells, anchorsPerCell: anchors,
                                   selectedCells: model.selectedCells[i * k ..< (i + 1) * k], letterbox: letterbox, truth: item.box)
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
            report.overall.add(o)
            report.byType[items[index].types[0], default: GroundingTally()].add(o)
            index += 1
        }
    }
    return TeacherEvaluation(report: report, outcomes: outcomes)
}
