// TeacherConsistencyTests.swift — the teacher with the attention–mask consistency loss: projecting
// every cell gives the same anchors as projecting the selected ones, and the gradient of contrastive
// + weighted consistency loss, through the every-cell path into the fusion and the language encoder,
// passes finite differences module by module.

import Distributed
import Layers
import Models
import Tensors
import TestSupport
import Training
import XCTest

final class TeacherConsistencyTests: XCTestCase {
    private let shape = WorldSizeEquivalenceTests.shape

    private func model() -> RefCLIPTeacher {
        let model = RefCLIPTeacher(shape: shape, seed: 21)
        for ref in model.frozen.refs { model.frozen.set(ref, randomTensor(ref.shape, seed: 22).array) }
        return model
    }

    func testEveryCellProjectionContainsTheSelectedAnchors() {
        let teacher = model()
        let inputs = RandomTeacherProblem(shape: shape, globalBatch: 4, seed: 3).rows(0, 4)
        let context = ForwardContext.inference(samples: Array(0 ..< 4), communicator: SingleProcessCommunicator())
        let plain = teacher.forward(inputs, context).anchors.array
        let (anchors, _, cells) = teacher.forward(inputs, context, everyCell: true)
        XCTAssertEqual(cells?.shape, [4, 169, shape.embedding])
        assertAllClose(anchors.array, plain, absolute: 1e-5, "anchors as rows of the every-cell projection")
    }

    func testGradientOfContrastivePlusConsistencyByFiniteDifferences() {
        let teacher = model()
        let step = TeacherStep(model: teacher, settings: OptimizerSettings(), communicator: SingleProcessCommunicator(), consistencyWeight: 2)
        let inputs = RandomTeacherProblem(shape: shape, globalBatch: 6, seed: 8).rows(0, 6)
        // Dropout off, batch statistics on: the loss is a smooth function of the parameters between kinks.
        let context = ForwardContext(batchStatistics: true, dropout: false, stepKey: RandomKey(seed: 1), sampleIndices: Array(0 ..< 6),
                                     communicator: SingleProcessCommunicator())
        let base = step.computeGradients(inputs, context)
        XCTAssertGreaterThan(base, 0)
        let gradient = teacher.params.grads.array
        let evaluate = { step.computeGradients(inputs, context) }
        for prefix in ["lang_encoder.", "multi_scale_manner.", "linear_vs.", "linear_ts."] {
            let indices = teacher.params.refs.filter { $0.name.hasPrefix(prefix) && !$0.name.hasSuffix("linear_vs.bias") }
                .flatMap { ref in Array(ref.offset ..< ref.offset + ref.count) }
            gradient.withUnsafeBufferPointer {
                assertDirectionalDerivative(prefix, values: teacher.params.values.data, analytic: $0.baseAddress!, indices: indices,
                                            step: 1e-3, tolerance: 2e-2, loss: evaluate)
            }
        }
    }
}
