// ComputeBenchmarks.swift — single-rank compute: sgemm, Conv2d 3×3 forward+backward, training-mode
// BatchNorm forward+backward, GRU.

import Distributed
import Foundation
import Layers
import Tensors

/// sgemm GFLOP/s for square n×n products on the current BLAS thread count.
func sgemmGFLOPs(n: Int = 1024) -> Double {
    let a = Tensor([n, n]), b = Tensor([n, n]), c = Tensor([n, n])
    for i in 0 ..< n * n { a.data[i] = Float(i % 7) * 0.1; b.data[i] = Float(i % 5) * 0.1 }
    let seconds = medianSeconds(repeats: 5) { gemm(m: n, n: n, k: n, a: a.data, b: b.data, c: c.data) }
    return 2 * Double(n * n * n) / seconds / 1e9
}

func runComputeBenchmarks(_ comm: Communicator) {
    guard comm.isRoot else { return }
    setBLASThreads(1)
    reportHeader("Compute (1 BLAS thread)")
    let sgemm = sgemmGFLOPs()
    report("sgemm 1024³", String(format: "%.1f GFLOP/s", sgemm))

    // Conv2d 3×3, 512→512, 26×26, batch 8: forward, then ∂W and ∂x.
    let params = ParameterStore(seed: 1)
    let conv = Conv2d(params, "conv", in: 512, out: 512, kernel: 3)
    let x = Tensor([8, 512, 26, 26]), dy = Tensor([8, 512, 26, 26])
    let key = RandomKey(seed: 2)
    for i in 0 ..< x.count { x.data[i] = key.uniform(i) - 0.5; dy.data[i] = key.uniform(i + x.count) - 0.5 }
    let convSeconds = medianSeconds(repeats: 3) {
        conv.forward(x)
        conv.backward(dy)
    }
    let convFLOPs = 3 * 2 * Double(8 * 512 * 512 * 9 * 26 * 26)
    let convRate = convFLOPs / convSeconds / 1e9
    report("Conv2d 3×3 512→512 26×26 b8 fwd+bwd", String(format: "%.1f GFLOP/s (%.0f ms)", convRate, convSeconds * 1000),
           String(format: "%.2f × sgemm (target ≥ 0.6)", convRate / sgemm))

    // Training-mode BatchNorm on the fusion's largest map (512 channels at 52×52, batch 8): statistics,
    // normalization and backward, memory-bound.
    let bn = BatchNorm2d(ParameterStore(seed: 4), buffers: ParameterStore(), "bn", channels: 512)
    let maps = Tensor([8, 512, 52, 52]), dMaps = Tensor([8, 512, 52, 52])
    for i in 0 ..< maps.count { maps.data[i] = key.uniform(i) - 0.5; dMaps.data[i] = key.uniform(i + 3) - 0.5 }
    let training = ForwardContext(batchStatistics: true, dropout: false, sampleIndices: Array(0 ..< 8), communicator: comm)
    let bnSeconds = medianSeconds(repeats: 5) {
        bn.forward(maps, training)
        bn.backward(dMaps)
    }
    // Bytes touched: forward reads x three times and writes y; backward reads dy and x twice and writes dx.
    let bnBytes = Double(maps.count * 4 * 9)
    report("BatchNorm2d 512 ch 52×52 b8 train fwd+bwd", String(format: "%.1f ms", bnSeconds * 1000), String(format: "%.1f GB/s", bnBytes / bnSeconds / 1e9))

    // GRU 300→512, batch 64, 15 steps, forward and backward.
    let gruParams = ParameterStore(seed: 3)
    let gru = GRU(gruParams, "gru", inputSize: 300, hiddenSize: 512)
    let sequence = Tensor([64, 15, 300]), dOut = Tensor([64, 15, 512])
    for i in 0 ..< sequence.count { sequence.data[i] = key.uniform(i) - 0.5 }
    for i in 0 ..< dOut.count { dOut.data[i] = key.uniform(i + 7) - 0.5 }
    let gruSeconds = medianSeconds(repeats: 5) {
        gru.forward(sequence)
        gru.backward(dOut)
    }
    let gruFLOPs = 3 * 2 * Double(64 * 15) * Double(3 * 512) * Double(300 + 512)
    report("GRU 300→512 b64 T15 fwd+bwd", String(format: "%.1f ms", gruSeconds * 1000),
           String(format: "%.1f GFLOP/s in products, %.2f × sgemm", gruFLOPs / gruSeconds / 1e9, gruFLOPs / gruSeconds / 1e9 / sgemm))
}
