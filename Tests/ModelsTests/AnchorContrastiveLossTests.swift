// AnchorContrastiveLossTests.swift — the distributed loss equals a direct evaluation of the DESIGN §3
// formula on the concatenated batch, at world sizes 1, 2 and 4, and its gradients pass finite differences.

import Distributed
import Models
import Tensors
import TestSupport
import XCTest

final class AnchorContrastiveLossTests: XCTestCase {
    let (batch, cells, dim) = (8, 5, 6)

    /// The formula, written out in Double: top-1 of every image, top-2 of every other image, CE on t.
    private func directLoss(_ v: Tensor, _ t: Tensor) -> Double {
        var total = 0.0
        for text in 0 ..< batch {
            var top1: [Double] = [], top2: [Double] = []
            for image in 0 ..< batch {
                let sims = (0 ..< cells).map { s in (0 ..< dim).reduce(0.0) { $0 + Double(t[text * dim + $1]) * Double(v[(image * cells + s) * dim + $1]) } }
                let sorted = sims.sorted(by: >)
                top1.append(sorted[0])
                if image != text { top2.append(sorted[1]) }
            }
            let logits = top1 + top2
            let peak = logits.max()!
            total += log(logits.map { exp($0 - peak) }.reduce(0, +)) - (logits[text] - peak)
        }
        return total / Double(batch)
    }

    func testMatchesTheFormulaAtEveryWorldSize() throws {
        let v = randomTensor([batch, cells, dim], seed: 1), t = randomTensor([batch, dim], seed: 2)
        let expected = directLoss(v, t)
        XCTAssertGreaterThan(expected, 0)
        for ranks in [1, 2, 4] {
            let losses = try ThreadCommunicator.run(ranks: ranks) { comm -> Double in
                let local = rankShare(v, rank: comm.rank, of: comm.size), text = rankShare(t, rank: comm.rank, of: comm.size)
                return comm.allReduce(AnchorContrastiveLoss(communicator: comm).forward(anchors: local, text: text), .sum)
            }
            for loss in losses { XCTAssertEqual(loss, expected, accuracy: 1e-6 * expected, "\(ranks) ranks") }
        }
    }

    func testGradientsByFiniteDifferencesAndAcrossRanks() throws {
        let v = randomTensor([batch, cells, dim], seed: 3), t = randomTensor([batch, dim], seed: 4)
        let loss = AnchorContrastiveLoss(communicator: SingleProcessCommunicator())
        _ = loss.forward(anchors: v, text: t)
        loss.backward()
        let (dv, dt) = (loss.anchorGrad.array, loss.textGrad.array)
        let evaluate = { loss.forward(anchors: v, text: t) }
        dv.withUnsafeBufferPointer { assertGradient("∂L/∂V", values: v.data, analytic: $0.baseAddress!, count: v.count, limit: 240, loss: evaluate) }
        dt.withUnsafeBufferPointer { assertGradient("∂L/∂T", values: t.data, analytic: $0.baseAddress!, count: t.count, loss: evaluate) }

        // Split over 4 ranks, each rank's gradients are the matching rows of the single-process ones.
        let pieces = try ThreadCommunicator.run(ranks: 4) { comm -> ([Float], [Float]) in
            let local = rankShare(v, rank: comm.rank, of: comm.size), text = rankShare(t, rank: comm.rank, of: comm.size)
            let split = AnchorContrastiveLoss(communicator: comm)
            _ = split.forward(anchors: local, text: text)
            split.backward()
            return (split.anchorGrad.array, split.textGrad.array)
        }
        assertAllClose(pieces.flatMap(\.0), dv, absolute: 1e-6, "∂L/∂V gathered from 4 ranks")
        assertAllClose(pieces.flatMap(\.1), dt, absolute: 1e-6, "∂L/∂T gathered from 4 ranks")
    }

    func testSelectionKeepsTheMostObjectLikeCellsInAscendingOrder() {
        // 2 images, 4 cells, 2 anchors: mean objectness per cell decides; ties go to the lower cell.
        let objectness: [[Float]] = [[0.1, 0.3], [0.9, 0.9], [0.2, 0.2], [0.5, 0.5], [0.6, 0.6], [0.0, 0.0], [0.6, 0.6], [0.1, 0.1]]
        let boxes = Tensor([2, 4, 2, 5])
        for (cell, pair) in objectness.enumerated() { for (a, o) in pair.enumerated() { boxes[(cell * 2 + a) * 5 + 4] = o } }
        XCTAssertEqual(selectCells(boxes, count: 2), [1, 3, 0, 2])
    }
}
