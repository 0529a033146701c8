// CheckpointWriter.swift — checkpoints that do not stop training: the step copies the state into
// buffers the writer keeps (a memory copy, no disk I/O), and a background thread byte-shuffles,
// compresses, writes, fsyncs and renames it while training goes on. One write is in flight at a time:
// the next checkpoint first waits for the previous one, so the copy buffers are reused and the files
// appear in step order; a failed write is reported by the next call (`submit` or `wait`), which is
// where the run then stops, its previous checkpoint intact. The copy is the same state a direct write
// would write at that step, so a run resumes from it bitwise as from a direct one.

import Dispatch
import Formats
import Foundation
import Tensors

/// Rank 0's checkpoint writer.
public final class CheckpointWriter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "refclip.checkpoint-writer")
    private let inFlight = DispatchGroup()
    private var failure: Error?
    private var copies: [Tensor] = []
    /// Seconds the last `submit` held the caller: the wait for the previous write and the copy.
    public private(set) var lastStall = 0.0

    public init() {}

    /// Copies `tensors` and runs `write` with the copies on the writer's thread, after the previous
    /// write has finished; rethrows that write's failure instead. With `waitUntilWritten` returns only
    /// when this one is on disk (the end of a run, a stop signal).
    public func submit(header: CheckpointHeader, tensors: [CheckpointTensorView], waitUntilWritten: Bool,
                       write: @escaping @Sendable (CheckpointHeader, [CheckpointTensorView]) throws -> Void) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        try wait()
        while copies.count < tensors.count { copies.append(Tensor()) }
        for (copy, tensor) in zip(copies, tensors) {
            copy.reshape([tensor.values.count])
            if let source = tensor.values.baseAddress { copy.data.update(from: source, count: tensor.values.count) }
        }
        let copied = Copies(views: zip(tensors, copies).map { tensor, copy in (name: tensor.name, shape: tensor.shape, values: copy.buffer) })
        inFlight.enter()
        queue.async { [self] in
            defer { inFlight.leave() }
            do { try write(header, copied.views) } catch { failure = error }
        }
        lastStall = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        if waitUntilWritten { try wait() }
    }

    /// The writer's own copies, which nobody touches until the write that reads them has finished.
    private struct Copies: @unchecked Sendable {
        let views: [CheckpointTensorView]
    }

    /// Waits for the write in flight, if any; rethrows its failure (once).
    public func wait() throws {
        inFlight.wait()
        if let failure {
            self.failure = nil
            throw failure
        }
    }
}
