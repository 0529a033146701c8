// TrainingBenchmarks.swift — training throughput of the teacher and the student at the reference
// size (DESIGN.md §3–4: YOLOv3 maps 256@52, 512@26, 1024@13; the teacher ~25 M trainable parameters)
// on random inputs, at global batch 8 and the paper's 64. Under mpirun, rank 0 first measures alone
// (1 and 2 BLAS threads, at the global and at the per-rank batch) while the other ranks wait without
// spinning, then all ranks train together, so strong and weak scaling come from one run.

import Distributed
import Foundation
import Layers
import Models
import Tensors
import Training

let referenceLanguage = LanguageShape(vocabularySize: 10000, wordDimension: 300, hidden: 512, heads: 8, feedForward: 2048, layers: 3,
                                      maxTokens: 15, dropout: 0.1)
let referenceFusion = FusionShape(channels52: 256, channels26: 512, channels13: 1024, hidden: 1024)
let referenceTeacher = TeacherShape(language: referenceLanguage, fusion: referenceFusion, selectedCells: 17)

/// Random detector outputs and token ids for `batch` images at input size 416.
func randomTeacherInputs(batch: Int, seed: UInt64) -> TeacherInputs {
    let key = RandomKey(seed: seed)
    func map(_ c: Int, _ g: Int, _ k: Int) -> Tensor {
        let t = Tensor([batch, c, g, g])
        for i in 0 ..< t.count { t.data[i] = key.child(k).normal(i) }
        return t
    }
    let boxes = Tensor([batch, 169, 4, 5])
    for i in 0 ..< boxes.count { boxes.data[i] = (i % 5 == 4 ? 1 : 416) * key.child(9).uniform(i) }
    let ids = (0 ..< batch * 15).map { i in i % 15 < 8 ? 3 + key.child(7).index(i, below: 9990) : 0 }
    return TeacherInputs(f52: map(256, 52, 1), f26: map(512, 26, 2), f13: map(1024, 13, 3), anchorBoxes: boxes, tokenIDs: ids)
}

/// Builds a model on a communicator with a per-rank batch and gradient sync, and returns a function
/// running step n that gives back the reducer that summed its gradient.
typealias StepMaker = (Communicator, Int, GradientSyncSettings) -> (Int) -> GradientReducer

/// Samples per second over `steps` training steps after one warm-up step, with the default gradient sync.
func throughput(_ comm: Communicator, perRank: Int, steps: Int, _ makeStep: StepMaker) -> Double {
    let run = makeStep(comm, perRank, GradientSyncSettings())
    _ = run(0)
    comm.barrier()
    let start = DispatchTime.now().uptimeNanoseconds
    for n in 1 ... steps { _ = run(n) }
    comm.barrier()
    return Double(steps * perRank * comm.size) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}

/// Teacher steps on random inputs.
func teacherSteps(_ comm: Communicator, perRank: Int, sync: GradientSyncSettings) -> (Int) -> GradientReducer {
    let step = TeacherStep(model: RefCLIPTeacher(shape: referenceTeacher, seed: 1), settings: OptimizerSettings(), communicator: comm, sync: sync)
    let inputs = randomTeacherInputs(batch: perRank, seed: UInt64(10 + comm.rank))
    let samples = Array(comm.rank * perRank ..< (comm.rank + 1) * perRank)
    return { n in
        _ = step.step(inputs, .training(step: RandomKey(seed: 2).child(n), samples: samples, communicator: comm), lr: 1e-4)
        return step.reducer
    }
}

/// The reference student: one language layer, the shipped configs' coordinate channels.
let referenceStudent: StudentShape = {
    var language = referenceLanguage
    language.layers = 1
    return StudentShape(language: language, fusion: referenceFusion, boxWeight: 5, coordinates: true)
}()

/// Student steps on random inputs and targets.
func studentSteps(_ comm: Communicator, perRank: Int, sync: GradientSyncSettings) -> (Int) -> GradientReducer {
    let step = StudentStep(model: SimRECStudent(shape: referenceStudent, seed: 1), settings: OptimizerSettings(), communicator: comm, sync: sync)
    let inputs = randomTeacherInputs(batch: perRank, seed: UInt64(10 + comm.rank))
    let targets = (0 ..< perRank).map { i -> [Float] in [Float(20 * i), 40, Float(20 * i + 150), 260] }
    let samples = Array(comm.rank * perRank ..< (comm.rank + 1) * perRank)
    return { n in
        _ = step.step(maps: [inputs.f52, inputs.f26, inputs.f13], tokenIDs: inputs.tokenIDs, targets: targets, inputSize: 416,
                      globalBatch: perRank * comm.size, .training(step: RandomKey(seed: 2).child(n), samples: samples, communicator: comm), lr: 1e-4)
        return step.reducer
    }
}

/// Timed steps per measurement: at least 24 samples per rank, and never fewer than 2 steps.
func timedSteps(perRank: Int) -> Int { max(2, 24 / perRank) }

