// CommunicatorConformanceTests.swift — the conformance suite on every communicator: single process,
// in-process thread ranks, and MPI (the built binary under mpirun with 1, 2 and 4 ranks, and alone).

import Distributed
import TestSupport
import XCTest

final class CommunicatorConformanceTests: XCTestCase {
    func testSingleProcess() {
        XCTAssertEqual(CommunicatorConformance.run(SingleProcessCommunicator()), [])
    }

    func testThreadRanks() throws {
        for ranks in [1, 2, 3, 4] {
            let failures = try ThreadCommunicator.run(ranks: ranks) { CommunicatorConformance.run($0, large: 50_021) }
            XCTAssertEqual(failures.flatMap { $0 }, [], "\(ranks) thread ranks")
        }
    }

    func testThreadRanksReturnResultsInRankOrder() throws {
        let ranks = try ThreadCommunicator.run(ranks: 3) { comm in (comm.rank, comm.size) }
        XCTAssertEqual(ranks.map(\.0), [0, 1, 2])
        XCTAssertEqual(ranks.map(\.1), [3, 3, 3])
    }

    func testThreadRankErrorsAreRethrown() {
        struct Boom: Error {}
        XCTAssertThrowsError(try ThreadCommunicator.run(ranks: 2) { comm in if comm.rank == 1 { throw Boom() } }) {
            XCTAssertTrue($0 is Boom)
        }
    }

    func testMPIWithoutLauncher() throws {
        let binary = try XCTUnwrap(refclipBinary(), "build the refclip binary first (make test does)")
        let (status, output) = try runProcess(binary, ["comm-selftest"], timeout: 120)
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("rank 0 of 1: ok"), output)
    }

    func testMPIUnderMpirun() throws {
        let binary = try XCTUnwrap(refclipBinary(), "build the refclip binary first (make test does)")
        let mpirun = try XCTUnwrap(mpirunPath(), "mpirun is missing: make deps installs openmpi-bin")
        for ranks in [1, 2, 4] {
            let (status, output) = try runProcess(mpirun, ["-np", "\(ranks)", "--oversubscribe", binary, "comm-selftest"],
                                                  environment: mpirunEnvironment, timeout: 300)
            XCTAssertEqual(status, 0, "mpirun -np \(ranks): \(output)")
            for r in 0 ..< ranks { XCTAssertTrue(output.contains("rank \(r) of \(ranks): ok"), "mpirun -np \(ranks): \(output)") }
        }
    }
}
