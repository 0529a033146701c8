// ReferenceFixture.swift — the small reference configuration of Tests/Fixtures/refclip_small.safetensors
// and helpers to build model parts loaded with its weights.

import Distributed
import Layers
import Models
import Tensors
import TestSupport

/// Model parts at the fixture's dimensions, loaded from its `w.*` tensors.
struct ReferenceParts {
    let file: SafetensorsFile
    let params = ParameterStore(), buffers = ParameterStore(), frozen = ParameterStore()
    let language: LanguageEncoder
    let fusion: MultiScaleFusion
    let batch = 4

    static let languageShape = LanguageShape(vocabularySize: 50, wordDimension: 16, hidden: 32, heads: 4, feedForward: 64,
                                             layers: 1, maxTokens: 15, dropout: 0.1)
    static let fusionShape = FusionShape(channels52: 16, channels26: 32, channels13: 64, hidden: 64)

    init() throws {
        file = try referenceFixture()
        language = LanguageEncoder(params, frozen: frozen, "lang_encoder", shape: Self.languageShape)
        fusion = MultiScaleFusion(params, buffers: buffers, "multi_scale_manner", shape: Self.fusionShape)
        try params.load(from: file, prefix: "w.")
        try buffers.load(from: file, prefix: "w.")
        try frozen.load(from: file, prefix: "w.")
    }

    func tensor(_ name: String) throws -> Tensor { try file.tensor(name) }

    func tokenIDs() throws -> [Int] { try file.integers("in.token_ids") }

    /// The fixture's modes: `trainbn` (batch statistics) and `evalbn` (running statistics); dropout off in both.
    func context(_ mode: String, communicator: Communicator = SingleProcessCommunicator()) -> ForwardContext {
        ForwardContext(batchStatistics: mode == "trainbn", dropout: false, sampleIndices: Array(0 ..< batch), communicator: communicator)
    }
}
