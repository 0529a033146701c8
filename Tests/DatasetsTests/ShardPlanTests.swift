// ShardPlanTests.swift — data order depends on (seed, epoch) only, and ranks partition each global batch.

import Datasets
import XCTest

final class ShardPlanTests: XCTestCase {
    func testRanksPartitionEveryGlobalBatchAtAnyWorldSize() throws {
        let single = try ShardPlan(itemCount: 103, globalBatch: 12, worldSize: 1, rank: 0, seed: 9)
        XCTAssertEqual(single.stepsPerEpoch, 8)
        for epoch in 0 ..< 3 {
            let permutation = single.permutation(epoch: epoch)
            XCTAssertEqual(permutation.sorted(), Array(0 ..< 103))
            for world in [2, 3, 4] {
                let plans = try (0 ..< world).map { try ShardPlan(itemCount: 103, globalBatch: 12, worldSize: world, rank: $0, seed: 9) }
                XCTAssertEqual(plans[world - 1].permutation(epoch: epoch), permutation, "order does not depend on the world size")
                for step in 0 ..< single.stepsPerEpoch {
                    XCTAssertEqual(plans.flatMap { $0.localItems(step: step, of: permutation) }, Array(single.globalItems(step: step, of: permutation)))
                }
            }
        }
        XCTAssertNotEqual(single.permutation(epoch: 0), single.permutation(epoch: 1))
    }

    func testRefusesABatchTheWorldDoesNotDivide() {
        XCTAssertThrowsError(try ShardPlan(itemCount: 100, globalBatch: 10, worldSize: 4, rank: 0, seed: 1)) {
            XCTAssertTrue("\($0)".contains("train.batch") && "\($0)".contains("not divisible"), "\($0)")
        }
        XCTAssertThrowsError(try ShardPlan(itemCount: 10, globalBatch: 16, worldSize: 1, rank: 0, seed: 1))
    }
}
