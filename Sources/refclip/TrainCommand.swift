// TrainCommand.swift — `refclip train --config FILE`: train the model the config's phase names.

import ArgumentParser
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model: the RefCLIP teacher or the student, as the config's phase says.",
        discussion: """
            Runs as one process, as debug thread-ranks (--debug), or one rank per process under mpirun/srun. \
            SIGTERM or SIGINT stops at the next step after writing a checkpoint (exit status 128 + signal); \
            --resume latest continues exactly where the run stopped.
            """)

    @OptionGroup var configuration: ConfigOptions
    @OptionGroup var launching: LaunchOptions

    @Option(help: ArgumentHelp("Continue from the newest complete checkpoint of the run (latest) or from a checkpoint file.",
                               valueName: "latest|PATH"))
    var resume: String?

    func run() throws {
        try reportingErrors {
            guard configuration.config != nil else { throw ValidationError("--config is required (e.g. configs/synthetic-teacher.yaml)") }
            let (phase, config) = try configuration.phaseConfig()
            let settings = try RunSettings(config, phase: phase)
            try launching.run { comm in
                switch phase {
                case TeacherPhase.name:
                    try TrainingRun(settings: settings, communicator: comm) { try TeacherPhase($0, settings: settings) }.run(resume: resume)
                default:
                    try TrainingRun(settings: settings, communicator: comm) { try StudentPhase($0, settings: settings) }.run(resume: resume)
                }
            }
        }
    }
}
