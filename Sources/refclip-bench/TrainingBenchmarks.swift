// TrainingBenchmarks.swift — training throughput of the teacher and the student at the reference
// size (DESIGN.md §3–4: YOLOv3 maps 256@52, 512@26, 1024@13; the teacher ~25 M trainable parameters)
// on random inputs. Under mpirun with 2 ranks, rank 0 first measures alone (1 and 2 BLAS threads)
// while the other rank waits without spinning, then both ranks train together, so the parallel
// efficiency comes from one run.

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

/// Samples per second of `steps` training steps; `makeStep` builds a model on `comm` with `perRank`
/// images per rank and returns a function running step n.
func throughput(_ comm: Communicator, perRank: Int, steps: Int = 3, _ makeStep: (Communicator, Int) -> (Int) -> Void) -> Double {
    let run = makeStep(comm, perRank)
    run(0)
    comm.barrier()
    let start = DispatchTime.now().uptimeNanoseconds
    for n in 1 ... steps { run(n) }
    comm.barrier()
    return Double(steps * perRank * comm.size) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}

/// Teacher steps on random inputs.
func teacherSteps(_ comm: Communicator, perRank: Int) -> (Int) -> Void {
    let step = TeacherStep(model: RefCLIPTeacher(shape: referenceTeacher, seed: 1), settings: OptimizerSettings(), communicator: comm)
    let inputs = randomTeacherInputs(batch: perRank, seed: UInt64(10 + comm.rank))
    let samples = Array(comm.rank * perRank ..< (comm.rank + 1) * perRank)
    return { n in _ = step.step(inputs, .training(step: RandomKey(seed: 2).child(n), samples: samples, communicator: comm), lr: 1e-4) }
}

/// The reference student: one language layer, the shipped configs' coordinate channels.
let referenceStudent: StudentShape = {
    var language = referenceLanguage
    language.layers = 1
    return StudentShape(language: language, fusion: referenceFusion, boxWeight: 5, coordinates: true)
}()

/// Student steps on random inputs and targets.
func studentSteps(_ comm: Communicator, perRank: Int) -> (Int) -> Void {
    let step = StudentStep(model: SimRECStudent(shape: referenceStudent, seed: 1),
                           settings: OptimizerSettings(), communicator: comm)
    let inputs = randomTeacherInputs(batch: perRank, seed: UInt64(10 + comm.rank))
    let targets = (0 ..< perRank).map { i -> [Float] in [Float(20 * i), 40, Float(20 * i + 150), 260] }
    let samples = Array(comm.rank * perRank ..< (comm.rank + 1) * perRank)
    return { n in
        _ = step.step(maps: [inputs.f52, inputs.f26, inputs.f13], tokenIDs: inputs.tokenIDs, targets: targets, inputSize: 416,
                      globalBatch: perRank * comm.size, .training(step: RandomKey(seed: 2).child(n), samples: samples, communicator: comm), lr: 1e-4)
    }
}

/// The three measurements of one model and their table.
func benchmarkTraining(_ comm: Communicator, title: String, parameters: Int, _ makeStep: (Communicator, Int) -> (Int) -> Void) {
    let globalBatch = 8
    var single1 = 0.0, single2 = 0.0
    if comm.isRoot {
        setBLASThreads(1)
        single1 = throughput(SingleProcessCommunicator(), perRank: globalBatch, makeStep)
        setBLASThreads(2)
        single2 = throughput(SingleProcessCommunicator(), perRank: globalBatch, makeStep)
    }
    // The other ranks wait without spinning, so rank 0 has the machine to itself.
    if let mpi = comm as? MPICommunicator { mpi.sleepingBarrier() } else { comm.barrier() }
    setBLASThreads(1)
    let parallel = comm.size > 1 ? throughput(comm, perRank: globalBatch / comm.size, makeStep) : 0
    guard comm.isRoot else { return }
    reportHeader(String(format: "%@ training, reference size (%.1f M trainable parameters), global batch %d", title, Double(parameters) / 1e6, globalBatch))
    report("1 rank, 1 BLAS thread", String(format: "%.2f samples/s", single1))
    report("1 rank, 2 BLAS threads", String(format: "%.2f samples/s", single2), String(format: "%.2f × 1 thread", single2 / single1))
    if comm.size > 1 {
        report("\(comm.size) ranks × 1 BLAS thread (mpirun)", String(format: "%.2f samples/s", parallel),
               String(format: "parallel efficiency %.0f%% vs 1 rank × 1 thread", 100 * parallel / (Double(comm.size) * single1)))
    }
}

func runTeacherBenchmark(_ comm: Communicator) {
    benchmarkTraining(comm, title: "Teacher", parameters: RefCLIPTeacher(shape: referenceTeacher, seed: 1).params.count, teacherSteps)
}

func runStudentBenchmark(_ comm: Communicator) {
    let parameters = SimRECStudent(shape: referenceStudent, seed: 1).params.count
    benchmarkTraining(comm, title: "Student", parameters: parameters, studentSteps)
}
