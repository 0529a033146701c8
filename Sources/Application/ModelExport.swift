// ModelExport.swift — a checkpoint's weights as plain safetensors, and a teacher back from them.
// A teacher is written under the reference PyTorch state-dict names and layouts
// (Tests/Fixtures/refclip_state_dict_keys.txt) with every entry the reference module expects, so
// load_state_dict(strict=True) accepts it: the word vectors, the BatchNorm counters
// (num_batches_tracked = training steps) and the two fusion projections the reference computes but
// never uses (mid_proj, bot_proj; zero weights and default statistics). A student, which has no
// reference layout, is written under refclip's parameter names.

import Configuration
import Formats
import Foundation
import Layers
import Models
import Tensors
import Training

extension Checkpoint {
    /// The model's weights (EMA when `average` and present) as a safetensors image.
    public func exportWeights(path: String, average: Bool) throws -> SafetensorsWriter {
        var writer = SafetensorsWriter()
        func add(_ stores: [ParameterStore]) {
            for store in stores {
                for ref in store.refs { writer.add(ref.name, shape: ref.shape, floats: UnsafeBufferPointer(start: store.value(ref), count: ref.count)) }
            }
        }
        let model = try groundingModel(path: path, average: average)
        add([model.frozen, model.params, model.buffers])
        if let teacher = model as? RefCLIPTeacher { addReferenceExtras(teacher, to: &writer) }
        let vocabulary = String(decoding: try JSONEncoder().encode(header.vocabulary), as: UTF8.self)
        writer.metadata = ["format": "pt", "refclip.phase": header.phase.rawValue, "refclip.weights": average && hasAverage ? "ema" : "raw",
                           "refclip.step": "\(header.position.globalStep)", "refclip.vocabulary": vocabulary, "refclip.config": header.config,
                           "refclip.version": header.codeVersion]
        return writer
    }

    /// The entries of the reference teacher that refclip does not train.
    private func addReferenceExtras(_ model: RefCLIPTeacher, to writer: inout SafetensorsWriter) {
        let steps = header.position.globalStep
        let fusion = model.shape.fusion
        let unused = [("multi_scale_manner.mid_proj", fusion.hidden + fusion.channels26), ("multi_scale_manner.bot_proj", fusion.hidden / 2 + fusion.channels52)]
        for (name, inputs) in unused {
            writer.add(name + ".conv.weight", shape: [fusion.hidden, inputs, 1, 1], floats: [Float](repeating: 0, count: fusion.hidden * inputs))
            writer.add(name + ".batch_norm.weight", shape: [fusion.hidden], floats: [Float](repeating: 1, count: fusion.hidden))
            writer.add(name + ".batch_norm.bias", shape: [fusion.hidden], floats: [Float](repeating: 0, count: fusion.hidden))
            writer.add(name + ".batch_norm.running_mean", shape: [fusion.hidden], floats: [Float](repeating: 0, count: fusion.hidden))
            writer.add(name + ".batch_norm.running_var", shape: [fusion.hidden], floats: [Float](repeating: 1, count: fusion.hidden))
        }
        let norms = model.buffers.refs.map(\.name).filter { $0.hasSuffix(".running_mean") }.map { String($0.dropLast(".running_mean".count)) }
            + unused.map { $0.0 + ".batch_norm" }
        for norm in norms { writer.add(norm + ".num_batches_tracked", shape: [], int64s: [steps]) }
    }
}

/// A teacher checkpoint (no optimizer state, position 0) from safetensors with the reference names.
/// The vocabulary comes from the file's metadata when present (refclip exports), else from `vocabulary`.
public func importTeacher(_ file: SafetensorsFile, shape: TeacherShape, vocabulary: [String], config: String, to path: String) throws {
    let model = RefCLIPTeacher(shape: shape, seed: 0)
    try model.params.load(from: file)
    try model.buffers.load(from: file)
    try model.frozen.load(from: file)
    let position = TrainingPosition(epoch: 0, stepInEpoch: 0, globalStep: 0, seed: 0, worldSize: 1)
    try Checkpoint.write(path, phase: .teacher, model: .teacher(shape), params: model.params,
                         buffers: model.buffers, frozen: model.frozen, optimizer: Adam(parameterCount: model.params.count), average: nil,
                         position: position, config: config, vocabulary: vocabulary)
}
