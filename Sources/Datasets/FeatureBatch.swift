// FeatureBatch.swift — detector outputs of a batch of images, stacked into tensors, and a prefetcher
// that reads the next batch while the current one computes.

import Foundation
import Tensors

/// The stacked detector outputs of a batch.
public struct FeatureBatch {
    /// [B, C, g, g] for strides 8, 16, 32.
    public var maps: [Tensor]
    /// [B, g·g, anchorsPerCell, 5].
    public var boxes: Tensor

    /// Empty tensors, shaped by the first `load`.
    public init() {
        maps = (0 ..< 3).map { _ in Tensor() }
        boxes = Tensor()
    }

    /// Reads `images` (store indices) at input size `view` into this batch's tensors (reused: no
    /// allocation once they are large enough).
    public mutating func load(_ store: FeatureStore, images: [Int], view: Int, scratch: inout FeatureStore.ReadScratch) throws {
        try load(images.map { (store, $0) }, view: view, scratch: &scratch)
    }

    /// Reads each row's image from its own store (stores of one detector layout) at input size `view`.
    public mutating func load(_ rows: [(store: FeatureStore, image: Int)], view: Int, scratch: inout FeatureStore.ReadScratch) throws {
        guard let layout = rows.first?.store.manifest.layout else { return }
        for (store, _) in rows where store.manifest.layout != layout {
            throw InputError(file: store.directory + "/manifest.json", "its detector layout \(store.manifest.layout.channels) differs from the run's \(layout.channels)",
                             hint: "mix only feature stores made by the same detector")
        }
        let grids = layout.grids(view: view)
        let counts = layout.counts(view: view)
        let b = rows.count
        for s in 0 ..< 3 { maps[s].reshape([b, layout.channels[s], grids[s], grids[s]]) }
        boxes.reshape([b, grids[2] * grids[2], layout.anchorsPerCell, 5])
        for (i, (store, image)) in rows.enumerated() {
            try store.read(image: image, view: try store.viewIndex(view), maps: (0 ..< 3).map { maps[$0].data + i * counts.maps[$0] },
                           boxes: boxes.data + i * counts.boxes, scratch: &scratch)
        }
    }

    /// A new batch holding `images`.
    public static func load(_ store: FeatureStore, images: [Int], view: Int) throws -> FeatureBatch {
        var batch = FeatureBatch()
        var scratch = FeatureStore.ReadScratch()
        try batch.load(store, images: images, view: view, scratch: &scratch)
        return batch
    }
}

/// Loads one batch ahead on a background thread (file reads and decompression only; no BLAS).
public final class Prefetcher<Value>: @unchecked Sendable {
    /// Where one load leaves its result; owned by the work item, so the load may outlive the prefetcher.
    private final class Slot: @unchecked Sendable {
        var result: Result<Value, Error>?
    }

    private let queue = DispatchQueue(label: "refclip.prefetch")
    private var pending: (item: DispatchWorkItem, slot: Slot)?

    public init() {}

    /// Starts loading the next value.
    public func start(_ load: @escaping () throws -> Value) {
        let slot = Slot()
        let item = DispatchWorkItem { slot.result = Result { try load() } }
        pending = (item, slot)
        queue.async(execute: item)
    }

    /// Waits for the value started last.
    public func take() throws -> Value {
        guard let (item, slot) = pending else { preconditionFailure("Prefetcher.take without start") }
        item.wait()
        pending = nil
        return try slot.result!.get()
    }
}
