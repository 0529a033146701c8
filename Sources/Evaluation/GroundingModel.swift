// GroundingModel.swift — what evaluation, pseudo-labels, reports and `refclip ground` need of a model:
// the maps it reads and a choice (cell and box) per expression on a batch of detector outputs. The
// RefCLIP teacher and the SimREC-style student both are one.

import Datasets
import Distributed
import Models
import Tensors

/// A model that grounds expressions on detector outputs.
public protocol GroundingModel: AnyObject {
    /// Channels of the stride-8, 16 and 32 maps it reads.
    var mapChannels: [Int] { get }
    /// Cells the random-anchor baseline chooses among (the most object-like ones).
    var baselineCells: Int { get }
    /// One choice per row of `features`, for token ids row-major per expression, in inference mode.
    func choose(_ features: FeatureBatch, tokenIDs: [Int], inputSize: Int, communicator: Communicator) -> [GroundingChoice]
}

extension GroundingModel {
    /// Throws unless the model can read `store`'s maps at input size `view`: the channels it was built
    /// for, and at least its `baselineCells` on the stride-32 grid.
    public func checkReads(_ store: FeatureStore, view: Int) throws {
        let manifest = store.directory + "/manifest.json", channels = store.manifest.layout.channels
        guard channels == mapChannels else {
            throw InputError(file: manifest, "the store's maps have \(channels) channels; this model reads \(mapChannels)",
                             hint: "use a feature store of the detector the model was trained on")
        }
        let cells = (view / 32) * (view / 32)
        guard baselineCells <= cells else {
            throw InputError(file: manifest, "input size \(view) gives \(cells) cells; the model chooses among its \(baselineCells) most object-like",
                             hint: "use a larger input size (data.view), or fewer cells (model.selected_cells)")
        }
    }
}

extension RefCLIPTeacher: GroundingModel {
    public var mapChannels: [Int] { [shape.fusion.channels52, shape.fusion.channels26, shape.fusion.channels13] }
    /// The cells the teacher itself chooses among.
    public var baselineCells: Int { shape.selectedCells }

    public func choose(_ features: FeatureBatch, tokenIDs: [Int], inputSize: Int, communicator: Communicator) -> [GroundingChoice] {
        let inputs = TeacherInputs(f52: features.maps[0], f26: features.maps[1], f13: features.maps[2], anchorBoxes: features.boxes, tokenIDs: tokenIDs)
        return predict(inputs, .inference(samples: Array(0 ..< features.boxes.shape[0]), communicator: communicator))
            .map { GroundingChoice(cell: $0.cell, box: $0.box) }
    }
}

extension SimRECStudent: GroundingModel {
    public var mapChannels: [Int] { [shape.fusion.channels52, shape.fusion.channels26, shape.fusion.channels13] }
    /// The student selects no cells; its baselines use the reference teacher's 17 (DESIGN.md §3).
    public var baselineCells: Int { 17 }

    public func choose(_ features: FeatureBatch, tokenIDs: [Int], inputSize: Int, communicator: Communicator) -> [GroundingChoice] {
        predict(maps: features.maps, tokenIDs: tokenIDs, inputSize: inputSize, .inference(samples: Array(0 ..< features.boxes.shape[0]), communicator: communicator))
            .map { GroundingChoice(cell: $0.cell, box: $0.box) }
    }
}
