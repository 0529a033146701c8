// CPUFeatures.swift — what this x86-64 CPU can run, read from CPUID (and XCR0 for what the operating
// system saves): its vendor, family and model, and the vector instruction sets BLAS kernels use.

import CCPUID

/// The vector instruction-set levels that OpenBLAS's x86-64 kernels are written for, lowest first.
public enum ISALevel: Int, Comparable, CaseIterable, Sendable, Codable {
    case sse3, avx, avx2, avx512, avx512bf16

    public static func < (a: ISALevel, b: ISALevel) -> Bool { a.rawValue < b.rawValue }

    /// How users know the level: "SSE3", "AVX", "AVX2", "AVX-512", "AVX-512 with BF16".
    public var name: String {
        switch self {
        case .sse3: return "SSE3"
        case .avx: return "AVX"
        case .avx2: return "AVX2"
        case .avx512: return "AVX-512"
        case .avx512bf16: return "AVX-512 with BF16"
        }
    }
}

/// A CPU's identity and the instruction-set features that decide which BLAS kernel it can run.
public struct CPUFeatures: Equatable, Sendable {
    /// The CPUID vendor string, e.g. "GenuineIntel", "AuthenticAMD".
    public var vendor: String
    /// Display family and model (the base values extended as the vendors' manuals define).
    public var family: Int, model: Int
    public var avx = false, fma = false, avx2 = false
    public var avx512f = false, avx512dq = false, avx512cd = false, avx512bw = false, avx512vl = false
    public var avx512bf16 = false
    /// Whether the operating system saves the AVX (YMM) and AVX-512 (ZMM, opmask) register state.
    public var osSavesAVX = false, osSavesAVX512 = false

    public init(vendor: String, family: Int, model: Int) {
        self.vendor = vendor
        self.family = family
        self.model = model
    }

    /// The highest level whose instructions this CPU has and whose registers the OS saves.
    public var level: ISALevel {
        guard avx, osSavesAVX else { return .sse3 }
        guard avx2, fma else { return .avx }
        guard avx512f, avx512dq, avx512cd, avx512bw, avx512vl, osSavesAVX512 else { return .avx2 }
        return avx512bf16 ? .avx512bf16 : .avx512
    }

    /// "GenuineIntel family 6 model 207 (AVX-512 with BF16)".
    public var description: String { "\(vendor) family \(family) model \(model) (\(level.name))" }

    /// This machine's CPU; nil where there is no CPUID (not x86-64).
    public static func current() -> CPUFeatures? {
        func cpuid(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> [UInt32]? {
            var regs: [UInt32] = [0, 0, 0, 0]
            return refclip_cpuid(leaf, subleaf, &regs) == 0 ? nil : regs
        }
        guard let leaf0 = cpuid(0), let leaf1 = cpuid(1) else { return nil }
        let vendorBytes = [leaf0[1], leaf0[3], leaf0[2]].flatMap { word in (0 ..< 4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        let signature = Int(leaf1[0])
        let baseFamily = (signature >> 8) & 0xF, baseModel = (signature >> 4) & 0xF
        let family = baseFamily == 0xF ? baseFamily + ((signature >> 20) & 0xFF) : baseFamily
        let model = baseFamily == 0x6 || baseFamily == 0xF ? baseModel + (((signature >> 16) & 0xF) << 4) : baseModel
        var cpu = CPUFeatures(vendor: String(decoding: vendorBytes, as: UTF8.self), family: family, model: model)
        let ecx1 = leaf1[2]
        func bit(_ word: UInt32, _ n: Int) -> Bool { word & (1 << UInt32(n)) != 0 }
        cpu.fma = bit(ecx1, 12)
        cpu.avx = bit(ecx1, 28)
        if bit(ecx1, 27) {  // OSXSAVE: XGETBV is available
            let xcr0 = refclip_xgetbv0()
            cpu.osSavesAVX = xcr0 & 0x6 == 0x6
            cpu.osSavesAVX512 = xcr0 & 0xE6 == 0xE6
        }
        if leaf0[0] >= 7, let leaf7 = cpuid(7) {
            let ebx = leaf7[1]
            cpu.avx2 = bit(ebx, 5)
            cpu.avx512f = bit(ebx, 16)
            cpu.avx512dq = bit(ebx, 17)
            cpu.avx512cd = bit(ebx, 28)
            cpu.avx512bw = bit(ebx, 30)
            cpu.avx512vl = bit(ebx, 31)
            if leaf7[0] >= 1, let leaf71 = cpuid(7, 1) { cpu.avx512bf16 = bit(leaf71[0], 5) }
        }
        return cpu
    }
}
