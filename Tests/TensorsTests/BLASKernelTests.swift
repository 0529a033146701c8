// BLASKernelTests.swift — the kernel decision on data: CPUs described by their CPUID features and the
// kernel OpenBLAS picked (Emerald Rapids, family 6 model 207, falls back to Prescott and must get an
// AVX-512 kernel), the user's OPENBLAS_CORETYPE kept, one restart at most; and this machine's CPUID
// decoded as /proc/cpuinfo reports it.

import Foundation
import Tensors
import XCTest

final class BLASKernelTests: XCTestCase {
    private func cpu(_ vendor: String = "GenuineIntel", family: Int = 6, model: Int, _ level: ISALevel, osSavesAVX512: Bool = true) -> CPUFeatures {
        var cpu = CPUFeatures(vendor: vendor, family: family, model: model)
        if level >= .avx { cpu.avx = true; cpu.osSavesAVX = true }
        if level >= .avx2 { cpu.avx2 = true; cpu.fma = true }
        if level >= .avx512 {
            (cpu.avx512f, cpu.avx512dq, cpu.avx512cd, cpu.avx512bw, cpu.avx512vl) = (true, true, true, true, true)
            cpu.osSavesAVX512 = osSavesAVX512
        }
        if level >= .avx512bf16 { cpu.avx512bf16 = true }
        return cpu
    }

    func testEmeraldRapidsOnThePrescottFallbackRestartsOnAnAVX512Kernel() {
        let emeraldRapids = cpu(model: 207, .avx512bf16)
        XCTAssertEqual(emeraldRapids.level, .avx512bf16)
        XCTAssertEqual(emeraldRapids.description, "GenuineIntel family 6 model 207 (AVX-512 with BF16)")
        XCTAssertEqual(BLASKernel.decide(corename: "Prescott", cpu: emeraldRapids, environment: [:]), .restart(coretype: "Cooperlake"))
        XCTAssertEqual(BLASKernel.level(of: "Cooperlake"), .avx512bf16)
        // The same CPU without BF16 (Skylake-SP, model 85) gets SkylakeX; with its ZMM state unsaved by the OS, only AVX2.
        XCTAssertEqual(BLASKernel.decide(corename: "Haswell", cpu: cpu(model: 85, .avx512), environment: [:]), .restart(coretype: "SkylakeX"))
        let unsaved = cpu(model: 85, .avx512, osSavesAVX512: false)
        XCTAssertEqual(unsaved.level, .avx2)
        XCTAssertEqual(BLASKernel.decide(corename: "Haswell", cpu: unsaved, environment: [:]), .keep)
        XCTAssertEqual(BLASKernel.decide(corename: "Prescott", cpu: unsaved, environment: [:]), .restart(coretype: "Haswell"))
    }

    func testAKernelThatFitsTheCPUIsKept() {
        let zen3 = cpu("AuthenticAMD", family: 25, model: 1, .avx2)
        for kernel in ["Zen", "Haswell", "haswell"] { XCTAssertEqual(BLASKernel.decide(corename: kernel, cpu: zen3, environment: [:]), .keep, kernel) }
        XCTAssertEqual(BLASKernel.decide(corename: "Sandybridge", cpu: zen3, environment: [:]), .restart(coretype: "Haswell"))
        XCTAssertEqual(BLASKernel.decide(corename: "Sandybridge", cpu: cpu(model: 42, .avx), environment: [:]), .keep)
        XCTAssertEqual(BLASKernel.decide(corename: "Core2", cpu: cpu(model: 15, .sse3), environment: [:]), .keep, "nothing beats SSE3 there")
        XCTAssertEqual(BLASKernel.decide(corename: "SkylakeX", cpu: cpu(model: 85, .avx512), environment: [:]), .keep)
        XCTAssertEqual(BLASKernel.decide(corename: "Cooperlake", cpu: cpu(model: 143, .avx512bf16), environment: [:]), .keep)
        XCTAssertEqual(BLASKernel.decide(corename: "SapphireRapids", cpu: cpu(model: 143, .avx512bf16), environment: [:]), .keep)
    }

    func testUnknownKernelsAndCPUsAreLeftAlone() {
        XCTAssertEqual(BLASKernel.decide(corename: "NEOVERSEN1", cpu: nil, environment: [:]), .keep, "no CPUID: not x86-64")
        XCTAssertEqual(BLASKernel.decide(corename: "SomeFutureKernel", cpu: cpu(model: 207, .avx512bf16), environment: [:]), .keep)
    }

    func testTheUsersChoiceIsKeptAndARestartHappensOnce() {
        let emeraldRapids = cpu(model: 207, .avx512bf16)
        XCTAssertEqual(BLASKernel.decide(corename: "Prescott", cpu: emeraldRapids, environment: ["OPENBLAS_CORETYPE": "Prescott"]), .keep)
        let restarted = ["OPENBLAS_CORETYPE": "Cooperlake", "REFCLIP_BLAS_RESTARTED_FROM": "Prescott"]
        XCTAssertEqual(BLASKernel.decide(corename: "Cooperlake", cpu: emeraldRapids, environment: restarted), .keep)
        XCTAssertEqual(BLASKernel.decide(corename: "Prescott", cpu: emeraldRapids, environment: restarted), .restartDidNotTake(requested: "Cooperlake"),
                       "a build without the kernel: no second restart")
        let simulated = ["OPENBLAS_CORETYPE": "Prescott", "REFCLIP_SIMULATED_BLAS_FALLBACK": "1"]
        XCTAssertEqual(BLASKernel.decide(corename: "Prescott", cpu: emeraldRapids, environment: simulated), .restart(coretype: "Cooperlake"))
        XCTAssertEqual(BLASKernel.origin(environment: [:]), "detected by OpenBLAS")
        XCTAssertEqual(BLASKernel.origin(environment: ["OPENBLAS_CORETYPE": "Haswell"]), "OPENBLAS_CORETYPE=Haswell")
        XCTAssertEqual(BLASKernel.origin(environment: restarted), "set by refclip: OpenBLAS had picked Prescott")
    }

    /// CPUID decoded here agrees with the kernel's own reading of it.
    func testThisMachinesCPUIDMatchesProcCpuinfo() throws {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8), let cpu = CPUFeatures.current() else {
            throw XCTSkip("no /proc/cpuinfo or no CPUID on this machine")
        }
        let first = text.components(separatedBy: "\n\n")[0].split(separator: "\n")
        func field(_ name: String) -> String? {
            first.first { $0.hasPrefix(name) }.flatMap { $0.split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) }
        }
        XCTAssertEqual(cpu.vendor, field("vendor_id"))
        XCTAssertEqual("\(cpu.family)", field("cpu family"))
        XCTAssertEqual("\(cpu.model)", field("model\t"))
        let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
        // Linux lists a flag only when the OS supports its registers, as CPUFeatures.level requires.
        let expected: ISALevel = !flags.isSuperset(of: ["avx"]) ? .sse3
            : !flags.isSuperset(of: ["avx2", "fma"]) ? .avx
            : !flags.isSuperset(of: ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"]) ? .avx2
            : flags.contains("avx512_bf16") ? .avx512bf16 : .avx512
        XCTAssertEqual(cpu.level, expected, "flags: \(flags.sorted().filter { $0.hasPrefix("avx") || $0 == "fma" })")
    }
}
