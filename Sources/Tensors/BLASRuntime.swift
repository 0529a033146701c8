// BLASRuntime.swift — the BLAS a process computes with (library, version, kernel, why that kernel,
// threads, CPU), for every table that quotes a number; and the start-up check that restarts a program
// on the best kernel when OpenBLAS fell back below what the CPU supports.

import CBLAS
import Foundation

/// The BLAS library, kernel and threads this process runs on.
public struct BLASRuntime: Codable, Equatable, Sendable {
    /// Library and version, e.g. "OpenBLAS 0.3.21".
    public var library: String
    /// The kernel in use, as OpenBLAS names it (e.g. "Haswell").
    public var kernel: String
    /// Why that kernel: "detected by OpenBLAS", "OPENBLAS_CORETYPE=…", or refclip's restart.
    public var kernelOrigin: String
    /// OpenBLAS threads per call.
    public var threads: Int
    /// The CPU, e.g. "AuthenticAMD family 25 model 1 (AVX2)".
    public var cpu: String

    private enum CodingKeys: String, CodingKey { case library, kernel, kernelOrigin = "kernel_origin", threads, cpu }

    /// The running process's BLAS.
    public static func current() -> BLASRuntime {
        let config = String(cString: openblas_get_config()).split(separator: " ")
        return BLASRuntime(library: config.prefix(2).joined(separator: " "), kernel: String(cString: openblas_get_corename()),
                           kernelOrigin: BLASKernel.origin(environment: ProcessInfo.processInfo.environment), threads: blasThreads(),
                           cpu: CPUFeatures.current()?.description ?? "no CPUID")
    }

    /// One line: "OpenBLAS 0.3.21, kernel Haswell (detected by OpenBLAS), 1 thread; CPU AuthenticAMD family 25 model 1 (AVX2)".
    public var summary: String {
        "\(library), kernel \(kernel) (\(kernelOrigin)), \(threads) thread\(threads == 1 ? "" : "s"); CPU \(cpu)"
    }

    /// Run first thing in `main`, before any BLAS work. When OpenBLAS fell back to a kernel below the
    /// CPU's instruction set and the user did not choose one, replaces this process (same pid, same
    /// arguments; nothing has been initialised yet, MPI included) by itself with OPENBLAS_CORETYPE set
    /// to the best kernel, saying so in one line on standard error (once per host under a launcher).
    /// A restart happens at most once; if it does not take, says so and carries on.
    public static func restartOnBestKernelIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        let corename = String(cString: openblas_get_corename())
        let cpu = CPUFeatures.current()
        switch BLASKernel.decide(corename: corename, cpu: cpu, environment: environment) {
        case .keep:
            return
        case .restartDidNotTake(let requested):
            if firstRankOnHost(environment) {
                standardError("refclip: warning: OpenBLAS still runs its \(corename) kernel after the restart with \(BLASKernel.coretypeVariable)=\(requested): "
                              + "this OpenBLAS build lacks that kernel, so matrix products run well below this CPU's speed (install a newer OpenBLAS)")
            }
        case .restart(let coretype):
            let level = BLASKernel.level(of: corename).map { " (\($0.name))" } ?? ""
            if firstRankOnHost(environment) {
                standardError("refclip: OpenBLAS picked its \(corename) kernel\(level) on this \(cpu?.description ?? "CPU")\(hostSuffix(environment)); "
                              + "restarting with \(BLASKernel.coretypeVariable)=\(coretype) (set it yourself to choose another)")
            }
            setenv(BLASKernel.coretypeVariable, coretype, 1)
            setenv(BLASKernel.restartedFromVariable, corename, 1)
            unsetenv(BLASKernel.simulatedFallbackVariable)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // Only reached when exec failed: carry on with the kernel we have.
            standardError("refclip: warning: could not restart on the \(coretype) kernel (\(String(cString: strerror(errno)))); continuing on \(corename)")
            unsetenv(BLASKernel.coretypeVariable)
            unsetenv(BLASKernel.restartedFromVariable)
        }
    }

    /// Whether this process speaks for its host: not under a launcher, or its first local rank.
    private static func firstRankOnHost(_ environment: [String: String]) -> Bool {
        let local = environment["OMPI_COMM_WORLD_LOCAL_RANK"] ?? environment["MPI_LOCALRANKID"] ?? environment["SLURM_LOCALID"]
        return local.map { $0 == "0" } ?? true
    }

    private static func hostSuffix(_ environment: [String: String]) -> String {
        guard environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["SLURM_PROCID"] != nil || environment["PMI_RANK"] != nil else { return "" }
        return " (host \(ProcessInfo.processInfo.hostName))"
    }

    private static func standardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
