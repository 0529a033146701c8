// TrainCommand.swift — `refclip train --config FILE`: train the model the config's phase names.

import ArgumentParser
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model (the config's phase: teacher).",
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
            let config = try RunConfig(schema: teacherSchema, path: configuration.config, overrides: configuration.overrides)
            _ = try TeacherSettings(config)
            try launching.run { comm in
                try TeacherTraining(config: config, communicator: comm).run(resume: resume)
            }
        }
    }
}
