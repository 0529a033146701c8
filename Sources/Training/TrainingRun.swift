// TrainingRun.swift — a whole training run of any phase on one rank of any world size: rank 0
// prepares and broadcasts the data tables; every rank reads its own rows one batch ahead and steps;
// every rank evaluates its slice of each evaluation split on the EMA weights (which rank 0 keeps and
// broadcasts for evaluation); rank 0 logs, checkpoints and tracks the best model on validation.
// A run resumes from a checkpoint exactly: data order, expression choice, input sizes and dropout are
// functions of (seed, epoch, step), and the checkpoint holds everything else the next update needs.

import Configuration
import Datasets
import Distributed
import Evaluation
import Foundation
import Layers
import Models
import Tensors

/// Trains one phase (teacher or student) as configured.
public final class TrainingRun<Phase: TrainingPhase> {
    public let config: TrainingConfiguration
    /// The resolved configuration as YAML, for the run directory and every checkpoint.
    private let yaml: String
    private let comm: Communicator
    private let output: (String) -> Void
    private let progress: (String) -> Void
    private let makePhase: (PhaseContext) throws -> Phase

    /// `output` receives rank 0's messages and tables; `progress` its per-step progress lines (by
    /// default `output`: a terminal may instead redraw one line in place).
    public init(config: TrainingConfiguration, communicator: Communicator, output: @escaping (String) -> Void = { print($0) },
                progress: ((String) -> Void)? = nil, makePhase: @escaping (PhaseContext) throws -> Phase) throws {
        self.config = config
        yaml = try config.yaml()
        comm = communicator
        self.output = { line in if communicator.isRoot { output(line) } }
        let progress = progress ?? output
        self.progress = { line in if communicator.isRoot { progress(line) } }
        self.makePhase = makePhase
    }

    /// Everything a run works with.
    private struct Session {
        let context: PhaseContext
        let phase: Phase
        let average: ModelAverage?
        let schedule: LearningRateSchedule
        let totalSteps: Int
        let checkpoints: CheckpointDirectory
        /// Rank 0's checkpoints, written while training goes on (`runtime.async_checkpoints`).
        let writer = CheckpointWriter()
        var position: TrainingPosition
        var plan: ShardPlan { context.plan }
    }

    /// Runs the schedule, from the start or from `resume` ("latest", a checkpoint path, or "auto": the
    /// latest checkpoint when the run has one, else the start — for jobs that are requeued); returns the
    /// final reports of the evaluation splits (EMA weights) on rank 0. Throws `TrainingInterrupted`
    /// after checkpointing when a stop signal arrives.
    @discardableResult
    public func run(resume: String? = nil) throws -> [SplitReport] {
        if comm.isRoot {
            try FileManager.default.createDirectory(atPath: config.runDirectory + "/checkpoints", withIntermediateDirectories: true)
            try writeFileAtomically(config.runDirectory + "/config.yaml", bytes: Array(yaml.utf8))
            for name in CheckpointDirectory(run: config.runDirectory).removeUnfinishedWrites() {
                output("removed \(name): a checkpoint write that never finished (the process was killed while writing)")
            }
        }
        let blas = try JobBLAS.gather(comm)
        output("refclip \(refclipVersion) — \(Phase.phase) run '\(config.name)' on \(comm.size) rank\(comm.size == 1 ? "" : "s")\n"
               + config.table(extra: blas.tableRows) + "\n")
        var session = try prepare()
        var resume = resume
        if resume == "auto" {
            let checkpoints = session.checkpoints
            let found = try comm.fromRoot { [try checkpoints.entries().isEmpty ? 0 : 1] }
            resume = found == [1] ? "latest" : nil
            if resume == nil { output("no checkpoint of this run yet: starting from the beginning") }
        }
        if let resume { try restore(&session, from: resume) } else { try refuseToOverwrite(session.checkpoints) }
        let lastLogged = comm.isRoot ? try truncateMetrics(after: session.position.globalStep) : 0
        let log = try MetricsLog(path: comm.isRoot ? config.runDirectory + "/metrics.jsonl" : nil)
        let sources = session.context.sources.map(\.name)
        try log.record(.start(StartRecord(step: session.position.globalStep, phase: Phase.phase, version: refclipVersion, ranks: comm.size,
                                          blas: blas.groups, sources: sources.count > 1 ? sources : nil)))
        if let restart = elasticRestart(resumedAt: session.position.globalStep, lastLogged: lastLogged) {
            output("restart \(restart.attempt) after \(restart.failure): hosts \(restart.hostsBefore.joined(separator: ", ")) → "
                   + "\(restart.hostsAfter.joined(separator: ", ")); resuming at step \(restart.step), \(restart.stepsRedone) step(s) done again")
            try log.record(.restart(restart))
        }
        return try train(&session, log: log)
    }

