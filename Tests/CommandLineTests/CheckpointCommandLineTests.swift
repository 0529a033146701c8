// CheckpointCommandLineTests.swift — runs survive interruption: resume is bitwise exact at the same
// world size and within 1e-5 at another; SIGTERM checkpoints and resumes exactly; a SIGKILL while the
// stop checkpoint is written keeps the previous one; a SIGKILLed rank ends the job and the run resumes
// from the last complete checkpoint, recording the elastic launcher's restart; checkpoints written in
// the background hold what a direct write holds and resume exactly; damaged checkpoints are refused
// and `latest` falls back; a model that does not match is refused naming the differences; a failed
// write keeps the previous checkpoints.

import Foundation
import TestSupport
import Training
import XCTest

final class CheckpointCommandLineTests: XCTestCase {
    typealias W = RefclipWorkspace

    private func assertSameTensors(_ a: Checkpoint, _ b: Checkpoint, _ names: [String], file: StaticString = #filePath, line: UInt = #line) {
        for name in names { XCTAssertEqual(a.tensors[name], b.tensors[name], "\(name) differs", file: file, line: line) }
    }

    func testResumeIsExactAtTheSameWorldSizeAndCloseAtAnother() throws {
        try W.succeed(try W.train("straight", ["--set", "train.max_steps=8"]))
        // --resume auto (a requeued job): the first time from the start, then from the checkpoint.
        let first = try W.succeed(try W.train("halves", ["--set", "train.max_steps=4", "--resume", "auto"]))
        XCTAssertTrue(first.contains("starting from the beginning"), first)
        XCTAssertEqual(try W.indexedSteps("halves"), [4])
        let output = try W.succeed(try W.train("halves", ["--set", "train.max_steps=8", "--resume", "auto"]))
        XCTAssertTrue(output.contains("resuming from") && output.contains("step 4"), output)
        let straight = try W.losses("straight"), halves = try W.losses("halves")
        XCTAssertEqual(halves.map(\.step), Array(1 ... 8), "metrics.jsonl holds each step once")
        XCTAssertEqual(halves.map(\.loss), straight.map(\.loss), "the loss sequence is bitwise the same")
        assertSameTensors(try W.checkpoint("halves", step: 8), try W.checkpoint("straight", step: 8),
                          ["params", "buffers", "adam.m", "adam.v", "ema.params", "ema.buffers"])
        XCTAssertEqual(try W.checkpoint("halves", step: 8).header.adamStep, 8)

        // The second half at another world size.
        try W.succeed(try W.train("moved", ["--set", "train.max_steps=4"]))
        try W.succeed(try W.train("moved", ["--set", "train.max_steps=8", "--resume", "latest"]), ranks: 2)
        for (a, b) in zip(try W.losses("moved").map(\.loss), straight.map(\.loss)) { XCTAssertEqual(a, b, accuracy: 1e-5 * b) }
        let moved = try W.checkpoint("moved", step: 8), reference = try W.checkpoint("straight", step: 8)
        for name in ["params", "adam.m", "ema.params"] {
            assertAllClose(try XCTUnwrap(moved.tensors[name]), try XCTUnwrap(reference.tensors[name]), absolute: 1e-5, "\(name) after resuming on 2 ranks")
        }
    }

    func testAsynchronousCheckpointsHoldTheDirectWritesStateAndResumeExactly() throws {
        let every = ["--set", "train.max_steps=6", "--set", "train.checkpoint_every=2", "--set", "train.keep_checkpoints=5"]
        try W.succeed(try W.train("direct", every + ["--set", "runtime.async_checkpoints=false"]))
        try W.succeed(try W.train("background", every))
        let all = ["params", "buffers", "frozen", "adam.m", "adam.v", "ema.params", "ema.buffers"]
        XCTAssertEqual(try W.indexedSteps("background"), [2, 4, 6])
        for step in [2, 4, 6] {
            let direct = try W.checkpoint("direct", step: step), background = try W.checkpoint("background", step: step)
            assertSameTensors(background, direct, all)
            XCTAssertEqual(background.header.position, direct.header.position, "step \(step)")
            XCTAssertEqual(background.header.adamStep, step)
        }
        // Resumed from a checkpoint written in the background, the run ends where the uninterrupted one does.
        try W.succeed(try W.train("background-resumed", Array(every.dropFirst(2)) + ["--set", "train.max_steps=4"]))
        try W.succeed(try W.train("background-resumed", every + ["--resume", "latest"]))
        assertSameTensors(try W.checkpoint("background-resumed", step: 6), try W.checkpoint("direct", step: 6), all)
        XCTAssertEqual(try W.losses("background-resumed").map(\.loss), try W.losses("direct").map(\.loss))
    }

