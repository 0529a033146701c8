// OptimizerTests.swift — Adam against its formulas computed in Double, global-norm clipping, and
// the EMA against its closed-form recurrence.

import Layers
import Tensors
import TestSupport
import XCTest

final class OptimizerTests: XCTestCase {
    func testAdamMatchesPyTorchFormulas() {
        let values = Tensor([3], [0.5, -1, 2])
        let adam = Adam(parameterCount: 3, beta1: 0.9, beta2: 0.98, eps: 1e-9)
        var p: [Double] = [0.5, -1, 2], m = [Double](repeating: 0, count: 3), v = m
        let gradients: [[Float]] = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.0, 0.2]]
        for (t, g) in gradients.enumerated() {
            adam.update(values, grads: Tensor([3], g), lr: 1e-2)
            for i in 0 ..< 3 {
                m[i] = 0.9 * m[i] + 0.1 * Double(g[i])
                v[i] = 0.98 * v[i] + 0.02 * Double(g[i]) * Double(g[i])
                let stepSize = 1e-2 / (1 - pow(0.9, Double(t + 1)))
                p[i] -= stepSize * m[i] / (v[i].squareRoot() / (1 - pow(0.98, Double(t + 1))).squareRoot() + 1e-9)
            }
            assertAllClose(values.array, p.map(Float.init), absolute: 1e-6, "parameters after step \(t + 1)")
        }
        XCTAssertEqual(adam.step, 3)
    }

    func testClippingScalesToTheMaximumNorm() {
        let grads = Tensor([2], [3, 4])
        XCTAssertEqual(clipGlobalNorm(grads, maxNorm: 0.5), 5, accuracy: 1e-9)
        assertAllClose(grads.array, [0.3, 0.4].map { Float($0 * 5 / (5 + 1e-6)) }, absolute: 1e-7, "clipped")
        let small = Tensor([2], [0.03, 0.04])
        clipGlobalNorm(small, maxNorm: 0.5)
        XCTAssertEqual(small.array, [0.03, 0.04], "below the maximum nothing changes")
        XCTAssertTrue(globalNorm(Tensor([2], [1, .nan])).isNaN)
    }

    func testEMAFollowsTheWarmUpRecurrence() {
        let current = Tensor([2], [1, -1])
        let ema = ExponentialMovingAverage(copying: current, maxDecay: 0.9997)
        var expected: [Double] = [1, -1]
        for n in 0 ..< 50 {
            current.data[0] = Float(n) * 0.1
            current.data[1] = -Float(n * n) * 0.01
            let d = min(0.9997, Double(n + 1) / Double(n + 10))
            expected[0] = d * expected[0] + (1 - d) * Double(current.data[0])
            expected[1] = d * expected[1] + (1 - d) * Double(current.data[1])
            ema.update(from: current)
        }
        assertAllClose(ema.values.array, expected.map(Float.init), absolute: 1e-5, "EMA after 50 updates")
        XCTAssertEqual(ema.updates, 50)
        XCTAssertEqual(ema.nextDecay, min(0.9997, 51.0 / 60.0), accuracy: 1e-7)
    }
}
