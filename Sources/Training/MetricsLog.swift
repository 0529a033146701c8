// MetricsLog.swift — RUN/metrics.jsonl: one typed record per line (a run's start, a logged step, a
// split's evaluation, a restart by the elastic launcher), written and read by the same types.
// Non-finite numbers are written as null.

import Configuration
import Distributed
import Foundation
import Tensors

/// A run started or resumed: where, with what, on how many ranks and BLAS runtimes.
public struct StartRecord: Codable, Equatable, Sendable {
    public var step: Int
    public var phase: Phase
    public var version: String
    public var ranks: Int
    public var blas: [JobBLAS.Group]
    /// The training sources' annotation files when there are several (`source_losses` follow this order).
    public var sources: [String]?
}

/// A logged training step (global values, identical on every rank).
public struct StepRecord: Codable, Equatable, Sendable {
    public var epoch: Int, step: Int, total: Int
    /// nil when the value was not finite.
    public var loss: Double?, lr: Double?, gradNorm: Double?, textCosine: Double?
    public var samplesPerSecond: Double?, etaSeconds: Double?
    /// With several training sources: each one's mean loss over its rows (the start record names them).
    public var sourceLosses: [Double?]?

    public init(epoch: Int, step: Int, total: Int, loss: Double, lr: Double, gradNorm: Double, textCosine: Double?,
                samplesPerSecond: Double, etaSeconds: Double, sourceLosses: [Double]? = nil) {
        func finite(_ x: Double?) -> Double? { x.flatMap { $0.isFinite ? $0 : nil } }
        (self.epoch, self.step, self.total) = (epoch, step, total)
        (self.loss, self.lr, self.gradNorm, self.textCosine) = (finite(loss), finite(lr), finite(gradNorm), finite(textCosine))
        (self.samplesPerSecond, self.etaSeconds) = (finite(samplesPerSecond), finite(etaSeconds))
        self.sourceLosses = sourceLosses?.map(finite)
    }

    enum CodingKeys: String, CodingKey {
        case epoch, step, total, loss, lr, gradNorm = "grad_norm", textCosine = "text_cosine", samplesPerSecond = "samples_per_s", etaSeconds = "eta_s"
        case sourceLosses = "source_losses"
    }
}

/// One split's evaluation (EMA weights) at a step.
public struct EvalRecord: Codable, Equatable, Sendable {
    public var epoch: Int, step: Int
    public var split: String
    public var accuracy: Double?, pointing: Double?, randomAnchor: Double?, topObjectness: Double?
    public var count: Int

    enum CodingKeys: String, CodingKey {
        case epoch, step, split, accuracy, pointing, randomAnchor = "random_anchor", topObjectness = "top_objectness", count
    }
}

/// A restart by the elastic launcher (cluster/elastic.sh): which attempt, after what failure, on which
/// hosts, resuming at `step` with the steps logged after it done again.
public struct RestartRecord: Codable, Equatable, Sendable {
    public var step: Int
    public var attempt: Int
    public var failure: String
    public var hostsBefore: [String], hostsAfter: [String]
    public var stepsRedone: Int

    public init(step: Int, attempt: Int, failure: String, hostsBefore: [String], hostsAfter: [String], stepsRedone: Int) {
        self.step = step; self.attempt = attempt; self.failure = failure
        self.hostsBefore = hostsBefore; self.hostsAfter = hostsAfter; self.stepsRedone = stepsRedone
    }

    enum CodingKeys: String, CodingKey {
        case step, attempt, failure, hostsBefore = "hosts_before", hostsAfter = "hosts_after", stepsRedone = "steps_redone"
    }
}

/// One line of metrics.jsonl: `{"event": "start" | "step" | "eval" | "restart", …the record's fields}`.
public enum MetricsRecord: Codable, Equatable, Sendable {
    case start(StartRecord), step(StepRecord), eval(EvalRecord), restart(RestartRecord)

    /// The global step the record belongs to.
    public var step: Int {
        switch self {
        case .start(let r): return r.step
        case .step(let r): return r.step
        case .eval(let r): return r.step
        case .restart(let r): return r.step
        }
    }

    private enum EventKey: String, CodingKey { case event }

    public init(from decoder: Decoder) throws {
        let event = try decoder.container(keyedBy: EventKey.self).decode(String.self, forKey: .event)
        switch event {
        case "start": self = .start(try StartRecord(from: decoder))
        case "step": self = .step(try StepRecord(from: decoder))
        case "eval": self = .eval(try EvalRecord(from: decoder))
        case "restart": self = .restart(try RestartRecord(from: decoder))
        default: throw DecodingError.dataCorruptedError(forKey: .event, in: try decoder.container(keyedBy: EventKey.self), debugDescription: "unknown event \(event)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: EventKey.self)
        switch self {
        case .start(let r): try container.encode("start", forKey: .event); try r.encode(to: encoder)
        case .step(let r): try container.encode("step", forKey: .event); try r.encode(to: encoder)
        case .eval(let r): try container.encode("eval", forKey: .event); try r.encode(to: encoder)
        case .restart(let r): try container.encode("restart", forKey: .event); try r.encode(to: encoder)
        }
    }

    /// The records of a metrics file, in order; a line that is not a record (a write cut short) is
    /// skipped. A missing file is an error saying what was expected.
    public static func read(_ path: String) throws -> [MetricsRecord] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InputError(file: path, "cannot read the run's metrics", hint: "is this a run directory (runs/NAME)?")
        }
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { try? decoder.decode(MetricsRecord.self, from: Data($0.utf8)) }
    }
}

/// Appends records to a run's metrics file (on rank 0; a log without a path writes nothing).
public final class MetricsLog {
    private let handle: FileHandle?
    private let path: String?
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// Opens (appending) `path`; nil disables the file (ranks other than 0).
    public init(path: String?) throws {
        self.path = path
        guard let path else { handle = nil; return }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw InputError(file: path, "cannot open the metrics file for writing")
        }
        h.seekToEndOfFile()
        handle = h
    }

    deinit { try? handle?.close() }

    /// Writes one record as a line; a failed write (full disk) is an error, not a crash.
    public func record(_ record: MetricsRecord) throws {
        guard let handle else { return }
        let data = try encoder.encode(record)
        do {
            try handle.write(contentsOf: data + Data("\n".utf8))
        } catch {
            throw InputError(file: path, "cannot append to the metrics file: \(error.localizedDescription)", hint: "check free disk space")
        }
    }
}
