// ShardPlan.swift — data order as a function of (seed, epoch, step) only (DESIGN.md §7): global batch
// k of an epoch is permutation[kB ..< (k+1)B] of the training items; rank r takes rows
// [r·B/W, (r+1)·B/W). The whole run is then the same at every world size, and a position in it is
// just (epoch, step).
//
// A run may mix further sources into every global batch (the student's `data.mix`): each source
// holds a fixed number of the B rows, in proportion to its weight (the run's own items weigh 1); the
// run's own rows still follow the epoch permutation (an epoch is one pass over them), and source s's
// rows of global step k are the next ones in its own sequence of keyed permutations, so row n of it
// is permutation_s(pass n / count)[n mod count]. The global batch is then shuffled with the step's
// keyed stream, so that every rank holds rows of every source.

import Tensors

/// One row of a global batch: the source (0: the run's own data), its training item, and the pass
/// over that source it belongs to (the epoch for source 0), which keys the expression drawn.
public struct BatchRow: Equatable, Sendable {
    public var source: Int
    public var item: Int
    public var pass: Int

    public init(source: Int, item: Int, pass: Int) {
        self.source = source
        self.item = item
        self.pass = pass
    }
}

/// Which items each rank trains on at each step.
public struct ShardPlan: Sendable {
    public let itemCount: Int, globalBatch: Int, worldSize: Int, rank: Int
    public let seed: UInt64
    /// Items of each further source, and the rows of each global batch it holds.
    public let extraCounts: [Int], extraRows: [Int]

    /// Refuses a global batch that the world size does not divide, that the data cannot fill, or in
    /// which a weighted source would get no row. `extras` are further sources' item counts and weights.
    public init(itemCount: Int, globalBatch: Int, worldSize: Int, rank: Int, seed: UInt64,
                extras: [(count: Int, weight: Double)] = []) throws {
        guard globalBatch > 0, globalBatch % worldSize == 0 else {
            let sizes = globalBatch > 0 ? (1 ... globalBatch).filter { globalBatch % $0 == 0 }.map(String.init).joined(separator: ", ") : "none"
            throw InputError(location: "train.batch", "global batch \(globalBatch) is not divisible by the world size \(worldSize) (world sizes that divide it: \(sizes))",
                             hint: "every rank must hold the same number of samples; run on one of those world sizes, or choose a batch that \(worldSize) ranks divide")
        }
        let rows = Self.rows(globalBatch: globalBatch, weights: [1] + extras.map(\.weight))
        for (i, extra) in extras.enumerated() {
            guard rows[i + 1] > 0 else {
                throw InputError(location: "data.mix[\(i)].weight", "weight \(extra.weight) gives this source no row of a global batch of \(globalBatch)",
                                 hint: "raise the weight or train.batch")
            }
            guard extra.count > 0 else { throw InputError(location: "data.mix[\(i)]", "the source has no training items") }
        }
        guard itemCount >= rows[0] else {
            throw InputError(location: "train.batch", extras.isEmpty ? "the global batch \(globalBatch) is larger than the \(itemCount) training items"
                                 : "the global batch's \(rows[0]) rows of the run's own data exceed its \(itemCount) training items")
        }
        self.itemCount = itemCount
        self.globalBatch = globalBatch
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
        extraCounts = extras.map(\.count)
        extraRows = Array(rows.dropFirst())
    }

    /// Rows per global batch of each source in proportion to its weight (largest remainders first,
    /// ties to the earlier source), summing to `globalBatch`.
    static func rows(globalBatch: Int, weights: [Double]) -> [Int] {
        let total = weights.reduce(0, +)
        let exact = weights.map { Double(globalBatch) * $0 / total }
        var rows = exact.map { Int($0.rounded(.down)) }
        let order = exact.indices.sorted { (exact[$0] - Double(rows[$0]), -$0) > (exact[$1] - Double(rows[$1]), -$1) }
        for i in order.prefix(globalBatch - rows.reduce(0, +)) { rows[i] += 1 }
        return rows
    }

    /// Rows of the run's own data per global batch.
    public var ownRows: Int { globalBatch - extraRows.reduce(0, +) }

    /// Full batches per epoch (one pass over the run's own items; the last partial batch is dropped).
    public var stepsPerEpoch: Int { itemCount / ownRows }

    /// Rows of the global batch this rank holds.
    public var localBatch: Int { globalBatch / worldSize }

    /// This rank's rows within the global batch.
    public var localRows: Range<Int> { rank * localBatch ..< (rank + 1) * localBatch }

    /// The epoch's order of the run's own items (Fisher–Yates on the keyed stream of (seed, epoch)).
    public func permutation(epoch: Int) -> [Int] {
        shuffled(count: itemCount, key: RandomKey(seed: seed).child("order").child(epoch))
    }

    /// Global batch `step` of the epoch whose permutation is given; `globalStep` places the further
    /// sources' rows.
    public func globalRows(step: Int, of permutation: [Int], epoch: Int, globalStep: Int) -> [BatchRow] {
        var rows = permutation[step * ownRows ..< (step + 1) * ownRows].map { BatchRow(source: 0, item: $0, pass: epoch) }
        guard !extraRows.isEmpty else { return rows }
        for (s, (count, perStep)) in zip(extraCounts, extraRows).enumerated() {
            var pass = -1, order: [Int] = []
            for n in globalStep * perStep ..< (globalStep + 1) * perStep {
                if n / count != pass {
                    pass = n / count
                    order = shuffled(count: count, key: RandomKey(seed: seed).child("order").child("mix").child(s + 1).child(pass))
                }
                rows.append(BatchRow(source: s + 1, item: order[n % count], pass: pass))
            }
        }
        var generator = KeyedGenerator(RandomKey(seed: seed).child("rows").child(globalStep))
        for i in stride(from: rows.count - 1, to: 0, by: -1) { rows.swapAt(i, generator.index(below: i + 1)) }
        return rows
    }

    /// This rank's rows of global batch `step`.
    public func localRows(step: Int, of permutation: [Int], epoch: Int, globalStep: Int) -> [BatchRow] {
        Array(globalRows(step: step, of: permutation, epoch: epoch, globalStep: globalStep)[localRows])
    }

    private func shuffled(count: Int, key: RandomKey) -> [Int] {
        var order = Array(0 ..< count)
        var generator = KeyedGenerator(key)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, generator.index(below: i + 1)) }
        return order
    }
}
