// GemmTests.swift — the BLAS wrapper against a direct triple loop, with transposes, leading
// dimensions, alpha/beta and an empty inner dimension.

import Tensors
import TestSupport
import XCTest

final class GemmTests: XCTestCase {
    func testMatchesNaiveProductForEveryTransposeAndStride() {
        let (m, n, k) = (5, 7, 3)
        for transA in [false, true] {
            for transB in [false, true] {
                let lda = (transA ? m : k) + 2, ldb = (transB ? k : n) + 1, ldc = n + 3
                let a = randomTensor([(transA ? k : m) * lda], seed: 1)
                let b = randomTensor([(transB ? n : k) * ldb], seed: 2)
                let c = randomTensor([m * ldc], seed: 3)
                var expected = c.array
                for i in 0 ..< m {
                    for j in 0 ..< n {
                        var s: Float = 0
                        for p in 0 ..< k {
                            let av = transA ? a[p * lda + i] : a[i * lda + p]
                            let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                            s += av * bv
                        }
                        expected[i * ldc + j] = 0.5 * s + 2 * expected[i * ldc + j]
                    }
                }
                gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda, b: b.data, ldb: ldb,
                     beta: 2, c: c.data, ldc: ldc)
                assertAllClose(c.array, expected, absolute: 1e-5, "gemm transA=\(transA) transB=\(transB)")
            }
        }
    }

    func testEmptyInnerDimensionScalesByBeta() {
        let c = Tensor([2, 2], [1, 2, 3, 4])
        let dummy = Tensor([1])
        gemm(m: 2, n: 2, k: 0, a: dummy.data, b: dummy.data, beta: 0.5, c: c.data)
        XCTAssertEqual(c.array, [0.5, 1, 1.5, 2])
    }
}
