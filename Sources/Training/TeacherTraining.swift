// TeacherTraining.swift — a whole teacher run on one rank of any world size: rank 0 prepares and
// broadcasts the data tables; every rank reads its own images' features one batch ahead, steps,
// and evaluates its slice of each evaluation split on the EMA weights (which rank 0 keeps and
// broadcasts for evaluation); rank 0 logs, checkpoints and tracks the best model on validation.

import Datasets
import Distributed
import Evaluation
import Foundation
import Layers
import Models
import Tensors

/// Trains the RefCLIP teacher as configured.
public final class TeacherTraining {
    public let settings: TeacherSettings
    private let comm: Communicator
    private let output: (String) -> Void

    /// `output` receives rank 0's progress lines and tables.
    public init(config: RunConfig, communicator: Communicator, output: @escaping (String) -> Void = { print($0) }) throws {
        settings = try TeacherSettings(config)
        comm = communicator
        self.output = { line in if communicator.isRoot { output(line) } }
    }

    /// Runs the schedule; returns the final reports of the evaluation splits (EMA weights), on rank 0.
    @discardableResult
    public func run() throws -> [SplitReport] {
        let config = settings.config
        let runDirectory = settings.runDirectory
        if comm.isRoot {
            try FileManager.default.createDirectory(atPath: runDirectory + "/checkpoints", withIntermediateDirectories: true)
            try writeFileAtomically(runDirectory + "/config.yaml", bytes: Array(config.yaml().utf8))
        }
        output("refclip \(refclipVersion) — teacher run '\(settings.name)' on \(comm.size) rank\(comm.size == 1 ? "" : "s")\n\(config.table())\n")

        let store = try FeatureStore.shared(directory: config.string("data.features"), communicator: comm)
        let view = config.int("data.view")
        _ = try store.viewIndex(view)
        let data = try GroundingData.shared(comm) {
            try GroundingData.prepare(annotations: config.string("data.annotations"), wordVectors: config.string("data.word_vectors"),
                                      store: store, maxTokens: config.int("data.max_tokens"))
        }
        let train = try data.items("train")
        let evalSplits = config.strings("train.eval_splits")
        for split in evalSplits { _ = try data.items(split) }
        if !data.missingWords.isEmpty { output("note: \(data.missingWords.count) of \(data.vocabulary.count - 3) words have no vector (zeros): \(data.missingWords.prefix(10).joined(separator: ", "))") }

        let shape = settings.teacherShape(vocabularySize: data.vocabulary.count, wordDimension: data.wordDimension, channels: store.manifest.layout.channels)
        let model = RefCLIPTeacher(shape: shape, seed: settings.seed)
        model.frozen.set(all: data.wordVectors)
        comm.broadcast(UnsafeMutableRawBufferPointer(model.params.values.mutableBuffer), root: 0)
        output(String(format: "teacher: %.2f M trainable parameters, %d train objects, vocabulary %d", Double(model.params.count) / 1e6, train.count, data.vocabulary.count))

        let step = TeacherStep(model: model, settings: settings.optimizer, communicator: comm)
        let average = comm.isRoot ? ModelAverage(params: model.params, buffers: model.buffers, maxDecay: config.float("train.ema_decay")) : nil
        let plan = try ShardPlan(itemCount: train.count, globalBatch: config.int("train.batch"), worldSize: comm.size, rank: comm.rank, seed: settings.seed)
        let epochs = config.int("train.epochs")
        let scheduled = epochs * plan.stepsPerEpoch
        let totalSteps = config.int("train.max_steps") > 0 ? min(config.int("train.max_steps"), scheduled) : scheduled
        let schedule = LearningRateSchedule(base: config.double("train.lr"), warmupStart: config.double("train.warmup_lr"), final: config.double("train.min_lr"),
                                            warmupSteps: Int(config.double("train.warmup_epochs") * Double(plan.stepsPerEpoch)), totalSteps: scheduled)
        let log = try MetricsLog(path: comm.isRoot ? runDirectory + "/metrics.jsonl" : nil)
        var position = TrainingPosition(epoch: 0, stepInEpoch: 0, globalStep: 0, seed: settings.seed, worldSize: comm.size)

        let loader = TeacherBatchLoader(store: store, items: train, plan: plan, view: view, seed: settings.seed)
        func loadBatch(epoch: Int, step s: Int, globalStep: Int, permutation: [Int]) -> () throws -> TeacherInputs {
            { try loader.load(epoch: epoch, step: s, globalStep: globalStep, permutation: permutation) }
        }

        var reports: [SplitReport] = []
        func evaluate() throws {
            reports = try withAverageWeights(model, average) {
                try evalSplits.map { split in
                    try evaluateTeacher(model, split: split, items: try data.items(split), store: store, view: view,
                                        batch: config.int("train.eval_batch"), communicator: comm).report
                }
            }
            output(reportTable(reports, model: "EMA") + "\n")
            for r in reports {
                log.record(["event": "eval", "epoch": position.epoch, "step": position.globalStep, "split": r.split, "accuracy": r.overall.accuracy,
                            "pointing": r.overall.pointingAccuracy, "random_anchor": r.overall.randomAnchorAccuracy,
                            "top_objectness": r.overall.objectnessAccuracy, "count": r.overall.count])
            }
            if let val = reports.first, val.overall.accuracy > position.bestAccuracy {
                position.bestAccuracy = val.overall.accuracy
                position.bestStep = position.globalStep
                if comm.isRoot {
                    try Checkpoint.writeTeacher(runDirectory + "/best.refclip", model: model, optimizer: step.optimizer, average: average,
                                                position: position, config: config.yaml(), vocabulary: data.vocabulary.words)
                }
            }
        }
        func checkpoint() throws {
            guard comm.isRoot else { return }
            let path = runDirectory + String(format: "/checkpoints/step-%08d.refclip", position.globalStep)
            try Checkpoint.writeTeacher(path, model: model, optimizer: step.optimizer, average: average, position: position,
                                        config: config.yaml(), vocabulary: data.vocabulary.words)
            try pruneCheckpoints(runDirectory + "/checkpoints", keep: config.int("train.keep_checkpoints"))
        }

        let prefetcher = Prefetcher<TeacherInputs>()
        let started = Date()
        var skipped = 0
        var stepTimes: [Double] = []
        training: for epoch in position.epoch ..< epochs {
            position.epoch = epoch
            let permutation = plan.permutation(epoch: epoch)
            if position.stepInEpoch < plan.stepsPerEpoch, position.globalStep < totalSteps {
                prefetcher.start(loadBatch(epoch: epoch, step: position.stepInEpoch, globalStep: position.globalStep, permutation: permutation))
            }
            while position.stepInEpoch < plan.stepsPerEpoch {
                guard position.globalStep < totalSteps else { break training }
                let t0 = Date()
                let inputs = try prefetcher.take()
                if position.stepInEpoch + 1 < plan.stepsPerEpoch, position.globalStep + 1 < totalSteps {
                    prefetcher.start(loadBatch(epoch: epoch, step: position.stepInEpoch + 1, globalStep: position.globalStep + 1, permutation: permutation))
                }
                let lr = schedule.rate(at: position.globalStep)
                let context = ForwardContext.training(step: RandomKey(seed: settings.seed).child("step").child(position.globalStep),
                                                      samples: Array(plan.localRows), communicator: comm)
                let result = step.step(inputs, context, lr: Float(lr))
                if result.skipped {
                    skipped += 1
                    output("step \(position.globalStep + 1): non-finite gradient (norm \(result.gradNorm)); update skipped")
                    if skipped > config.int("train.max_skipped_steps") {
                        throw InputError(location: "train.max_skipped_steps", "\(skipped) consecutive steps had non-finite gradients; stopping",
                                         hint: "lower train.lr or check the inputs")
                    }
                } else {
                    skipped = 0
                    average?.update(params: model.params, buffers: model.buffers)
                }
                position.stepInEpoch += 1
                position.globalStep += 1
                stepTimes.append(Date().timeIntervalSince(t0))
                if position.globalStep % config.int("train.log_every") == 0 || position.globalStep == totalSteps {
                    let recent = stepTimes.suffix(20)
                    let perStep = recent.reduce(0, +) / Double(recent.count)
                    let rate = Double(plan.globalBatch) / perStep
                    let eta = Double(totalSteps - position.globalStep) * perStep
                    output(String(format: "epoch %d/%d  step %d/%d  loss %.4f  lr %.2e  grad %.3f  text-cos %.2f  %.1f samples/s  ETA %@",
                                  epoch + 1, epochs, position.globalStep, totalSteps, result.loss, lr, result.gradNorm, result.textCosine, rate, formatDuration(eta)))
                    log.record(["event": "step", "epoch": epoch, "step": position.globalStep, "total": totalSteps, "loss": result.loss, "lr": lr,
                                "grad_norm": result.gradNorm, "text_cosine": result.textCosine, "samples_per_s": rate, "eta_s": eta])
                }
                if config.int("train.eval_every") > 0, position.globalStep % config.int("train.eval_every") == 0 { try evaluate() }
            }
            position.stepInEpoch = 0
            position.epoch = epoch + 1
            if config.int("train.eval_every") == 0 { try evaluate() }
            try checkpoint()
        }
        if position.stepInEpoch != 0 {  // stopped by max_steps inside an epoch
            try evaluate()
            try checkpoint()
        }
        output("done: \(position.globalStep) steps in \(formatDuration(Date().timeIntervalSince(started))); best val accuracy \(String(format: "%.2f", position.bestAccuracy)) at step \(position.bestStep)")
        if comm.isRoot {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try writeFileAtomically(runDirectory + "/eval.json", bytes: [UInt8](try encoder.encode(reports)))
        }
        return reports
    }

