// TeacherReferenceTests.swift — the Swift teacher equals the reference implementation on one fixture:
// Tests/Fixtures/refclip_small.safetensors (written by the official code), or the file named by
// REFCLIP_REFERENCE_FIXTURE. Forward intermediates, selection, logits, loss and every gradient in both
// BatchNorm modes, parameters and BatchNorm statistics after the recorded clip + Adam steps, and the
// prediction (ReferenceComparison; its tolerances are ReferenceTolerance's). ReferenceGridTests runs the
// same checks on a grid of generated fixtures.

import Foundation
import Layers
import Models
import TestSupport
import XCTest

final class TeacherReferenceTests: XCTestCase {
    private func assertNoFindings(_ findings: [String], file: StaticString = #filePath, line: UInt = #line) {
        for finding in findings { XCTFail(finding, file: file, line: line) }
    }

    func testForwardIntermediatesInBothBatchNormModes() throws {
        assertNoFindings(try ReferenceComparison(try ReferenceFixture.load()).forwardIntermediates())
    }

    func testLossLogitsSelectionAndGradientsInBothBatchNormModes() throws {
        assertNoFindings(try ReferenceComparison(try ReferenceFixture.load()).lossAndGradients().findings)
    }

    func testParametersAndStatisticsAfterTheRecordedAdamSteps() throws {
        assertNoFindings(try ReferenceComparison(try ReferenceFixture.load()).adamSteps())
    }

    func testPrediction() throws {
        assertNoFindings(try ReferenceComparison(try ReferenceFixture.load()).prediction())
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