    // MARK: setup

    private func prepare() throws -> Session {
        let initialPath = config.train.initFrom
        let initial = initialPath.isEmpty ? nil : try Checkpoint.read(initialPath)
        if let initial, initial.header.phase != Phase.phase {
            throw InputError(file: initialPath, "holds a \(initial.header.phase) model; train.init_from needs a \(Phase.phase)")
        }
        var vocabulary = initial.map { Vocabulary(words: $0.header.vocabulary) }
        if vocabulary == nil, !config.mix.isEmpty {
            let annotations = [config.data.annotations] + config.mix.map(\.annotations)
            vocabulary = Vocabulary(words: try JSONDecoder().decode([String].self, from: Data(comm.fromRoot {
                [UInt8](try JSONEncoder().encode(try Vocabulary(merging: annotations.map { try Annotations.load($0).vocabulary }).words))
            })))
        }
        let opened = try RunData.open(config.data, communicator: comm, vocabulary: vocabulary)
        let (store, data) = (opened.store, opened.grounding)
        let train = try data.items("train")
        for split in config.train.evalSplits { _ = try data.items(split) }
        var sources = [TrainingSource(name: config.data.annotations, store: store, items: train)]
        for mix in config.mix {
            var mixData = config.data
            (mixData.annotations, mixData.features) = (mix.annotations, mix.features)
            let extra = try RunData.open(mixData, communicator: comm, vocabulary: data.vocabulary)
            sources.append(TrainingSource(name: mix.annotations, store: extra.store, items: try extra.grounding.items("train")))
            output("mixing \(mix.annotations) (weight \(mix.weight)): \(sources.last!.items.count) training items")
        }
        if data.skippedEntries > 0 {
            output("note: \(data.skippedEntries) annotation entries skipped: the feature store could not read their images (see its unavailableImages)")
        }
        if !data.missingWords.isEmpty {
            output("note: \(data.missingWords.count) of \(data.vocabulary.count - 3) words have no vector (zeros): \(data.missingWords.prefix(10).joined(separator: ", "))")
        }
        let plan = try ShardPlan(itemCount: train.count, globalBatch: config.train.batch, worldSize: comm.size, rank: comm.rank, seed: config.seed,
                                 extras: zip(sources.dropFirst(), config.mix).map { ($0.items.count, $1.weight) })
        let context = PhaseContext(store: store, data: data, sources: sources, plan: plan, communicator: comm, seed: config.seed)
        let phase = try makePhase(context)
        if let initial {
            try checkLayout(initial, path: initialPath, phase: phase,
                            hint: "set the model.* keys as the checkpoint has them (refclip inspect \(initialPath) shows its config)")
            try initial.restore(params: phase.params, buffers: phase.buffers, frozen: phase.frozen, average: true, path: initialPath)
            output("starting from the weights of \(initialPath) (step \(initial.header.position.globalStep))")
        }
        phase.frozen.set(all: data.wordVectors)
        comm.broadcast(UnsafeMutableRawBufferPointer(phase.params.values.mutableBuffer), root: 0)
        output(String(format: "%@: %.2f M trainable parameters, %d training items, vocabulary %d", Phase.phase.rawValue, Double(phase.params.count) / 1e6,
                      train.count, data.vocabulary.count))
        let recipe = config.train
        let scheduled = recipe.epochs * plan.stepsPerEpoch
        let maxSteps = recipe.maxSteps
        return Session(
            context: context, phase: phase,
            average: ModelAverage.onRoot(params: phase.params, buffers: phase.buffers, maxDecay: Float(recipe.emaDecay), communicator: comm),
            schedule: LearningRateSchedule(base: recipe.lr, warmupStart: recipe.warmupLR, final: recipe.minLR,
                                           warmupSteps: Int(recipe.warmupEpochs * Double(plan.stepsPerEpoch)), totalSteps: scheduled),
            totalSteps: maxSteps > 0 ? min(maxSteps, scheduled) : scheduled,
            checkpoints: CheckpointDirectory(run: config.runDirectory),
            position: TrainingPosition(epoch: 0, stepInEpoch: 0, globalStep: 0, seed: config.seed, worldSize: comm.size))
    }

