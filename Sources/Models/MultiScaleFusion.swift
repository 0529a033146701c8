// MultiScaleFusion.swift — the reference's multi-scale fusion of the detector's three feature maps
// (strides 8, 16, 32), keeping only the output that is used (DESIGN.md §3):
//   m  = cat[ up_modules.1(f13), f26 ]      branch = resample → conv1x1 → conv3x3 (H/2 channels)
//   l  = cat[ up_modules.0(m),   f52 ]      (note the reference's index order: .1 reads f13, .0 reads m)
//   m' = cat[ down_modules.0(l),  m   ]
//   s' = cat[ down_modules.1(m'), f13 ]
//   V  = top_proj(s')                        conv1x1 to H channels on the stride-32 grid
// The reference also computes mid_proj(m') and bot_proj(l), which feed nothing; they are skipped.
// Upsampling is nearest-neighbour in the reference implementation (its fixture matches nearest to
// 1e-7 and bilinear only to 1e-2); bilinear with aligned corners is available as an option.

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

/// A spatial resampling step of a fusion branch.
protocol Resampling: AnyObject {
    func forward(_ x: Tensor) -> Tensor
    func backward(_ dy: Tensor) -> Tensor
}

extension UpsampleNearest2x: Resampling {}
extension UpsampleBilinear2x: Resampling {}
extension AvgPool2x2: Resampling {}

/// resample → ConvBNLeaky 1×1 → ConvBNLeaky 3×3, named `name.1` and `name.2` (index 0 is the resample).
final class FusionBranch {
    private let resample: Resampling
    private let reduce: ConvBNLeaky, spatial: ConvBNLeaky
    private let computesInputGrad: Bool
    private let params: ParameterStore
    private let name: String

    init(_ params: ParameterStore, buffers: ParameterStore, _ name: String, resample: Resampling,
         in inChannels: Int, out outChannels: Int, computesInputGrad: Bool = true) {
        self.resample = resample
        self.computesInputGrad = computesInputGrad
        self.params = params
        self.name = name
        reduce = ConvBNLeaky(params, buffers: buffers, name + ".1", in: inChannels, out: outChannels, kernel: 1,
                             computesInputGrad: computesInputGrad)
        spatial = ConvBNLeaky(params, buffers: buffers, name + ".2", in: outChannels, out: outChannels, kernel: 3)
    }

    func forward(_ x: Tensor, _ context: ForwardContext) -> Tensor {
        spatial.forward(reduce.forward(resample.forward(x), context), context)
    }

    /// Its two blocks in forward order.
    var blocks: [ConvBNLeaky] { [reduce, spatial] }

    /// Parameter gradients, and ∂L/∂x unless the branch reads a frozen input (then nil); tells the store
    /// as each convolution's gradients are final.
    @discardableResult
    func backward(_ dy: Tensor) -> Tensor? {
        let dSpatial = spatial.backward(dy)
        params.finishGradients(under: name + ".2")
        let dReduced = reduce.backward(dSpatial)
        params.finishGradients(under: name + ".1")
        return computesInputGrad ? resample.backward(dReduced) : nil
    }
}

/// The fusion network; parameters under `multi_scale_manner.*`.
public final class MultiScaleFusion {
    public let shape: FusionShape
    private let upFromTop: FusionBranch, upFromMiddle: FusionBranch, down0: FusionBranch, down1: FusionBranch
    private let top: ConvBNLeaky
    private let catM = ChannelConcat(), catL = ChannelConcat(), catM2 = ChannelConcat(), catS = ChannelConcat()
    private let middleGrad = Tensor()
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
        let upsample: () -> Resampling = shape.upsampling == .nearest ? { UpsampleNearest2x() } : { UpsampleBilinear2x() }
        let m = half + shape.channels26, l = half + shape.channels52, m2 = half + m, s2 = half + shape.channels13
        upFromMiddle = FusionBranch(params, buffers: buffers, name + ".up_modules.0", resample: upsample(), in: m, out: half)
        upFromTop = FusionBranch(params, buffers: buffers, name + ".up_modules.1", resample: upsample(),
                                 in: shape.channels13, out: half, computesInputGrad: computesInputGrads)
        down0 = FusionBranch(params, buffers: buffers, name + ".down_modules.0", resample: AvgPool2x2(), in: l, out: half)
        down1 = FusionBranch(params, buffers: buffers, name + ".down_modules.1", resample: AvgPool2x2(), in: m2, out: half)
        top = ConvBNLeaky(params, buffers: buffers, name + ".top_proj", in: s2, out: shape.hidden, kernel: 1)
    }

    /// The conv–BatchNorm–rectifier blocks in forward order (up_modules.1, up_modules.0, down_modules.0,
    /// down_modules.1, each .1 then .2, then top_proj). After a forward each block's `norm.output`
    /// holds its rectifier's inputs, which that rectifier's backward reads to choose its slope.
    public var blocks: [ConvBNLeaky] { [upFromTop, upFromMiddle, down0, down1].flatMap(\.blocks) + [top] }

    /// V [B, H, h13, w13] from the maps f52 [B, c52, 4h, 4w], f26 [B, c26, 2h, 2w], f13 [B, c13, h, w].
    @discardableResult
    public func forward(f52: Tensor, f26: Tensor, f13: Tensor, _ context: ForwardContext) -> Tensor {
        let m = catM.forward(context.checked(upFromTop.forward(f13, context), "multi_scale_manner.up_modules.1"), f26)
        let l = catL.forward(context.checked(upFromMiddle.forward(m, context), "multi_scale_manner.up_modules.0"), f52)
        let m2 = catM2.forward(context.checked(down0.forward(l, context), "multi_scale_manner.down_modules.0"), m)
        let s2 = catS.forward(context.checked(down1.forward(m2, context), "multi_scale_manner.down_modules.1"), f13)
        return context.checked(top.forward(s2, context), "multi_scale_manner.top_proj")
    }

    /// Backpropagates ∂L/∂V into the fusion's parameters, and into the input maps when enabled, telling
    /// the store as each convolution's gradients are final.
    public func backward(_ dV: Tensor) {
        catS.backward(top.backward(dV))
        params.finishGradients(under: name + ".top_proj")
        catM2.backward(down1.backward(catS.firstGrad)!)
        catL.backward(down0.backward(catM2.firstGrad)!)
        middleGrad.copy(from: catM2.secondGrad)
        accumulate(upFromMiddle.backward(catL.firstGrad)!, into: middleGrad)
        catM.backward(middleGrad)
        let fromTop = upFromTop.backward(catM.firstGrad)
        guard computesInputGrads, let fromTop else { return }
        f52Grad.copy(from: catL.secondGrad)
        f26Grad.copy(from: catM.secondGrad)
        f13Grad.copy(from: catS.secondGrad)
        accumulate(fromTop, into: f13Grad)
    }
}
