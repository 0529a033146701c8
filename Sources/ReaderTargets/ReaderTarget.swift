// ReaderTarget.swift — every reader of a file that comes from outside, behind one interface, for the
// fuzzer (`refclip-fuzz`, `make fuzz`) and the hostile-file tests: each reads a file the way refclip
// does and either accepts it or throws an InputError; nothing else may happen (no trap, no memory
// error, no allocation out of proportion to the file).

import Configuration
import Datasets
import Detector
import Formats
import Foundation
import Tensors
import Training

/// A kind of outside file refclip reads.
public enum ReaderTarget: String, CaseIterable, Sendable {
    /// A PyTorch `.pth` (ZIP + restricted pickle + tensor views): `refclip import-detector`.
    case pth
    /// A ZIP archive's directory and every entry's contents (CRC-checked).
    case zip
    /// A pickle alone, through the restricted unpickler.
    case pickle
    /// A refclip checkpoint: header, zstd payload, tensor table, and the model its header describes.
    case checkpoint
    /// A safetensors file and every tensor's values.
    case safetensors
    /// A feature store directory: manifest and shard 0's records.
    case featureStore = "feature-store"
    /// A Darknet `.cfg`, with the shapes it implies at 416.
    case darknetConfig = "darknet-cfg"
    /// Darknet `.weights` for a small fixed network.
    case darknetWeights = "darknet-weights"
    /// An annotation file (`{split: [entries]}`).
    case annotations
    /// Word vectors in the text format, plain or gzip.
    case wordVectors = "word-vectors"
    /// A YAML config, decoded as each command's document (accepted when one accepts it).
    case config
    /// A JPEG or PNG image.
    case image

    /// Reads the file at `path` (for `featureStore`, the directory) as refclip does.
    public func read(path: String) throws {
        switch self {
        case .pth:
            _ = try TorchCheckpoint(path: path)
        case .zip:
            let file = try MappedFile(path: path)
            let archive = try ZipArchive(bytes: file.bytes, source: path)
            for entry in archive.entries { _ = try archive.contents(entry) }
        case .pickle:
            let file = try MappedFile(path: path)
            _ = try restrictedUnpickle(file.bytes, source: path)
        case .checkpoint:
            _ = try Checkpoint.read(path).groundingModel(path: path, average: true)
        case .safetensors:
            let file = try SafetensorsFile(path: path)
            for name in file.names { _ = try file.doubles(name) }
        case .featureStore:
            let store = try FeatureStore(directory: path)
            for image in store.manifest.images.indices {
                for view in store.manifest.views.indices { _ = try store.read(image: image, view: view) }
            }
        case .darknetConfig:
            let config = try DarknetConfig(text: try text(path), source: path)
            _ = try config.convolutionShapes()
        case .darknetWeights:
            _ = try DarknetWeights(contentsOf: path, for: try DarknetConfig(text: Self.weightsNetwork, source: "fuzz.cfg"))
        case .annotations:
            _ = try Annotations.load(path)
        case .wordVectors:
            _ = try WordVectorTable.load(path, for: Vocabulary(expressions: ["the red cube on the left", "a blue ball"]))
        case .config:
            // Every command's document reads it; the file is accepted when one of them accepts it.
            let yaml = try text(path)
            let loads: [() throws -> Void] = [
                { _ = try TeacherConfig.load(yaml: yaml, source: path) }, { _ = try StudentConfig.load(yaml: yaml, source: path) },
                { _ = try SyntheticDataConfig.load(yaml: yaml, source: path) }, { _ = try ExtractionConfig.load(yaml: yaml, source: path) },
            ]
            var refusals: [Error] = []
            for load in loads {
                do { try load() } catch { refusals.append(error) }
            }
            if refusals.count == loads.count { throw refusals[0] }
        case .image:
            _ = try RGBImage(contentsOf: path)
        }
    }

    /// Writes fuzzer input `bytes` under `directory` as a file `read(path:)` takes, and returns its
    /// path. A feature store's input is packed: a 4-byte little-endian manifest length, the manifest,
    /// then shard 0's bytes.
    public func materialize(_ bytes: UnsafeRawBufferPointer, in directory: String) throws -> String {
        guard self == .featureStore else {
            let path = directory + "/input"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        let store = directory + "/store"
        try? FileManager.default.removeItem(atPath: store)
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        let length = bytes.count >= 4 ? min(Int(bytes.loadUnaligned(as: UInt32.self).littleEndian), bytes.count - 4) : 0
        let manifest = bytes.count >= 4 ? Data(bytes[4 ..< 4 + length]) : Data()
        try manifest.write(to: URL(fileURLWithPath: store + "/manifest.json"))
        try Data(bytes.count >= 4 ? bytes[(4 + length)...] : bytes[...]).write(to: URL(fileURLWithPath: store + "/shard-00000.bin"))
        return store
    }

    /// The network the `darknetWeights` target reads weights for: two convolutions, one with BatchNorm.
    static let weightsNetwork = """
        [net]
        width=32
        height=32
        channels=3

        [convolutional]
        batch_normalize=1
        filters=4
        size=3
        stride=1
        pad=1
        activation=leaky

        [convolutional]
        filters=2
        size=1
        stride=1
        pad=1
        activation=linear
        """

    private func text(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(file: path, "cannot read the file") }
        return String(decoding: data, as: UTF8.self)
    }
}
