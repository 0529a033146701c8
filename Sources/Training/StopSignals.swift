// StopSignals.swift — SIGTERM and SIGINT (Slurm preemption, Ctrl-C) ask training to stop: the
// handler only records the signal; the training loop agrees on it across ranks at the next step
// boundary, writes a checkpoint and exits with status 128 + signal. A second signal exits at once.

import Distributed
import Foundation
import Synchronization

private let requestedStop = Atomic<Int32>(0)

public enum StopSignals {
    /// Installs the handlers (idempotent). Also turns "file too large" from a fatal signal into a
    /// failed write, which the checkpoint writer reports.
    public static func install() {
        signal(SIGXFSZ, SIG_IGN)
        for sig in [SIGTERM, SIGINT] {
            signal(sig) { received in
                let (first, _) = requestedStop.compareExchange(expected: 0, desired: received, ordering: .relaxed)
                if !first { _exit(128 + received) }
            }
        }
    }

    /// The first stop signal received, or 0.
    public static var pending: Int32 { requestedStop.load(ordering: .relaxed) }
}

/// Training stopped on a signal after saving a checkpoint; exit with `status`.
public struct TrainingInterrupted: CollectiveError, CustomStringConvertible {
    public let signal: Int32
    public let checkpoint: String?
    public var status: Int32 { 128 + signal }
    public var description: String {
        "stopped by signal \(signal)" + (checkpoint.map { "; checkpoint \($0) written (resume with --resume latest)" } ?? "")
    }
}
