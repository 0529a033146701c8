// PhaseContext.swift — what a phase is built from (the run's data, its training sources, the data
// order, the communicator, the seed) and what every phase does with a step's rows: the item each row
// names, the expression drawn for this visit, the box in the letterbox of an input size, the features.

import Datasets
import Distributed
import Tensors

/// Training items of one source: the run's own data (source 0) or a `data.mix` entry.
public struct TrainingSource {
    /// The annotation file, for messages and the metrics' per-source losses.
    public let name: String
    public let store: FeatureStore
    /// The `train` split.
    public let items: [GroundingItem]
}

/// What a phase is built from.
public struct PhaseContext {
    /// The run's own feature store and data (vocabulary, word vectors, every split).
    public let store: FeatureStore
    public let data: GroundingData
    /// The training items of every source; `sources[0]` is the run's own `train` split.
    public let sources: [TrainingSource]
    public let plan: ShardPlan
    public let communicator: Communicator
    public let seed: UInt64

    /// The training item a row names.
    func item(_ row: BatchRow) -> GroundingItem { sources[row.source].items[row.item] }

    /// Each row's expression for this visit (one drawn per pass over its source from the keyed
    /// stream), as token ids.
    func chosenExpressions(_ rows: [BatchRow]) -> [Int] {
        let key = RandomKey(seed: seed).child("expression")
        return rows.flatMap { row -> [Int] in
            let chooser = row.source == 0 ? key.child(row.pass) : key.child("mix").child(row.source).child(row.pass)
            let expressions = item(row).expressions
            return expressions[chooser.index(row.item, below: expressions.count)]
        }
    }

    /// Each row's box (x1, y1, x2, y2) in the letterbox of input size `view`.
    func letterboxBoxes(_ rows: [BatchRow], view: Int) -> [[Float]] {
        rows.map { row in
            let item = item(row)
            let info = sources[row.source].store.manifest.images[item.image]
            return Letterbox(originalWidth: info.width, originalHeight: info.height, size: view).toCanvas(box: item.box).map(Float.init)
        }
    }

    /// The rows' detector outputs at input size `view`, each from its source's store.
    func loadFeatures(_ rows: [BatchRow], view: Int, into batch: inout FeatureBatch, scratch: inout FeatureStore.ReadScratch) throws {
        try batch.load(rows.map { (sources[$0.source].store, item($0).image) }, view: view, scratch: &scratch)
    }
}
