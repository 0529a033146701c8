// TeacherCheckpoint.swift — a teacher's state to and from a checkpoint: parameters, BatchNorm
// statistics, word vectors, Adam moments, and (on rank 0) the EMA of parameters and statistics.

import Foundation
import Layers
import Models
import Tensors

extension Checkpoint {
    /// Writes a teacher checkpoint; `average` is rank 0's EMA.
    public static func writeTeacher(_ path: String, model: RefCLIPTeacher, optimizer: Adam, average: ModelAverage?, position: TrainingPosition,
                             config: String, vocabulary: [String]) throws {
        var tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)] = [
            ("params", [model.params.count], model.params.values.buffer),
            ("buffers", [model.buffers.count], model.buffers.values.buffer),
            ("frozen", [model.frozen.count], model.frozen.values.buffer),
            ("adam.m", [model.params.count], optimizer.firstMoment.buffer),
            ("adam.v", [model.params.count], optimizer.secondMoment.buffer),
        ]
        if let average {
            tensors += [("ema.params", [model.params.count], average.params.values.buffer),
                        ("ema.buffers", [model.buffers.count], average.buffers.values.buffer)]
        }
        let header = CheckpointHeader(codeVersion: refclipVersion, created: ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: .withInternetDateTime),
                                      phase: "teacher", config: config, teacher: model.shape, vocabulary: vocabulary, position: position,
                                      adamStep: optimizer.step, emaUpdates: average?.params.updates ?? 0, tensors: [], payloadBytes: 0, compressedBytes: 0)
        try write(path, header: header, tensors: tensors)
    }

    /// A teacher with this checkpoint's weights: the EMA ones when `average` and present, else the raw ones.
    public func teacher(path: String, average: Bool) throws -> RefCLIPTeacher {
        guard header.phase == "teacher", let shape = header.teacher else {
            throw InputError(file: path, "holds a \(header.phase) model, not a teacher")
        }
        let model = RefCLIPTeacher(shape: shape, seed: 0)
        let useAverage = average && tensors["ema.params"] != nil
        model.params.set(all: try tensor(useAverage ? "ema.params" : "params", path: path))
        model.buffers.set(all: try tensor(useAverage ? "ema.buffers" : "buffers", path: path))
        model.frozen.set(all: try tensor("frozen", path: path))
        return model
    }
}
