// ZipArchive.swift — a read-only ZIP archive of uncompressed entries, the container PyTorch's
// `torch.save` writes: the end-of-central-directory record (ZIP64 when present) locates the central
// directory; each entry's data follows its local header, whose own extra field (PyTorch pads there to
// align data) gives the offset. Every read checks the entry's CRC-32, so a flipped bit is an error.

import Tensors

/// The entries of a ZIP file held in memory.
public struct ZipArchive {
    /// One stored file.
    public struct Entry: Sendable {
        public let name: String
        let method: UInt16, crc: UInt32
        let compressedSize: Int, size: Int, localHeader: Int
    }

    public let entries: [Entry]
    private let bytes: UnsafeRawBufferPointer
    private let source: String

    /// Parses the central directory of `bytes` (which must outlive the archive); `source` names the
    /// file in errors.
    public init(bytes: UnsafeRawBufferPointer, source: String) throws {
        self.bytes = bytes
        self.source = source
        func fail(_ problem: String) -> InputError {
            InputError(file: source, problem, hint: "the file is damaged or not a ZIP archive; re-download or re-save it")
        }
        guard let end = Self.lastSignature(0x0605_4b50, in: bytes, minimumLength: 22) else {
            throw fail("no end-of-central-directory record (a truncated file?)")
        }
        var count = Int(Self.read(UInt16.self, bytes, end + 10))
        var directory = Int(Self.read(UInt32.self, bytes, end + 16))
        // ZIP64: a locator just before the record points at the 64-bit record. Every offset and size
        // read from the file is checked to fit an Int and to lie inside the file before it is used.
        if end >= 20, Self.read(UInt32.self, bytes, end - 20) == 0x0706_4b50 {
            guard let record = CheckedSize.int(Self.read(UInt64.self, bytes, end - 12)), CheckedSize.fits(offset: record, count: 56, in: bytes.count),
                  Self.read(UInt32.self, bytes, record) == 0x0606_4b50 else {
                throw fail("the ZIP64 end-of-central-directory record is missing")
            }
            guard let entryCount = CheckedSize.int(Self.read(UInt64.self, bytes, record + 32)),
                  let start = CheckedSize.int(Self.read(UInt64.self, bytes, record + 48)) else {
                throw fail("the ZIP64 record's entry count or directory offset is out of range")
            }
            (count, directory) = (entryCount, start)
        }
        var entries: [Entry] = []
        var at = directory
        for _ in 0 ..< count {
            guard CheckedSize.fits(offset: at, count: 46, in: bytes.count), Self.read(UInt32.self, bytes, at) == 0x0201_4b50 else {
                throw fail("central directory entry \(entries.count) is damaged")
            }
            let nameLength = Int(Self.read(UInt16.self, bytes, at + 28)), extraLength = Int(Self.read(UInt16.self, bytes, at + 30))
            let commentLength = Int(Self.read(UInt16.self, bytes, at + 32))
            guard CheckedSize.fits(offset: at, count: 46 + nameLength + extraLength + commentLength, in: bytes.count) else {
                throw fail("central directory entry \(entries.count) is damaged")
            }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at + 46 ..< at + 46 + nameLength]), as: UTF8.self)
            var compressedSize = Int(Self.read(UInt32.self, bytes, at + 20)), size = Int(Self.read(UInt32.self, bytes, at + 24))
            var localHeader = Int(Self.read(UInt32.self, bytes, at + 42))
            // The ZIP64 extra field holds, in this order, whichever of the three fields is 0xFFFFFFFF.
            var extra = at + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = Self.read(UInt16.self, bytes, extra), length = Int(Self.read(UInt16.self, bytes, extra + 2))
                if id == 1 {
                    var field = extra + 4
                    func widen(_ value: inout Int) throws {
                        guard value == 0xFFFF_FFFF, field + 8 <= min(extra + 4 + length, extraEnd) else { return }
                        guard let wide = CheckedSize.int(Self.read(UInt64.self, bytes, field)) else {
                            throw fail("central directory entry \(entries.count) has a ZIP64 size or offset out of range")
                        }
                        value = wide
                        field += 8
                    }
                    try widen(&size)
                    try widen(&compressedSize)
                    try widen(&localHeader)
                }
                extra += 4 + length
            }
            entries.append(Entry(name: name, method: Self.read(UInt16.self, bytes, at + 10), crc: Self.read(UInt32.self, bytes, at + 16),
                                 compressedSize: compressedSize, size: size, localHeader: localHeader))
            at += 46 + nameLength + extraLength + commentLength
        }
        self.entries = entries
    }

    /// The entry called `name`, if any.
    public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    /// The bytes of `entry`, after checking its method, bounds and CRC-32.
    public func contents(_ entry: Entry) throws -> UnsafeRawBufferPointer {
        func fail(_ problem: String, hint: String = "the file is damaged; re-download or re-save it") -> InputError {
            InputError(file: source, location: entry.name, problem, hint: hint)
        }
        guard entry.method == 0 else {
            throw fail("is compressed (method \(entry.method)); only uncompressed entries are read",
                       hint: "torch.save writes uncompressed archives: load the file in PyTorch and torch.save it again")
        }
        let header = entry.localHeader
        guard CheckedSize.fits(offset: header, count: 30, in: bytes.count), Self.read(UInt32.self, bytes, header) == 0x0403_4b50 else {
            throw fail("its local header is missing")
        }
        let start = header + 30 + Int(Self.read(UInt16.self, bytes, header + 26)) + Int(Self.read(UInt16.self, bytes, header + 28))
        guard entry.size == entry.compressedSize, CheckedSize.fits(offset: start, count: entry.size, in: bytes.count) else {
            throw fail("its \(entry.size) bytes run past the end of the file (a truncated file?)")
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[start ..< start + entry.size])
        guard Checksum.crc32(data) == entry.crc else { throw fail("its CRC-32 does not match (the data is corrupted)") }
        return data
    }

    private static func read<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, _ offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// The offset of the last `signature` with room for `minimumLength` bytes (the record's comment is at most 64 KiB).
    private static func lastSignature(_ signature: UInt32, in bytes: UnsafeRawBufferPointer, minimumLength: Int) -> Int? {
        guard bytes.count >= minimumLength else { return nil }
        let lowest = max(0, bytes.count - minimumLength - 65_535)
        for at in stride(from: bytes.count - minimumLength, through: lowest, by: -1) where read(UInt32.self, bytes, at) == signature {
            return at
        }
        return nil
    }
}