    /// Starts a long run in the background (output in W.root/NAME.log) and returns it once it has
    /// logged `steps` steps.
    private func startLongRun(_ name: String, ranks: Int?, steps: Int, extra: [String] = []) throws -> Process {
        let process = Process()
        let arguments = try W.train(name, ["--set", "train.max_steps=100000", "--set", "train.epochs=10000"] + extra)
        if let ranks {
            process.executableURL = URL(fileURLWithPath: try XCTUnwrap(mpirunPath()))
            process.arguments = ["-np", "\(ranks)", "--oversubscribe", try W.binary()] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: try W.binary())
            process.arguments = arguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment.merge(mpirunEnvironment) { $1 }
        process.environment = environment
        let log = W.root.path + "/\(name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while try W.losses(name).count < steps, process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertTrue(process.isRunning, "\(name) ended before it could be interrupted")
        return process
    }

    private func waitForExit(_ process: Process, within seconds: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return Date() < deadline
    }

    func testFineTuningStartsFromTheCheckpointsAverageWeights() throws {
        try W.succeed(try W.train("base", ["--set", "train.max_steps=4"]))
        let base = W.runs + "/base/checkpoints/step-00000004.refclip"
        // A learning rate of 1e-30 leaves the weights where they started: those of the checkpoint's EMA.
        let output = try W.succeed(try W.train("tuned", ["--set", "train.init_from=\(base)", "--set", "train.max_steps=1", "--set", "train.lr=1e-30",
                                                        "--set", "train.warmup_lr=1e-30", "--set", "train.min_lr=1e-30"]))
        XCTAssertTrue(output.contains("starting from the weights of \(base) (step 4)"), output)
        let tuned = try W.checkpoint("tuned", step: 1), source = try Checkpoint.read(base)
        XCTAssertEqual(tuned.tensors["params"], source.tensors["ema.params"])
        XCTAssertEqual(tuned.header.adamStep, 1, "a fresh optimizer")

        let (status, refusal) = try W.run(try W.train("wrong", ["--set", "train.init_from=\(base)", "--set", "model.hidden=24"]))
        XCTAssertEqual(status, 2, refusal)
        XCTAssertTrue(refusal.contains(base) && refusal.contains("does not match the configuration") && refusal.contains("config [24")
                      && refusal.contains("refclip inspect"), refusal)
    }

    func testSigtermWritesACheckpointThatResumesExactly() throws {
        let process = try startLongRun("interrupted", ranks: nil, steps: 3)
        kill(process.processIdentifier, SIGTERM)
        XCTAssertTrue(waitForExit(process, within: 60))
        XCTAssertEqual(process.terminationStatus, 128 + SIGTERM)
        let stopped = try XCTUnwrap(try W.indexedSteps("interrupted").last, "no checkpoint after SIGTERM")
        XCTAssertGreaterThanOrEqual(stopped, 3)
        try W.succeed(try W.train("interrupted", ["--set", "train.max_steps=\(stopped + 3)", "--set", "train.epochs=10000", "--resume", "latest"]))
        try W.succeed(try W.train("uninterrupted", ["--set", "train.max_steps=\(stopped + 3)", "--set", "train.epochs=10000"]))
        XCTAssertEqual(try W.losses("interrupted").map(\.loss), try W.losses("uninterrupted").map(\.loss))
        assertSameTensors(try W.checkpoint("interrupted", step: stopped + 3), try W.checkpoint("uninterrupted", step: stopped + 3),
                          ["params", "buffers", "adam.m", "adam.v", "ema.params"])
    }