    /// A fresh run must not silently mix with an earlier run's checkpoints.
    private func refuseToOverwrite(_ checkpoints: CheckpointDirectory) throws {
        _ = try comm.fromRoot {
            guard try checkpoints.entries().isEmpty else {
                throw InputError(file: config.runDirectory, "this run directory already holds checkpoints",
                                 hint: "continue it with --resume latest, or choose another name (--set name=…)")
            }
            return []
        }
    }

    /// Loads a checkpoint on rank 0, checks it against this configuration, and gives every rank its
    /// state (rank 0 alone keeps the EMA).
    private func restore(_ session: inout Session, from resume: String) throws {
        let phase = session.phase
        var loaded: Checkpoint?
        let headerBytes = try comm.fromRoot {
            let (path, checkpoint) = resume == "latest"
                ? try session.checkpoints.latest(note: { self.output("note: \($0)") })
                : (resume, try Checkpoint.read(resume))
            try checkCompatible(checkpoint, path: path, with: session)
            loaded = checkpoint
            let p = checkpoint.header.position
            output("resuming from \(path) at epoch \(p.epoch + 1), step \(p.globalStep)" + (p.worldSize != comm.size ? " (written by \(p.worldSize) ranks)" : ""))
            return [UInt8](try JSONEncoder().encode(checkpoint.header))
        }
        let header = try JSONDecoder().decode(CheckpointHeader.self, from: Data(headerBytes))
        func receive(_ name: String, _ target: Tensor) {
            if let values = loaded?.tensors[name] { target.data.update(from: values, count: target.count) }
            comm.broadcast(UnsafeMutableRawBufferPointer(target.mutableBuffer), root: 0)
        }
        receive("params", phase.params.values)
        receive("buffers", phase.buffers.values)
        receive("frozen", phase.frozen.values)
        receive("adam.m", phase.optimizer.firstMoment)
        receive("adam.v", phase.optimizer.secondMoment)
        phase.optimizer.step = header.adamStep
        if let average = session.average, let checkpoint = loaded {
            if let params = checkpoint.tensors["ema.params"], let buffers = checkpoint.tensors["ema.buffers"] {
                average.params.values.data.update(from: params, count: params.count)
                average.buffers.values.data.update(from: buffers, count: buffers.count)
            }
            average.params.updates = header.emaUpdates
            average.buffers.updates = header.emaUpdates
        }
        session.position = header.position
        session.position.worldSize = comm.size
        if comm.isRoot { try session.checkpoints.forget(after: header.position.globalStep) }
    }

    /// The checkpoint's parameters must have the phase's names and shapes; the error names the differences.
    private func checkLayout(_ checkpoint: Checkpoint, path: String, phase: Phase, hint: String) throws {
        let differences = checkpoint.layoutDifferences(params: phase.params, buffers: phase.buffers, frozen: phase.frozen)
        guard differences.isEmpty else {
            throw InputError(file: path, "the checkpoint's model does not match the configuration: " + differences.prefix(12).joined(separator: "; ")
                             + (differences.count > 12 ? "; … \(differences.count - 12) more" : ""), hint: hint)
        }
    }

    /// The checkpoint must hold this configuration's model: same phase, parameter names and shapes, vocabulary.
    private func checkCompatible(_ checkpoint: Checkpoint, path: String, with session: Session) throws {
        guard checkpoint.header.phase == Phase.phase else {
            throw InputError(file: path, "holds a \(checkpoint.header.phase) model; this run trains a \(Phase.phase)")
        }
        try checkLayout(checkpoint, path: path, phase: session.phase, hint: "resume with the configuration the checkpoint was trained with")
        guard checkpoint.header.vocabulary == session.context.data.vocabulary.words else {
            throw InputError(file: path, "the checkpoint's vocabulary differs from the one built from \(config.data.annotations)",
                             hint: "resume with the annotation file of the original run")
        }
        let changed = try config.changedKeys(from: checkpoint.header.config).filter { !["train.max_steps", "train.log_every"].contains($0) }
        if !changed.isEmpty { output("note: the configuration differs from the checkpoint's in \(changed.joined(separator: ", ")); the run will not repeat the original exactly") }
    }

