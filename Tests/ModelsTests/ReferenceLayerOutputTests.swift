// ReferenceLayerOutputTests.swift — loaded from the reference weights, the Swift layers reproduce the
// reference's intermediates: embedding, GRU output and final state, every self-attention layer's
// output, sentence vector, and the fusion output in both BatchNorm modes, with the running statistics
// it leaves. Dimensions come from the fixture's config (ReferenceFixture), tolerances from its README.

import Foundation
import Layers
import Models
import Tensors
import TestSupport
import XCTest

final class ReferenceLayerOutputTests: XCTestCase {
    func testLanguageEncoderIntermediates() throws {
        let fixture = try ReferenceFixture.load()
        let model = try fixture.teacher(), inputs = try fixture.inputs()
        let shape = fixture.teacherShape.language
        let (b, t, h) = (fixture.batch, shape.maxTokens, shape.hidden)
        let language = model.language
        for mode in ["evalbn", "trainbn"] {
            let context = fixture.context(mode)
            let sentence = language.forward(ids: inputs.tokenIDs, batch: b, context)
            XCTAssertEqual(language.embedding.output.array, try fixture.floats("\(mode).mid.emb", shape: [b, t, shape.wordDimension]), "\(mode): embedding")
            assertClose(language.gru.output.array, try fixture.floats("\(mode).mid.gru_out", shape: [b, t, h]), relative: 1e-5, "\(mode): GRU output")
            assertClose(language.gru.finalState.array, try fixture.floats("\(mode).mid.gru_h", shape: [b, h]), relative: 1e-5, "\(mode): GRU final state")
            assertClose(language.tokenFeatures.array, try fixture.floats("\(mode).mid.lang_feat", shape: [b, t, h]), relative: 1e-5, "\(mode): token features")
            assertClose(sentence.array, try fixture.floats("\(mode).mid.lang_flat", shape: [b, h]), relative: 1e-5, "\(mode): sentence vector")
            let mask = try fixture.integers("\(mode).mid.lang_mask", shape: [b, t]).map { $0 != 0 }
            XCTAssertEqual(mask, inputs.tokenIDs.map { $0 == 0 }, "\(mode): padding mask")
            // Each self-attention layer's output, recomputed layer by layer from the GRU output.
            var y = Tensor(language.gru.output.shape, language.gru.output.array)
            for (i, block) in language.blocks.enumerated() {
                let out = block.forward(y, keyMask: mask, context)
                assertClose(out.array, try fixture.floats("\(mode).mid.sa\(i)_out", shape: [b, t, h]), relative: 1e-5, "\(mode): self-attention layer \(i)")
                y = Tensor(out.shape, out.array)
            }
        }
    }

    func testFusionOutputInBothBatchNormModes() throws {
        for mode in ["evalbn", "trainbn"] {
            let fixture = try ReferenceFixture.load()
            let model = try fixture.teacher(), inputs = try fixture.inputs()
            let v = model.fusion.forward(f52: inputs.f52, f26: inputs.f26, f13: inputs.f13, fixture.context(mode))
            let expected = [fixture.batch, fixture.teacherShape.fusion.hidden, fixture.grid, fixture.grid]
            XCTAssertEqual(v.shape, expected)
            assertClose(v.array, try fixture.floats("\(mode).mid.msf_top13", shape: expected), relative: 1e-5, "\(mode): fusion output")
            guard mode == "trainbn" else { continue }
            // One training forward moves every running statistic the way PyTorch does.
            for ref in model.buffers.refs {
                let name = "trainbn.bn_after_fwd1." + ref.name
                assertClose(model.buffers.array(ref), try fixture.floats(name, shape: ref.shape), relative: 1e-5, name)
            }
        }
    }

    func testLoadingRefusesWrongShapesNamingThem() throws {
        let fixture = try ReferenceFixture.load()
        let params = ParameterStore(), frozen = ParameterStore()
        var shape = fixture.teacherShape.language
        shape.hidden += 16
        _ = LanguageEncoder(params, frozen: frozen, "lang_encoder", shape: shape)
        let (word, hidden) = (fixture.teacherShape.language.wordDimension, fixture.teacherShape.language.hidden)
        XCTAssertThrowsError(try params.load(from: fixture.file, prefix: "w.")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("w.lang_encoder.lstm.weight_hh_l0: file [\(3 * hidden), \(hidden)], model [\(3 * shape.hidden), \(shape.hidden)]"), message)
            XCTAssertTrue(message.contains("w.lang_encoder.lstm.weight_ih_l0: file [\(3 * hidden), \(word)], model [\(3 * shape.hidden), \(word)]"), message)
        }
    }
}
