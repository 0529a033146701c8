// PseudoLabelling.swift — `refclip pseudo-label`'s work: a teacher checkpoint's box for every training
// expression of its data, written as an annotation file for the student, with where the labels came
// from (the checkpoint's SHA-256, step, weights and config) and how many are right.

import Configuration
import Datasets
import Distributed
import Evaluation
import Formats
import Foundation
import Models
import Tensors
import Training

/// Labels the training expressions with `checkpoint`'s teacher (EMA weights unless `raw`) and writes
/// the annotation file `out` on rank 0 (collective). `overrides` change the checkpoint's config
/// (data.*, train.eval_batch). Returns the labels (entries on rank 0).
public func writePseudoLabels(checkpoint: String, to out: String, raw: Bool, overrides: [String], communicator comm: Communicator) throws -> PseudoLabels {
    let loaded = try LoadedModel(checkpoint: checkpoint, raw: raw, overrides: overrides)
    guard let teacher = loaded.model as? RefCLIPTeacher else {
        throw InputError(file: checkpoint, "holds a \(loaded.checkpoint.header.model.kind) model; pseudo-labels come from a teacher")
    }
    let data = try RunData.open(loaded.config.data, communicator: comm)
    guard data.grounding.vocabulary.words == loaded.vocabulary.words else {
        throw InputError(file: checkpoint, "was trained with another vocabulary than \(loaded.config.data.annotations)")
    }
    let labels = try pseudoLabel(teacher, items: try data.grounding.items("train"), store: data.store, view: loaded.config.data.view,
                                 batch: loaded.config.train.evalBatch, communicator: comm)
    guard comm.isRoot else { return labels }
    var annotations = try Annotations.load(loaded.config.data.annotations)
    annotations.splits["train"] = labels.entries
    annotations.info = ["teacher_checkpoint": checkpoint, "teacher_sha256": try Checksum.sha256Hex(file: checkpoint),
                        "teacher_step": "\(loaded.checkpoint.header.position.globalStep)", "teacher_weights": loaded.usesAverage ? "ema" : "raw",
                        "teacher_config": loaded.checkpoint.header.config, "pseudo_label_accuracy": String(format: "%.2f", labels.accuracy)]
    try annotations.write(to: out)
    return labels
}
