// EnvCommand.swift — `refclip env`: what this machine computes with (CPU, BLAS kernel and why, MPI).

import ArgumentParser
import Distributed
import Tensors
import Training

struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "Show the CPU, the BLAS library, kernel and threads, and the MPI library this machine runs refclip on.",
        discussion: """
            refclip checks the OpenBLAS kernel at start-up: when OpenBLAS falls back to a kernel below what the CPU supports \
            (a CPU model its build does not know), refclip restarts itself once with OPENBLAS_CORETYPE naming the best kernel \
            for the CPU's instruction set. Set OPENBLAS_CORETYPE yourself to choose a kernel; refclip then keeps it.
            """)

    @Flag(help: "Print only the CPU's instruction-set level (sse3, avx, avx2, avx512 or avx512bf16), for scripts.")
    var isa = false

    @Option(name: .customLong("can-run"), help: ArgumentHelp("Exit 0 when this CPU can run the named OpenBLAS kernel, else 1, saying why (for scripts).",
                                                             valueName: "KERNEL"))
    var canRun: String?

    func run() throws {
        let cpu = CPUFeatures.current()
        if isa {
            print(cpu.map { "\($0.level)" } ?? "none")
            return
        }
        if let kernel = canRun {
            guard let needed = BLASKernel.level(of: kernel) else { throw ValidationError("unknown OpenBLAS kernel \(kernel) (e.g. PRESCOTT, HASWELL, SKYLAKEX)") }
            guard let cpu else { throw ValidationError("no CPUID on this machine: x86-64 kernels do not apply") }
            print("\(kernel) needs \(needed.name); this CPU has \(cpu.level.name)")
            if needed > cpu.level { throw ExitCode(1) }
            return
        }
        let blas = BLASRuntime.current()
        let best = cpu.flatMap { BLASKernel.best(for: $0.level) } ?? "none (the SSE3 baseline)"
        print("""
            refclip \(refclipVersion)
            cpu     \(blas.cpu)
            blas    \(blas.library), kernel \(blas.kernel) (\(blas.kernelOrigin)), \(blas.threads) thread\(blas.threads == 1 ? "" : "s") by default
            best    \(best) for this CPU's instruction set
            mpi     \(MPICommunicator.libraryVersion)
            """)
    }
}
