// SynchronizedBatchNormTests.swift — BatchNorm split over 2 and 4 in-process ranks gives the outputs,
// input gradients, parameter gradients (after the all-reduce) and running statistics of one rank
// holding the whole batch.

import Distributed
import Layers
import Tensors
import TestSupport
import XCTest

final class SynchronizedBatchNormTests: XCTestCase {
    private struct Result {
        var output: [Float], inputGrad: [Float], paramGrads: [Float], runningMean: [Float], runningVar: [Float]
    }

    /// Runs forward and backward on this rank's rows of a global batch of 8.
    private func run(_ comm: Communicator) -> Result {
        let (batch, channels) = (8, 3)
        let rows = batch / comm.size, first = comm.rank * rows
        let params = ParameterStore(seed: 1), buffers = ParameterStore()
        let bn = BatchNorm2d(params, buffers: buffers, "bn", channels: channels)
        for c in 0 ..< channels { params.value(bn.weight)[c] = 1 + 0.5 * Float(c) }
        let globalInput = randomTensor([batch, channels, 4, 5], seed: 2, scale: 3)
        let globalGrad = randomTensor([batch, channels, 4, 5], seed: 3)
        let perRow = channels * 20
        let x = Tensor([rows, channels, 4, 5], Array(globalInput.array[first * perRow ..< (first + rows) * perRow]))
        let dy = Tensor([rows, channels, 4, 5], Array(globalGrad.array[first * perRow ..< (first + rows) * perRow]))
        let ctx = ForwardContext(batchStatistics: true, dropout: false, sampleIndices: Array(first ..< first + rows), communicator: comm)
        let y = bn.forward(x, ctx).array
        let dx = bn.backward(dy).array
        var grads = params.grads.array
        comm.allReduce(&grads, .sum)
        return Result(output: comm.allGather(y), inputGrad: comm.allGather(dx), paramGrads: grads,
                      runningMean: buffers.array(bn.runningMean), runningVar: buffers.array(bn.runningVar))
    }

    func testSplitBatchEqualsWholeBatch() throws {
        let whole = run(SingleProcessCommunicator())
        for ranks in [2, 4] {
            for (rank, split) in try ThreadCommunicator.run(ranks: ranks, run).enumerated() {
                let what = "\(ranks) ranks, rank \(rank)"
                assertAllClose(split.output, whole.output, absolute: 1e-5, "\(what): outputs")
                assertAllClose(split.inputGrad, whole.inputGrad, absolute: 1e-5, "\(what): input gradients")
                assertAllClose(split.paramGrads, whole.paramGrads, absolute: 1e-4, "\(what): parameter gradients")
                assertAllClose(split.runningMean, whole.runningMean, absolute: 1e-6, "\(what): running mean")
                assertAllClose(split.runningVar, whole.runningVar, absolute: 1e-5, "\(what): running variance")
            }
        }
    }
}
