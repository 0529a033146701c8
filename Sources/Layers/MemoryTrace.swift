// MemoryTrace.swift — the tensor bytes live after each layer of a forward pass (and at points a caller
// marks), for the per-layer memory account of `refclip-bench memory`.

import Tensors

/// Records `TensorMemory.liveBytes` after every layer that reports its output to the forward context.
public final class MemoryTrace {
    /// Each mark in order: the layer (or the caller's label) and the tensor bytes live at that moment.
    public private(set) var marks: [(label: String, liveBytes: Int)] = []

    public init() {}

    /// Records the tensor bytes live now under `label`.
    public func mark(_ label: String) { marks.append((label, TensorMemory.liveBytes)) }
}
