// Checkpoint.swift — everything the next update depends on, in one file: a header (readable without
// decompressing) with the code version, the resolved config, the model shape, the vocabulary, the
// training position and the parameter layout, and the named Float32 tensors, in the checkpoint
// container (Formats/CheckpointContainer.swift; format in docs/FORMATS.md).

import Configuration
import Formats
import Foundation
import Models
import Tensors

/// Where training stands; with the tensors, enough to continue as if never stopped.
public struct TrainingPosition: Codable, Equatable, Sendable {
    public var epoch: Int
    /// Steps completed within `epoch`.
    public var stepInEpoch: Int
    /// Steps completed in the run.
    public var globalStep: Int
    public var seed: UInt64
    public var worldSize: Int
    /// Best validation accuracy so far (EMA weights), and the step it was reached at.
    public var bestAccuracy: Double
    public var bestStep: Int

    public init(epoch: Int, stepInEpoch: Int, globalStep: Int, seed: UInt64, worldSize: Int, bestAccuracy: Double = -1, bestStep: Int = -1) {
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.globalStep = globalStep
        self.seed = seed
        self.worldSize = worldSize
        self.bestAccuracy = bestAccuracy
        self.bestStep = bestStep
    }
}

/// A parameter's name and shape inside a flat store.
public struct CheckpointParameter: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
}

/// The checkpoint header.
public struct CheckpointHeader: Codable, Sendable {
    public var format = "refclip-checkpoint"
    public var version = 1
    public var codeVersion: String
    public var created: String
    public var phase: Phase
    /// The resolved configuration (YAML).
    public var config: String
    /// The model's dimensions.
    public var model: ModelShape
    /// Names and shapes of the parameters in each flat store ("params", "buffers", "frozen").
    public var layout: [String: [CheckpointParameter]]
    public var vocabulary: [String]
    public var position: TrainingPosition
    public var adamStep: Int
    public var emaUpdates: Int
    public var tensors: [CheckpointTensor]
    public var payloadBytes: Int
    public var compressedBytes: Int
    /// The BLAS of the rank that wrote it (library, kernel, threads, CPU); absent in older checkpoints.
    public var blas: String?
}

extension CheckpointHeader: CheckpointContainerHeader {
    public var unsupportedFormat: String? {
        format == "refclip-checkpoint" && version == 1 ? nil : "unsupported format \(format) v\(version)"
    }
}

/// A checkpoint in memory: the header and the named tensors.
public struct Checkpoint {
    public var header: CheckpointHeader
    public var tensors: [String: [Float]]

    /// Writes `tensors` (in the given order) with `header`, atomically.
    public static func write(_ path: String, header: CheckpointHeader, tensors: [CheckpointTensorView]) throws {
        try CheckpointContainer.write(path, header: header, tensors: tensors)
    }

    /// Reads only the header, checking its sizes, tensor table and parameter layout against the file.
    public static func readHeader(_ path: String) throws -> (header: CheckpointHeader, payloadStart: Int, file: MappedFile) {
        func damaged(_ problem: String) -> InputError {
            InputError(file: path, problem, hint: "the checkpoint is damaged or not a refclip checkpoint; use another one")
        }
        let (header, start, file) = try CheckpointContainer.readHeader(path, as: CheckpointHeader.self, damaged: damaged)
        for (store, parameters) in header.layout {
            var total: Int? = 0
            for parameter in parameters { total = total.flatMap { sum in CheckedSize.product(parameter.shape).flatMap { CheckedSize.sum(sum, $0) } } }
            guard let total, total <= header.payloadBytes / 4, Set(parameters.map(\.name)).count == parameters.count else {
                throw damaged("the layout of \(store) names a parameter twice or describes more values than the payload's \(header.payloadBytes / 4)")
            }
        }
        return (header, start, file)
    }

    /// Reads and verifies the whole checkpoint (the zstd checksum covers every payload byte).
    public static func read(_ path: String) throws -> Checkpoint {
        let (header, start, file) = try readHeader(path)
        do {
            return Checkpoint(header: header, tensors: try CheckpointContainer.readTensors(header: header, payloadStart: start, file: file))
        } catch {
            throw InputError(file: path, "payload is damaged: \(error)", hint: "the checkpoint is corrupt; use an earlier one")
        }
    }

    /// A named tensor, or an error naming the file.
    public func tensor(_ name: String, path: String) throws -> [Float] {
        guard let t = tensors[name] else { throw InputError(file: path, location: name, "tensor missing from the checkpoint") }
        return t
    }
}

/// The version written into checkpoints and reports.
public let refclipVersion = "0.1.0"
