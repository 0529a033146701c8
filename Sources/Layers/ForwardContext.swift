// ForwardContext.swift — what a forward pass needs to know beyond its inputs: the mode, the keyed
// randomness of this step and batch, the communicator for synchronized batch statistics, and in the
// debug mode a probe that names the first layer whose output is not finite.

import Distributed
import Tensors

/// The mode and keys of one forward pass.
public struct ForwardContext {
    /// BatchNorm normalizes with batch statistics (synchronized over `communicator`) and updates its
    /// running statistics; otherwise it uses the running statistics.
    public var batchStatistics: Bool
    /// Dropout is active.
    public var dropout: Bool
    /// The key of this step; dropout masks derive from it, the global sample index and the site.
    public var stepKey: RandomKey
    /// Global index of each row of the local batch (the dataset position, not the rank's position).
    public var sampleIndices: [Int]
    /// The ranks that share one global batch.
    public var communicator: Communicator
    /// When set (the debug mode), records the first layer whose output is not finite.
    public var probe: NonFiniteProbe?
    /// When set, records the tensor bytes live after each layer (`refclip-bench memory`).
    public var memoryTrace: MemoryTrace?

    public init(batchStatistics: Bool, dropout: Bool, stepKey: RandomKey = RandomKey(seed: 0),
                sampleIndices: [Int], communicator: Communicator) {
        self.batchStatistics = batchStatistics
        self.dropout = dropout
        self.stepKey = stepKey
        self.sampleIndices = sampleIndices
        self.communicator = communicator
    }

    /// Training: batch statistics and dropout.
    public static func training(step key: RandomKey, samples: [Int], communicator: Communicator) -> ForwardContext {
        ForwardContext(batchStatistics: true, dropout: true, stepKey: key, sampleIndices: samples, communicator: communicator)
    }

    /// Inference: running statistics, no dropout.
    public static func inference(samples: [Int], communicator: Communicator) -> ForwardContext {
        ForwardContext(batchStatistics: false, dropout: false, sampleIndices: samples, communicator: communicator)
    }
}

extension ForwardContext {
    /// `output`, after the probe (if any) has looked for NaN or ±Inf in it under the name `layer`, and
    /// the memory trace (if any) has recorded what is live.
    @discardableResult
    public func checked(_ output: Tensor, _ layer: String) -> Tensor {
        probe?.inspect(output, layer)
        memoryTrace?.mark(layer)
        return output
    }
}

/// The first layer of a forward pass whose output held NaN or ±Inf.
public final class NonFiniteProbe: @unchecked Sendable {
    public private(set) var firstLayer: String?

    public init() {}

    func inspect(_ output: Tensor, _ layer: String) {
        guard firstLayer == nil else { return }
        for i in 0 ..< output.count where !output.data[i].isFinite {
            firstLayer = layer
            return
        }
    }

    /// Forgets the last finding, before the next forward.
    public func reset() { firstLayer = nil }
}
