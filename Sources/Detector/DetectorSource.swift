// DetectorSource.swift — which frozen detector `refclip extract` runs, from which files: a Darknet
// `.cfg` + `.weights`, or the RefCLIP/SimREC YOLOv3 from its state dict (the safetensors file
// `refclip import-detector` writes, or the official `.pth` itself, read without running its pickle).

import Formats
import Foundation
import Tensors

/// A detector kind and its files.
public enum DetectorSource: Sendable, Equatable {
    case darknet(cfg: String, weights: String, featureLayers: [Int]?)
    case refclipYOLOv3(weights: String)

    /// The config value naming the kind.
    public var kind: String {
        switch self {
        case .darknet: return "darknet"
        case .refclipYOLOv3: return "refclip-yolov3"
        }
    }

    /// The input normalization the detector was trained with: Darknet models see pixels / 255, the
    /// RefCLIP/SimREC detector ImageNet's mean and standard deviation.
    public var defaultNormalization: InputNormalization {
        switch self {
        case .darknet: return .unitRange
        case .refclipYOLOv3: return .imageNet
        }
    }

    /// The detector a feature store's manifest names (its `producer` fields), and its input normalization.
    public static func recorded(in producer: [String: String], manifest: String) throws -> (DetectorSource, InputNormalization) {
        let source: DetectorSource
        switch (producer["kind"], producer["weights"]) {
        case let ("darknet", weights?):
            guard let cfg = producer["cfg"] else { throw InputError(file: manifest, location: "producer.cfg", "is missing") }
            let layers = producer["feature_layers"].flatMap { text in text == "auto" ? nil : text.split(separator: ",").compactMap { Int($0) } }
            source = .darknet(cfg: cfg, weights: weights, featureLayers: layers)
        case let ("refclip-yolov3", weights?):
            source = .refclipYOLOv3(weights: weights)
        default:
            throw InputError(file: manifest, "was not made by a detector refclip runs (producer: \(producer["kind"] ?? "unknown"))",
                             hint: "name the detector with --detector and --weights")
        }
        return (source, producer["normalization"].flatMap { InputNormalization(name: $0) } ?? source.defaultNormalization)
    }

    /// Loads the detector.
    public func open() throws -> DetectorNetwork {
        switch self {
        case let .darknet(cfg, weights, featureLayers):
            return try DarknetNetwork(cfg: cfg, weights: weights, featureLayers: featureLayers)
        case let .refclipYOLOv3(weights):
            return try RefCLIPYOLOv3(weights: try Self.stateDict(weights))
        }
    }

    /// The files, their SHA-256 and the kind, for the store's manifest.
    public func manifestFields() throws -> [String: String] {
        switch self {
        case let .darknet(cfg, weights, featureLayers):
            return ["kind": kind, "cfg": cfg, "cfg_sha256": try Checksum.sha256Hex(file: cfg), "weights": weights, "weights_sha256": try Checksum.sha256Hex(file: weights),
                    "feature_layers": featureLayers.map { $0.map(String.init).joined(separator: ",") } ?? "auto"]
        case let .refclipYOLOv3(weights):
            return ["kind": kind, "weights": weights, "weights_sha256": try Checksum.sha256Hex(file: weights), "feature_layers": "inputs of heads 19, 28, 37"]
        }
    }

    /// A state dict from a safetensors file or a PyTorch `.pth`.
    public static func stateDict(_ path: String) throws -> SafetensorsFile {
        let isZip = (try? FileHandle(forReadingFrom: URL(fileURLWithPath: path)).read(upToCount: 4)) == Data([0x50, 0x4B, 0x03, 0x04])
        guard isZip || path.hasSuffix(".pth") || path.hasSuffix(".pt") else { return try SafetensorsFile(path: path) }
        return try inMemory(try TorchCheckpoint(path: path).safetensors().serialized(), name: path)
    }

    /// A safetensors file held in memory.
    static func inMemory(_ bytes: [UInt8], name: String) throws -> SafetensorsFile {
        let owner = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { owner.copyMemory(from: $0) }
        return try SafetensorsFile(bytes: UnsafeRawBufferPointer(owner), owner: OwnedBytes(owner), name: name)
    }
}

/// Converts the official `.pth` of the RefCLIP/SimREC detector to safetensors under the reference
/// names, after checking it builds the detector; returns the detector for a summary.
public func importRefCLIPDetector(from pth: String, to out: String) throws -> RefCLIPYOLOv3 {
    let checkpoint = try TorchCheckpoint(path: pth)
    let bytes = checkpoint.safetensors(metadata: ["refclip.detector.kind": "refclip-yolov3", "refclip.detector.source": (pth as NSString).lastPathComponent,
                                                  "refclip.detector.source_sha256": try Checksum.sha256Hex(file: pth)]).serialized()
    let network = try RefCLIPYOLOv3(weights: try DetectorSource.inMemory(bytes, name: pth))
    try writeFileAtomically(out, bytes: bytes)
    return network
}

/// Keeps an allocation alive for a `SafetensorsFile` that reads it.
private final class OwnedBytes {
    let bytes: UnsafeMutableRawBufferPointer
    init(_ bytes: UnsafeMutableRawBufferPointer) { self.bytes = bytes }
    deinit { bytes.deallocate() }
}
