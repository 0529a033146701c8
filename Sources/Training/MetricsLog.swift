// MetricsLog.swift — what rank 0 tells the user while training: a progress line per logged step on
// standard output and one JSON object per line in RUN/metrics.jsonl.

import Foundation
import Tensors

/// Appends JSON lines to a run's metrics file and prints progress.
public final class MetricsLog {
    private let handle: FileHandle?
    private let path: String?

    /// Opens (appending) `path`; nil disables the file (ranks other than 0).
    public init(path: String?) throws {
        self.path = path
        guard let path else { handle = nil; return }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw InputError(file: path, "cannot open the metrics file for writing")
        }
        h.seekToEndOfFile()
        handle = h
    }

    deinit { try? handle?.close() }

    /// Writes one JSON object as a line (non-finite numbers as null, which JSON can hold); a failed
    /// write (full disk) is an error, not a crash.
    public func record(_ fields: [String: Any]) throws {
        guard let handle else { return }
        let finite = fields.mapValues { value -> Any in
            if let d = value as? Double, !d.isFinite { return NSNull() }
            return value
        }
        let data = try JSONSerialization.data(withJSONObject: finite, options: [.sortedKeys])
        do {
            try handle.write(contentsOf: data + Data("\n".utf8))
        } catch {
            throw InputError(file: path, "cannot append to the metrics file: \(error.localizedDescription)", hint: "check free disk space")
        }
    }
}
