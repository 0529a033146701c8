// BatchNorm2d.swift — batch normalization over (B, H, W) per channel, with batch statistics that are
// synchronized across ranks, so that the result does not depend on how the batch is split.
//
// Training: mean and biased variance of the global batch (two all-reduces of C values); running
// statistics move by momentum 0.1 toward the mean and the unbiased variance. Evaluation: running
// statistics. Backward in training needs two more global sums per channel.
//
// Sums, statistics and the normalization are computed in Double and each output is rounded once to
// Float, so BatchNorm adds only that rounding (rms 2.6e-8 against float64 on the reference fixtures,
// where PyTorch's float kernel adds 5.5e-8). The rectifier after it still sees the rounding of every
// layer before (rms ~5e-7): a pre-activation closer to zero than that has no float32 side, in PyTorch
// as here (Tests/Python/refclip_teacher.py audit).

import Distributed
import Foundation
import Tensors

/// Batch normalization with affine weight and bias in `params`, running statistics in `buffers`.
public final class BatchNorm2d {
    public let channels: Int
    public let eps: Float
    public let momentum: Float
    /// How many equal values each input value stands for (4 where the map is nearest-upsampled after
    /// this layer, which then runs on the small map): the statistics are the same, but the running
    /// variance's unbiased correction counts every copy.
    public let replication: Int
    public let weight: ParameterRef, bias: ParameterRef
    public let runningMean: ParameterRef, runningVar: ParameterRef
    private let params: ParameterStore
    private let buffers: ParameterStore
    private var input: Tensor?
    private var usedBatchStatistics = false
    private var communicator: Communicator?
    private var globalCount = 0
    private var mean: [Double] = []
    private var invStd: [Double] = []
    /// The last forward's result.
    public let output = Tensor()
    /// The last backward's ∂L/∂x.
    public let inputGrad = Tensor()

    public init(_ params: ParameterStore, buffers: ParameterStore, _ name: String, channels: Int,
                eps: Float = 1e-5, momentum: Float = 0.1, replication: Int = 1) {
        self.channels = channels
        self.replication = replication
        self.eps = eps
        self.momentum = momentum
        self.params = params
        self.buffers = buffers
        weight = params.add(name + ".weight", [channels], .constant(1))
        bias = params.add(name + ".bias", [channels], .zeros)
        runningMean = buffers.add(name + ".running_mean", [channels], .zeros)
        runningVar = buffers.add(name + ".running_var", [channels], .constant(1))
    }

