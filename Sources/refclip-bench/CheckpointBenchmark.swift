// CheckpointBenchmark.swift — saving and loading a reference-size teacher checkpoint (parameters,
// Adam moments, EMA): MB/s of Float32 payload, the compression ratio against raw Float32, and what a
// save stalls the training step for, written directly or in the background (CheckpointWriter).

import Distributed
import Formats
import Foundation
import Layers
import Models
import Tensors
import Training

func runCheckpointBenchmark(_ comm: Communicator) {
    guard comm.isRoot else { return }
    let model = RefCLIPTeacher(shape: referenceTeacher, seed: 1)
    let optimizer = Adam(parameterCount: model.params.count, beta1: 0.9, beta2: 0.98, eps: 1e-9)
    let key = RandomKey(seed: 5)
    for i in 0 ..< model.params.count { model.params.grads.data[i] = key.normal(i) * 1e-3 }
    optimizer.update(model.params.values, grads: model.params.grads, lr: 1e-4)  // realistic moments, not zeros
    let average = ModelAverage(params: model.params, buffers: model.buffers, maxDecay: 0.9997)
    average.update(params: model.params, buffers: model.buffers)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refclip-bench-\(getpid())").path
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/bench.refclip"
    let position = TrainingPosition(epoch: 0, stepInEpoch: 1, globalStep: 1, seed: 1, worldSize: 1)
    func state() -> (header: CheckpointHeader, tensors: [CheckpointTensorView]) {
        Checkpoint.state(phase: .teacher, model: .teacher(model.shape), params: model.params, buffers: model.buffers,
                         frozen: model.frozen, optimizer: optimizer, average: average, position: position, config: "", vocabulary: [])
    }
    // The training step's stall: a direct write, against the copy a background write needs (the previous
    // background write has finished by then, as when checkpoints are a few steps apart), interleaved.
    let writer = CheckpointWriter()
    var backgroundWrite = 0.0, stalls: [Double] = []
    let (save, _) = { (times: [Double]) in (times[0], times[1]) }(interleavedMedianSeconds(repeats: 3, [
        { let (header, tensors) = state(); try! Checkpoint.write(path, header: header, tensors: tensors) },
        {
            let (header, tensors) = state()
            try! writer.submit(header: header, tensors: tensors, waitUntilWritten: false) { try Checkpoint.write(path + ".background", header: $0, tensors: $1) }
            stalls.append(writer.lastStall)
            let started = DispatchTime.now().uptimeNanoseconds
            try! writer.wait()
            backgroundWrite = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        },
    ]))
    let stall = stalls.dropFirst().sorted()[stalls.count / 2 - 1]  // the median after the warm-up round, which allocates the copies
    let load = medianSeconds(repeats: 3) { _ = try! Checkpoint.read(path) }
    let (header, _, _) = try! Checkpoint.readHeader(path)
    let megabytes = Double(header.payloadBytes) / 1e6
    reportHeader(String(format: "Checkpoint, reference-size teacher with Adam moments and EMA (%.0f MB of Float32)", megabytes))
    report("save (shuffle, zstd level 1, fsync, rename)", String(format: "%.0f MB/s (%.2f s)", megabytes / save, save),
           "the training step's stall with runtime.async_checkpoints off")
    report("background save: the step's stall (copy of the state)", String(format: "%.3f s", stall),
           String(format: "%.3f × the direct save; the write goes on for %.2f s beside training", stall / save, backgroundWrite))
    report("load (read, verify checksum, unshuffle)", String(format: "%.0f MB/s (%.2f s)", megabytes / load, load))
    report("size on disk", String(format: "%.0f MB", Double(header.compressedBytes) / 1e6),
           String(format: "compression ratio %.3f vs raw Float32", Double(header.payloadBytes) / Double(header.compressedBytes)))
}
