// MultiScaleFusion.swift — the reference's multi-scale fusion of the detector's three feature maps
// (strides 8, 16, 32), keeping only the output that is used (DESIGN.md §3):
//   m  = cat[ up_modules.1(f13), f26 ]      branch = resample → conv1x1 → conv3x3 (H/2 channels)
//   l  = cat[ up_modules.0(m),   f52 ]      (note the reference's index order: .1 reads f13, .0 reads m)
//   m' = cat[ down_modules.0(l),  m   ]     (down branches: avgpool2×2 → conv1x1 → conv3x3)
//   s' = cat[ down_modules.1(m'), f13 ]
//   V  = top_proj(s')                        conv1x1 to H channels on the stride-32 grid
// The reference also computes mid_proj(m') and bot_proj(l), which feed nothing; they are skipped.
// Upsampling is nearest-neighbour in the reference implementation (its fixture matches nearest to
// 1e-7 and bilinear only to 1e-2); bilinear with aligned corners is available as an option.
// The same maps are computed in an order that stores less and computes less: an up branch never forms
// its upsampled input (ConvBNLeaky.Resolution), a down branch pools l and m' while they are
// concatenated, and every intermediate gradient is released once consumed (docs/DESIGN.md §2, Memory).

import Layers
import Tensors

/// How the fusion doubles a map's resolution.
public enum Upsampling: String, Codable, CaseIterable, Sendable {
    case nearest, bilinear
}

/// Channel counts of the fusion: the three detector maps and the hidden width H.
public struct FusionShape: Codable, Equatable, Sendable {
    public var channels52: Int, channels26: Int, channels13: Int, hidden: Int
    public var upsampling: Upsampling

    public init(channels52: Int, channels26: Int, channels13: Int, hidden: Int, upsampling: Upsampling = .nearest) {
        self.channels52 = channels52
        self.channels26 = channels26
        self.channels13 = channels13
        self.hidden = hidden
        self.upsampling = upsampling
    }
}

/// [upsampling →] ConvBNLeaky 1×1 → ConvBNLeaky 3×3, named `name.1` and `name.2` (index 0 is the
/// reference's resampling). An up branch computes the same maps without the upsampled input (see
/// ConvBNLeaky.Resolution): with nearest upsampling the 1×1 block runs on the small map and the 3×3
/// convolution reads it upsampled; with bilinear the 1×1 convolution runs before the upsampling. A down
/// branch reads its input already pooled (ChannelConcat with halving).
final class FusionBranch {
    private let reduce: ConvBNLeaky, spatial: ConvBNLeaky
    private let computesInputGrad: Bool
    private let params: ParameterStore
    private let name: String

    init(_ params: ParameterStore, buffers: ParameterStore, _ name: String, upsampling: Upsampling? = nil,
         in inChannels: Int, out outChannels: Int, computesInputGrad: Bool = true) {
        self.computesInputGrad = computesInputGrad
        self.params = params
        self.name = name
        let (reduceResolution, spatialResolution): (ConvBNLeaky.Resolution, ConvBNLeaky.Resolution) = switch upsampling {
        case nil: (.plain, .plain)
        case .nearest: (.nearestUpsampledLater, .readsNearestUpsampled)
        case .bilinear: (.upsampledAfterConvolution(UpsampleBilinear2x()), .plain)
        }
        reduce = ConvBNLeaky(params, buffers: buffers, name + ".1", in: inChannels, out: outChannels, kernel: 1, resolution: reduceResolution,
                             computesInputGrad: computesInputGrad)
        spatial = ConvBNLeaky(params, buffers: buffers, name + ".2", in: outChannels, out: outChannels, kernel: 3, resolution: spatialResolution)
    }

    func forward(_ x: Tensor, _ context: ForwardContext) -> Tensor {
        spatial.forward(reduce.forward(x, context), context)
    }

    /// Its two blocks in forward order.
    var blocks: [ConvBNLeaky] { [reduce, spatial] }

    /// Parameter gradients, and ∂L/∂x unless the branch reads a frozen input (then nil; else release it
    /// once consumed); tells the store as each convolution's gradients are final. dy is overwritten.
    @discardableResult
    func backward(_ dy: Tensor) -> Tensor? {
        let dSpatial = spatial.backward(dy, overwritingGradient: true)
        params.finishGradients(under: name + ".2")
        let dReduced = reduce.backward(dSpatial, overwritingGradient: true)
        dSpatial.release()
        params.finishGradients(under: name + ".1")
        return computesInputGrad ? dReduced : nil
    }
}

/// The fusion network; parameters under `multi_scale_manner.*`.
public final class MultiScaleFusion {
    public let shape: FusionShape
    private let upFromTop: FusionBranch, upFromMiddle: FusionBranch, down0: FusionBranch, down1: FusionBranch
    private let top: ConvBNLeaky
    private let catM: ChannelConcat, poolL: ChannelConcat, poolM2: ChannelConcat, catS: ChannelConcat
    private let computesInputGrads: Bool
    private let params: ParameterStore
    private let name: String
    /// After backward, when input gradients are computed: ∂L/∂f52, ∂L/∂f26, ∂L/∂f13.
    public let f52Grad = Tensor(), f26Grad = Tensor(), f13Grad = Tensor()

