// StudentTrainingTests.swift — the student's step is exact across world sizes (1, 2, 4 in-process
// ranks: losses, gradients, parameters after three steps), and its EMA is held by rank 0 alone.

import Distributed
import Layers
import Models
import Tensors
import TestSupport
import Training
import XCTest

final class StudentTrainingTests: XCTestCase {
    static let shape = StudentShape(
        language: LanguageShape(vocabularySize: 30, wordDimension: 8, hidden: 16, heads: 2, feedForward: 24, layers: 1, maxTokens: 6, dropout: 0.1),
        fusion: FusionShape(channels52: 4, channels26: 6, channels13: 8, hidden: 12), boxWeight: 5, coordinates: true)
    static let globalBatch = 8

    private struct Trace {
        var losses: [Double] = [], firstGradient: [Float] = [], initial: [Float] = [], parameters: [Float] = [], buffers: [Float] = []
    }

    private func train(_ comm: Communicator) -> Trace {
        let problem = RandomTeacherProblem(shape: WorldSizeEquivalenceTests.shape, globalBatch: Self.globalBatch, seed: 21)
        let key = RandomKey(seed: 22)
        let targets: [[Float]] = (0 ..< Self.globalBatch).map { i in
            let (x, y) = (300 * key.uniform(4 * i), 300 * key.uniform(4 * i + 1))
            return [x, y, x + 20 + 90 * key.uniform(4 * i + 2), y + 20 + 90 * key.uniform(4 * i + 3)]
        }
        let model = SimRECStudent(shape: Self.shape, seed: 5)
        for ref in model.frozen.refs { model.frozen.set(ref, randomTensor(ref.shape, seed: 6).array) }
        let step = StudentStep(model: model, settings: OptimizerSettings(eps: 1e-6, clipNorm: 0.5), communicator: comm)
        let rows = Self.globalBatch / comm.size, first = comm.rank * rows
        var trace = Trace(initial: model.params.values.array)
        for n in 0 ..< 3 {
            let inputs = problem.rows(first, rows)
            let context = ForwardContext.training(step: RandomKey(seed: 3).child(n), samples: Array(first ..< first + rows), communicator: comm)
            let result = step.step(maps: [inputs.f52, inputs.f26, inputs.f13], tokenIDs: inputs.tokenIDs, targets: Array(targets[first ..< first + rows]),
                                   inputSize: 416, globalBatch: Self.globalBatch, context, lr: 1e-4)
            trace.losses.append(result.loss)
            if n == 0 { trace.firstGradient = model.params.grads.array }
        }
        trace.parameters = model.params.values.array
        trace.buffers = model.buffers.values.array
        return trace
    }

    func testOneTwoAndFourRanksAgree() throws {
        let single = train(SingleProcessCommunicator())
        XCTAssertGreaterThan(zip(single.parameters, single.initial).map { abs($0 - $1) }.max() ?? 0, 1e-4, "the steps change the parameters")
        for ranks in [2, 4] {
            for (rank, trace) in try ThreadCommunicator.run(ranks: ranks, train).enumerated() {
                let what = "\(ranks) ranks, rank \(rank)"
                for n in 0 ..< 3 { XCTAssertEqual(trace.losses[n], single.losses[n], accuracy: 1e-5 * single.losses[n], "\(what): loss of step \(n + 1)") }
                assertClose(trace.firstGradient, single.firstGradient, relative: 1e-5, "\(what): gradient of step 1")
                assertAllClose(trace.parameters, single.parameters, absolute: 1e-5, "\(what): parameters after 3 steps")
                assertAllClose(trace.buffers, single.buffers, absolute: 1e-5, "\(what): BatchNorm statistics after 3 steps")
            }
        }
    }

    func testOnlyRankZeroHoldsTheAverage() throws {
        let held = try ThreadCommunicator.run(ranks: 3) { comm -> Bool in
            let model = SimRECStudent(shape: Self.shape, seed: 1)
            return ModelAverage.onRoot(params: model.params, buffers: model.buffers, maxDecay: 0.9997, communicator: comm) != nil
        }
        XCTAssertEqual(held, [true, false, false])
    }
}
