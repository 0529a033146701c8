// ShardPlanTests.swift — data order depends on (seed, epoch, step) only and ranks partition each global
// batch; with further sources every batch holds each source's share of rows by weight, each source's
// rows run through its own keyed permutations pass after pass, and the run's own rows are unchanged.

import Datasets
import XCTest

final class ShardPlanTests: XCTestCase {
    func testRanksPartitionEveryGlobalBatchAtAnyWorldSize() throws {
        let single = try ShardPlan(itemCount: 103, globalBatch: 12, worldSize: 1, rank: 0, seed: 9)
        XCTAssertEqual(single.stepsPerEpoch, 8)
        for epoch in 0 ..< 3 {
            let permutation = single.permutation(epoch: epoch)
            XCTAssertEqual(permutation.sorted(), Array(0 ..< 103))
            for step in 0 ..< single.stepsPerEpoch {
                let rows = single.globalRows(step: step, of: permutation, epoch: epoch, globalStep: epoch * 8 + step)
                XCTAssertEqual(rows, permutation[step * 12 ..< (step + 1) * 12].map { BatchRow(source: 0, item: $0, pass: epoch) },
                               "one source: global batch k is the permutation's k-th slice")
            }
            for world in [2, 3, 4] {
                let plans = try (0 ..< world).map { try ShardPlan(itemCount: 103, globalBatch: 12, worldSize: world, rank: $0, seed: 9) }
                XCTAssertEqual(plans[world - 1].permutation(epoch: epoch), permutation, "order does not depend on the world size")
                for step in 0 ..< single.stepsPerEpoch {
                    XCTAssertEqual(plans.flatMap { $0.localRows(step: step, of: permutation, epoch: epoch, globalStep: step) },
                                   single.globalRows(step: step, of: permutation, epoch: epoch, globalStep: step))
                }
            }
        }
        XCTAssertNotEqual(single.permutation(epoch: 0), single.permutation(epoch: 1))
    }

    func testMixedSourcesHoldTheirShareAndCycleThroughTheirItems() throws {
        // Weights 1 (own), 0.5 and 0.25 of a batch of 14: 8, 4 and 2 rows.
        let extras = [(count: 9, weight: 0.5), (count: 5, weight: 0.25)]
        let plan = try ShardPlan(itemCount: 40, globalBatch: 14, worldSize: 1, rank: 0, seed: 3, extras: extras)
        XCTAssertEqual([plan.ownRows] + plan.extraRows, [8, 4, 2])
        XCTAssertEqual(plan.stepsPerEpoch, 5, "an epoch is one pass over the run's own items")
        var seen: [[BatchRow]] = [[], [], []]
        for globalStep in 0 ..< 10 {
            let epoch = globalStep / 5
            let rows = plan.globalRows(step: globalStep % 5, of: plan.permutation(epoch: epoch), epoch: epoch, globalStep: globalStep)
            XCTAssertEqual(rows.map(\.source).sorted(), Array(repeating: 0, count: 8) + Array(repeating: 1, count: 4) + Array(repeating: 2, count: 2))
            XCTAssertNotEqual(rows.map(\.source), rows.map(\.source).sorted(), "rows of the sources are shuffled across the batch (step \(globalStep))")
            for row in rows { seen[row.source].append(row) }
            for world in [2, 7] {
                let ranks = try (0 ..< world).map { try ShardPlan(itemCount: 40, globalBatch: 14, worldSize: world, rank: $0, seed: 3, extras: extras) }
                XCTAssertEqual(ranks.flatMap { $0.localRows(step: globalStep % 5, of: $0.permutation(epoch: epoch), epoch: epoch, globalStep: globalStep) },
                               rows, "ranks partition the same global batch")
            }
        }
        // Source 1 (9 items, 4 rows a step): 40 rows are 4 full passes and 4 rows of the fifth, each pass a permutation.
        for (source, count) in [(1, 9), (2, 5)] {
            let rows = seen[source]
            for pass in 0 ..< rows.count / count {
                XCTAssertEqual(rows.filter { $0.pass == pass }.map(\.item).sorted(), Array(0 ..< count), "source \(source), pass \(pass)")
            }
        }
        XCTAssertNotEqual(seen[1].filter { $0.pass == 0 }.map(\.item), seen[1].filter { $0.pass == 1 }.map(\.item), "each pass has its own order")
    }

    func testRefusesABatchTheWorldDoesNotDivideOrAWeightWithoutARow() {
        XCTAssertThrowsError(try ShardPlan(itemCount: 100, globalBatch: 10, worldSize: 4, rank: 0, seed: 1)) {
            XCTAssertTrue("\($0)".contains("train.batch") && "\($0)".contains("not divisible")
                          && "\($0)".contains("world sizes that divide it: 1, 2, 5, 10"), "\($0)")
        }
        XCTAssertThrowsError(try ShardPlan(itemCount: 10, globalBatch: 16, worldSize: 1, rank: 0, seed: 1)) {
            XCTAssertTrue("\($0)".contains("larger than the 10 training items"), "\($0)")
        }
        XCTAssertThrowsError(try ShardPlan(itemCount: 100, globalBatch: 16, worldSize: 1, rank: 0, seed: 1, extras: [(50, 1), (50, 0.01)])) {
            XCTAssertTrue("\($0)".contains("data.mix[1].weight") && "\($0)".contains("no row"), "\($0)")
        }
    }
}
