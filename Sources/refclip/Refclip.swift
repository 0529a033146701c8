// Refclip.swift — the `refclip` command line: parses, loads the config, calls the library.

import ArgumentParser
import Tensors

@main
struct Refclip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refclip",
        abstract: "Weakly supervised visual grounding (RefCLIP) on CPU clusters with MPI.",
        subcommands: [SynthCommand.self, ExtractCommand.self, TrainCommand.self, PseudoLabelCommand.self, EvalCommand.self, GroundCommand.self, ReportCommand.self, ExportCommand.self, ImportCommand.self, ImportDetectorCommand.self, InspectCommand.self, EnvCommand.self,
                      CommunicatorSelfTest.self]
    )

    /// Checks the BLAS kernel first: a fallback kernel means a restart before anything else runs.
    static func main() {
        BLASRuntime.restartOnBestKernelIfNeeded()
        main(nil)
    }
}
