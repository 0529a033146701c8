// StepMemoryTests.swift — a teacher step's temporaries reach a steady state: the first step allocates,
// every later step reuses what the first released (no tensor grows, no storage is added), and the
// fusion's gradients are released once consumed.

import Distributed
import Layers
import Models
import Tensors
import TestSupport
import Training
import XCTest

final class StepMemoryTests: XCTestCase {
    func testLaterStepsReuseTheFirstStepsStorage() {
        TensorMemory.freeReleasedStorage()
        let shape = WorldSizeEquivalenceTests.shape
        let problem = RandomTeacherProblem(shape: shape, globalBatch: 4, seed: 3)
        let comm = SingleProcessCommunicator()
        let step = TeacherStep(model: RefCLIPTeacher(shape: shape, seed: 1), settings: OptimizerSettings(), communicator: comm)
        let inputs = problem.rows(0, 4)
        func run(_ n: UInt64) {
            _ = step.step(inputs, .training(step: RandomKey(seed: n), samples: [0, 1, 2, 3], communicator: comm), lr: 1e-3)
        }
        run(1)
        let held = TensorMemory.liveBytes + TensorMemory.pooledBytes
        XCTAssertGreaterThan(TensorMemory.pooledBytes, 0, "the fusion's gradients are released after use")
        TensorMemory.resetPeak()
        let startOfSecond = TensorMemory.liveBytes
        for n in 2 ... 4 { run(UInt64(n)) }
        XCTAssertEqual(TensorMemory.liveBytes + TensorMemory.pooledBytes, held, "later steps hold no more storage than the first")
        XCTAssertEqual(TensorMemory.liveBytes, startOfSecond)
        XCTAssertLessThanOrEqual(TensorMemory.peakBytes, held)
        TensorMemory.freeReleasedStorage()
    }
}
