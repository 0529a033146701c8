// ChecksumTests.swift — SHA-256 against the FIPS 180-4 examples and a multi-block input; CRC-32 against
// the check value of its catalogue entry and a known ZIP entry's.

import Formats
import XCTest

final class ChecksumTests: XCTestCase {
    private func sha256(_ text: String) -> String { Array(text.utf8).withUnsafeBytes { Checksum.sha256Hex($0) } }
    private func crc32(_ text: String) -> UInt32 { Array(text.utf8).withUnsafeBytes { Checksum.crc32($0) } }

    func testKnownSHA256Digests() {
        XCTAssertEqual(sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(sha256(String(repeating: "a", count: 1000)), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    func testKnownCRC32Values() {
        XCTAssertEqual(crc32(""), 0)
        XCTAssertEqual(crc32("123456789"), 0xCBF4_3926)
        XCTAssertEqual(crc32("The quick brown fox jumps over the lazy dog"), 0x414F_A339)
    }
}
