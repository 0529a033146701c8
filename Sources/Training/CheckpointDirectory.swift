// CheckpointDirectory.swift — a run's checkpoints: RUN/checkpoints/step-NNNNNNNN.refclip, each
// written atomically and then marked complete in RUN/checkpoints/index.json (also rewritten
// atomically); only indexed checkpoints are ever resumed from. Keeps the newest k; `latest` verifies
// candidates newest first and falls back past damaged ones, saying so. A write cut short leaves only a
// hidden temporary file, removed when the run starts again.

import Foundation
import Tensors

/// One complete checkpoint in the index.
public struct CheckpointEntry: Codable, Equatable, Sendable {
    public var file: String
    public var step: Int
    public var epoch: Int
    public var bytes: Int
}

/// The checkpoints of one run directory.
public struct CheckpointDirectory {
    public let directory: String
    private var indexPath: String { directory + "/index.json" }

    public init(run: String) { directory = run + "/checkpoints" }

    /// The complete checkpoints, oldest first.
    public func entries() throws -> [CheckpointEntry] {
        guard let data = FileManager.default.contents(atPath: indexPath) else { return [] }
        do {
            return try JSONDecoder().decode([CheckpointEntry].self, from: data)
        } catch {
            throw InputError(file: indexPath, "unreadable checkpoint index: \(error)", hint: "pass a checkpoint file to --resume instead")
        }
    }

    /// Writes a checkpoint for `step` with `write(path)`, marks it complete, and keeps the newest `keep`.
    @discardableResult
    public func save(step: Int, epoch: Int, keep: Int, _ write: (String) throws -> Void) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = self.path(step: step), file = (path as NSString).lastPathComponent
        try write(path)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        var all = try entries().filter { $0.file != file }
        all.append(CheckpointEntry(file: file, step: step, epoch: epoch, bytes: bytes))
        let kept = Array(all.suffix(max(keep, 1)))
        try writeIndex(kept)
        for old in all.dropLast(kept.count) { try? FileManager.default.removeItem(atPath: directory + "/" + old.file) }
        return path
    }

    /// Where the checkpoint of `step` goes.
    public func path(step: Int) -> String { directory + "/" + String(format: "step-%08d.refclip", step) }

    /// Drops index entries after `step` (a resumed run replaces its own future).
    public func forget(after step: Int) throws {
        let all = try entries()
        let kept = all.filter { $0.step <= step }
        guard kept.count != all.count else { return }
        try writeIndex(kept)
    }

    /// Deletes the temporary files of writes that never finished (a process killed while writing,
    /// e.g. SIGKILL after a grace time shorter than the write); returns their names.
    public func removeUnfinishedWrites() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let unfinished = names.filter { $0.hasPrefix(".") && $0.contains(".tmp-") }.sorted()
        for name in unfinished { try? FileManager.default.removeItem(atPath: directory + "/" + name) }
        return unfinished
    }

    private func writeIndex(_ entries: [CheckpointEntry]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try writeFileAtomically(indexPath, bytes: [UInt8](try encoder.encode(entries)))
    }

    /// The newest complete checkpoint that reads back intact, with notes about any skipped ones.
    public func latest(note: (String) -> Void) throws -> (path: String, checkpoint: Checkpoint) {
        let all = try entries()
        guard !all.isEmpty else {
            throw InputError(file: indexPath, "no complete checkpoint to resume from", hint: "start without --resume, or pass a checkpoint file")
        }
        for entry in all.reversed() {
            let path = directory + "/" + entry.file
            do {
                return (path, try Checkpoint.read(path))
            } catch {
                note("checkpoint \(path) is unusable (\(error)); falling back to an earlier one")
            }
        }
        throw InputError(file: indexPath, "every indexed checkpoint is damaged", hint: "start again without --resume")
    }
}
