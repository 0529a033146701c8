// RGBImage.swift — 8-bit RGB images decoded from JPEG (libjpeg-turbo) and PNG (libpng) files, and
// encoded as PNG. Decoding ignores EXIF orientation: pixels come in file order, as the detector's
// reference preprocessing reads them. Alpha is dropped, grey is expanded to RGB.

import CImage
import Foundation
import Tensors

/// An image as interleaved 8-bit RGB, row-major: pixel (x, y) channel c at `pixels[(y·width + x)·3 + c]`.
public struct RGBImage: Equatable, Sendable {
    public let width: Int, height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)×\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Reads and decodes a JPEG or PNG file (recognized by its first bytes, not its name).
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, "cannot read the image", hint: "check the image root and the file's permissions")
        }
        self = try RGBImage(encoded: [UInt8](data), source: path)
    }

    /// Decodes JPEG or PNG bytes; `source` names them in errors.
    public init(encoded bytes: [UInt8], source: String) throws {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = try Self.decodeJPEG(bytes, source: source)
        } else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            self = try Self.decodePNG(bytes, source: source)
        } else {
            throw InputError(file: source, "not a JPEG or PNG file", hint: "convert the image to JPEG or PNG")
        }
    }

    private static func decodeJPEG(_ bytes: [UInt8], source: String) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw InputError(file: source, "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        func failure(_ what: String) -> InputError {
            InputError(file: source, "\(what): \(String(cString: tjGetErrorStr2(handle)))", hint: "the file may be truncated or corrupt")
        }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, bytes, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
            throw failure("cannot read the JPEG header")
        }
        try checkSize(Int(width), Int(height), fileBytes: bytes.count, kind: "JPEG", source: source)
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let status = pixels.withUnsafeMutableBufferPointer {
            tjDecompress2(handle, bytes, UInt(bytes.count), $0.baseAddress, width, 0, height, Int32(TJPF_RGB.rawValue), 0)
        }
        // A warning (for example extraneous bytes after the image) still yields the pixels.
        if status != 0, tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) { throw failure("cannot decode the JPEG") }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    /// The most pixels decoded per byte of the file: deflate compresses at most 1032:1 (344 RGB pixels
    /// per byte) and JPEG less, so only a header that lies asks for more; also never above 2^28 pixels.
    static let pixelsPerByte = 1024

    /// Refuses a size no file of `fileBytes` bytes can hold, before the pixels are allocated.
    private static func checkSize(_ width: Int, _ height: Int, fileBytes: Int, kind: String, source: String) throws {
        guard width > 0, height > 0, width * height <= min(1 << 28, pixelsPerByte * fileBytes) else {
            throw InputError(file: source, "\(kind) of size \(width)×\(height) is not supported from a file of \(fileBytes) bytes",
                             hint: "at most 2^28 pixels, and \(pixelsPerByte) per byte of the file")
        }
    }

    private static func decodePNG(_ bytes: [UInt8], source: String) throws -> RGBImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        func failure(_ image: png_image) -> InputError {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return InputError(file: source, "cannot decode the PNG: \(message)", hint: "the file may be truncated or corrupt")
        }
        guard png_image_begin_read_from_memory(&image, bytes, bytes.count) != 0 else { throw failure(image) }
        image.format = UInt32(PNG_FORMAT_RGB)
        let (width, height) = (Int(image.width), Int(image.height))
        try checkSize(width, height, fileBytes: bytes.count, kind: "PNG", source: source)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * 3), nil) }
        guard ok != 0 else { throw failure(image) }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The image as PNG bytes (lossless, 8-bit RGB).
    public func pngData() throws -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = UInt32(PNG_FORMAT_RGB)
        var size = 0
        let measured = pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, Int32(width * 3), nil) }
        guard measured != 0, size > 0 else { throw InputError("cannot encode a \(width)×\(height) PNG") }
        var out = [UInt8](repeating: 0, count: size)
        let written = out.withUnsafeMutableBytes { buffer in
            pixels.withUnsafeBytes { png_image_write_to_memory(&image, buffer.baseAddress, &size, 0, $0.baseAddress, Int32(width * 3), nil) }
        }
        guard written != 0 else { throw InputError("cannot encode a \(width)×\(height) PNG") }
        return Array(out.prefix(size))
    }
}
