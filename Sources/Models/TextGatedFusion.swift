// TextGatedFusion.swift — the student's per-scale fusion of a detector map with the sentence
// (SimREC-style, DESIGN.md §4): y = BN-Leaky( BN-Leaky(conv1x1(v)) ⊙ BN-Leaky(linear(t)) ), the text
// vector broadcast over every cell. With `coordinates`, v is the map with its cells' (x, y) appended
// (CoordinateChannels), so the sentence can gate where a cell is — "the ball on the left" — and not only
// what it sees. Names: `name.visual`, `name.text`, `name.text_norm`, `name.norm`.

import Layers
import Tensors

/// Gates one feature map by the expression.
public final class TextGatedFusion {
    public let channels: Int
    private let visual: ConvBNLeaky
    private let coordinates: CoordinateChannels?
    private let text: Linear
    private let textNorm: BatchNorm2d
    private let textActivation = LeakyReLU(slope: 0.1)
    private let norm: BatchNorm2d
    private let activation = LeakyReLU(slope: 0.1)
    private let textColumn = Tensor()   // [B, C, 1, 1]
    private let gated = Tensor()        // v ⊙ q
    private let visualGrad = Tensor(), textGrad = Tensor()
    private var visualOut: Tensor?, textOut: Tensor?

    /// A map of `channels` channels gated by a `textDimension`-wide sentence vector; with `coordinates`
    /// the visual 1×1 convolution also sees each cell's position.
    public init(_ params: ParameterStore, buffers: ParameterStore, _ name: String, channels: Int, textDimension: Int, coordinates: Bool = false) {
        self.channels = channels
        self.coordinates = coordinates ? CoordinateChannels() : nil
        let visualInput = channels + (coordinates ? CoordinateChannels.count : 0)
        visual = ConvBNLeaky(params, buffers: buffers, name + ".visual", in: visualInput, out: channels, kernel: 1, computesInputGrad: false)
        text = Linear(params, name + ".text", in: textDimension, out: channels, bias: false)
        textNorm = BatchNorm2d(params, buffers: buffers, name + ".text_norm", channels: channels)
        norm = BatchNorm2d(params, buffers: buffers, name + ".norm", channels: channels)
    }

    /// map [B, C, H, W], sentence [B, D] → [B, C, H, W].
    @discardableResult
    public func forward(_ map: Tensor, sentence: Tensor, _ context: ForwardContext) -> Tensor {
        let v = visual.forward(coordinates?.forward(map) ?? map, context)
        let b = sentence.shape[0]
        textColumn.reshape([b, channels, 1, 1])
        textColumn.data.update(from: text.forward(sentence).data, count: b * channels)
        let q = textActivation.forward(textNorm.forward(textColumn, context))
        let hw = map.shape[2] * map.shape[3]
        gated.reshape(v.shape)
        for i in 0 ..< b {
            for c in 0 ..< channels {
                let scale = q.data[i * channels + c], src = v.data + (i * channels + c) * hw, dst = gated.data + (i * channels + c) * hw
                for j in 0 ..< hw { dst[j] = src[j] * scale }
            }
        }
        (visualOut, textOut) = (v, q)
        return activation.forward(norm.forward(gated, context))
    }

    /// Parameter gradients; returns ∂L/∂sentence (the detector map is a frozen input).
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        guard let v = visualOut, let q = textOut else { preconditionFailure("TextGatedFusion.backward before forward") }
        let dGated = norm.backward(activation.backward(dy))
        let (b, hw) = (v.shape[0], v.shape[2] * v.shape[3])
        visualGrad.reshape(v.shape)
        textGrad.reshape([b, channels, 1, 1])
        for i in 0 ..< b {
            for c in 0 ..< channels {
                let k = i * channels + c
                let scale = q.data[k], g = dGated.data + k * hw, src = v.data + k * hw, dv = visualGrad.data + k * hw
                var dq: Float = 0
                for j in 0 ..< hw {
                    dv[j] = g[j] * scale
                    dq += g[j] * src[j]
                }
                textGrad.data[k] = dq
            }
        }
        visual.backward(visualGrad)
        let dText = textNorm.backward(textActivation.backward(textGrad))
        dText.reshape([b, channels])
        return text.backward(dText)
    }
}
