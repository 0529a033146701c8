// GradientReducerTests.swift — the gradient reducer on thread ranks: buckets are cut in the order
// backward finishes parameters, in exactly `bucket` values (splitting parameters), with whatever
// backward never named in the last; the result is the sum over ranks, bitwise the same with overlap on
// and off; the bfloat16 wire feeds its rounding back, so that over steps nothing is lost.

import Distributed
import Layers
import Tensors
import Training
import XCTest

final class GradientReducerTests: XCTestCase {
    /// Parameters a (5 values), b (7), c (3) and d (2); backward finishes c, then a, then b, never d.
    private func store(rank: Int) -> ParameterStore {
        let params = ParameterStore(seed: 1)
        for (name, count) in [("a", 5), ("b", 7), ("c", 3), ("d", 2)] { params.add(name, [count], .zeros) }
        for i in 0 ..< params.count { params.grads.data[i] = Float((rank + 1) * (i + 1)) }
        return params
    }

    private func step(_ reducer: GradientReducer, _ params: ParameterStore) {
        reducer.begin()
        for name in ["c", "a", "b"] { params.finishGradients(under: name) }
        reducer.finish()
    }

    func testBucketsFollowBackwardAndTheSumIsExactWithOverlapOnAndOff() throws {
        for overlap in [true, false] {
            let results = try ThreadCommunicator.run(ranks: 3) { comm -> ([Float], [[Range<Int>]]) in
                let params = self.store(rank: comm.rank)
                let reducer = GradientReducer(params: params, communicator: comm, settings: GradientSyncSettings(bucketBytes: 16, overlap: overlap))
                self.step(reducer, params)
                return (params.grads.array, reducer.lastBuckets)
            }
            // c = 12..<15, a = 0..<5, b = 5..<12, d = 15..<17; four values per bucket, a and b merged where adjacent.
            let expected: [[Range<Int>]] = [[12 ..< 15, 0 ..< 1], [1 ..< 5], [5 ..< 9], [9 ..< 12, 15 ..< 16], [16 ..< 17]]
            for (rank, (grads, buckets)) in results.enumerated() {
                XCTAssertEqual(buckets, expected, "overlap \(overlap), rank \(rank): buckets")
                XCTAssertEqual(grads, (0 ..< 17).map { Float(6 * ($0 + 1)) }, "overlap \(overlap), rank \(rank): the sum over 3 ranks")
            }
        }
    }

    func testOneRankSendsNothing() {
        let params = store(rank: 0)
        let before = params.grads.array
        let reducer = GradientReducer(params: params, communicator: SingleProcessCommunicator(), settings: GradientSyncSettings(wire: .bf16))
        step(reducer, params)
        XCTAssertEqual(params.grads.array, before, "one rank: the gradient as backward left it, not rounded")
        XCTAssertEqual(reducer.lastBuckets, [])
    }

    /// Every rank's gradient is 1 + 2⁻¹⁰, which bfloat16 (7 fraction bits) rounds to 1 on its own; with
    /// error feedback the sums over 32 steps come within one rounding of 32 · 2 · (1 + 2⁻¹⁰).
    func testTheBFloat16WireFeedsItsRoundingBack() throws {
        let value = 1 + Float(1) / 1024
        let totals = try ThreadCommunicator.run(ranks: 2) { comm -> Double in
            let params = ParameterStore(seed: 1)
            params.add("w", [1], .zeros)
            let reducer = GradientReducer(params: params, communicator: comm, settings: GradientSyncSettings(wire: .bf16))
            var total = 0.0
            for _ in 0 ..< 32 {
                params.grads.data[0] = value
                reducer.begin()
                params.finishGradients(under: "w")
                reducer.finish()
                total += Double(params.grads.data[0])
            }
            return total
        }
        let exact = 32 * 2 * Double(value)
        for total in totals {
            // One rounding at 1 errs by at most half of bfloat16's step there, 2⁻⁷; without feedback the
            // total would be 64, 2⁻⁴ short.
            XCTAssertEqual(total, exact, accuracy: 2 * 0.5 / 128, "within one bfloat16 rounding per rank")
        }
    }
}