    /// `computesInputGrads` when the input maps depend on parameters (the student's gated maps);
    /// the teacher's inputs are the frozen detector's, and their gradients are skipped.
    public init(_ params: ParameterStore, buffers: ParameterStore, _ name: String, shape: FusionShape, computesInputGrads: Bool = false) {
        self.shape = shape
        self.computesInputGrads = computesInputGrads
        self.params = params
        self.name = name
        let half = shape.hidden / 2
        let m = half + shape.channels26, l = half + shape.channels52, m2 = half + m, s2 = half + shape.channels13
        catM = ChannelConcat(computesSecondGrad: computesInputGrads)
        poolL = ChannelConcat(halving: true, computesSecondGrad: computesInputGrads)
        poolM2 = ChannelConcat(halving: true)
        catS = ChannelConcat(computesSecondGrad: computesInputGrads)
        upFromMiddle = FusionBranch(params, buffers: buffers, name + ".up_modules.0", upsampling: shape.upsampling, in: m, out: half)
        upFromTop = FusionBranch(params, buffers: buffers, name + ".up_modules.1", upsampling: shape.upsampling,
                                 in: shape.channels13, out: half, computesInputGrad: computesInputGrads)
        down0 = FusionBranch(params, buffers: buffers, name + ".down_modules.0", in: l, out: half)
        down1 = FusionBranch(params, buffers: buffers, name + ".down_modules.1", in: m2, out: half)
        top = ConvBNLeaky(params, buffers: buffers, name + ".top_proj", in: s2, out: shape.hidden, kernel: 1)
    }

    /// The conv–BatchNorm–rectifier blocks in forward order (up_modules.1, up_modules.0, down_modules.0,
    /// down_modules.1, each .1 then .2, then top_proj). After a forward each block's `output` holds its
    /// rectifier's outputs, whose signs its backward reads to choose the slope.
    public var blocks: [ConvBNLeaky] { [upFromTop, upFromMiddle, down0, down1].flatMap(\.blocks) + [top] }

    /// V [B, H, h13, w13] from the maps f52 [B, c52, 4h, 4w], f26 [B, c26, 2h, 2w], f13 [B, c13, h, w].
    /// The down branches' inputs are pooled as they are concatenated, so l and m' at full size are
    /// never stored.
    @discardableResult
    public func forward(f52: Tensor, f26: Tensor, f13: Tensor, _ context: ForwardContext) -> Tensor {
        let m = catM.forward(context.checked(upFromTop.forward(f13, context), "multi_scale_manner.up_modules.1"), f26)
        let pooledL = poolL.forward(context.checked(upFromMiddle.forward(m, context), "multi_scale_manner.up_modules.0"), f52)
        let pooledM2 = poolM2.forward(context.checked(down0.forward(pooledL, context), "multi_scale_manner.down_modules.0"), m)
        let s2 = catS.forward(context.checked(down1.forward(pooledM2, context), "multi_scale_manner.down_modules.1"), f13)
        return context.checked(top.forward(s2, context), "multi_scale_manner.top_proj")
    }

    /// Backpropagates ∂L/∂V into the fusion's parameters, and into the input maps when enabled, telling
    /// the store as each convolution's gradients are final. Each intermediate gradient is released as
    /// soon as it is consumed, and each concatenation once the convolution that read it is done, so the
    /// large maps near the input get the memory of those near the output.
    public func backward(_ dV: Tensor) {
        let dS2 = top.backward(dV)
        catS.output.release()
        catS.backward(dS2)
        dS2.release()
        params.finishGradients(under: name + ".top_proj")
        let dM2 = down1.backward(catS.firstGrad)!
        poolM2.output.release()
        catS.firstGrad.release()
        poolM2.backward(dM2)
        dM2.release()
        let dL = down0.backward(poolM2.firstGrad)!
        poolL.output.release()
        poolM2.firstGrad.release()
        poolL.backward(dL)
        dL.release()
        let middleGrad = poolM2.secondGrad
        let fromMiddle = upFromMiddle.backward(poolL.firstGrad)!
        catM.output.release()
        poolL.firstGrad.release()
        accumulate(fromMiddle, into: middleGrad)
        fromMiddle.release()
        catM.backward(middleGrad)
        middleGrad.release()
        let fromTop = upFromTop.backward(catM.firstGrad)
        catM.firstGrad.release()
        guard computesInputGrads, let fromTop else { return }
        f52Grad.copy(from: poolL.secondGrad)
        f26Grad.copy(from: catM.secondGrad)
        f13Grad.copy(from: catS.secondGrad)
        accumulate(fromTop, into: f13Grad)
        for used in [poolL.secondGrad, catM.secondGrad, catS.secondGrad, fromTop] { used.release() }
    }
}
