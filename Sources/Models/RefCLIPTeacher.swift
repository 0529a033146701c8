// RefCLIPTeacher.swift — the RefCLIP teacher (DESIGN.md §3): expressions through the language
// encoder and `linear_ts`; detector maps through the multi-scale fusion; the most object-like cells
// of the stride-32 grid gathered and projected by `linear_vs`. Training compares every text with
// the anchors of every image (AnchorContrastiveLoss); prediction picks, in the text's own image, the
// selected cell most similar to the text and, in it, the anchor with the highest objectness.

import Distributed
import Foundation
import Layers
import Tensors

/// Dimensions of the teacher.
public struct TeacherShape: Codable, Equatable, Sendable {
    public var language: LanguageShape
    public var fusion: FusionShape
    /// Cells kept per image (17 of 169 in the reference, 34 for ReferIt).
    public var selectedCells: Int

    public init(language: LanguageShape, fusion: FusionShape, selectedCells: Int) {
        self.language = language
        self.fusion = fusion
        self.selectedCells = selectedCells
    }

    /// Width of the joint text–anchor space (the language encoder's hidden size, as in the reference).
    public var embedding: Int { language.hidden }
}

/// One local batch of teacher inputs.
public struct TeacherInputs {
    public var f52: Tensor, f26: Tensor, f13: Tensor
    /// [B, cells, anchorsPerCell, 5]: (cx, cy, w, h, objectness) in letterbox pixels.
    public var anchorBoxes: Tensor
    /// Row-major [B, maxTokens] token ids, 0 = padding.
    public var tokenIDs: [Int]
    /// [B, cells]: the share of each stride-32 cell the item's box covers, for the attention–mask
    /// consistency loss; nil when the batch trains without boxes.
    public var cellMasks: [Float]?

    public init(f52: Tensor, f26: Tensor, f13: Tensor, anchorBoxes: Tensor, tokenIDs: [Int], cellMasks: [Float]? = nil) {
        self.f52 = f52
        self.f26 = f26
        self.f13 = f13
        self.anchorBoxes = anchorBoxes
        self.tokenIDs = tokenIDs
        self.cellMasks = cellMasks
    }

    public var batch: Int { f13.shape[0] }
}

/// The teacher's choice for one expression.
public struct AnchorPrediction: Equatable, Sendable {
    /// Position of the chosen cell among the image's selected cells.
    public var rankInSelected: Int
    /// The chosen cell (row-major on the stride-32 grid).
    public var cell: Int
    /// The chosen anchor within the cell.
    public var anchor: Int
    /// (x1, y1, x2, y2) in letterbox pixels.
    public var box: [Float]
    public var objectness: Float
    /// The softmax probability of the chosen cell over the image's selected cells (text–anchor
    /// similarities as logits, as in the contrastive loss): how sure the teacher is.
    public var confidence: Float

    public init(rankInSelected: Int, cell: Int, anchor: Int, box: [Float], objectness: Float, confidence: Float) {
        self.rankInSelected = rankInSelected
        self.cell = cell
        self.anchor = anchor
        self.box = box
        self.objectness = objectness
        self.confidence = confidence
    }
}

/// The RefCLIP teacher with its parameters in one flat store.
public final class RefCLIPTeacher {
    public let shape: TeacherShape
    /// Trainable parameters, reference names.
    public let params: ParameterStore
    /// BatchNorm running statistics.
    public let buffers = ParameterStore()
    /// Frozen word vectors.
    public let frozen = ParameterStore()
    public let language: LanguageEncoder
    public let fusion: MultiScaleFusion
    public let linearVS: Linear, linearTS: Linear
    private let gather = CellGather()
    private let selectRows = RowGather()
    /// The cells selected in the last forward, `selectedCells` per image.
    public private(set) var selectedCells: [Int] = []
    /// Whether the last forward projected every cell (for a heatmap).
    private var projectedEveryCell = false

    public init(shape: TeacherShape, seed: UInt64) {
        self.shape = shape
        params = ParameterStore(seed: seed)
        language = LanguageEncoder(params, frozen: frozen, "lang_encoder", shape: shape.language)
        linearVS = Linear(params, "linear_vs", in: shape.fusion.hidden, out: shape.embedding)
        linearTS = Linear(params, "linear_ts", in: shape.language.hidden, out: shape.embedding)
        fusion = MultiScaleFusion(params, buffers: buffers, "multi_scale_manner", shape: shape.fusion)
        for store in [params, buffers, frozen] { store.shrinkToFit() }
    }

