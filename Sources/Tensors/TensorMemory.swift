// TensorMemory.swift — the bytes the process's tensors hold now and at most since the last reset, and
// the resident set the kernel reports: the figures behind `refclip-bench memory` and the peak RSS
// beside every training benchmark.

import Foundation
import Synchronization

/// Process-wide accounting of tensor storage. Every `Tensor` allocation and release is counted, so
/// the difference of `liveBytes` around a piece of work is what that work kept.
public enum TensorMemory {
    private static let live = Atomic<Int>(0)
    private static let peak = Atomic<Int>(0)
    private static let inPool = Atomic<Int>(0)

    static func allocated(_ bytes: Int) {
        let now = live.wrappingAdd(bytes, ordering: .relaxed).newValue
        peak.max(now, ordering: .relaxed)
    }

    static func released(_ bytes: Int) { live.wrappingSubtract(bytes, ordering: .relaxed) }

    static func pooled(_ bytes: Int) { inPool.wrappingAdd(bytes, ordering: .relaxed) }

    static func unpooled(_ bytes: Int) { inPool.wrappingSubtract(bytes, ordering: .relaxed) }

    /// Bytes held by tensors now.
    public static var liveBytes: Int { live.load(ordering: .relaxed) }

    /// Bytes released by tensors and kept for reuse (`Tensor.release()`): held by the process, not by a tensor.
    public static var pooledBytes: Int { inPool.load(ordering: .relaxed) }

    /// Frees the storage released tensors left for reuse (after the work that reuses it, such as
    /// training before evaluation, or between benchmarks).
    public static func freeReleasedStorage() { StoragePool.drain() }

    /// The most bytes tensors held at once since the last `resetPeak()` (or the start).
    public static var peakBytes: Int { peak.load(ordering: .relaxed) }

    /// Starts a new peak at what is live now.
    public static func resetPeak() { peak.store(liveBytes, ordering: .relaxed) }

    /// The process's resident set now and its peak (VmRSS and VmHWM of /proc/self/status), nil where
    /// the kernel does not report them.
    public static func residentBytes() -> (current: Int, peak: Int)? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let current = kilobytes("VmRSS", in: status), let peak = kilobytes("VmHWM", in: status) else { return nil }
        return (current * 1024, peak * 1024)
    }

    /// The number of a /proc status line such as "VmHWM:\t  842000 kB" (a tab, then spaces only while
    /// the number is shorter than 8 digits), nil when `status` has no such line.
    public static func kilobytes(_ key: String, in status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return nil }
        return line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first
    }

    /// Starts the kernel's peak resident set (VmHWM) anew at the current one; false where the kernel
    /// does not allow it.
    @discardableResult
    public static func resetResidentPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }
}
