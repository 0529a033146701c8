// BLASKernel.swift — which OpenBLAS kernel a CPU should run, and whether the one OpenBLAS picked falls
// short of it. OpenBLAS (DYNAMIC_ARCH builds) picks its kernel from the CPU model when the library
// loads; a model it does not know (e.g. Debian's 0.3.21 on Emerald Rapids, family 6 model 207) gets
// the SSE3 `Prescott` kernel, several times slower than the CPU allows. The fix is to run the program
// again with OPENBLAS_CORETYPE naming the best kernel the CPU's instruction set supports.

/// OpenBLAS's x86-64 kernels and the decision about the one running.
public enum BLASKernel {
    /// The variable OpenBLAS reads at load time to force a kernel.
    public static let coretypeVariable = "OPENBLAS_CORETYPE"
    /// Set by refclip when it restarts itself on another kernel: the kernel OpenBLAS had picked.
    public static let restartedFromVariable = "REFCLIP_BLAS_RESTARTED_FROM"
    /// For tests: treat OPENBLAS_CORETYPE as OpenBLAS's own (fallback) choice rather than the user's,
    /// so the restart can be exercised on a CPU that OpenBLAS recognises.
    public static let simulatedFallbackVariable = "REFCLIP_SIMULATED_BLAS_FALLBACK"

    /// The instruction set each kernel needs, by the name `openblas_get_corename` returns.
    static let levels: [String: ISALevel] = {
        var table: [String: ISALevel] = [:]
        for name in ["Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn", "Dunnington", "Nehalem",
                     "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Bobcat"] { table[name] = .sse3 }
        for name in ["Sandybridge", "Bulldozer", "Piledriver", "Steamroller"] { table[name] = .avx }
        for name in ["Haswell", "Zen", "Excavator"] { table[name] = .avx2 }
        table["SkylakeX"] = .avx512
        for name in ["Cooperlake", "SapphireRapids"] { table[name] = .avx512bf16 }
        return table
    }()

    /// The instruction-set level a kernel needs; nil for a name this table does not know.
    public static func level(of corename: String) -> ISALevel? {
        levels.first { $0.key.caseInsensitiveCompare(corename) == .orderedSame }?.value
    }

    /// The fastest kernel for a CPU's level; nil when nothing beats the SSE3 baseline.
    public static func best(for level: ISALevel) -> String? {
        switch level {
        case .sse3: return nil
        case .avx: return "Sandybridge"
        case .avx2: return "Haswell"
        case .avx512: return "SkylakeX"
        case .avx512bf16: return "Cooperlake"
        }
    }

    /// What to do about the running kernel.
    public enum Decision: Equatable, Sendable {
        /// Keep it: it suits the CPU, nothing better is known, or it was chosen on purpose.
        case keep
        /// Run the program again with OPENBLAS_CORETYPE=`coretype`: OpenBLAS fell back below the CPU.
        case restart(coretype: String)
        /// refclip already restarted with `requested`, and OpenBLAS still runs a lower kernel (this
        /// build lacks it): go on, and say so.
        case restartDidNotTake(requested: String)
    }

    /// The decision for `corename` (the running kernel) on `cpu` (nil: no CPUID, not x86-64), given
    /// the process environment: a user's OPENBLAS_CORETYPE is kept, and a restart happens only once.
    public static func decide(corename: String, cpu: CPUFeatures?, environment: [String: String]) -> Decision {
        guard let cpu, let running = level(of: corename) else { return .keep }
        if environment[restartedFromVariable] != nil {
            return running < cpu.level ? .restartDidNotTake(requested: environment[coretypeVariable] ?? "?") : .keep
        }
        if environment[coretypeVariable] != nil, environment[simulatedFallbackVariable] == nil { return .keep }
        guard running < cpu.level, let best = best(for: cpu.level) else { return .keep }
        return .restart(coretype: best)
    }

    /// Why the running kernel is the one it is, for the tables: detected, the user's, or refclip's restart.
    public static func origin(environment: [String: String]) -> String {
        if let from = environment[restartedFromVariable] { return "set by refclip: OpenBLAS had picked \(from)" }
        if let forced = environment[coretypeVariable] { return "\(coretypeVariable)=\(forced)" }
        return "detected by OpenBLAS"
    }
}