    /// Projected anchors [B, K, D] and projected texts [B, D]; with `everyCell`, also every cell of
    /// the stride-32 grid projected, [B, g·g, D] (the anchors are then rows of it).
    public func forward(_ inputs: TeacherInputs, _ context: ForwardContext, everyCell: Bool = false)
        -> (anchors: Tensor, text: Tensor, cells: Tensor?) {
        let sentence = language.forward(ids: inputs.tokenIDs, batch: inputs.batch, context)
        let text = context.checked(linearTS.forward(sentence), "linear_ts")
        let fused = fusion.forward(f52: inputs.f52, f26: inputs.f26, f13: inputs.f13, context)
        selectedCells = selectCells(inputs.anchorBoxes, count: shape.selectedCells)
        projectedEveryCell = everyCell
        guard everyCell else { return (context.checked(linearVS.forward(gather.forward(fused, cells: selectedCells)), "linear_vs"), text, nil) }
        let grid = fused.shape[2] * fused.shape[3]
        let all = (0 ..< inputs.batch).flatMap { _ in 0 ..< grid }
        let cells = context.checked(linearVS.forward(gather.forward(fused, cells: all)), "linear_vs")
        return (selectRows.forward(cells, rows: selectedCells), text, cells)
    }

    /// Accumulates parameter gradients from ∂L/∂anchors and ∂L/∂text, and from ∂L/∂cells when the
    /// forward projected every cell. The text branch goes first: it takes a small share of the time and
    /// holds near half the gradients, which can then be summed over ranks while the fusion's backward runs.
    public func backward(anchorGrad: Tensor, textGrad: Tensor, cellGrad: Tensor? = nil) {
        let sentenceGrad = linearTS.backward(textGrad)
        params.finishGradients(under: "linear_ts")
        language.backward(sentenceGrad)
        let grad: Tensor
        if projectedEveryCell {
            grad = selectRows.backward(anchorGrad)
            if let cellGrad { accumulate(cellGrad, into: grad) }
        } else {
            grad = anchorGrad
        }
        let fusedGrad = gather.backward(linearVS.backward(grad))
        params.finishGradients(under: "linear_vs")
        fusion.backward(fusedGrad)
    }

    /// Each expression grounded in its own image (run in inference mode).
    public func predict(_ inputs: TeacherInputs, _ context: ForwardContext) -> [AnchorPrediction] {
        let (anchors, text, _) = forward(inputs, context)
        let (b, k, d) = (anchors.shape[0], anchors.shape[1], anchors.shape[2])
        let boxes = inputs.anchorBoxes
        let (cells, perCell, channels) = (boxes.shape[1], boxes.shape[2], boxes.shape[3])
        var scores = [Float](repeating: 0, count: k)
        return (0 ..< b).map { i in
            var best = 0, bestScore = -Float.infinity
            for s in 0 ..< k {
                scores[s] = 0
                for j in 0 ..< d { scores[s] += text[i * d + j] * anchors[(i * k + s) * d + j] }
                if scores[s] > bestScore { (best, bestScore) = (s, scores[s]) }
            }
            let partition = scores.reduce(0) { $0 + expf($1 - bestScore) }
            let cell = selectedCells[i * k + best]
            let base = (i * cells + cell) * perCell * channels
            var anchor = 0
            for a in 1 ..< perCell where boxes[base + a * channels + AnchorBoxes.objectness] > boxes[base + anchor * channels + AnchorBoxes.objectness] {
                anchor = a
            }
            let p = base + anchor * channels
            let (cx, cy, w, h) = (boxes[p], boxes[p + 1], boxes[p + 2], boxes[p + 3])
            let x1 = cx - w / 2, y1 = cy - h / 2
            return AnchorPrediction(rankInSelected: best, cell: cell, anchor: anchor, box: [x1, y1, x1 + w, y1 + h],
                                    objectness: boxes[p + AnchorBoxes.objectness], confidence: 1 / partition)
        }
    }
}
