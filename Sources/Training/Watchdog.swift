// Watchdog.swift — ends the whole job when a rank stops making progress (a dead peer, a hung
// collective, a lost link): a background thread checks that a step completed within
// max(factor × the median step time, a minimum); if not, it prints which rank is stuck at which step
// and exits the process, which makes mpirun (or srun) end every other rank.

import Foundation

/// Watches one rank's progress.
public final class Watchdog: @unchecked Sendable {
    public let rank: Int
    public let minimumSeconds: Double, factor: Double
    private let lock = NSLock()
    private var lastBeat = Date()
    private var step = 0
    private var durations: [Double] = []
    private var running = false

    public init(rank: Int, minimumSeconds: Double, factor: Double = 10) {
        self.rank = rank
        self.minimumSeconds = minimumSeconds
        self.factor = factor
    }

    /// Starts watching; progress is expected from now on.
    public func start() {
        lock.withLock {
            lastBeat = Date()
            running = true
        }
        let thread = Thread { [weak self] in
            while let self, self.isRunning {
                Thread.sleep(forTimeInterval: min(1, self.minimumSeconds / 4))
                self.check()
            }
        }
        thread.name = "watchdog"
        thread.start()
    }

    public func stop() { lock.withLock { running = false } }

    private var isRunning: Bool { lock.withLock { running } }

    /// Progress: a step (with its duration) or part of a longer phase (evaluation, checkpoint).
    public func beat(step: Int, stepSeconds: Double? = nil) {
        lock.withLock {
            lastBeat = Date()
            self.step = step
            if let stepSeconds {
                durations.append(stepSeconds)
                if durations.count > 200 { durations.removeFirst() }
            }
        }
    }

    /// The time without progress after which the job is ended.
    public var limit: Double {
        lock.withLock {
            guard !durations.isEmpty else { return minimumSeconds }
            return max(minimumSeconds, factor * durations.sorted()[durations.count / 2])
        }
    }

    private func check() {
        let (idle, step, running) = lock.withLock { (Date().timeIntervalSince(lastBeat), self.step, self.running) }
        let limit = self.limit
        guard running, idle > limit else { return }
        let message = String(format: "refclip: watchdog: rank %d made no progress for %.0f s after step %d (limit %.0f s); a rank may have died or hung — ending the job. Resume with --resume latest.\n",
                             rank, idle, step, limit)
        FileHandle.standardError.write(Data(message.utf8))
        _exit(71)
    }
}
