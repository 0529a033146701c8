// DetectorNetwork.swift — what feature extraction needs of a frozen detector, whichever its kind
// (a Darknet network or the RefCLIP/SimREC YOLOv3): run one letterboxed image, then give the three
// maps the grounding models read and the stride-32 head's anchors.

import Datasets
import Tensors

/// A frozen detector that runs one image at a time.
public protocol DetectorNetwork: AnyObject {
    /// What the store records per image: the maps' channels and the head's anchors per cell.
    var layout: FeatureLayout { get }
    /// Runs the network on one image [3, S, S].
    func forward(_ input: Tensor)
    /// The last forward's maps (strides 8, 16, 32) and decoded stride-32 anchors at input size `size`.
    func record(inputSize size: Int) -> FeatureRecord
}

extension DarknetNetwork: DetectorNetwork {}
