// ModelAverage.swift — the EMA of a model's parameters and BatchNorm statistics, kept by rank 0
// only; evaluation, the best checkpoint and exports use it.

import Distributed
import Layers

/// The EMA of a model's parameters and running statistics, kept by rank 0 only.
public final class ModelAverage {
    public let params: ExponentialMovingAverage
    public let buffers: ExponentialMovingAverage

    public init(params: ParameterStore, buffers: ParameterStore, maxDecay: Float) {
        self.params = ExponentialMovingAverage(copying: params.values, maxDecay: maxDecay)
        self.buffers = ExponentialMovingAverage(copying: buffers.values, maxDecay: maxDecay)
    }

    /// The EMA for rank 0 and nil on every other rank: only the coordinator holds its memory.
    public static func onRoot(params: ParameterStore, buffers: ParameterStore, maxDecay: Float, communicator: Communicator) -> ModelAverage? {
        communicator.isRoot ? ModelAverage(params: params, buffers: buffers, maxDecay: maxDecay) : nil
    }

    /// One update from the model's current values.
    public func update(params p: ParameterStore, buffers b: ParameterStore) {
        params.update(from: p.values)
        buffers.update(from: b.values)
        precondition(params.updates == buffers.updates)
    }
}
