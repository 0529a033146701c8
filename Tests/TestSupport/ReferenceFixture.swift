// ReferenceFixture.swift — the small configuration of Tests/Fixtures/refclip_small.safetensors and
// helpers that build the teacher loaded with its weights and read its inputs.

import Distributed
import Layers
import Models
import Tensors

/// The fixture's dimensions (its `config` metadata): batch 4, maps 16@52, 32@26, 64@13, fusion hidden
/// 64, word vectors 16-d for 50 tokens, GRU hidden 32, one self-attention layer of 4 heads, FFN 64,
/// 15 tokens, 17 selected cells, nearest upsampling as in the reference implementation.
public enum ReferenceFixture {
    public static let batch = 4
    public static let teacherShape = TeacherShape(
        language: LanguageShape(vocabularySize: 50, wordDimension: 16, hidden: 32, heads: 4, feedForward: 64,
                                layers: 1, maxTokens: 15, dropout: 0.1),
        fusion: FusionShape(channels52: 16, channels26: 32, channels13: 64, hidden: 64),
        selectedCells: 17)

    /// A teacher holding the fixture's initial weights, buffers and word vectors.
    public static func teacher(_ file: SafetensorsFile) throws -> RefCLIPTeacher {
        let model = RefCLIPTeacher(shape: teacherShape, seed: 0)
        try model.params.load(from: file, prefix: "w.")
        try model.buffers.load(from: file, prefix: "w.")
        try model.frozen.load(from: file, prefix: "w.")
        return model
    }

    /// The fixture's inputs; anchor boxes keep (cx, cy, w, h, objectness) of the 85 channels.
    public static func inputs(_ file: SafetensorsFile) throws -> TeacherInputs {
        let full = try file.tensor("in.boxes13")
        let (b, cells, anchors, channels) = (full.shape[0], full.shape[1], full.shape[2], full.shape[3])
        let boxes = Tensor([b, cells, anchors, AnchorBoxes.channels])
        for i in 0 ..< b * cells * anchors {
            for c in 0 ..< AnchorBoxes.channels { boxes[i * AnchorBoxes.channels + c] = full[i * channels + c] }
        }
        return TeacherInputs(f52: try file.tensor("in.f52"), f26: try file.tensor("in.f26"), f13: try file.tensor("in.f13"),
                             anchorBoxes: boxes, tokenIDs: try file.integers("in.token_ids"))
    }

    /// The fixture's modes: `trainbn` (batch statistics) and `evalbn` (running statistics); dropout off in both.
    public static func context(_ mode: String, communicator: Communicator = SingleProcessCommunicator()) -> ForwardContext {
        ForwardContext(batchStatistics: mode == "trainbn", dropout: false, sampleIndices: Array(0 ..< batch), communicator: communicator)
    }
}
