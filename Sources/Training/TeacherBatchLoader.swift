// TeacherBatchLoader.swift — builds this rank's rows of a training batch: the images' detector
// outputs (into one of two reused slots, so the next batch can load while this one computes) and,
// per item, one of its expressions drawn for this epoch from the keyed stream.

import Datasets
import Models
import Tensors

/// Loads training batches for one rank; used from one background thread at a time.
final class TeacherBatchLoader: @unchecked Sendable {
    private let store: FeatureStore
    private let items: [GroundingItem]
    private let plan: ShardPlan
    private let view: Int
    private let seed: UInt64
    private var slots = [FeatureBatch(), FeatureBatch()]
    private var scratch = FeatureStore.ReadScratch()

    init(store: FeatureStore, items: [GroundingItem], plan: ShardPlan, view: Int, seed: UInt64) {
        self.store = store
        self.items = items
        self.plan = plan
        self.view = view
        self.seed = seed
    }

    /// Rows of global step `step` of `epoch` into slot `globalStep % 2`.
    func load(epoch: Int, step: Int, globalStep: Int, permutation: [Int]) throws -> TeacherInputs {
        let local = plan.localItems(step: step, of: permutation)
        let slot = globalStep % 2
        try slots[slot].load(store, images: local.map { items[$0].image }, view: view, scratch: &scratch)
        let chooser = RandomKey(seed: seed).child("expression").child(epoch)
        let ids = local.flatMap { items[$0].expressions[chooser.index($0, below: items[$0].expressions.count)] }
        let batch = slots[slot]
        return TeacherInputs(f52: batch.maps[0], f26: batch.maps[1], f13: batch.maps[2], anchorBoxes: batch.boxes, tokenIDs: ids)
    }
}