    /// Keeps metrics.jsonl free of steps a resumed run is about to redo; returns the last step it logged.
    private func truncateMetrics(after step: Int) throws -> Int {
        let path = config.runDirectory + "/metrics.jsonl"
        guard FileManager.default.fileExists(atPath: path) else { return step }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let records = try MetricsRecord.read(path)
        let kept = try records.filter { $0.step <= step }.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }
        try writeFileAtomically(path, bytes: Array(kept.joined().utf8))
        return records.map(\.step).max() ?? step
    }

    /// What the elastic launcher says of this start (REFCLIP_RESTART, JSON: attempt, failure, hosts
    /// before and after), with where it resumes and the steps logged past that; nil on a first start.
    private func elasticRestart(resumedAt step: Int, lastLogged: Int) -> RestartRecord? {
        guard let text = ProcessInfo.processInfo.environment["REFCLIP_RESTART"], !text.isEmpty,
              let request = try? JSONDecoder().decode(ElasticRestartRequest.self, from: Data(text.utf8)) else { return nil }
        return RestartRecord(step: step, attempt: request.attempt, failure: request.failure, hostsBefore: request.hostsBefore,
                             hostsAfter: request.hostsAfter, stepsRedone: max(0, lastLogged - step))
    }

    // MARK: training

    private func train(_ session: inout Session, log: MetricsLog) throws -> [SplitReport] {
        StopSignals.install()
        let watchdog = Watchdog(rank: comm.rank, minimumSeconds: config.runtime.watchdogSeconds)
        watchdog.start()
        defer { watchdog.stop() }
        let epochs = config.train.epochs
        let phase = session.phase
        let prefetcher = Prefetcher<Phase.Batch>()
        let started = Date()
        var skipped = 0
        var stepTimes: [Double] = []
        let probe = config.runtime.debugChecks ? NonFiniteProbe() : nil
        var evaluatedAt = -1  // the step of the last evaluation, so a run never logs one step's twice
        var reports: [SplitReport] = []
        let checkpointEvery = config.train.checkpointEvery
        // Whatever ends the run, the checkpoint being written is finished first.
        defer { if comm.isRoot { try? session.writer.wait() } }

        training: while session.position.epoch < epochs {
            let epoch = session.position.epoch
            let permutation = session.plan.permutation(epoch: epoch)
            let plan = session.plan
            func prefetch(_ s: Int, _ global: Int) {
                let rows = plan.localRows(step: s, of: permutation, epoch: epoch, globalStep: global)
                prefetcher.start { try phase.loadBatch(rows: rows, globalStep: global) }
            }
            if session.position.stepInEpoch < plan.stepsPerEpoch, session.position.globalStep < session.totalSteps {
                prefetch(session.position.stepInEpoch, session.position.globalStep)
            }
            while session.position.stepInEpoch < plan.stepsPerEpoch {
                guard session.position.globalStep < session.totalSteps else { break training }
                if let signal = agreedStopSignal() {
                    _ = try? prefetcher.take()
                    throw TrainingInterrupted(signal: signal, checkpoint: try checkpoint(session, final: true))
                }
                let t0 = Date()
                let batch = try prefetcher.take()
                if session.position.stepInEpoch + 1 < plan.stepsPerEpoch, session.position.globalStep + 1 < session.totalSteps {
                    prefetch(session.position.stepInEpoch + 1, session.position.globalStep + 1)
                }
                let lr = session.schedule.rate(at: session.position.globalStep)
                var context = ForwardContext.training(step: RandomKey(seed: config.seed).child("step").child(session.position.globalStep),
                                                      samples: Array(plan.localRows), communicator: comm)
                probe?.reset()
                context.probe = probe
                let result = phase.step(batch, context: context, lr: Float(lr))
                if let probe { try checkFinite(probe, step: session.position.globalStep + 1, communicator: comm) }
                if result.skipped {
                    skipped += 1
                    output("step \(session.position.globalStep + 1): non-finite gradient (norm \(result.gradNorm)); update skipped on every rank")
                    if skipped > config.train.maxSkippedSteps {  // the norm is global: every rank decides alike
                        throw AgreedFailure(underlying: InputError(location: "train.max_skipped_steps",
                                                                   "\(skipped) consecutive steps had non-finite gradients; stopping",
                                                                   hint: "lower train.lr, or resume from an earlier checkpoint"))
                    }
                } else {
                    skipped = 0
                    session.average?.update(params: phase.params, buffers: phase.buffers)
                }
                session.position.stepInEpoch += 1
                session.position.globalStep += 1
                if probe != nil {
                    try checkRanksAgree([phase.params, phase.buffers], step: session.position.globalStep, communicator: comm)
                }
                let seconds = Date().timeIntervalSince(t0)
                stepTimes.append(seconds)
                watchdog.beat(step: session.position.globalStep, stepSeconds: seconds)
                let global = session.position.globalStep
                if global % config.train.logEvery == 0 || global == session.totalSteps {
                    let recent = stepTimes.suffix(20)
                    let perStep = recent.reduce(0, +) / Double(recent.count)
                    let rate = Double(plan.globalBatch) / perStep
                    let eta = Double(session.totalSteps - global) * perStep
                    let cosine = result.textCosine.map { String(format: "  text-cos %.2f", $0) } ?? ""
                    progress(String(format: "epoch %d/%d  step %d/%d  loss %.4f  lr %.2e  grad %.3f%@  %.1f samples/s  ETA %@",
                                  epoch + 1, epochs, global, session.totalSteps, result.loss, lr, result.gradNorm, cosine, rate, formatDuration(eta)))
                    try log.record(.step(StepRecord(epoch: epoch, step: global, total: session.totalSteps, loss: result.loss, lr: lr,
                                                    gradNorm: result.gradNorm, textCosine: result.textCosine, samplesPerSecond: rate, etaSeconds: eta,
                                                    sourceLosses: result.sourceLosses)))
                }
                if config.train.evalEvery > 0, global % config.train.evalEvery == 0 {
                    reports = try evaluate(&session, log: log, watchdog: watchdog)
                    evaluatedAt = global
                }
                if checkpointEvery > 0, global % checkpointEvery == 0, session.position.stepInEpoch < plan.stepsPerEpoch {
                    _ = try checkpoint(session, final: false)
                }
            }
            session.position.stepInEpoch = 0
            session.position.epoch = epoch + 1
            if config.train.evalEvery == 0 { reports = try evaluate(&session, log: log, watchdog: watchdog) }
            _ = try checkpoint(session, final: session.position.epoch == epochs || session.position.globalStep == session.totalSteps)
        }
        if session.position.stepInEpoch != 0 {  // stopped by max_steps inside an epoch
            if evaluatedAt != session.position.globalStep { reports = try evaluate(&session, log: log, watchdog: watchdog) }
            _ = try checkpoint(session, final: true)
        }
        output("done: step \(session.position.globalStep) in \(formatDuration(Date().timeIntervalSince(started))); best val accuracy "
               + String(format: "%.2f", session.position.bestAccuracy) + " at step \(session.position.bestStep)")
        if comm.isRoot {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try writeFileAtomically(config.runDirectory + "/eval.json", bytes: [UInt8](try encoder.encode(reports)))
        }
        return reports
    }

    /// A stop signal received by any rank, agreed by all.
    private func agreedStopSignal() -> Int32? {
        let signal = comm.allReduce(Int(StopSignals.pending), .max)
        return signal > 0 ? Int32(signal) : nil
    }

    /// Rank 0 writes a checkpoint of the current position and marks it complete; returns its path. The
    /// state is copied and written in the background unless `final` (the run ends: it is on disk on
    /// return) or `runtime.async_checkpoints` is off; a failed background write stops the run at the next.
    private func checkpoint(_ session: Session, final: Bool) throws -> String? {
        let path = try comm.fromRoot {
            let (header, tensors) = Checkpoint.state(phase: session.phase, average: session.average, position: session.position,
                                                     config: yaml, vocabulary: session.context.data.vocabulary.words)
            let (checkpoints, position, keep) = (session.checkpoints, session.position, config.train.keepCheckpoints)
            try session.writer.submit(header: header, tensors: tensors, waitUntilWritten: final || !config.runtime.asyncCheckpoints) { header, tensors in
                try checkpoints.save(step: position.globalStep, epoch: position.epoch, keep: keep) { try Checkpoint.write($0, header: header, tensors: tensors) }
            }
            return Array(checkpoints.path(step: position.globalStep).utf8)
        }
        return String(decoding: path, as: UTF8.self)
    }

    /// Evaluates every evaluation split on the EMA weights, logs, and saves `best` when validation improves.
    private func evaluate(_ session: inout Session, log: MetricsLog, watchdog: Watchdog) throws -> [SplitReport] {
        let phase = session.phase
        let reports = try withAverageWeights(phase, session.average) {
            try config.train.evalSplits.map { split in
                let report = try phase.evaluate(split: split, items: try session.context.data.items(split))
                watchdog.beat(step: session.position.globalStep)
                return report
            }
        }
        output(reportTable(reports, model: "EMA") + "\n")
        for r in reports {
            try log.record(.eval(EvalRecord(epoch: session.position.epoch, step: session.position.globalStep, split: r.split, accuracy: r.overall.accuracy,
                                            pointing: r.overall.pointingAccuracy, randomAnchor: r.overall.randomAnchorAccuracy,
                                            topObjectness: r.overall.objectnessAccuracy, count: r.overall.count)))
        }
        if let val = reports.first, val.overall.accuracy > session.position.bestAccuracy {
            session.position.bestAccuracy = val.overall.accuracy
            session.position.bestStep = session.position.globalStep
            let position = session.position, best = config.runDirectory + "/best.refclip"
            _ = try comm.fromRoot {
                let (header, tensors) = Checkpoint.state(phase: phase, average: session.average, position: position,
                                                         config: yaml, vocabulary: session.context.data.vocabulary.words)
                try session.writer.submit(header: header, tensors: tensors, waitUntilWritten: !config.runtime.asyncCheckpoints) { header, tensors in
                    try Checkpoint.write(best, header: header, tensors: tensors)
                }
                return []
            }
        }
        return reports
    }

    /// Runs `body` with the model holding rank 0's EMA weights on every rank, then restores the raw ones.
    private func withAverageWeights<R>(_ phase: Phase, _ average: ModelAverage?, _ body: () throws -> R) rethrows -> R {
        let raw = (phase.params.values.array, phase.buffers.values.array)
        if let average {
            phase.params.values.data.update(from: average.params.values.data, count: phase.params.count)
            phase.buffers.values.data.update(from: average.buffers.values.data, count: phase.buffers.count)
        }
        comm.broadcast(UnsafeMutableRawBufferPointer(phase.params.values.mutableBuffer), root: 0)
        comm.broadcast(UnsafeMutableRawBufferPointer(phase.buffers.values.mutableBuffer), root: 0)
        defer {
            phase.params.set(all: raw.0)
            phase.buffers.set(all: raw.1)
        }
        return try body()
    }
}

/// What cluster/elastic.sh tells a restarted job (REFCLIP_RESTART).
private struct ElasticRestartRequest: Decodable {
    var attempt: Int, failure: String, hostsBefore: [String], hostsAfter: [String]
    enum CodingKeys: String, CodingKey { case attempt, failure, hostsBefore = "hosts_before", hostsAfter = "hosts_after" }
}

/// Trains the model `config`'s phase names, from the start or from `resume` (see `TrainingRun.run`):
/// the one place a run chooses between teacher and student.
@discardableResult
public func train(_ config: TrainingConfiguration, communicator: Communicator, output: @escaping (String) -> Void = { print($0) },
                  progress: ((String) -> Void)? = nil, resume: String? = nil) throws -> [SplitReport] {
    switch config {
    case .teacher(let loaded):
        return try TrainingRun(config: config, communicator: communicator, output: output, progress: progress) {
            try TeacherPhase($0, config: loaded.value)
        }.run(resume: resume)
    case .student(let loaded):
        return try TrainingRun(config: config, communicator: communicator, output: output, progress: progress) {
            try StudentPhase($0, config: loaded.value)
        }.run(resume: resume)
    }
}
