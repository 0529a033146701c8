// ModelCheckpoint.swift — a model's state to and from a checkpoint, for any phase: parameters,
// BatchNorm statistics, word vectors, Adam moments, and (rank 0) the EMA of parameters and statistics.

import Configuration
import Evaluation
import Formats
import Foundation
import Layers
import Models
import Tensors

extension Checkpoint {
    /// The header and the live tensors of `phase`'s state (with rank 0's EMA `average`) at `position`:
    /// what its checkpoint holds, for a writer that copies them and writes later (CheckpointWriter).
    static func state<Phase: TrainingPhase>(phase: Phase, average: ModelAverage?, position: TrainingPosition,
                                            config: String, vocabulary: [String]) -> (header: CheckpointHeader, tensors: [CheckpointTensorView]) {
        state(phase: Phase.phase, model: phase.modelShape, params: phase.params, buffers: phase.buffers, frozen: phase.frozen,
              optimizer: phase.optimizer, average: average, position: position, config: config, vocabulary: vocabulary)
    }

    /// Writes a model state given its parts.
    public static func write(_ path: String, phase: Configuration.Phase, model: ModelShape, params: ParameterStore, buffers: ParameterStore,
                             frozen: ParameterStore, optimizer: Adam, average: ModelAverage?, position: TrainingPosition, config: String,
                             vocabulary: [String]) throws {
        let (header, tensors) = state(phase: phase, model: model, params: params, buffers: buffers, frozen: frozen,
                                      optimizer: optimizer, average: average, position: position, config: config, vocabulary: vocabulary)
        try write(path, header: header, tensors: tensors)
    }

    /// The header and the live tensors of a model state given its parts.
    public static func state(phase: Configuration.Phase, model: ModelShape, params: ParameterStore, buffers: ParameterStore,
                             frozen: ParameterStore, optimizer: Adam, average: ModelAverage?, position: TrainingPosition, config: String,
                             vocabulary: [String]) -> (header: CheckpointHeader, tensors: [CheckpointTensorView]) {
        var tensors: [CheckpointTensorView] = [
            ("params", [params.count], params.values.buffer),
            ("buffers", [buffers.count], buffers.values.buffer),
            ("frozen", [frozen.count], frozen.values.buffer),
            ("adam.m", [params.count], optimizer.firstMoment.buffer),
            ("adam.v", [params.count], optimizer.secondMoment.buffer),
        ]
        if let average {
            tensors += [("ema.params", [params.count], average.params.values.buffer), ("ema.buffers", [buffers.count], average.buffers.values.buffer)]
        }
        func layout(_ store: ParameterStore) -> [CheckpointParameter] { store.refs.map { CheckpointParameter(name: $0.name, shape: $0.shape) } }
        let header = CheckpointHeader(codeVersion: refclipVersion, created: ISO8601DateFormatter().string(from: Date()), phase: phase,
                                      config: config, model: model,
                                      layout: ["params": layout(params), "buffers": layout(buffers), "frozen": layout(frozen)],
                                      vocabulary: vocabulary, position: position, adamStep: optimizer.step,
                                      emaUpdates: average?.params.updates ?? 0, tensors: [], payloadBytes: 0, compressedBytes: 0,
                                      blas: BLASRuntime.current().summary)
        return (header, tensors)
    }

    /// Fills the stores from this checkpoint: the EMA values when `average` and present, else the raw ones.
    public func restore(params: ParameterStore, buffers: ParameterStore, frozen: ParameterStore, average: Bool, path: String) throws {
        let useAverage = average && tensors["ema.params"] != nil
        for (store, name) in [(params, useAverage ? "ema.params" : "params"), (buffers, useAverage ? "ema.buffers" : "buffers"), (frozen, "frozen")] {
            let values = try tensor(name, path: path)
            guard values.count == store.count else {
                throw InputError(file: path, location: name, "holds \(values.count) values where the model has \(store.count)")
            }
            store.set(all: values)
        }
    }

    /// Whether this checkpoint holds EMA weights.
    public var hasAverage: Bool { tensors["ema.params"] != nil }

    /// The checkpoint's model as a `Model` with its weights (EMA when `average` and present); an error
    /// naming the file when it holds the other model.
    public func model<Model: TrainableModel>(as _: Model.Type, path: String, average: Bool) throws -> Model {
        guard let shape = header.model.shape(of: Model.self) else { throw InputError(file: path, "holds a \(header.model.kind) model, not a \(Model.kind)") }
        let damaged = "the checkpoint's header is damaged; use another checkpoint"
        if let problem = shape.invalidDimension { throw InputError(file: path, location: "model", problem, hint: damaged) }
        let held = tensors.values.reduce(0) { $0 + $1.count }
        guard let least = shape.minimumValueCount, least <= held else {
            throw InputError(file: path, location: "model", "its dimensions describe a model of more values than the checkpoint's \(held)", hint: damaged)
        }
        let model = Model(shape: shape, seed: 0)
        try restore(params: model.params, buffers: model.buffers, frozen: model.frozen, average: average, path: path)
        return model
    }

    /// The checkpoint's model, teacher or student, with its weights (EMA when `average` and present):
    /// the one place a checkpoint's model kind picks the model's type.
    public func groundingModel(path: String, average: Bool) throws -> any GroundingModel & TrainableModel {
        switch header.model {
        case .teacher: return try model(as: RefCLIPTeacher.self, path: path, average: average)
        case .student: return try model(as: SimRECStudent.self, path: path, average: average)
        }
    }

    /// Names and shapes that differ between this checkpoint and the given stores (empty when they match).
    public func layoutDifferences(params: ParameterStore, buffers: ParameterStore, frozen: ParameterStore) -> [String] {
        var differences: [String] = []
        for (group, store) in [("params", params), ("buffers", buffers), ("frozen", frozen)] {
            let saved = Dictionary(uniqueKeysWithValues: (header.layout[group] ?? []).map { ($0.name, $0.shape) })
            let mine = Dictionary(uniqueKeysWithValues: store.refs.map { ($0.name, $0.shape) })
            for ref in store.refs where saved[ref.name] != ref.shape {
                differences.append("\(ref.name): checkpoint \(saved[ref.name].map { "\($0)" } ?? "absent"), config \(ref.shape)")
            }
            for entry in header.layout[group] ?? [] where mine[entry.name] == nil { differences.append("\(entry.name): checkpoint \(entry.shape), config absent") }
        }
        return differences
    }
}
