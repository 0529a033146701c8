// Zstd.swift — zstd frames with content checksums, and the byte shuffle that makes float data
// compressible (all first bytes, then all second bytes, …).

import CZstd
import Tensors

/// Compression of byte buffers into self-checking zstd frames.
public enum Zstd {
    /// One zstd frame holding `bytes`, with its content size and an XXH64 checksum recorded.
    public static func compress(_ bytes: UnsafeRawBufferPointer, level: Int32 = 1) -> [UInt8] {
        guard let context = ZSTD_createCCtx() else { fatalError("zstd: cannot allocate a compression context") }
        defer { ZSTD_freeCCtx(context) }
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes.count))
        let written = out.withUnsafeMutableBytes { o in
            ZSTD_compress2(context, o.baseAddress, o.count, bytes.baseAddress, bytes.count)
        }
        precondition(ZSTD_isError(written) == 0, "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
        out.removeLast(out.count - written)
        return out
    }

    /// The content of one frame; throws a description of the problem when the frame is damaged
    /// (bad magic, truncated, checksum mismatch) or its size is not `expectedSize`. Nothing is allocated
    /// before the recorded size is checked against `expectedSize`, which a caller reading a file bounds.
    public static func decompress(_ frame: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        let recorded = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard recorded != UInt64.max, recorded != UInt64.max - 1, let size = CheckedSize.int(recorded) else {
            throw ZstdError("not a zstd frame with a recorded size")
        }
        guard size == expectedSize else {
            throw ZstdError("frame holds \(size) bytes, expected \(expectedSize)")
        }
        var out = [UInt8](repeating: 0, count: size)
        let read = out.withUnsafeMutableBytes { ZSTD_decompress($0.baseAddress, $0.count, frame.baseAddress, frame.count) }
        guard ZSTD_isError(read) == 0 else { throw ZstdError(String(cString: ZSTD_getErrorName(read))) }
        guard read == size else { throw ZstdError("frame decoded to \(read) bytes, header says \(size)") }
        return out
    }

    /// Decompresses one frame into `out` (grown when needed, never shrunk), avoiding an allocation
    /// per call; `out[0 ..< expectedSize]` holds the content afterwards.
    public static func decompress(_ frame: UnsafeRawBufferPointer, into out: inout [UInt8], expectedSize: Int) throws {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard size != UInt64.max, size != UInt64.max - 1 else { throw ZstdError("not a zstd frame with a recorded size") }
        guard CheckedSize.int(size) == expectedSize else { throw ZstdError("frame holds \(size) bytes, expected \(expectedSize)") }
        if out.count < expectedSize { out = [UInt8](repeating: 0, count: expectedSize) }
        let read = out.withUnsafeMutableBytes { ZSTD_decompress($0.baseAddress, expectedSize, frame.baseAddress, frame.count) }
        guard ZSTD_isError(read) == 0 else { throw ZstdError(String(cString: ZSTD_getErrorName(read))) }
        guard read == expectedSize else { throw ZstdError("frame decoded to \(read) bytes, header says \(size)") }
    }

    /// Byte-shuffles `count` elements of `elementSize` bytes: byte k of element i goes to k·count + i.
    public static func shuffle(_ bytes: UnsafeRawBufferPointer, elementSize: Int) -> [UInt8] {
        let count = bytes.count / elementSize
        precondition(count * elementSize == bytes.count, "shuffle: \(bytes.count) bytes are not whole \(elementSize)-byte elements")
        var out = [UInt8](repeating: 0, count: bytes.count)
        guard let source = bytes.baseAddress else { return out }
        out.withUnsafeMutableBytes { shuffle(source, count: count, elementSize: elementSize, into: $0.baseAddress!, at: 0, total: count) }
        return out
    }

    /// Inverse of `shuffle`.
    public static func unshuffle(_ bytes: UnsafeRawBufferPointer, elementSize: Int, into out: UnsafeMutableRawBufferPointer) {
        let count = bytes.count / elementSize
        precondition(count * elementSize == bytes.count && out.count == bytes.count, "unshuffle: sizes differ")
        guard let source = bytes.baseAddress, let target = out.baseAddress else { return }
        unshuffle(source, count: count, elementSize: elementSize, from: 0, total: count, into: target)
    }

    /// Places `count` elements as elements [first, first + count) of a byte-shuffled array of `total`
    /// elements (byte k of element i at k·total + i), so several arrays shuffle into one buffer.
    public static func shuffle(_ source: UnsafeRawPointer, count: Int, elementSize: Int, into shuffled: UnsafeMutableRawPointer,
                               at first: Int, total: Int) {
        let bytes = source.assumingMemoryBound(to: UInt8.self), target = shuffled.assumingMemoryBound(to: UInt8.self)
        for k in 0 ..< elementSize {
            let plane = target + k * total + first
            for i in 0 ..< count { plane[i] = bytes[i * elementSize + k] }
        }
    }

    /// Reads elements [first, first + count) of a byte-shuffled array of `total` elements into `target`.
    public static func unshuffle(_ shuffled: UnsafeRawPointer, count: Int, elementSize: Int, from first: Int, total: Int,
                                 into target: UnsafeMutableRawPointer) {
        let source = shuffled.assumingMemoryBound(to: UInt8.self), bytes = target.assumingMemoryBound(to: UInt8.self)
        for k in 0 ..< elementSize {
            let plane = source + k * total + first
            for i in 0 ..< count { bytes[i * elementSize + k] = plane[i] }
        }
    }
}

/// A damaged or unexpected zstd frame.
public struct ZstdError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
