// ImportDetectorCommand.swift — `refclip import-detector`: the official RefCLIP/SimREC detector
// checkpoint (`yolov3_coco.pth`) to safetensors under its own state-dict names, for `refclip extract`
// with `detector.kind: refclip-yolov3`.

import ArgumentParser
import Detector
import Tensors

struct ImportDetectorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-detector",
        abstract: "Convert the RefCLIP/SimREC detector's PyTorch checkpoint (.pth) to safetensors.",
        discussion: """
            The .pth is read without Python and without running its pickle: only tensors in dicts are accepted, and a \
            pickle naming any other global is refused by name. The weights are checked to build the detector (every \
            module's tensors present, shapes consistent) before the file is written. A legacy (non-ZIP) .pth is refused \
            with the one-line Python conversion. See docs/FORMATS.md.
            """)

    @Argument(help: "The detector's .pth (e.g. yolov3_coco.pth).")
    var checkpoint: String

    @Option(help: "Safetensors file to write.")
    var out: String

    func run() throws {
        try reportingErrors {
            let network = try importRefCLIPDetector(from: checkpoint, to: out)
            let (total, deformable) = network.multiplyAdds(size: 416)
            print("""
                wrote \(out): RefCLIP/SimREC YOLOv3, \(network.classes) classes; maps of \(network.layout.channels.map(String.init).joined(separator: ", ")) \
                channels at strides 8, 16, 32, \(network.layout.anchorsPerCell) anchors per cell
                \(String(format: "%.1f", Double(total) / 1e9)) G multiply–adds per 416×416 image (\(String(format: "%.1f", 100 * Double(deformable) / Double(total)))% in the deformable convolutions)
                """)
        }
    }
}
