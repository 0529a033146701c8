// FeedForward.swift — the MCAN feed-forward block: Linear(D→F) → ReLU → Dropout → Linear(F→D),
// named `name.mlp.fc.linear` and `name.mlp.linear` as in the reference. AttFlat's scoring MLP is the
// same block with output size 1.

import Tensors

/// Two linear layers with a ReLU and dropout between them.
public final class FeedForward {
    public let hidden: Linear, projection: Linear
    private let relu = LeakyReLU.relu()
    private let dropout: Dropout

    public init(_ params: ParameterStore, _ name: String, in inFeatures: Int, hidden hiddenFeatures: Int,
                out outFeatures: Int, dropout rate: Float) {
        hidden = Linear(params, name + ".mlp.fc.linear", in: inFeatures, out: hiddenFeatures)
        projection = Linear(params, name + ".mlp.linear", in: hiddenFeatures, out: outFeatures)
        dropout = Dropout(rate: rate, site: name + ".mlp.fc.dropout")
    }

    @discardableResult
    public func forward(_ x: Tensor, _ context: ForwardContext) -> Tensor {
        projection.forward(dropout.forward(relu.forward(hidden.forward(x)), context))
    }

    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor {
        hidden.backward(relu.backward(dropout.backward(projection.backward(dy))))
    }
}
