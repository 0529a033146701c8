// ForwardContext.swift — what a forward pass needs to know beyond its inputs: the mode, the keyed
// randomness of this step and batch, and the communicator for synchronized batch statistics.

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