/// One model's table at one global batch B on the W ranks of `comm`. Rank 0 alone: 1 BLAS thread at
/// B and at B/W, 2 threads at B; then all ranks with 1 thread each at B (B/W per rank). Strong scaling
/// (same global batch) compares the W ranks with W × (1 rank at B); weak scaling (same per-rank batch)
/// with W × (1 rank at B/W). A smaller per-rank batch can run faster per sample, which lifts strong
/// scaling above 100%: the table says so when the measurement at B/W shows it, and calls anything
/// else above 100% noise.
func benchmarkTraining(_ comm: Communicator, title: String, parameters: Int, globalBatch: Int, _ makeStep: StepMaker) {
    let ranks = comm.size, perRank = globalBatch / ranks
    var single = 0.0, singleTwoThreads = 0.0, singlePerRank = 0.0
    var singleRSS: Int?, singleTwoThreadsRSS: Int?, singlePerRankRSS: Int?
    if comm.isRoot {
        let alone = SingleProcessCommunicator()
        func measure(perRank: Int) -> (Double, Int?) {
            withPeakResident(alone) { throughput(alone, perRank: perRank, steps: timedSteps(perRank: perRank), makeStep) }
        }
        setBLASThreads(1)
        (single, singleRSS) = measure(perRank: globalBatch)
        if ranks > 1 { (singlePerRank, singlePerRankRSS) = measure(perRank: perRank) }
        setBLASThreads(2)
        (singleTwoThreads, singleTwoThreadsRSS) = measure(perRank: globalBatch)
    }
    // The other ranks wait without spinning, so rank 0 has the machine to itself.
    if let mpi = comm as? MPICommunicator { mpi.sleepingBarrier() } else { comm.barrier() }
    setBLASThreads(1)
    let (parallel, parallelRSS) = ranks > 1
        ? withPeakResident(comm) { throughput(comm, perRank: perRank, steps: timedSteps(perRank: perRank), makeStep) } : (0, nil)
    guard comm.isRoot else { return }
    reportHeader(String(format: "%@ training, reference size (%.1f M trainable parameters), global batch %d", title, Double(parameters) / 1e6, globalBatch),
                 threads: "threads as each row says")
    func rate(_ value: Double) -> String { String(format: "%.2f samples/s", value) }
    report("1 rank × 1 BLAS thread", rate(single), residentText(singleRSS))
    report("1 rank × 2 BLAS threads", rate(singleTwoThreads),
           String(format: "%.2f × 1 thread; ", singleTwoThreads / single) + residentText(singleTwoThreadsRSS))
    guard ranks > 1 else { return }
    report("1 rank × 1 BLAS thread, batch \(perRank)", rate(singlePerRank),
           String(format: "%.2f × the per-sample rate at batch %d; ", singlePerRank / single, globalBatch) + residentText(singlePerRankRSS))
    let strong = parallel / (Double(ranks) * single), weak = parallel / (Double(ranks) * singlePerRank)
    var note = String(format: "strong scaling %.0f%%, weak scaling %.0f%%", 100 * strong, 100 * weak)
    if strong > 1, weak <= 1 {
        note += String(format: " (strong above 100%% because a batch of %d runs %.2f × faster per sample than %d, measured above)",
                       perRank, singlePerRank / single, globalBatch)
    } else if strong > 1 || weak > 1 {
        note += " (above 100% without a measured cause: run-to-run noise)"
    }
    report("\(ranks) ranks × 1 BLAS thread, batch \(perRank) per rank (mpirun)", rate(parallel), note + "; " + residentText(parallelRSS) + " (largest rank)")
}

/// The paper's global batch (64) and a small one (8).
let benchmarkBatches = [8, 64]

func runTeacherBenchmark(_ comm: Communicator) {
    let parameters = RefCLIPTeacher(shape: referenceTeacher, seed: 1).params.count
    for batch in benchmarkBatches { benchmarkTraining(comm, title: "Teacher", parameters: parameters, globalBatch: batch, teacherSteps) }
}

func runStudentBenchmark(_ comm: Communicator) {
    let parameters = SimRECStudent(shape: referenceStudent, seed: 1).params.count
    for batch in benchmarkBatches { benchmarkTraining(comm, title: "Student", parameters: parameters, globalBatch: batch, studentSteps) }
}

/// One JSON line for `make bench-peer`: teacher training samples/s at `globalBatch` on the ranks of
/// `comm` with the BLAS threads the environment set, the BLAS it ran on, and the largest rank's peak
/// resident set while it trained.
func runTeacherStepThroughput(_ comm: Communicator, globalBatch: Int) {
    guard globalBatch % comm.size == 0 else {
        if comm.isRoot { FileHandle.standardError.write(Data("refclip-bench: --batch \(globalBatch) is not divisible by \(comm.size) ranks\n".utf8)) }
        return
    }
    let perRank = globalBatch / comm.size
    let (rate, resident) = withPeakResident(comm) { throughput(comm, perRank: perRank, steps: timedSteps(perRank: globalBatch), teacherSteps) }
    guard comm.isRoot else { return }
    let blas = BLASRuntime.current()
    var record: [String: Any] = ["system": "refclip", "ranks": comm.size, "threads": blas.threads, "batch": globalBatch, "samples_per_s": rate,
                                 "parameters": RefCLIPTeacher(shape: referenceTeacher, seed: 1).params.count,
                                 "blas": "\(blas.library), kernel \(blas.kernel) (\(blas.kernelOrigin)); CPU \(blas.cpu)"]
    if let resident { record["peak_rss_bytes"] = resident }
    if let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) { print(String(decoding: data, as: UTF8.self)) }
}
