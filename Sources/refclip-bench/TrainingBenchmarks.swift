// TeacherBenchmark.swift — teacher training throughput at the reference size (DESIGN.md §3: ~25 M
// trainable parameters, YOLOv3 maps 256@52, 512@26, 1024@13, 3 self-attention layers) on random
// inputs. Run under mpirun with 2 ranks: rank 0 first measures alone (1 and 2 BLAS threads) while
// rank 1 waits, then both ranks train together, so the parallel efficiency comes from one run.

import Distributed
import Foundation
import Layers
import Models
import Tensors
import Training

let referenceTeacher = TeacherShape(
    language: LanguageShape(vocabularySize: 10000, wordDimension: 300, hidden: 512, heads: 8, feedForward: 2048, layers: 3,
                            maxTokens: 15, dropout: 0.1),
    fusion: FusionShape(channels52: 256, channels26: 512, channels13: 1024, hidden: 1024),
    selectedCells: 17)

/// Random teacher inputs for `batch` images.
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

/// Samples per second of teacher steps on `comm` with `perRank` images per rank.
func teacherThroughput(_ comm: Communicator, perRank: Int, steps: Int = 3) -> Double {
    let model = RefCLIPTeacher(shape: referenceTeacher, seed: 1)
    let step = TeacherStep(model: model, settings: OptimizerSettings(), communicator: comm)
    let inputs = randomTeacherInputs(batch: perRank, seed: UInt64(10 + comm.rank))
    let samples = Array(comm.rank * perRank ..< (comm.rank + 1) * perRank)
    func run(_ n: Int) {
        let context = ForwardContext.training(step: RandomKey(seed: 2).child(n), samples: samples, communicator: comm)
        _ = step.step(inputs, context, lr: 1e-4)
    }
    run(0)
    comm.barrier()
    let start = DispatchTime.now().uptimeNanoseconds
    for n in 1 ... steps { run(n) }
    comm.barrier()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return Double(steps * perRank * comm.size) / seconds
}

func runTeacherBenchmark(_ comm: Communicator) {
    let globalBatch = 8
    var single1 = 0.0, single2 = 0.0
    if comm.isRoot {
        setBLASThreads(1)
        single1 = teacherThroughput(SingleProcessCommunicator(), perRank: globalBatch)
        setBLASThreads(2)
        single2 = teacherThroughput(SingleProcessCommunicator(), perRank: globalBatch)
    }
    // The other ranks wait without spinning, so rank 0 has the machine to itself.
    if let mpi = comm as? MPICommunicator { mpi.sleepingBarrier() } else { comm.barrier() }
    setBLASThreads(1)
    let parallel = comm.size > 1 ? teacherThroughput(comm, perRank: globalBatch / comm.size) : 0
    if comm.isRoot {
        let params = RefCLIPTeacher(shape: referenceTeacher, seed: 1).params.count
        reportHeader(String(format: "Teacher training, reference size (%.1f M trainable parameters), global batch %d", Double(params) / 1e6, globalBatch))
        report("1 rank, 1 BLAS thread", String(format: "%.2f samples/s", single1))
        report("1 rank, 2 BLAS threads", String(format: "%.2f samples/s", single2), String(format: "%.2f × 1 thread", single2 / single1))
        if comm.size > 1 {
            report("\(comm.size) ranks × 1 BLAS thread (mpirun)", String(format: "%.2f samples/s", parallel),
                   String(format: "parallel efficiency %.0f%% vs 1 rank × 1 thread", 100 * parallel / (Double(comm.size) * single1)))
        }
    }
}
