// LayerGradientTests.swift — every layer's backward against central finite differences.

import Distributed
import Layers
import Tensors
import TestSupport
import XCTest

final class LayerGradientTests: XCTestCase {
    private let single = SingleProcessCommunicator()

    private func context(training: Bool, samples: Int) -> ForwardContext {
        ForwardContext(batchStatistics: training, dropout: training, stepKey: RandomKey(seed: 5).child(17),
                       sampleIndices: (0 ..< samples).map { 100 + 3 * $0 }, communicator: single)
    }

    /// A random tensor whose entries stay at least `margin` away from zero (for rectifier kinks).
    private func awayFromZero(_ shape: [Int], seed: UInt64, margin: Float = 0.05) -> Tensor {
        let t = randomTensor(shape, seed: seed)
        for i in 0 ..< t.count where abs(t.data[i]) < margin { t.data[i] = t.data[i] < 0 ? -margin - 0.1 : margin + 0.1 }
        return t
    }

    func testLinear() {
        let params = ParameterStore(seed: 1)
        let layer = Linear(params, "fc", in: 5, out: 6)
        let x = randomTensor([3, 4, 5], seed: 2)
        assertLayerGradients("Linear", input: x, params: params, forward: { layer.forward(x) }, backward: { layer.backward($0) })
        XCTAssertEqual(layer.output.shape, [3, 4, 6])
    }

    func testConv2dOneByOneAndThreeByThree() {
        for (kernel, bias) in [(1, false), (3, false), (3, true)] {
            let params = ParameterStore(seed: 3)
            let conv = Conv2d(params, "conv", in: 3, out: 4, kernel: kernel, bias: bias)
            let x = randomTensor([2, 3, 5, 4], seed: 4)
            assertLayerGradients("Conv2d k\(kernel) bias \(bias)", input: x, params: params,
                                 forward: { conv.forward(x) }, backward: { conv.backward($0) })
        }
    }

    func testUpsampledConvolutionGradients() {
        for computesInputGrad in [true, false] {
            let params = ParameterStore(seed: 5)
            let conv = UpsampledConv2d(params, "conv", in: 3, out: 4, computesInputGrad: computesInputGrad)
            let x = randomTensor([2, 3, 3, 4], seed: 6)
            assertLayerGradients("UpsampledConv2d", input: computesInputGrad ? x : nil, params: params,
                                 forward: { conv.forward(x) }, backward: { conv.backward($0) })
        }
    }

    func testUpsampledConvolutionIsTheConvolutionOfTheUpsampledMap() {
        // The same weights through Conv2d on the nearest-upsampled map formed by hand, forward and backward.
        let (params, reference) = (ParameterStore(seed: 7), ParameterStore(seed: 7))
        let conv = UpsampledConv2d(params, "conv", in: 3, out: 2)
        let plain = Conv2d(reference, "conv", in: 3, out: 2, kernel: 3)
        XCTAssertEqual(params.values.array, reference.values.array)
        let x = randomTensor([2, 3, 3, 5], seed: 8)
        let upsampled = Tensor([2, 3, 6, 10])
        for p in 0 ..< 6 { for y in 0 ..< 6 { for c in 0 ..< 10 { upsampled[(p * 6 + y) * 10 + c] = x[(p * 3 + y / 2) * 5 + c / 2] } } }
        assertAllClose(conv.forward(x).array, plain.forward(upsampled).array, absolute: 1e-5, "forward")
        let dy = randomTensor([2, 2, 6, 10], seed: 9)
        params.zeroGrads()
        reference.zeroGrads()
        let dx = conv.backward(dy).array, dUpsampled = plain.backward(dy)
        assertAllClose(params.grads.array, reference.grads.array, absolute: 1e-4, "weight gradient")
        // ∂L/∂x sums the upsampled map's gradient over each 2×2 block.
        var summed = [Float](repeating: 0, count: x.count)
        for p in 0 ..< 6 { for y in 0 ..< 6 { for c in 0 ..< 10 { summed[(p * 3 + y / 2) * 5 + c / 2] += dUpsampled[(p * 6 + y) * 10 + c] } } }
        assertAllClose(dx, summed, absolute: 1e-5, "input gradient")
    }

