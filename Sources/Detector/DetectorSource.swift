// DetectorSource.swift — which frozen detector `refclip extract` runs, from which files: a Darknet
// `.cfg` + `.weights`, or the RefCLIP/SimREC YOLOv3 from its state dict (the safetensors file
// `refclip import-detector` writes, or the official `.pth` itself, read without running its pickle).

import Datasets
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

    /// The detector that made a feature store (its manifest's `producer`), and its input normalization.
    public static func recorded(in producer: FeatureProvenance, manifest: String) throws -> (DetectorSource, InputNormalization) {
        guard case .extraction(let record) = producer else {
            throw InputError(file: manifest, "was made by the synthetic generator, not by a detector", hint: "name the detector with --detector and --weights")
        }
        let source: DetectorSource
        switch record.detector {
        case let .darknet(cfg, weights, layers): source = .darknet(cfg: cfg.path, weights: weights.path, featureLayers: layers)
        case let .refclipYOLOv3(weights): source = .refclipYOLOv3(weights: weights.path)
        }
        return (source, InputNormalization(name: record.normalization) ?? source.defaultNormalization)
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

    /// The files with their SHA-256, for the store's manifest.
    public func recorded() throws -> RecordedDetector {
        func file(_ path: String) throws -> RecordedFile { RecordedFile(path: path, sha256: try Checksum.sha256Hex(file: path)) }
        switch self {
        case let .darknet(cfg, weights, featureLayers): return .darknet(cfg: try file(cfg), weights: try file(weights), featureLayers: featureLayers)
        case let .refclipYOLOv3(weights): return .refclipYOLOv3(weights: try file(weights))
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
