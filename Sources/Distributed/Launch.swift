// Launch.swift — runs a job body on the right communicator: MPI when started by an MPI launcher,
// N threads in one process for the debug mode, else a single process.

import Foundation

/// How the ranks of a job are made.
public enum Launch: Sendable {
    case single
    case mpi
    case threads(Int)

    /// MPI when an MPI launcher started this process, the debug thread ranks when asked, else one process.
    public static func automatic(debugRanks: Int?) -> Launch {
        if let n = debugRanks { return .threads(n) }
        return MPICommunicator.launchedByMPI ? .mpi : .single
    }

    /// Ranks that share this machine (for dividing cores among them).
    public var localRanks: Int {
        switch self {
        case .single: return 1
        case .threads(let n): return n
        case .mpi: return Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
        }
    }

    /// Runs `body` once per rank. A `CollectiveError` (thrown by every rank alike) ends the job in
    /// order; any other error on one rank of a multi-process job aborts the whole job with its
    /// message, since the other ranks would wait forever in their next collective.
    public func run(_ body: @escaping (Communicator) throws -> Void) throws {
        switch self {
        case .single:
            try body(SingleProcessCommunicator())
        case .threads(let n):
            _ = try ThreadCommunicator.run(ranks: n, body)
        case .mpi:
            let comm = MPICommunicator()
            do {
                try body(comm)
            } catch {
                if comm.size > 1, !(error is CollectiveError) { comm.abort("\(error)") }
                comm.finalize()
                throw error
            }
            comm.finalize()
        }
    }
}