    func testConv2dMatchesDirectConvolution() {
        let params = ParameterStore(seed: 3)
        let conv = Conv2d(params, "conv", in: 2, out: 3, kernel: 3, bias: true)
        let x = randomTensor([2, 2, 4, 5], seed: 8)
        let y = conv.forward(x)
        let w = params.value(conv.weight), b = params.value(conv.bias!)
        for n in 0 ..< 2 { for o in 0 ..< 3 { for i in 0 ..< 4 { for j in 0 ..< 5 {
            var s = b[o]
            for c in 0 ..< 2 { for ky in 0 ..< 3 { for kx in 0 ..< 3 {
                let (yy, xx) = (i + ky - 1, j + kx - 1)
                if yy >= 0, yy < 4, xx >= 0, xx < 5 { s += w[((o * 2 + c) * 3 + ky) * 3 + kx] * x[((n * 2 + c) * 4 + yy) * 5 + xx] }
            } } }
            XCTAssertEqual(y[((n * 3 + o) * 4 + i) * 5 + j], s, accuracy: 1e-5)
        } } } }
    }

    func testBatchNormTrainingAndEvaluation() {
        for training in [true, false] {
            let params = ParameterStore(seed: 5), buffers = ParameterStore()
            let bn = BatchNorm2d(params, buffers: buffers, "bn", channels: 4)
            let gamma = params.value(bn.weight), beta = params.value(bn.bias)
            for c in 0 ..< 4 { gamma[c] = 1 + 0.3 * Float(c); beta[c] = 0.1 * Float(c) }
            buffers.set(bn.runningVar, [0.5, 1.5, 2, 0.8])
            let x = randomTensor([3, 4, 3, 2], seed: 6, scale: 2)
            let ctx = context(training: training, samples: 3)
            assertLayerGradients("BatchNorm2d training=\(training)", input: x, params: params,
                                 forward: { bn.forward(x, ctx) }, backward: { bn.backward($0) })
        }
    }

    func testBatchNormStatisticsAndRunningUpdate() {
        let params = ParameterStore(), buffers = ParameterStore()
        let bn = BatchNorm2d(params, buffers: buffers, "bn", channels: 1)
        let x = Tensor([2, 1, 1, 2], [1, 2, 3, 6])  // mean 3, biased var 3.5, unbiased 14/3
        let y = bn.forward(x, context(training: true, samples: 2))
        let inv = 1 / (3.5 + 1e-5).squareRoot()
        assertAllClose(y.array, [-2, -1, 0, 3].map { Float($0 * inv) }, absolute: 1e-6, "normalized values")
        assertAllClose(buffers.array(bn.runningMean), [0.3], absolute: 1e-7, "running mean")
        assertAllClose(buffers.array(bn.runningVar), [0.9 + 0.1 * 14 / 3], absolute: 1e-6, "running var")
        // Each value standing for 4 (a map upsampled later): the same normalization; the unbiased
        // variance counts 16 values, 4·14 / 15.
        let (replicatedParams, replicatedBuffers) = (ParameterStore(), ParameterStore())
        let replicated = BatchNorm2d(replicatedParams, buffers: replicatedBuffers, "bn", channels: 1, replication: 4)
        assertAllClose(replicated.forward(x, context(training: true, samples: 2)).array, y.array, absolute: 0, "normalized values, replicated")
        assertAllClose(replicatedBuffers.array(replicated.runningVar), [0.9 + 0.1 * 56 / 15], absolute: 1e-6, "running var, replicated")
    }

    func testRectifiers() {
        for slope: Float in [0.1, 0] {
            let layer = LeakyReLU(slope: slope)
            let x = awayFromZero([4, 7], seed: 7)
            assertLayerGradients("LeakyReLU(\(slope))", input: x, params: nil, forward: { layer.forward(x) }, backward: { layer.backward($0) })
            XCTAssertEqual(layer.forward(Tensor([2], [-2, 3])).array, [-2 * slope, 3])
        }
    }

    func testUpsampleAndPool() {
        let up = UpsampleBilinear2x()
        let x = randomTensor([2, 3, 3, 4], seed: 8)
        assertLayerGradients("UpsampleBilinear2x", input: x, params: nil, forward: { up.forward(x) }, backward: { up.backward($0) })
        let pooled = ChannelConcat(halving: true)
        let z = randomTensor([2, 3, 4, 6], seed: 9), other = randomTensor([2, 2, 4, 6], seed: 13)
        assertLayerGradients("ChannelConcat(halving) first", input: z, params: nil, forward: { pooled.forward(z, other) },
                             backward: { pooled.backward($0); return pooled.firstGrad })
        assertLayerGradients("ChannelConcat(halving) second", input: other, params: nil, forward: { pooled.forward(z, other) },
                             backward: { pooled.backward($0); return pooled.secondGrad })
    }

