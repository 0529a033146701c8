// BLASKernelCommandLineTests.swift — the start-up kernel check end to end: handed a fallback kernel
// (Prescott, as OpenBLAS picks on CPUs it does not know), `refclip` restarts itself on the best kernel
// of this CPU's instruction set and says so once; a kernel the user forces is kept; under mpirun every
// rank restarts, and the run's table and metrics.jsonl name the kernel each rank ran.

import Foundation
import Tensors
import TestSupport
import XCTest

final class BLASKernelCommandLineTests: XCTestCase {
    typealias W = RefclipWorkspace
    private let fallback = ["OPENBLAS_CORETYPE": "Prescott", "REFCLIP_SIMULATED_BLAS_FALLBACK": "1"]

    /// The best kernel for this CPU, or a skip where nothing beats the fallback.
    private func bestKernel() throws -> String {
        let cpu = try XCTUnwrap(CPUFeatures.current(), "no CPUID")
        return try XCTUnwrap(BLASKernel.best(for: cpu.level), "this CPU runs SSE3 kernels only: no restart to test")
    }

    func testAFallbackKernelIsReplacedByTheBestOneAndTheUsersChoiceIsKept() throws {
        let best = try bestKernel()
        let (status, output) = try W.run(["env"], environment: fallback)
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(output.components(separatedBy: "restarting with OPENBLAS_CORETYPE=\(best)").count, 2, "said once:\n\(output)")
        XCTAssertTrue(output.contains("OpenBLAS picked its Prescott kernel (SSE3)"), output)
        let line = try XCTUnwrap(output.firstMatch(of: #/blas +OpenBLAS [^,]+, kernel (\w+) \(set by refclip: OpenBLAS had picked Prescott\)/#), output)
        XCTAssertEqual(BLASKernel.level(of: String(line.1)), CPUFeatures.current()?.level, "kernel \(line.1) after the restart")

        let (userStatus, user) = try W.run(["env"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(userStatus, 0, user)
        XCTAssertFalse(user.contains("restarting"), user)
        XCTAssertTrue(user.contains("kernel Prescott (OPENBLAS_CORETYPE=Prescott)"), user)
    }

    func testEveryRankUnderMPIRestartsAndTheRunRecordsItsKernel() throws {
        let best = try bestKernel()
        let (status, output) = try W.run(try W.train("blas-restart", ["--set", "train.max_steps=1"]), ranks: 2, environment: fallback)
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(output.components(separatedBy: "restarting with OPENBLAS_CORETYPE=\(best)").count, 2, "one line per host:\n\(output)")
        let row = try XCTUnwrap(output.split(separator: "\n").first { $0.hasPrefix("blas ") }, output)
        XCTAssertTrue(row.contains("(set by refclip: OpenBLAS had picked Prescott), 1 thread") && row.hasSuffix("— all 2 ranks"), String(row))

        let metrics = try String(contentsOfFile: "\(W.runs)/blas-restart/metrics.jsonl", encoding: .utf8)
        let start = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(metrics.split(separator: "\n")[0].utf8)) as? [String: Any])
        XCTAssertEqual(start["event"] as? String, "start")
        let groups = try XCTUnwrap(start["blas"] as? [[String: Any]])
        XCTAssertEqual(groups.count, 1, "every rank runs the same kernel")
        XCTAssertEqual(groups[0]["ranks"] as? [Int], [0, 1])
        XCTAssertEqual(BLASKernel.level(of: try XCTUnwrap(groups[0]["kernel"] as? String)), CPUFeatures.current()?.level)
        XCTAssertEqual(groups[0]["threads"] as? Int, 1)

        let inspect = try W.succeed(["inspect", "\(W.runs)/blas-restart/checkpoints/step-00000001.refclip"])
        XCTAssertTrue(inspect.contains("blas        OpenBLAS") && inspect.contains("set by refclip"), inspect)
    }
}
