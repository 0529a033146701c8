// WorldSizeEquivalenceTests.swift — the same global batch on 1, 2 and 4 in-process ranks gives the
// same loss and gradients on a step and the same parameters after three steps: the cross-rank
// gathering of anchors, the reduce-scatter of their gradients, synchronized BatchNorm and keyed
// dropout are exact up to float summation order.

import Distributed
import Layers
import Models
import Tensors
import TestSupport
import Training
import XCTest

final class WorldSizeEquivalenceTests: XCTestCase {
    static let shape = TeacherShape(
        language: LanguageShape(vocabularySize: 30, wordDimension: 8, hidden: 16, heads: 2, feedForward: 24, layers: 2,
                                maxTokens: 6, dropout: 0.1),
        fusion: FusionShape(channels52: 4, channels26: 6, channels13: 8, hidden: 12),
        selectedCells: 5)
    static let globalBatch = 8

    private struct Trace {
        var losses: [Double] = [], norms: [Double] = []
        var firstGradient: [Float] = []
        var initialParameters: [Float] = [], parameters: [Float] = [], buffers: [Float] = []
    }

    /// Three steps of this rank's share of the global batch; gradients of step 1 kept. With a
    /// consistency weight the attention–mask consistency loss on the rows' boxes is added.
    private func train(_ comm: Communicator, consistencyWeight: Float = 0) -> Trace {
        let problem = RandomTeacherProblem(shape: Self.shape, globalBatch: Self.globalBatch, seed: 11)
        let model = RefCLIPTeacher(shape: Self.shape, seed: 5)
        for ref in model.frozen.refs { model.frozen.set(ref, randomTensor(ref.shape, seed: 6).array) }
        // eps 1e-6 keeps gradients that vanish by symmetry (rounding noise) from turning into ±lr steps.
        let step = TeacherStep(model: model, settings: OptimizerSettings(eps: 1e-6, clipNorm: 0.5), communicator: comm,
                               consistencyWeight: consistencyWeight)
        let rows = Self.globalBatch / comm.size, first = comm.rank * rows
        var trace = Trace()
        trace.initialParameters = model.params.values.array
        for n in 0 ..< 3 {
            let context = ForwardContext.training(step: RandomKey(seed: 3).child(n), samples: Array(first ..< first + rows), communicator: comm)
            let result = step.step(problem.rows(first, rows), context, lr: 1e-4)
            trace.losses.append(result.loss)
            trace.norms.append(result.gradNorm)
            if n == 0 { trace.firstGradient = model.params.grads.array }
        }
        trace.parameters = model.params.values.array
        trace.buffers = model.buffers.values.array
        return trace
    }

    func testOneTwoAndFourRanksAgree() throws { try assertWorldSizesAgree(consistencyWeight: 0) }

    func testOneTwoAndFourRanksAgreeWithTheConsistencyLoss() throws {
        try assertWorldSizesAgree(consistencyWeight: 1)
        XCTAssertNotEqual(train(SingleProcessCommunicator(), consistencyWeight: 1).losses[0], train(SingleProcessCommunicator()).losses[0],
                          "the consistency loss contributes")
    }

    private func assertWorldSizesAgree(consistencyWeight: Float) throws {
        let single = train(SingleProcessCommunicator(), consistencyWeight: consistencyWeight)
        let moved = zip(single.parameters, single.initialParameters).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(moved, 1e-4, "the steps change the parameters (else the comparison proves nothing)")
        for ranks in [1, 2, 4] {
            let traces = try ThreadCommunicator.run(ranks: ranks) { self.train($0, consistencyWeight: consistencyWeight) }
            for (rank, trace) in traces.enumerated() {
                let what = "\(ranks) ranks, rank \(rank)"
                for n in 0 ..< 3 {
                    XCTAssertEqual(trace.losses[n], single.losses[n], accuracy: 1e-5 * single.losses[n], "\(what): loss of step \(n + 1)")
                    XCTAssertEqual(trace.norms[n], single.norms[n], accuracy: 1e-5 * single.norms[n], "\(what): gradient norm of step \(n + 1)")
                }
                assertClose(trace.firstGradient, single.firstGradient, relative: 1e-5, "\(what): gradient of step 1")
                assertAllClose(trace.parameters, single.parameters, absolute: 1e-5, "\(what): parameters after 3 steps")
                assertAllClose(trace.buffers, single.buffers, absolute: 1e-5, "\(what): BatchNorm statistics after 3 steps")
                XCTAssertEqual(trace.parameters, traces[0].parameters, "\(what): every rank holds bitwise the same parameters")
            }
        }
    }
}
