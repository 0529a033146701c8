// ShardPlan.swift — data order as a function of (seed, epoch) only (DESIGN.md §7): global batch k of
// an epoch is permutation[kB ..< (k+1)B]; rank r takes rows [r·B/W, (r+1)·B/W). The whole run is then
// the same at every world size, and a position in it is just (epoch, step).

import Tensors

/// Which items each rank trains on at each step.
public struct ShardPlan: Sendable {
    public let itemCount: Int, globalBatch: Int, worldSize: Int, rank: Int
    public let seed: UInt64

    /// Refuses a global batch that the world size does not divide, or that the data cannot fill.
    public init(itemCount: Int, globalBatch: Int, worldSize: Int, rank: Int, seed: UInt64) throws {
        guard globalBatch > 0, globalBatch % worldSize == 0 else {
            throw InputError(location: "train.batch", "global batch \(globalBatch) is not divisible by the world size \(worldSize)",
                             hint: "every rank must hold the same number of samples; choose a batch that \(worldSize) ranks divide")
        }
        guard itemCount >= globalBatch else {
            throw InputError(location: "train.batch", "the global batch \(globalBatch) is larger than the \(itemCount) training items")
        }
        self.itemCount = itemCount
        self.globalBatch = globalBatch
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
    }

    /// Full batches per epoch (the last partial batch is dropped).
    public var stepsPerEpoch: Int { itemCount / globalBatch }

    /// Rows of the global batch this rank holds.
    public var localBatch: Int { globalBatch / worldSize }

    /// This rank's rows within the global batch.
    public var localRows: Range<Int> { rank * localBatch ..< (rank + 1) * localBatch }

    /// The epoch's order of all items (Fisher–Yates on the keyed stream of (seed, epoch)).
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0 ..< itemCount)
        var generator = KeyedGenerator(RandomKey(seed: seed).child("order").child(epoch))
        for i in stride(from: itemCount - 1, to: 0, by: -1) { order.swapAt(i, generator.index(below: i + 1)) }
        return order
    }

    /// Items of global batch `step` of an epoch's permutation.
    public func globalItems(step: Int, of permutation: [Int]) -> ArraySlice<Int> {
        permutation[step * globalBatch ..< (step + 1) * globalBatch]
    }

    /// This rank's items of global batch `step` of an epoch's permutation.
    public func localItems(step: Int, of permutation: [Int]) -> [Int] {
        let start = step * globalBatch
        return Array(permutation[start + localRows.lowerBound ..< start + localRows.upperBound])
    }
}
