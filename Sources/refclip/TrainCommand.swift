// TrainCommand.swift — `refclip train --config FILE`: train the model the config's phase names.

import ArgumentParser
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model (the config's phase: teacher).",
        discussion: "Runs as one process, as debug thread-ranks (--debug), or one rank per process under mpirun/srun.")

    @OptionGroup var configuration: ConfigOptions
    @OptionGroup var launching: LaunchOptions

    func run() throws {
        try reportingErrors {
            guard configuration.config != nil else { throw ValidationError("--config is required (e.g. configs/synthetic-teacher.yaml)") }
            let config = try RunConfig(schema: teacherSchema, path: configuration.config, overrides: configuration.overrides)
            _ = try TeacherSettings(config)
            try launching.run { comm in
                try TeacherTraining(config: config, communicator: comm).run()
            }
        }
    }
}
