// GroundCommand.swift — `refclip ground`: one image and one expression through the detector and a
// trained model; prints the box and draws it.

import Application
import ArgumentParser
import Datasets
import Detector
import Evaluation
import Foundation
import Tensors

struct GroundCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ground",
        abstract: "Ground one expression in one image with a teacher or student checkpoint.",
        discussion: """
            The image is letterboxed to the model's input size and run through the Darknet detector that made the model's \
            feature store (recorded in its manifest) unless --detector and --weights name another with the same maps. \
            Prints the box in image pixels; --out writes an SVG of the image with the box drawn.
            """)

    @Option(help: "Teacher or student checkpoint.")
    var checkpoint: String

    @Option(help: "Image file (JPEG or PNG).")
    var image: String

    @Option(help: "The referring expression.")
    var text: String

    @Option(help: "SVG file to write with the box drawn over the image.")
    var out: String?

    @Option(help: "Darknet .cfg (default: the detector that made the model's feature store).")
    var detector: String?

    @Option(help: "Darknet .weights with --detector; alone, the RefCLIP/SimREC detector's safetensors or .pth.")
    var weights: String?

    @Option(help: "Input normalization of the detector given: auto (Darknet: unit, RefCLIP/SimREC: imagenet), unit or imagenet.")
    var normalization = "auto"

    @Flag(help: "Use the raw weights instead of the EMA weights.")
    var raw = false

    func run() throws {
        try reportingErrors {
            let grounder = try SingleImageGrounder(checkpoint: checkpoint, raw: raw)
            let source: DetectorSource, inputNormalization: InputNormalization
            if let weights {
                source = detector.map { .darknet(cfg: $0, weights: weights, featureLayers: nil) } ?? .refclipYOLOv3(weights: weights)
                if normalization == "auto" { inputNormalization = source.defaultNormalization } else {
                    guard let parsed = InputNormalization(name: normalization) else {
                        throw InputError(location: "--normalization", "'\(normalization)' is not auto, unit or imagenet")
                    }
                    inputNormalization = parsed
                }
            } else {
                guard detector == nil else { throw InputError(location: "--weights", "--detector needs --weights") }
                (source, inputNormalization) = try grounder.storeDetector()
            }
            let network = try source.open()
            guard let bytes = FileManager.default.contents(atPath: image) else {
                throw InputError(file: image, "cannot read the image")
            }
            let picture = try RGBImage(encoded: [UInt8](bytes), source: image)
            let letterbox = Letterbox(originalWidth: picture.width, originalHeight: picture.height, size: grounder.view)
            let input = Tensor()
            letterboxInput(picture, letterbox, normalization: inputNormalization, into: input)
            network.forward(input)
            let choice = try grounder.ground(network.record(inputSize: grounder.view), expression: text)
            let box = letterbox.toOriginal(box: choice.box.map(Double.init))
            let unknown = grounder.unknownWords(text)
            if !unknown.isEmpty { print("note: not in the model's vocabulary (read as UNK): \(unknown.joined(separator: ", "))") }
            print(String(format: "%@ box (x1, y1, x2, y2) in image pixels: %.1f %.1f %.1f %.1f  (cell %d)", grounder.phase.rawValue, box[0], box[1], box[2], box[3], choice.cell))
            if let out {
                let svg = groundingSVG(encodedImage: [UInt8](bytes), width: picture.width, height: picture.height,
                                       boxes: [DrawnBox(box: box, colour: "#e8291c", label: grounder.phase.rawValue)], caption: text)
                try writeFileAtomically(out, bytes: Array(svg.utf8))
                print("wrote \(out)")
            }
        }
    }
}