    /// Normalizes x [B, C, H, W].
    @discardableResult
    public func forward(_ x: Tensor, _ context: ForwardContext) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == channels, "BatchNorm2d(\(weight.name)): input \(x.shape), expected [B, \(channels), H, W]")
        let (b, hw) = (x.shape[0], x.shape[2] * x.shape[3])
        output.reshape(x.shape)
        mean = Array(repeating: 0, count: channels)
        invStd = Array(repeating: 0, count: channels)
        usedBatchStatistics = context.batchStatistics
        if context.batchStatistics {
            let comm = context.communicator
            communicator = comm
            globalCount = comm.allReduce(b * hw)
            precondition(globalCount > 1, "BatchNorm2d(\(weight.name)): batch statistics need more than one value per channel")
            let n = Double(globalCount)
            var sums = channelSums(x) { p, _ in doubleSum(p, hw) }
            comm.allReduce(&sums)
            mean = sums.map { $0 / n }
            var squares = channelSums(x) { [mean] p, c in doubleSumOfSquares(p, hw, centeredAt: mean[c]) }
            comm.allReduce(&squares)
            let rm = buffers.value(runningMean), rv = buffers.value(runningVar)
            let copies = Double(replication)
            for c in 0 ..< channels {
                invStd[c] = 1 / (squares[c] / n + Double(eps)).squareRoot()
                rm[c] = Float((1 - Double(momentum)) * Double(rm[c]) + Double(momentum) * mean[c])
                rv[c] = Float((1 - Double(momentum)) * Double(rv[c]) + Double(momentum) * squares[c] * copies / (n * copies - 1))
            }
        } else {
            let rm = buffers.value(runningMean), rv = buffers.value(runningVar)
            for c in 0 ..< channels {
                mean[c] = Double(rm[c])
                invStd[c] = 1 / (Double(rv[c]) + Double(eps)).squareRoot()
            }
        }
        let gamma = params.value(weight), beta = params.value(bias)
        for c in 0 ..< channels {
            let scale = Double(gamma[c]) * invStd[c], shift = Double(beta[c]) - mean[c] * scale
            for i in 0 ..< b {
                let plane = (i * channels + c) * hw
                affineInDouble(x.data + plane, hw, scale: scale, shift: shift, into: output.data + plane)
            }
        }
        input = x
        return output
    }

    /// dγ += Σ dy·x̂, dβ += Σ dy (local sums; the parameter all-reduce adds the ranks), returns dx:
    /// `inputGrad`, or with `inPlace` dy itself, overwritten (for a caller to whom dy is a temporary).
    @discardableResult
    public func backward(_ dy: Tensor, inPlace: Bool = false) -> Tensor {
        guard let x = input else { preconditionFailure("BatchNorm2d(\(weight.name)).backward before forward") }
        precondition(dy.shape == x.shape, "BatchNorm2d(\(weight.name)): gradient \(dy.shape) does not match \(x.shape)")
        let (b, hw) = (x.shape[0], x.shape[2] * x.shape[3])
        let mean = self.mean, invStd = self.invStd
        var sumDy = [Double](repeating: 0, count: channels), sumDyXhat = sumDy
        for i in 0 ..< b {
            for c in 0 ..< channels {
                let plane = (i * channels + c) * hw
                let (plainSum, productSum) = doubleSumAndCenteredDot(dy.data + plane, x.data + plane, hw, centeredAt: mean[c])
                sumDy[c] += plainSum
                sumDyXhat[c] += productSum * invStd[c]
            }
        }
        let dGamma = params.grad(weight), dBeta = params.grad(bias), gamma = params.value(weight)
        for c in 0 ..< channels {
            dGamma[c] += Float(sumDyXhat[c])
            dBeta[c] += Float(sumDy[c])
        }
        let dxTensor = inPlace ? dy : inputGrad
        dxTensor.reshape(x.shape)
        if usedBatchStatistics {
            // dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)), means over the global batch.
            var sums = sumDy + sumDyXhat
            communicator!.allReduce(&sums)
            let n = Double(globalCount)
            for c in 0 ..< channels {
                let meanDy = Float(sums[c] / n), meanDyXhat = Float(sums[channels + c] / n)
                let scale = gamma[c] * Float(invStd[c]), center = Float(mean[c]), inv = Float(invStd[c])
                for i in 0 ..< b {
                    let plane = (i * channels + c) * hw
                    let xs = x.data + plane, g = dy.data + plane, dx = dxTensor.data + plane
                    for j in 0 ..< hw { dx[j] = scale * (g[j] - meanDy - (xs[j] - center) * inv * meanDyXhat) }
                }
            }
        } else {
            for c in 0 ..< channels {
                let scale = gamma[c] * Float(invStd[c])
                for i in 0 ..< b {
                    let plane = (i * channels + c) * hw
                    let g = dy.data + plane, dx = dxTensor.data + plane
                    for j in 0 ..< hw { dx[j] = scale * g[j] }
                }
            }
        }
        return dxTensor
    }

    /// Per-channel sums of `plane(pointer, channel)` over every image's plane of `t`.
    private func channelSums(_ t: Tensor, _ plane: (UnsafePointer<Float>, Int) -> Double) -> [Double] {
        let (b, hw) = (t.shape[0], t.shape[2] * t.shape[3])
        var sums = [Double](repeating: 0, count: channels)
        for i in 0 ..< b {
            for c in 0 ..< channels { sums[c] += plane(t.data + (i * channels + c) * hw, c) }
        }
        return sums
    }
}
