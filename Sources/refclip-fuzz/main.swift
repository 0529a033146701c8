// main.swift — `refclip-fuzz TARGET [libFuzzer flags] [CORPUS…]`: libFuzzer over one reader of outside
// files (ReaderTarget). Each input is written where the reader takes it (a file, or a feature-store
// directory) in a private temporary directory and read; errors the reader throws are the expected
// outcome, anything else (a trap, a memory error, an allocation past -malloc_limit_mb) is a finding.
// Built by `make fuzz` with -sanitize=fuzzer,address. A build without libFuzzer replays the files it
// is given instead (`refclip-fuzz TARGET FILE…`: where a finding traps, with a backtrace).

import CFuzzer
import Foundation
import ReaderTargets

var arguments = CommandLine.arguments
guard arguments.count >= 2, let selected = ReaderTarget(rawValue: arguments[1]) else {
    let names = ReaderTarget.allCases.map(\.rawValue).joined(separator: ", ")
    FileHandle.standardError.write(Data("usage: refclip-fuzz TARGET [libFuzzer flags] [CORPUS…]\ntargets: \(names)\n".utf8))
    exit(2)
}
arguments.remove(at: 1)
let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
let workspace = base + "/refclip-fuzz-\(getpid())"
try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
atexit { try? FileManager.default.removeItem(atPath: workspace) }

/// The target and workspace the C callback reads (it cannot capture).
nonisolated(unsafe) var target = selected
nonisolated(unsafe) var directory = workspace

var argc = Int32(arguments.count)
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = .allocate(capacity: arguments.count + 1)
for (i, argument) in arguments.enumerated() { argv![i] = strdup(argument) }
argv![arguments.count] = nil
let status = refclip_fuzz_driver(&argc, &argv) { data, size in
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let path = try? target.materialize(bytes, in: directory) { _ = try? target.read(path: path) }
    return 0
}
guard status == -1 else { exit(status) }
// Without libFuzzer: replay the given inputs (findings, seeds), saying how each reader answered.
let files = arguments.dropFirst().filter { !$0.hasPrefix("-") }
guard !files.isEmpty else {
    FileHandle.standardError.write(Data("refclip-fuzz: built without libFuzzer: give input files to replay, or run `make fuzz` (it builds with -sanitize=fuzzer,address)\n".utf8))
    exit(2)
}
for file in files {
    do {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        try target.read(path: try bytes.withUnsafeBytes { try target.materialize($0, in: directory) })
        print("\(file): accepted")
    } catch {
        print("\(file): refused: \(error)")
    }
}
