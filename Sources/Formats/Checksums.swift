// Checksums.swift — the digests refclip records and checks: SHA-256 (swift-crypto), which names in a
// result exactly the checkpoint or weights it came from, and CRC-32 (zlib), which every ZIP entry
// carries.

import Crypto
import CZlib
import Foundation
import Tensors

public enum Checksum {
    /// The SHA-256 digest of `bytes`, as 64 lowercase hex digits.
    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
        Crypto.SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// The SHA-256 digest of a file, read through a memory map.
    public static func sha256Hex(file path: String) throws -> String {
        let mapped = try MappedFile(path: path)
        return sha256Hex(mapped.bytes)
    }

    /// CRC-32 (ISO-HDLC, as ZIP and gzip use) of `bytes`.
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        return UInt32(CZlib.crc32_z(0, base.assumingMemoryBound(to: UInt8.self), bytes.count))
    }
}
