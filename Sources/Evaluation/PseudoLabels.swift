// PseudoLabels.swift — the teacher labels every training expression with its box (DESIGN.md §4):
// training items are expanded to one row per expression, sharded across ranks, grounded in inference
// mode, mapped back to original pixels, and gathered on rank 0 as annotation entries.

import Datasets
import Distributed
import Models
import Tensors

/// The teacher's boxes for every training expression (rank 0; empty elsewhere).
public struct PseudoLabels {
    /// One entry per expression, with the teacher's box as `bbox`.
    public let entries: [AnnotationEntry]
    /// Percentage of expressions whose pseudo-box has IoU > 0.5 with the annotated box.
    public let accuracy: Double
}

/// Grounds every expression of `items` (the train split) with `teacher` (every rank calls this alike).
public func pseudoLabel(_ teacher: RefCLIPTeacher, items: [GroundingItem], store: FeatureStore, view: Int, batch: Int,
                        communicator comm: Communicator) throws -> PseudoLabels {
    try teacher.checkReads(store, view: view)
    let rows = items.indices.flatMap { i in items[i].expressions.indices.map { (item: i, expression: $0) } }
    let perRank = (rows.count + comm.size - 1) / comm.size
    let mine = Array(rows[min(rows.count, comm.rank * perRank) ..< min(rows.count, (comm.rank + 1) * perRank)])
    let fields = 7  // valid, x1, y1, x2, y2, correct, confidence
    var encoded: [Double] = []
    var features = FeatureBatch()
    var scratch = FeatureStore.ReadScratch()
    for start in stride(from: 0, to: mine.count, by: batch) {
        let chunk = Array(mine[start ..< min(mine.count, start + batch)])
        try features.load(store, images: chunk.map { items[$0.item].image }, view: view, scratch: &scratch)
        let inputs = TeacherInputs(f52: features.maps[0], f26: features.maps[1], f13: features.maps[2], anchorBoxes: features.boxes,
                                   tokenIDs: chunk.flatMap { items[$0.item].expressions[$0.expression] })
        let predictions = teacher.predict(inputs, .inference(samples: Array(0 ..< chunk.count), communicator: comm))
        for (row, prediction) in zip(chunk, predictions) {
            let info = store.manifest.images[items[row.item].image]
            let letterbox = Letterbox(originalWidth: info.width, originalHeight: info.height, size: view)
            let box = clamped(letterbox.toOriginal(box: prediction.box.map(Double.init)), width: Double(info.width), height: Double(info.height))
            encoded += [1] + box + [intersectionOverUnion(box, items[row.item].box) > 0.5 ? 1 : 0, Double(prediction.confidence)]
        }
    }
    encoded += Array(repeating: 0, count: (perRank - mine.count) * fields)
    let all = comm.gather(encoded, root: 0)
    guard comm.isRoot else { return PseudoLabels(entries: [], accuracy: 0) }
    var entries: [AnnotationEntry] = []
    var correct = 0.0
    for (k, record) in stride(from: 0, to: all.count, by: fields).filter({ all[$0] == 1 }).enumerated() {
        let (item, expression) = (items[rows[k].item], rows[k].expression)
        let (x1, y1, x2, y2) = (all[record + 1], all[record + 2], all[record + 3], all[record + 4])
        correct += all[record + 5]
        let type = item.types[expression]
        entries.append(AnnotationEntry(iid: store.manifest.images[item.image].id, bbox: [x1, y1, x2 - x1, y2 - y1], catID: item.category,
                                       refs: [item.texts[expression]], maskID: item.object, refTypes: type.isEmpty ? nil : [type],
                                       confidence: all[record + 6]))
    }
    return PseudoLabels(entries: entries, accuracy: 100 * correct / Double(max(entries.count, 1)))
}

/// A box kept inside the image, at least one pixel wide and high.
private func clamped(_ box: [Double], width: Double, height: Double) -> [Double] {
    let x1 = min(max(box[0], 0), width - 1), y1 = min(max(box[1], 0), height - 1)
    return [x1, y1, max(min(box[2], width), x1 + 1), max(min(box[3], height), y1 + 1)]
}
