// Options.swift — option groups and helpers the subcommands share.

import ArgumentParser
import Distributed
import Foundation
import Tensors
import Training

/// --config and --set.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file.")
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. --set train.lr=3e-4 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Flag(name: .customLong("keys"), help: "List every config key with its default and what it does, then exit.")
    var listKeys = false

    /// With --keys: prints each document's key table under its title and returns true (the command then exits).
    func listedKeys(_ documents: (title: String, keyTable: String)...) -> Bool {
        guard listKeys else { return false }
        print(documents.map { "\($0.title)\n\n\($0.keyTable)" }.joined(separator: "\n\n"))
        return true
    }
}

/// How ranks are made: MPI under mpirun/srun, else one process; --debug runs N ranks as threads.
struct LaunchOptions: ParsableArguments {
    @Flag(help: "Debug mode: run the distributed path with ranks as threads of this process (no mpirun).")
    var debug = false

    @Option(help: "Ranks in debug mode.")
    var ranks = 2

    @Option(name: .customLong("blas-threads"), help: "OpenBLAS threads per rank (default: cores divided among the ranks on this machine).")
    var blasThreads: Int?

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1") }
    }

    var launch: Launch { Launch.automatic(debugRanks: debug ? ranks : nil) }

    /// Sets the BLAS thread count and runs `body` on every rank.
    func run(_ body: @escaping (Communicator) throws -> Void) throws {
        let launch = self.launch
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let fromEnvironment = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"].flatMap(Int.init)
        setBLASThreads(blasThreads ?? fromEnvironment ?? max(1, cores / launch.localRanks))
        try launch.run(body)
    }
}

/// Prints errors the way users should see them and chooses the exit status: 2 for bad input,
/// 128 + signal after a stop signal (a checkpoint was written), 1 otherwise.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        let underlying = (error as? AgreedFailure)?.underlying ?? error
        if let interrupted = underlying as? TrainingInterrupted {
            FileHandle.standardError.write(Data("refclip: \(interrupted)\n".utf8))
            throw ExitCode(interrupted.status)
        }
        FileHandle.standardError.write(Data("refclip: error: \(underlying)\n".utf8))
        throw ExitCode(underlying is InputError || underlying is RemoteFailure ? 2 : 1)
    }
}
