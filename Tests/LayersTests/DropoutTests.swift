// DropoutTests.swift — dropout masks depend on (step, site, global sample), not on the row a sample
// occupies, the rank, or the batch composition; rate and scaling are as stated.

import Distributed
import Layers
import Tensors
import TestSupport
import XCTest

final class DropoutTests: XCTestCase {
    private func context(_ samples: [Int], step: Int = 4) -> ForwardContext {
        ForwardContext(batchStatistics: true, dropout: true, stepKey: RandomKey(seed: 9).child(step), sampleIndices: samples,
                       communicator: SingleProcessCommunicator())
    }

    func testMaskFollowsTheSampleNotTheRow() {
        let dropout = Dropout(rate: 0.5, site: "site")
        let ones = Tensor([3, 40], [Float](repeating: 1, count: 120))
        let a = dropout.forward(ones, context([7, 8, 9])).array
        let b = dropout.forward(ones, context([9, 100, 7])).array
        XCTAssertEqual(Array(a[0 ..< 40]), Array(b[80 ..< 120]), "sample 7 moved from row 0 to row 2")
        XCTAssertEqual(Array(a[80 ..< 120]), Array(b[0 ..< 40]), "sample 9 moved from row 2 to row 0")
        XCTAssertNotEqual(Array(a[0 ..< 40]), Array(a[40 ..< 80]), "different samples, different masks")
        let nextStep = dropout.forward(ones, context([7, 8, 9], step: 5)).array
        XCTAssertNotEqual(Array(a[0 ..< 40]), Array(nextStep[0 ..< 40]), "a new step draws a new mask")
        let otherSite = Dropout(rate: 0.5, site: "other").forward(ones, context([7, 8, 9])).array
        XCTAssertNotEqual(a, otherSite, "each site has its own stream")
    }

    func testRateScalingAndBackward() {
        let dropout = Dropout(rate: 0.25, site: "s")
        let x = Tensor([1, 40_000], [Float](repeating: 2, count: 40_000))
        let y = dropout.forward(x, context([0])).array
        let kept = y.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / 40_000, 0.75, accuracy: 0.01)
        XCTAssertTrue(kept.allSatisfy { abs($0 - 2 / 0.75) < 1e-6 })
        let dx = dropout.backward(Tensor([1, 40_000], [Float](repeating: 1, count: 40_000))).array
        XCTAssertEqual(dx.map { $0 == 0 }, y.map { $0 == 0 })
        var inference = context([0])
        inference.dropout = false
        XCTAssertEqual(dropout.forward(x, inference).array, x.array)
    }
}
