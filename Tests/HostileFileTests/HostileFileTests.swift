// HostileFileTests.swift — every file under Tests/Fixtures/hostile/ is an input the fuzzer (or a
// hostile user) found that once killed refclip: a trap on an unchecked size, a stack overflow, an
// allocation out of proportion to the file. Each must now be refused by its reader with an InputError
// that names the file. The file's name says which reader: `TARGET--what-it-does.EXT` (ReaderTarget).

import Foundation
import ReaderTargets
import Tensors
import TestSupport
import XCTest

final class HostileFileTests: XCTestCase {
    /// The fuzzer's seed corpus (Tests/Fixtures/fuzz-seeds/TARGET/) is read without an error, through
    /// the same path the fuzzer takes: each reader accepts the valid files it is fuzzed from.
    func testEverySeedIsAcceptedThroughTheFuzzersPath() throws {
        let seeds = fixturesDirectory.appendingPathComponent("fuzz-seeds")
        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("seeds-\(UUID())").path
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workspace) }
        for target in ReaderTarget.allCases {
            let directory = seeds.appendingPathComponent(target.rawValue).path
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            XCTAssertFalse(files.isEmpty, "\(target.rawValue): no seed under \(directory)")
            for file in files {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
                let path = try bytes.withUnsafeBytes { try target.materialize($0, in: workspace) }
                XCTAssertNoThrow(try target.read(path: path), "\(target.rawValue)/\(file)")
            }
        }
    }


    func testEveryHostileFileIsRefusedNamingIt() throws {
        let directory = fixturesDirectory.appendingPathComponent("hostile")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted()
        XCTAssertFalse(names.isEmpty, "no hostile files under \(directory.path)")
        var seen = Set<ReaderTarget>()
        for name in names {
            guard let prefix = name.range(of: "--").map({ String(name[..<$0.lowerBound]) }), let target = ReaderTarget(rawValue: prefix) else {
                XCTFail("\(name): the name does not start with a reader (\(ReaderTarget.allCases.map(\.rawValue))) and '--'")
                continue
            }
            seen.insert(target)
            // A feature store is a directory: its packed file is unpacked into one named after the file.
            var path = directory.appendingPathComponent(name).path
            if target == .featureStore {
                let unpacked = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID())/\(name)").path
                try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
                addTeardownBlock { try? FileManager.default.removeItem(atPath: unpacked) }
                path = try Data(contentsOf: URL(fileURLWithPath: path)).withUnsafeBytes { try target.materialize($0, in: unpacked) }
            }
            XCTAssertThrowsError(try target.read(path: path), "\(name) is accepted") { error in
                XCTAssertTrue(error is InputError, "\(name): \(type(of: error)) instead of an InputError: \(error)")
                XCTAssertTrue("\(error)".contains(name), "\(name): the error does not name the file: \(error)")
            }
        }
        print("hostile files: \(names.count), readers: \(seen.map(\.rawValue).sorted().joined(separator: ", "))")
    }
}
