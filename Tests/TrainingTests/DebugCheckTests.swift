// DebugCheckTests.swift — the debug mode's per-step checks: identical ranks pass and one value changed
// on one rank ends the run on every rank with the step and that rank named; a NaN in a detector map
// is reported at the first layer that reads it, with the ranks it reached.

import Distributed
import Layers
import Models
import TestSupport
import Tensors
import Training
import XCTest

final class DebugCheckTests: XCTestCase {
    private func store(perturbed: Bool) -> ParameterStore {
        let store = ParameterStore(seed: 4)
        let weight = store.add("w", [3, 5], .uniform(bound: 1))
        if perturbed { store.value(weight)[7] = store.value(weight)[7].nextUp }
        return store
    }

    func testIdenticalRanksPassAndADivergentRankIsNamed() throws {
        XCTAssertEqual(parameterHash([store(perturbed: false)]), parameterHash([store(perturbed: false)]))
        XCTAssertNotEqual(parameterHash([store(perturbed: false)]), parameterHash([store(perturbed: true)]), "one ulp changes the hash")
        _ = try ThreadCommunicator.run(ranks: 3) { comm in try checkRanksAgree([self.store(perturbed: false)], step: 5, communicator: comm) }

        let messages = try ThreadCommunicator.run(ranks: 3) { comm -> String in
            do {
                try checkRanksAgree([self.store(perturbed: comm.rank == 2)], step: 5, communicator: comm)
                return "passed"
            } catch {
                return "\(error)"
            }
        }
        for message in messages { XCTAssertTrue(message.contains("step 5: rank 2 holds parameters that differ"), message) }
    }

    func testTheFirstNonFiniteLayerIsNamedWithItsRank() throws {
        let shape = WorldSizeEquivalenceTests.shape
        let problem = RandomTeacherProblem(shape: shape, globalBatch: 4, seed: 2)
        let messages = try ThreadCommunicator.run(ranks: 2) { comm -> String in
            let model = RefCLIPTeacher(shape: shape, seed: 1)
            let inputs = problem.rows(comm.rank * 2, 2)
            if comm.rank == 1 { inputs.f13.data[5] = .nan }
            let probe = NonFiniteProbe()
            var context = ForwardContext.training(step: RandomKey(seed: 1), samples: [comm.rank * 2, comm.rank * 2 + 1], communicator: comm)
            context.probe = probe
            _ = model.forward(inputs, context)
            do {
                try checkFinite(probe, step: 9, communicator: comm)
                return "passed"
            } catch {
                return "\(error)"
            }
        }
        for message in messages {
            // Synchronized BatchNorm carries rank 1's NaN into rank 0's output of the same layer.
            XCTAssertEqual(message, "step 9: the output of multi_scale_manner.up_modules.1.1 holds NaN or Inf (the first layer of the forward pass that does) on ranks 0, 1")
        }
    }
}
