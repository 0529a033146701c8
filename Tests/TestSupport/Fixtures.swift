// Fixtures.swift — locating the test fixtures and the built `refclip` binary.

import Foundation
import Tensors

/// The directory holding `Tests/Fixtures`.
public let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

/// The root of the package.
public let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The built `refclip` executable: `$REFCLIP_BIN`, else the release build, else the debug build.
public func refclipBinary() -> String? {
    if let path = ProcessInfo.processInfo.environment["REFCLIP_BIN"] { return path }
    for config in ["release", "debug"] {
        let path = packageRoot.appendingPathComponent(".build/\(config)/refclip").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Runs a program to completion and returns its exit status and combined output. Its environment is
/// this process's with `environment` added and the variables named in `removing` taken out.
public func runProcess(_ executable: String, _ arguments: [String], environment: [String: String] = [:], removing: [String] = [],
                       timeout: TimeInterval = 600) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    for name in removing { env[name] = nil }
    process.environment = env
    // Output goes to a file: no pipe to fill up, no reader thread.
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("refclip-test-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let handle = try FileHandle(forWritingTo: log)
    defer { try? handle.close() }
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning {
        if Date() > deadline {
            process.terminate()
            break
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
    process.waitUntilExit()
    return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
}

/// The path of `mpirun`, if installed.
public func mpirunPath() -> String? {
    ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Environment for mpirun as root in containers, oversubscribed, one BLAS thread per rank.
public let mpirunEnvironment = [
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1", "OPENBLAS_NUM_THREADS": "1",
]
