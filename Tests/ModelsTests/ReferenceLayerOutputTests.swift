// ReferenceLayerOutputTests.swift — loaded from the reference weights, the Swift layers reproduce the
// reference's intermediates: embedding, GRU output and final state, self-attention output, sentence
// vector, and the fusion output in both BatchNorm modes, with the running statistics it leaves.

import Layers
import Models
import Tensors
import TestSupport
import XCTest

final class ReferenceLayerOutputTests: XCTestCase {
    private struct Parts {
        let file: SafetensorsFile
        let model: RefCLIPTeacher
        let inputs: TeacherInputs
        var language: LanguageEncoder { model.language }
        var fusion: MultiScaleFusion { model.fusion }
        var buffers: ParameterStore { model.buffers }

        init() throws {
            file = try referenceFixture()
            model = try ReferenceFixture.teacher(file)
            inputs = try ReferenceFixture.inputs(file)
        }
    }

    func testLanguageEncoderIntermediates() throws {
        let parts = try Parts()
        for mode in ["evalbn", "trainbn"] {
            let sentence = parts.language.forward(ids: parts.inputs.tokenIDs, batch: ReferenceFixture.batch, ReferenceFixture.context(mode))
            XCTAssertEqual(parts.language.embedding.output.array, try parts.file.floats("\(mode).mid.emb"), "\(mode): embedding")
            assertClose(parts.language.gru.output.array, try parts.file.floats("\(mode).mid.gru_out"), relative: 1e-5, "\(mode): GRU output")
            assertClose(parts.language.gru.finalState.array, try parts.file.floats("\(mode).mid.gru_h"), relative: 1e-5, "\(mode): GRU final state")
            assertClose(parts.language.tokenFeatures.array, try parts.file.floats("\(mode).mid.sa0_out"), relative: 1e-5, "\(mode): self-attention output")
            assertClose(parts.language.tokenFeatures.array, try parts.file.floats("\(mode).mid.lang_feat"), relative: 1e-5, "\(mode): token features")
            assertClose(sentence.array, try parts.file.floats("\(mode).mid.lang_flat"), relative: 1e-5, "\(mode): sentence vector")
            let mask = try parts.file.integers("\(mode).mid.lang_mask").map { $0 != 0 }
            XCTAssertEqual(mask, parts.inputs.tokenIDs.map { $0 == 0 }, "\(mode): padding mask")
        }
    }

    func testFusionOutputInBothBatchNormModes() throws {
        for mode in ["evalbn", "trainbn"] {
            let parts = try Parts()
            let v = parts.fusion.forward(f52: parts.inputs.f52, f26: parts.inputs.f26, f13: parts.inputs.f13, ReferenceFixture.context(mode))
            XCTAssertEqual(v.shape, [4, 64, 13, 13])
            assertClose(v.array, try parts.file.floats("\(mode).mid.msf_top13"), relative: 1e-5, "\(mode): fusion output")
            guard mode == "trainbn" else { continue }
            // One training forward moves every running statistic the way PyTorch does.
            for ref in parts.buffers.refs {
                let name = "trainbn.bn_after_fwd1." + ref.name
                assertClose(parts.buffers.array(ref), try parts.file.floats(name), relative: 1e-5, name)
            }
        }
    }

    func testLoadingRefusesWrongShapesNamingThem() throws {
        let params = ParameterStore(), frozen = ParameterStore()
        var shape = ReferenceFixture.teacherShape.language
        shape.hidden = 48
        _ = LanguageEncoder(params, frozen: frozen, "lang_encoder", shape: shape)
        XCTAssertThrowsError(try params.load(from: try referenceFixture(), prefix: "w.")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("w.lang_encoder.lstm.weight_hh_l0: file [96, 32], model [144, 48]"), message)
        }
    }
}
