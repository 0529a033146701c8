// FileIO.swift — read-only memory maps and crash-safe whole-file writes.

import Foundation

/// A file mapped read-only into memory; unmapped when released.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The file's bytes. Valid for the lifetime of this object.
    public let bytes: UnsafeRawBufferPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw InputError(file: path, "cannot open: \(String(cString: strerror(errno)))",
                             hint: "check the path and its permissions")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw InputError(file: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw InputError(file: path, "cannot map into memory: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// Writes `bytes` to `path` so that a crash at any moment leaves either the old file or the new one:
/// a temporary file in the same directory, fsync, rename over the target, fsync of the directory.
/// On failure the temporary file is removed and the old file is untouched.
public func writeFileAtomically(_ path: String, _ write: (FileHandle) throws -> Void) throws {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
        throw InputError(file: temporary, "cannot create: \(String(cString: strerror(errno)))",
                         hint: "check that the directory exists and is writable")
    }
    do {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        defer { try? handle.close() }
        try write(handle)
        try handle.synchronize()
    } catch {
        unlink(temporary)
        throw InputError(file: path, "write failed: \(error)", hint: "check free disk space; the previous file is intact")
    }
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw InputError(file: path, "cannot rename the temporary file into place: \(reason)")
    }
    let dirfd = open(directory.isEmpty ? "." : directory, O_RDONLY)
    if dirfd >= 0 {
        fsync(dirfd)
        close(dirfd)
    }
}

/// Writes a whole byte array atomically (see `writeFileAtomically(_:_:)`).
public func writeFileAtomically(_ path: String, bytes: [UInt8]) throws {
    try writeFileAtomically(path) { handle in try handle.write(contentsOf: bytes) }
}
