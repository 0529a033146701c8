// TorchCheckpointTests.swift — the `.pth` reader against files PyTorch writes (REFCLIP_PYTHON, the
// venv `make test` installs with torch): a state dict of assorted dtypes, shapes, shared storages and
// strided views reads back as the same tensors; a pickle that names os.system is refused by name and
// runs nothing; truncated files are refused; a flipped bit anywhere is refused or changes nothing.

import Formats
import Foundation
import Tensors
import TestSupport
import XCTest

final class TorchCheckpointTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "torch-checkpoint-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    private func python(_ script: String) throws {
        let python = try XCTUnwrap(ProcessInfo.processInfo.environment["REFCLIP_PYTHON"], "make test sets REFCLIP_PYTHON (a Python with torch)")
        let result = try runProcess(python, ["-c", "import os; os.chdir(\"\(directory)\")\n" + script])
        XCTAssertEqual(result.status, 0, result.output)
    }

    /// Writes state.pth with torch.save and expected.safetensors with the same tensors made contiguous.
    private func writeStateDict() throws {
        try python("""
        import collections, numpy as np, torch
        from safetensors.numpy import save_file
        g = torch.Generator().manual_seed(3)
        base = torch.randn(6, 5, generator=g)
        state = collections.OrderedDict()
        state["conv.weight"] = torch.randn(64, 32, 3, 3, generator=g)  # most of the file: most flips land in data
        state["transposed"] = base.t()                 # strided view
        state["shared.rows"] = base[2:4]               # offset into the same storage
        state["half"] = torch.randn(7, generator=g).half()
        state["double"] = torch.randn(2, 2, generator=g).double()
        state["bn.num_batches_tracked"] = torch.tensor(12345678901, dtype=torch.long)
        state["empty"] = torch.zeros(0, 3)
        state["parameter"] = torch.nn.Parameter(torch.randn(3, generator=g))
        torch.save(state, "state.pth")
        save_file({k: v.detach().contiguous().numpy() for k, v in state.items()}, "expected.safetensors")
        torch.save({"epoch": 3, "state_dict": state}, "nested.pth")
        """)
    }

    private func assertMatchesExpected(_ checkpoint: TorchCheckpoint, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try SafetensorsFile(path: directory + "/expected.safetensors")
        XCTAssertEqual(checkpoint.tensors.map(\.name), ["conv.weight", "transposed", "shared.rows", "half", "double", "bn.num_batches_tracked", "empty", "parameter"],
                       file: file, line: line)
        for tensor in checkpoint.tensors {
            let entry = try expected.entry(tensor.name)
            XCTAssertEqual(tensor.dtype, entry.dtype, tensor.name, file: file, line: line)
            XCTAssertEqual(tensor.shape, entry.shape, tensor.name, file: file, line: line)
            XCTAssertEqual(tensor.bytes, Array(try expected.rawBytes(tensor.name)), tensor.name, file: file, line: line)
        }
    }

    func testReadsWhatTorchSaveWrites() throws {
        try writeStateDict()
        try assertMatchesExpected(try TorchCheckpoint(path: directory + "/state.pth"))
        try assertMatchesExpected(try TorchCheckpoint(path: directory + "/nested.pth"))
        // And converts it to safetensors under the same names.
        try TorchCheckpoint(path: directory + "/state.pth").safetensors(metadata: ["source": "state.pth"]).write(to: directory + "/converted.safetensors")
        let converted = try SafetensorsFile(path: directory + "/converted.safetensors")
        XCTAssertEqual(converted.metadata["source"], "state.pth")
        XCTAssertEqual(try converted.floats("conv.weight"), try SafetensorsFile(path: directory + "/expected.safetensors").floats("conv.weight"))
    }

    func testAPickleNamingAnyOtherGlobalIsRefusedAndNothingRuns() throws {
        try python("""
        import os, pickle, zipfile
        class Exploit:
            def __reduce__(self):
                return (os.system, ("touch ran",))
        for name, payload in [("system.pth", pickle.dumps({"weight": Exploit()}, protocol=2)),
                              ("stack-global.pth", pickle.dumps({"weight": Exploit()}, protocol=4))]:
            with zipfile.ZipFile(name, "w") as archive:
                archive.writestr("archive/data.pkl", payload)
                archive.writestr("archive/version", "3\\n")
        """)
        for name in ["system.pth", "stack-global.pth"] {
            XCTAssertThrowsError(try TorchCheckpoint(path: "\(directory)/\(name)"), name) { error in
                XCTAssertTrue("\(error)".contains("global posix.system") || "\(error)".contains("global os.system"), "\(error)")
                XCTAssertTrue("\(error)".contains("nothing was executed"), "\(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/ran"))
    }

    func testLegacyFilesAreRefusedWithTheConversion() throws {
        try python("import torch; torch.save({'w': torch.ones(2)}, 'legacy.pth', _use_new_zipfile_serialization=False)")
        XCTAssertThrowsError(try TorchCheckpoint(path: directory + "/legacy.pth")) { error in
            XCTAssertTrue("\(error)".contains("legacy (non-ZIP)") && "\(error)".contains("torch.save(torch.load("), "\(error)")
        }
    }

    func testTruncatedAndBitFlippedFilesAreRefusedOrUnchanged() throws {
        try writeStateDict()
        let original = try Data(contentsOf: URL(fileURLWithPath: directory + "/state.pth"))
        let damaged = directory + "/damaged.pth"
        for length in [0, 3, 100, original.count / 2, original.count - 30, original.count - 1] {
            try original.prefix(length).write(to: URL(fileURLWithPath: damaged))
            XCTAssertThrowsError(try TorchCheckpoint(path: damaged), "truncated to \(length) bytes")
        }
        var generator = KeyedGenerator(RandomKey(seed: 11))
        var refused = 0
        for _ in 0 ..< 300 {
            var bytes = original
            let at = Int(generator.next() % UInt64(bytes.count))
            bytes[at] ^= 1 << UInt8(generator.next() % 8)
            try bytes.write(to: URL(fileURLWithPath: damaged))
            do {
                // Bytes no reader looks at (ZIP padding, unused header fields) may change freely.
                try assertMatchesExpected(try TorchCheckpoint(path: damaged))
            } catch {
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 280, "most flipped bits land in tensor data, whose CRC-32 must catch them")
    }
}
