// Gemm.swift — matrix products on OpenBLAS, serialized so that no two of our threads call it at once.

import CBLAS
import Synchronization

/// OpenBLAS must never be entered from several of our own threads at once (its buffers are shared);
/// every call goes through this lock. In-process ranks therefore take turns on BLAS, which is what
/// the debug mode wants: the same numbers as separate processes.
let blasLock = Mutex(())

/// Sets how many threads OpenBLAS itself uses inside one call.
public func setBLASThreads(_ n: Int) {
    blasLock.withLock { _ in openblas_set_num_threads(Int32(max(1, n))) }
}

/// The number of threads OpenBLAS uses inside one call.
public func blasThreads() -> Int { blasLock.withLock { _ in Int(openblas_get_num_threads()) } }

/// Row-major `C = alpha · op(A) · op(B) + beta · C` with `op(A)` M×K and `op(B)` K×N.
///
/// `lda`, `ldb`, `ldc` default to the packed leading dimensions of the stored (untransposed) matrices.
public func gemm(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
    b: UnsafePointer<Float>, ldb: Int? = nil,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS leaves C·beta semantics to us when the inner dimension is empty.
        for i in 0..<m { for j in 0..<n { c[i * (ldc ?? n) + j] *= beta } }
        return
    }
    let lda = lda ?? (transA ? m : k)
    let ldb = ldb ?? (transB ? k : n)
    let ldc = ldc ?? n
    blasLock.withLock { _ in
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