    func testKillDuringTheStopCheckpointKeepsThePreviousOne() throws {
        // Slurm sends SIGKILL when the grace after SIGTERM runs out; here it comes while the stop
        // checkpoint is being written (a model large enough for the write to take a while).
        let larger = ["--set", "model.hidden=256", "--set", "model.ffn=512", "--set", "model.fusion_hidden=256"]
        try W.succeed(try W.train("grace", larger + ["--set", "train.max_steps=2"]))
        let before = try Data(contentsOf: URL(fileURLWithPath: W.runs + "/grace/checkpoints/step-00000002.refclip"))
        let process = try startLongRun("grace", ranks: nil, steps: 4, extra: larger + ["--resume", "latest"])
        kill(process.processIdentifier, SIGTERM)
        let directory = W.runs + "/grace/checkpoints", deadline = Date().addingTimeInterval(60)
        var unfinished: [String] = []
        while unfinished.isEmpty, process.isRunning, Date() < deadline {
            unfinished = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".tmp-") }
            Thread.sleep(forTimeInterval: 0.001)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertFalse(unfinished.isEmpty, "the stop checkpoint's write was not caught in progress")
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(try W.indexedSteps("grace"), [2], "the cut write is not marked complete")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: directory + "/step-00000002.refclip")), before)
        let output = try W.succeed(try W.train("grace", larger + ["--set", "train.max_steps=3", "--resume", "latest"]))
        XCTAssertTrue(output.contains("step-00000002.refclip") && output.contains("removed " + unfinished[0]), output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".tmp-") }, [])
    }

    func testKilledRankEndsTheJobAndTheRunResumes() throws {
        let process = try startLongRun("killed", ranks: 2, steps: 6, extra: ["--set", "train.checkpoint_every=2", "--set", "runtime.watchdog_seconds=10"])
        let ranks = try runProcess("/usr/bin/pgrep", ["-P", "\(process.processIdentifier)"]).output.split(separator: "\n").compactMap { Int32($0) }
        XCTAssertEqual(ranks.count, 2, "mpirun's children are the two ranks")
        kill(try XCTUnwrap(ranks.last), SIGKILL)
        XCTAssertTrue(waitForExit(process, within: 30), "the job must end within the watchdog time")
        XCTAssertNotEqual(process.terminationStatus, 0)
        let last = try XCTUnwrap(try W.indexedSteps("killed").last)
        // A leftover that was never marked complete must not be picked.
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: "\(W.runs)/killed/checkpoints/step-99999999.refclip"))
        // Resumed as the elastic launcher resumes it: the restart is a line and a record with the steps redone.
        let lastLogged = try XCTUnwrap(try W.losses("killed").last?.step)
        let restart = #"{"attempt": 1, "failure": "exit 137", "hosts_before": ["a", "b"], "hosts_after": ["a"]}"#
        let (status, output) = try W.run(try W.train("killed", ["--set", "train.max_steps=\(last + 2)", "--set", "train.epochs=10000", "--resume", "latest"]),
                                         environment: ["REFCLIP_RESTART": restart])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains(String(format: "step-%08d.refclip", last)), output)
        XCTAssertTrue(output.contains("restart 1 after exit 137: hosts a, b → a; resuming at step \(last), \(lastLogged - last) step(s) done again"), output)
        XCTAssertEqual(try W.losses("killed").last?.step, last + 2)
        let records = try MetricsRecord.read("\(W.runs)/killed/metrics.jsonl").compactMap { record -> RestartRecord? in
            if case .restart(let r) = record { return r } else { return nil }
        }
        XCTAssertEqual(records, [RestartRecord(step: last, attempt: 1, failure: "exit 137", hostsBefore: ["a", "b"], hostsAfter: ["a"], stepsRedone: lastLogged - last)])
    }

    func testWatchdogEndsAJobWithAHungRank() throws {
        let process = try startLongRun("hung", ranks: 2, steps: 4, extra: ["--set", "runtime.watchdog_seconds=3"])
        let ranks = try runProcess("/usr/bin/pgrep", ["-P", "\(process.processIdentifier)"]).output.split(separator: "\n").compactMap { Int32($0) }
        XCTAssertEqual(ranks.count, 2)
        let started = Date()
        kill(try XCTUnwrap(ranks.last), SIGSTOP)  // hung, not dead: mpirun does not notice, only the watchdog can
        XCTAssertTrue(waitForExit(process, within: 60), "the watchdog must end the job")
        XCTAssertNotEqual(process.terminationStatus, 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        let output = try String(contentsOfFile: W.root.path + "/hung.log", encoding: .utf8)
        XCTAssertTrue(output.contains("watchdog: rank 0 made no progress") && output.contains("after step"), output)
    }

    func testDamagedCheckpointsAreRefusedAndLatestFallsBack() throws {
        try W.succeed(try W.train("damaged", ["--set", "train.max_steps=6", "--set", "train.checkpoint_every=2"]))
        XCTAssertEqual(try W.indexedSteps("damaged"), [2, 4, 6])
        let newest = "\(W.runs)/damaged/checkpoints/step-00000006.refclip"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: newest)))
        bytes[bytes.count - 50] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: newest))
        var (status, output) = try W.run(["inspect", newest])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("DAMAGED"), output)
        (status, output) = try W.run(try W.train("damaged", ["--set", "train.max_steps=7", "--resume", newest]))
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains(newest) && output.contains("damaged"), output)
        output = try W.succeed(try W.train("damaged", ["--set", "train.max_steps=7", "--resume", "latest"]))
        XCTAssertTrue(output.contains("step-00000006.refclip is unusable") && output.contains("falling back"), output)
        XCTAssertTrue(output.contains("step-00000004.refclip"), output)

        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: newest))
        (status, output) = try W.run(["inspect", newest])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains(newest) && output.contains("truncated"), output)
    }

    func testMismatchedModelIsRefusedNamingTheDifferences() throws {
        try W.succeed(try W.train("shapes", ["--set", "train.max_steps=2"]))
        let (status, output) = try W.run(try W.train("shapes", ["--set", "model.hidden=24", "--set", "train.max_steps=4", "--resume", "latest"]))
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains("does not match the configuration") && output.contains("lang_encoder.lstm.weight_hh_l0: checkpoint [48, 16], config [72, 24]"), output)
        let (again, message) = try W.run(try W.train("shapes", ["--set", "train.max_steps=4"]))
        XCTAssertEqual(again, 2, message)
        XCTAssertTrue(message.contains("already holds checkpoints") && message.contains("--resume latest"), message)
    }

    func testFailedWriteKeepsThePreviousCheckpoints() throws {
        try W.succeed(try W.train("full", ["--set", "train.max_steps=2"]))
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(W.runs)/full/checkpoints/step-00000002.refclip"))
        // A 40 KiB file-size limit: metrics lines fit, a checkpoint does not (like a full disk).
        let command = try ([W.binary()] + W.train("full", ["--set", "train.max_steps=4", "--set", "train.checkpoint_every=1", "--resume", "latest"]))
            .map { "'\($0)'" }.joined(separator: " ")
        let (status, output) = try runProcess("/bin/bash", ["-c", "ulimit -f 40; exec \(command)"])
        XCTAssertEqual(status, 2, output)
        XCTAssertTrue(output.contains("write failed") && output.contains("the previous file is intact"), output)
        XCTAssertEqual(try W.indexedSteps("full"), [2])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(W.runs)/full/checkpoints/step-00000002.refclip")), before)
        XCTAssertNoThrow(try W.checkpoint("full", step: 2))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(W.runs)/full/checkpoints").filter { $0.contains("tmp") }
        XCTAssertEqual(leftovers, [], "no temporary file is left behind")
    }
}
