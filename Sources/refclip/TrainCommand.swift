// TrainCommand.swift — `refclip train --config FILE`: train the model the config's phase names.

import ArgumentParser
import Configuration
import Distributed
import Foundation
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model: the RefCLIP teacher or the student, as the config's phase says.",
        discussion: """
            Runs as one process, as debug thread-ranks (--debug: no mpirun; after every step all ranks must hold identical \
            parameters and no layer output may be NaN/Inf, else the run stops naming the step and the layer), or one rank per process under mpirun/srun. \
            SIGTERM or SIGINT stops at the next step after writing a checkpoint (exit status 128 + signal); \
            --resume latest continues exactly where the run stopped.
            """)

    @OptionGroup var configuration: ConfigOptions
    @OptionGroup var launching: LaunchOptions

    @Option(help: ArgumentHelp("Continue from the newest complete checkpoint of the run (latest), from a checkpoint file, or from the newest checkpoint if there is one and else from the start (auto: for requeued jobs).",
                               valueName: "latest|auto|PATH"))
    var resume: String?

    func run() throws {
        try reportingErrors {
            if configuration.listedKeys(("phase: teacher", TeacherConfig.keyTable), ("phase: student", StudentConfig.keyTable)) { return }
            guard configuration.config != nil else { throw ValidationError("--config is required (e.g. configs/synthetic-teacher.yaml)") }
            var options = configuration
            if launching.debug { options.overrides.insert("runtime.debug_checks=true", at: 0) }  // a later --set may turn it off
            let config = try TrainingConfiguration.load(path: options.config, overrides: options.overrides)
            let console = Console()
            try launching.run { comm in
                try train(config, communicator: comm, output: console.line, progress: console.progress, resume: resume)
            }
        }
    }
}

/// Standard output for a run: on a terminal the progress line is redrawn in place and the other
/// lines print above it; otherwise every line prints plainly and at once (logs, pipes, Slurm output
/// files: a file would otherwise get the lines in 4 KiB blocks, minutes late). Under
/// an MPI launcher lines are always plain: mpirun gives ranks a pseudo-terminal even when its own
/// output goes to a file.
final class Console: @unchecked Sendable {
    private let isTerminal = isatty(STDOUT_FILENO) == 1 && !MPICommunicator.launchedByMPI
    private var progressShown = false
    private let lock = NSLock()

    func line(_ text: String) {
        lock.withLock {
            if progressShown { print("") }
            progressShown = false
            print(text)
            fflush(stdout)
        }
    }

    func progress(_ text: String) {
        guard isTerminal else { return line(text) }
        lock.withLock {
            print("\r\u{1B}[2K" + text, terminator: "")
            fflush(stdout)
            progressShown = true
        }
    }
}
