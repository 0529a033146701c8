// MemoryBenchmark.swift — where the teacher's memory goes at the reference size, layer by layer: the
// tensor bytes each layer of the first forward keeps for backward (activations and saved inputs;
// workspaces such as im2col columns are released after use and do not count), what backward holds at
// its peak beyond them (gradients in flight), the model's parameters, gradients and statistics, Adam's
// moments, the inputs, the storage kept for reuse; then the process's peak resident set. The first
// step allocates; the second shows the steady state, whose peak is what a training run needs.

import Distributed
import Foundation
import Layers
import Models
import Tensors
import Training

func runMemoryBenchmark(_ comm: Communicator, globalBatch: Int) {
    guard globalBatch % comm.size == 0 else {
        if comm.isRoot { FileHandle.standardError.write(Data("refclip-bench: --batch \(globalBatch) is not divisible by \(comm.size) ranks\n".utf8)) }
        return
    }
    let perRank = globalBatch / comm.size
    var rows: [(String, Int)] = []
    var last = TensorMemory.liveBytes
    func account(_ what: String) {
        let now = TensorMemory.liveBytes
        rows.append((what, now - last))
        last = now
    }
    let model = RefCLIPTeacher(shape: referenceTeacher, seed: 1)
    account("model: parameters, their gradients, BatchNorm statistics, frozen word vectors")
    let step = TeacherStep(model: model, settings: OptimizerSettings(), communicator: comm)
    account("optimizer: Adam's two moments; the gradient reducer")
    let inputs = randomTeacherInputs(batch: perRank, seed: UInt64(10 + comm.rank))
    account("inputs: detector maps f52, f26, f13 and anchor boxes")
    let samples = Array(comm.rank * perRank ..< (comm.rank + 1) * perRank)

    // First step: what each layer keeps, from the marks its forward leaves.
    let trace = MemoryTrace()
    var context = ForwardContext.training(step: RandomKey(seed: 2), samples: samples, communicator: comm)
    context.memoryTrace = trace
    step.beforeBackward = { trace.mark("loss") }
    TensorMemory.resetPeak()
    _ = step.step(inputs, context, lr: 1e-4)
    for mark in trace.marks {
        rows.append(("forward keeps: \(mark.label)", mark.liveBytes - last))
        last = mark.liveBytes
    }
    let afterForward = last
    let firstPeak = TensorMemory.peakBytes

    // Second step: the steady state.
    step.beforeBackward = nil
    let steadyStart = TensorMemory.liveBytes
    TensorMemory.resetPeak()
    _ = step.step(inputs, .training(step: RandomKey(seed: 3), samples: samples, communicator: comm), lr: 1e-4)
    let steadyPeak = TensorMemory.peakBytes, pooled = TensorMemory.pooledBytes
    let resident = TensorMemory.residentBytes()
    let rankPeak = comm.allReduce(resident?.peak ?? 0, .max)
    guard comm.isRoot else { return }

    reportHeader("Teacher memory at the reference size, global batch \(globalBatch) (\(perRank) per rank × \(comm.size) rank\(comm.size == 1 ? "" : "s"))")
    func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
    func perSample(_ bytes: Int) -> String { String(format: "%.2f MB per sample", Double(bytes) / 1e6 / Double(perRank)) }
    for (what, bytes) in rows where bytes != 0 { report(what, megabytes(bytes), what.hasPrefix("forward") ? perSample(bytes) : "") }
    report("forward keeps, all layers", megabytes(afterForward - rows.prefix(3).reduce(0) { $0 + $1.1 }), "")
    report("backward's peak beyond the forward (gradients in flight)", megabytes(firstPeak - afterForward), "first step")
    report("tensor peak, first step", megabytes(firstPeak), "")
    report("tensor peak, steady step", megabytes(steadyPeak), String(format: "live at its start %.1f MB, released storage kept %.1f MB",
                                                                              Double(steadyStart) / 1e6, Double(pooled) / 1e6))
    report("process peak resident set (VmHWM)", resident.map { _ in megabytes(rankPeak) } ?? "not reported", comm.size > 1 ? "largest rank" : "")
}
