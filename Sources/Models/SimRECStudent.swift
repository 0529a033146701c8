// SimRECStudent.swift — the student REC model (DESIGN.md §4): the language encoder (one
// self-attention layer), a text-gated fusion per detector scale, the multi-scale fusion, and the
// one-stage head. Trained on (pseudo-)boxes; predicts, per expression, the cell with the highest
// objectness and the box it decodes.

import Distributed
import Layers
import Tensors

/// Dimensions of the student.
public struct StudentShape: Codable, Equatable, Sendable {
    public var language: LanguageShape
    public var fusion: FusionShape
    /// Weight of the GIoU term against the objectness BCE.
    public var boxWeight: Float
    /// Whether each text-gated fusion also sees its cells' (x, y) (CoordinateChannels).
    public var coordinates: Bool

    public init(language: LanguageShape, fusion: FusionShape, boxWeight: Float, coordinates: Bool = false) {
        self.language = language
        self.fusion = fusion
        self.boxWeight = boxWeight
        self.coordinates = coordinates
    }

    private enum CodingKeys: String, CodingKey { case language, fusion, boxWeight, coordinates }

    /// Checkpoints written before `coordinates` existed hold students without them.
    public init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(language: values.decode(LanguageShape.self, forKey: .language), fusion: values.decode(FusionShape.self, forKey: .fusion),
                      boxWeight: values.decode(Float.self, forKey: .boxWeight),
                      coordinates: values.decodeIfPresent(Bool.self, forKey: .coordinates) ?? false)
    }
}

/// The student with its parameters in one flat store.
public final class SimRECStudent {
    public let shape: StudentShape
    public let params: ParameterStore
    public let buffers = ParameterStore()
    public let frozen = ParameterStore()
    public let language: LanguageEncoder
    private let gates: [TextGatedFusion]
    public let fusion: MultiScaleFusion
    public let head: StudentHead
    private let sentenceGrad = Tensor()

    public init(shape: StudentShape, seed: UInt64) {
        self.shape = shape
        params = ParameterStore(seed: seed)
        language = LanguageEncoder(params, frozen: frozen, "lang_encoder", shape: shape.language)
        let (store, statistics) = (params, buffers)
        let channels = [shape.fusion.channels52, shape.fusion.channels26, shape.fusion.channels13]
        gates = channels.enumerated().map {
            TextGatedFusion(store, buffers: statistics, "fusion_manner.\($0.offset)", channels: $0.element, textDimension: shape.language.hidden,
                            coordinates: shape.coordinates)
        }
        fusion = MultiScaleFusion(params, buffers: buffers, "multi_scale_manner", shape: shape.fusion, computesInputGrads: true)
        head = StudentHead(params, buffers: buffers, "head", channels: shape.fusion.hidden)
        for store in [params, buffers, frozen] { store.shrinkToFit() }
    }

    /// Raw head outputs [B, 5, g, g] for the maps (strides 8, 16, 32) and token ids.
    @discardableResult
    public func forward(maps: [Tensor], tokenIDs: [Int], _ context: ForwardContext) -> Tensor {
        let sentence = language.forward(ids: tokenIDs, batch: maps[0].shape[0], context)
        let gated = zip(gates, maps).enumerated().map { context.checked($1.0.forward($1.1, sentence: sentence, context), "fusion_manner.\($0)") }
        return context.checked(head.forward(fusion.forward(f52: gated[0], f26: gated[1], f13: gated[2], context), context), "head")
    }

    /// Accumulates parameter gradients from ∂L/∂raw, telling the store as each part's gradients are final.
    public func backward(_ dRaw: Tensor) {
        let fusedGrad = head.backward(dRaw)
        params.finishGradients(under: "head")
        fusion.backward(fusedGrad)
        let gradients = [fusion.f52Grad, fusion.f26Grad, fusion.f13Grad]
        for s in 0 ..< 3 {
            let fromGate = gates[s].backward(gradients[s])
            if s == 0 { sentenceGrad.copy(from: fromGate) } else { accumulate(fromGate, into: sentenceGrad) }
            params.finishGradients(under: "fusion_manner.\(s)")
        }
        language.backward(sentenceGrad)
    }

    /// The cell with the highest objectness and its box (letterbox pixels) for each expression.
    public func predict(maps: [Tensor], tokenIDs: [Int], inputSize: Int, _ context: ForwardContext) -> [(cell: Int, box: [Float])] {
        let raw = forward(maps: maps, tokenIDs: tokenIDs, context)
        let (b, grid) = (raw.shape[0], raw.shape[2])
        let plane = grid * grid
        return (0 ..< b).map { i in
            let r = raw.data + i * HeadChannel.count * plane
            var best = 0
            for cell in 1 ..< plane where r[HeadChannel.objectness * plane + cell] > r[HeadChannel.objectness * plane + best] { best = cell }
            return (best, DecodedBox(raw: r, plane: plane, cell: best, grid: grid, inputSize: inputSize).corners)
        }
    }
}