    func testUpsampleAlignsCorners() {
        // A 2×2 input [[0, 3], [6, 9]] upsampled: coordinates i·(1/3), so rows are 0, 1, 2, 3 steps of a third.
        let y = UpsampleBilinear2x().forward(Tensor([1, 1, 2, 2], [0, 3, 6, 9]))
        XCTAssertEqual(y.shape, [1, 1, 4, 4])
        assertAllClose(y.array, [0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9], absolute: 1e-5, "align-corners upsampling")
        // Halving concatenation: each input's 2×2 mean, first's channels then second's.
        XCTAssertEqual(ChannelConcat(halving: true).forward(Tensor([1, 1, 2, 2], [1, 2, 3, 6]), Tensor([1, 1, 2, 2], [0, 4, 4, 8])).array, [3, 4])
    }

    func testChannelConcat() {
        let concat = ChannelConcat()
        let a = randomTensor([2, 3, 2, 2], seed: 10), b = randomTensor([2, 2, 2, 2], seed: 11)
        let y = concat.forward(a, b)
        XCTAssertEqual(y.shape, [2, 5, 2, 2])
        XCTAssertEqual(Array(y.array[12 ..< 20]), Array(b.array[0 ..< 8]))
        let dy = randomTensor([2, 5, 2, 2], seed: 12)
        concat.backward(dy)
        XCTAssertEqual(Array(concat.firstGrad.array[12 ..< 24]), Array(dy.array[20 ..< 32]))
        XCTAssertEqual(Array(concat.secondGrad.array[0 ..< 8]), Array(dy.array[12 ..< 20]))
    }

    func testCoordinateChannels() {
        // A [2, 1, 2, 4] map: cell centres at x = −¾, −¼, ¼, ¾ and y = −½, ½; the map itself is kept.
        let map = randomTensor([2, 1, 2, 4], seed: 13)
        let y = CoordinateChannels().forward(map)
        XCTAssertEqual(y.shape, [2, 3, 2, 4])
        for i in 0 ..< 2 {
            let sample = Array(y.array[i * 24 ..< (i + 1) * 24])
            XCTAssertEqual(Array(sample[0 ..< 8]), Array(map.array[i * 8 ..< (i + 1) * 8]))
            XCTAssertEqual(Array(sample[8 ..< 16]), [-0.75, -0.25, 0.25, 0.75, -0.75, -0.25, 0.25, 0.75], "x")
            XCTAssertEqual(Array(sample[16 ..< 24]), [-0.5, -0.5, -0.5, -0.5, 0.5, 0.5, 0.5, 0.5], "y")
        }
    }

    func testGRU() {
        let params = ParameterStore(seed: 13)
        let gru = GRU(params, "gru", inputSize: 3, hiddenSize: 5)
        let x = randomTensor([2, 4, 3], seed: 14)
        assertLayerGradients("GRU", input: x, params: params, forward: { gru.forward(x) }, backward: { gru.backward($0) })
        XCTAssertEqual(gru.finalState.array, (0 ..< 2).flatMap { b in Array(gru.output.array[(b * 4 + 3) * 5 ..< (b * 4 + 4) * 5]) })
    }

    func testMultiHeadAttentionWithPaddingAndDropout() {
        let params = ParameterStore(seed: 15)
        let attention = MultiHeadSelfAttention(params, "mhatt", dimension: 8, heads: 2, dropout: 0.2)
        let x = randomTensor([2, 5, 8], seed: 16)
        let mask = [false, false, false, true, true, false, false, false, false, true]
        let ctx = context(training: true, samples: 2)
        // A key bias adds the same q·b to every score of a row: softmax ignores it.
        assertLayerGradients("MultiHeadSelfAttention", input: x, params: params, zeroGradient: ["mhatt.linear_k.bias"],
                             forward: { attention.forward(x, keyMask: mask, ctx) }, backward: { attention.backward($0) })
        // Padded keys get no attention: changing a padded token's features changes no output of unpadded positions' values.
        let before = attention.forward(x, keyMask: mask, context(training: false, samples: 2)).array
        x.data[3 * 8] += 5
        let after = attention.forward(x, keyMask: mask, context(training: false, samples: 2)).array
        XCTAssertEqual(Array(before[0 ..< 24]), Array(after[0 ..< 24]))
    }

