// AttentionMaskConsistencyTests.swift — SynGround's attention–mask consistency loss: a hand-computed
// value, box coverage of grid cells, the loss against a Double transcription of DESIGN §6 at world
// sizes 1, 2 and 4, and its gradients by finite differences and across ranks.

import Distributed
import Models
import Tensors
import TestSupport
import XCTest

final class AttentionMaskConsistencyTests: XCTestCase {
    let (batch, cells, dim) = (8, 9, 5)

    /// DESIGN §6 written out in Double on the whole batch.
    private func directLoss(_ v: Tensor, _ t: Tensor, _ masks: [Float]) -> Double {
        var sums = [Double](repeating: 0, count: 4), maxTerms = 0.0
        for b in 0 ..< batch {
            let r = (0 ..< cells).map { c in max(0, (0 ..< dim).reduce(0.0) { $0 + Double(t[b * dim + $1]) * Double(v[(b * cells + c) * dim + $1]) }) }
            let (lo, hi) = (r.min()!, r.max()!)
            let n = r.map { ($0 - lo) / (hi - lo + Double(AttentionMaskConsistency.epsilon)) }
            let m = (0 ..< cells).map { Double(masks[b * cells + $0]) }
            for c in 0 ..< cells {
                sums[0] += n[c] * m[c]; sums[1] += m[c]; sums[2] += n[c] * (1 - m[c]); sums[3] += 1 - m[c]
            }
            let inside = (0 ..< cells).map { n[$0] * m[$0] }.max()!, outside = (0 ..< cells).map { n[$0] * (1 - m[$0]) }.max()!
            maxTerms += max(0, outside - inside + 0.5)
        }
        let meanTerm = max(0, sums[2] / sums[3] - sums[0] / sums[1] + 0.1)
        return 0.2 * meanTerm + 0.8 * maxTerms / Double(batch)
    }

    private func problem(seed: UInt64) -> (Tensor, Tensor, [Float]) {
        let v = randomTensor([batch, cells, dim], seed: seed), t = randomTensor([batch, dim], seed: seed + 1)
        // Boxes covering one to four cells of a 3×3 grid, some partly.
        let masks = (0 ..< batch).flatMap { b -> [Float] in
            let x1 = Float(b % 3) * 10 + 2, y1 = Float(b % 2) * 10
            return boxCoverage([x1, y1, x1 + 14, y1 + 12], grid: 3, size: 30)
        }
        return (v, t, masks)
    }

    func testHandComputedValueAndCoverage() {
        // h = [1, 2, 3, 4]: n = [0, 1/3, 2/3, 1]; the box covers cell 2: μ_in = 2/3, μ_out = 4/9, so
        // L_mean = max(0, 4/9 − 2/3 + 0.1) = 0 and L_max = 1 − 2/3 + 0.5 = 5/6: L = 0.8 · 5/6.
        let loss = AttentionMaskConsistency(communicator: SingleProcessCommunicator())
        let value = loss.forward(cells: Tensor([1, 4, 1], [1, 2, 3, 4]), text: Tensor([1, 1], [1]), masks: [0, 0, 1, 0])
        XCTAssertEqual(value, 0.8 * 5 / 6, accuracy: 1e-5)
        XCTAssertEqual(boxCoverage([5, 0, 20, 10], grid: 2, size: 20), [0.5, 1, 0, 0])
        XCTAssertEqual(boxCoverage([0, 0, 20, 20], grid: 2, size: 20), [1, 1, 1, 1])
        XCTAssertEqual(boxCoverage([12.5, 15, 17.5, 20], grid: 2, size: 20), [0, 0, 0, 0.25])
    }

    func testMatchesTheFormulaAtEveryWorldSize() throws {
        let (v, t, masks) = problem(seed: 1)
        let expected = directLoss(v, t, masks)
        XCTAssertGreaterThan(expected, 0)
        for ranks in [1, 2, 4] {
            let losses = try ThreadCommunicator.run(ranks: ranks) { comm -> Double in
                let local = rankShare(v, rank: comm.rank, of: comm.size), text = rankShare(t, rank: comm.rank, of: comm.size)
                let share = AttentionMaskConsistency(communicator: comm)
                    .forward(cells: local, text: text, masks: rankShare(masks, rank: comm.rank, of: comm.size))
                return comm.allReduce(share, .sum)
            }
            for loss in losses { XCTAssertEqual(loss, expected, accuracy: 1e-5 * expected, "\(ranks) ranks") }
        }
    }

    func testGradientsByFiniteDifferencesAndAcrossRanks() throws {
        let (v, t, masks) = problem(seed: 5)
        let loss = AttentionMaskConsistency(communicator: SingleProcessCommunicator())
        _ = loss.forward(cells: v, text: t, masks: masks)
        loss.backward()
        let (dv, dt) = (loss.cellGrad.array, loss.textGrad.array)
        let evaluate = { self.directLoss(v, t, masks) }
        dv.withUnsafeBufferPointer {
            assertDirectionalDerivative("∂L/∂V", values: v.data, analytic: $0.baseAddress!, indices: Array(0 ..< v.count), step: 1e-3, loss: evaluate)
        }
        dt.withUnsafeBufferPointer {
            assertDirectionalDerivative("∂L/∂T", values: t.data, analytic: $0.baseAddress!, indices: Array(0 ..< t.count), step: 1e-3, loss: evaluate)
            assertGradient("∂L/∂T", values: t.data, analytic: $0.baseAddress!, count: t.count, tolerance: 2e-2, step: 1e-3, loss: evaluate)
        }

        let pieces = try ThreadCommunicator.run(ranks: 4) { comm -> ([Float], [Float]) in
            let local = rankShare(v, rank: comm.rank, of: comm.size), text = rankShare(t, rank: comm.rank, of: comm.size)
            let split = AttentionMaskConsistency(communicator: comm)
            _ = split.forward(cells: local, text: text, masks: rankShare(masks, rank: comm.rank, of: comm.size))
            split.backward()
            return (split.cellGrad.array, split.textGrad.array)
        }
        assertAllClose(pieces.flatMap(\.0), dv, absolute: 1e-6, "∂L/∂V gathered from 4 ranks")
        assertAllClose(pieces.flatMap(\.1), dt, absolute: 1e-6, "∂L/∂T gathered from 4 ranks")
    }
}