    /// Runs `body` with the model holding rank 0's EMA weights on every rank, then restores the raw ones.
    private func withAverageWeights<R>(_ model: RefCLIPTeacher, _ average: ModelAverage?, _ body: () throws -> R) rethrows -> R {
        let raw = (model.params.values.array, model.buffers.values.array)
        if let average {
            model.params.values.data.update(from: average.params.values.data, count: model.params.count)
            model.buffers.values.data.update(from: average.buffers.values.data, count: model.buffers.count)
        }
        comm.broadcast(UnsafeMutableRawBufferPointer(model.params.values.mutableBuffer), root: 0)
        comm.broadcast(UnsafeMutableRawBufferPointer(model.buffers.values.mutableBuffer), root: 0)
        defer {
            model.params.set(all: raw.0)
            model.buffers.set(all: raw.1)
        }
        return try body()
    }
}

/// Deletes all but the newest `keep` checkpoints of a directory (names sort by step).
func pruneCheckpoints(_ directory: String, keep: Int) throws {
    let names = (try FileManager.default.contentsOfDirectory(atPath: directory)).filter { $0.hasPrefix("step-") && $0.hasSuffix(".refclip") }.sorted()
    for name in names.dropLast(max(keep, 1)) { try FileManager.default.removeItem(atPath: directory + "/" + name) }
}