    func testLayerNorm() {
        let params = ParameterStore(seed: 17)
        let norm = LayerNorm(params, "norm", dimension: 6)
        let w = params.value(norm.weight), b = params.value(norm.bias)
        for i in 0 ..< 6 { w[i] = 1 + 0.2 * Float(i); b[i] = -0.1 * Float(i) }
        let x = randomTensor([3, 6], seed: 18, scale: 2)
        assertLayerGradients("LayerNorm", input: x, params: params, forward: { norm.forward(x) }, backward: { norm.backward($0) })
        // Unbiased std plus eps in the denominator: x = [1, 3] → mean 2, std √2.
        let plain = LayerNorm(ParameterStore(), "n", dimension: 2)
        assertAllClose(plain.forward(Tensor([1, 2], [1, 3])).array, [-1, 1].map { Float($0 / (2.0.squareRoot() + 1e-6)) },
                       absolute: 1e-6, "MCAN LayerNorm")
    }

    func testFeedForwardAndAttFlatWithDropout() {
        let params = ParameterStore(seed: 19)
        let ffn = FeedForward(params, "ffn", in: 6, hidden: 10, out: 6, dropout: 0.3)
        let x = randomTensor([2, 3, 6], seed: 20)
        let ctx = context(training: true, samples: 2)
        assertLayerGradients("FeedForward", input: x, params: params, forward: { ffn.forward(x, ctx) }, backward: { ffn.backward($0) })

        let poolParams = ParameterStore(seed: 21)
        let pool = AttFlat(poolParams, "att_flat", dimension: 6, mlpHidden: 3, out: 5, dropout: 0.3)
        let mask = [false, false, true, false, true, true]
        // The score MLP's output bias shifts every token's score equally: softmax ignores it.
        assertLayerGradients("AttFlat", input: x, params: poolParams, zeroGradient: ["att_flat.mlp.linear.bias"],
                             forward: { pool.forward(x, mask: mask, ctx) }, backward: { pool.backward($0) })
    }

    func testSoftmaxCrossEntropy() {
        let ce = SoftmaxCrossEntropy()
        let logits = randomTensor([3, 5], seed: 22)
        let targets = [4, 0, 2]
        _ = ce.forward(logits, targets: targets, normalizer: 6)
        let analytic = ce.backward().array
        analytic.withUnsafeBufferPointer {
            assertGradient("cross-entropy", values: logits.data, analytic: $0.baseAddress!, count: logits.count,
                           loss: { ce.forward(logits, targets: targets, normalizer: 6) })
        }
        // Hand-computed: uniform logits over 4 classes give log 4 per row.
        XCTAssertEqual(ce.forward(Tensor([2, 4]), targets: [1, 3]), log(4.0), accuracy: 1e-7)
    }

    /// The composite check the issue asks for: GRU → attention → AttFlat → Linear → cross-entropy, all
    /// parameters at once, through the real loss instead of a projection.
    func testCompositeStackThroughCrossEntropy() {
        let params = ParameterStore(seed: 23)
        let gru = GRU(params, "gru", inputSize: 4, hiddenSize: 8)
        let attention = MultiHeadSelfAttention(params, "mhatt", dimension: 8, heads: 2, dropout: 0.1)
        let pool = AttFlat(params, "att_flat", dimension: 8, mlpHidden: 4, out: 8, dropout: 0.1)
        let head = Linear(params, "head", in: 8, out: 3)
        let ce = SoftmaxCrossEntropy()
        // Default-scale weights make attention nearly uniform and the tokens nearly alike, which leaves
        // the pooling with almost no gradient; larger weights make every part of the stack matter.
        for i in 0 ..< params.count { params.values.data[i] *= 3 }
        let x = randomTensor([3, 5, 4], seed: 24)
        let mask = (0 ..< 15).map { $0 % 5 >= 3 + $0 / 5 % 2 }
        let ctx = context(training: true, samples: 3)
        let targets = [2, 0, 1]
        func loss() -> Double {
            ce.forward(head.forward(pool.forward(attention.forward(gru.forward(x), keyMask: mask, ctx), mask: mask, ctx)), targets: targets)
        }
        _ = loss()
        params.zeroGrads()
        gru.backward(attention.backward(pool.backward(head.backward(ce.backward()))))
        let grads = params.grads.array
        grads.withUnsafeBufferPointer { g in
            for ref in params.refs {
                assertGradient("composite ∂L/∂\(ref.name)", values: params.value(ref), analytic: g.baseAddress! + ref.offset,
                               count: ref.count, tolerance: 1e-2,
                               expectZero: ["mhatt.linear_k.bias", "att_flat.mlp.linear.bias"].contains(ref.name), loss: loss)
            }
        }
    }
}
