// ReferenceGridTests.swift — the reference checks (ReferenceComparison) on a grid of fixtures written
// by the PyTorch restatement (Tests/Python/refclip_teacher.py grid): batch 1, 2, 3, 6 and 8 under the
// plain, offset, constant and ties stress cases with their own seeds, and the plain case under a second
// seed, each drawn so that float32 decides every kink and ranking its recorded forwards meet. Prints the
// largest relative gradient difference per fixture and mode. A 1e-3 change of one BatchNorm statistic
// must be caught, on the shipped fixture and on the grid's fixture with the loosest measured tolerances.

import Formats
import Foundation
import Layers
import Models
import Tensors
import TestSupport
import XCTest

final class ReferenceGridTests: XCTestCase {
    /// The grid's fixtures, written once per version of the generator under .build.
    private static func grid() throws -> [(name: String, fixture: ReferenceFixture)] {
        guard let python = ProcessInfo.processInfo.environment["REFCLIP_PYTHON"] else {
            throw InputError("REFCLIP_PYTHON is not set", hint: "run the suite with make test, which installs a Python with torch")
        }
        let script = packageRoot.appendingPathComponent("Tests/Python/refclip_teacher.py")
        let version = try Data(contentsOf: script).reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        let directory = packageRoot.appendingPathComponent(".build/reference-grid/\(String(version, radix: 16))")
        let index = directory.appendingPathComponent("grid.json")
        if !FileManager.default.fileExists(atPath: index.path) {
            let made = try runProcess(python, [script.path, "grid", "--out", directory.path], environment: ["OMP_NUM_THREADS": "1"])
            guard made.status == 0 else { throw InputError("refclip_teacher.py grid failed (status \(made.status))", hint: made.output) }
        }
        let entries = try JSONSerialization.jsonObject(with: Data(contentsOf: index)) as? [[String: Any]] ?? []
        return try entries.map { entry in
            let name = entry["file"] as? String ?? ""
            return (name, try ReferenceFixture(file: try SafetensorsFile(path: directory.appendingPathComponent(name).path)))
        }
    }

    func testEveryFixtureOfTheGrid() throws {
        let grid = try Self.grid()
        XCTAssertEqual(grid.count, 25, "5 batch sizes × 4 stress cases, and 5 plain fixtures of a second seed")
        var largest: [String: Double] = [:]
        let columns = ["trainbn", "evalbn", "fp64.trainbn", "fp64.evalbn", "reference fp64.trainbn", "reference fp64.evalbn"]
        print("fixture                       largest relative gradient difference of a tensor                                       findings")
        print("                              against the reference       against float64             the reference against float64")
        print("                              trainbn      evalbn         trainbn      evalbn         trainbn      evalbn")
        for (name, fixture) in grid {
            let comparison = ReferenceComparison(fixture)
            let (gradientFindings, differences) = try comparison.lossAndGradients()
            let findings = try comparison.forwardIntermediates() + gradientFindings + comparison.adamSteps() + comparison.prediction()
            for (column, value) in differences { largest[column] = max(largest[column] ?? 0, value) }
            let row = columns.map { String(format: "%.2e", differences[$0] ?? .nan) }.joined(separator: "     ")
            print("\(name.padding(toLength: 30, withPad: " ", startingAt: 0))\(row)     \(findings.count)")
            for finding in findings.prefix(5) { XCTFail("\(name): \(finding)") }
        }
        print("over the grid                 " + columns.map { String(format: "%.2e", largest[$0] ?? .nan) }.joined(separator: "     "))
    }

    /// One BatchNorm statistic of the model (one layer's running variance, or its running mean) changed
    /// by 1e-3 is caught by the forward, gradient and Adam-step checks, on the shipped fixture and on the
    /// grid's offset fixture at batch 8, whose measured rounding widens the tolerances most. The same
    /// layer's weight changed by 1e-3 is caught in the training-mode gradients: reversing undetermined
    /// rectifier decisions (UndeterminedDecisions.swift) does not explain a real difference away.
    func testAPerturbedBatchNormStatisticIsCaught() throws {
        let offset = try Self.grid().first { $0.name.hasPrefix("b8-") && $0.name.hasSuffix("offset.safetensors") }
        let fixtures = [("shipped", try ReferenceFixture.load()), ("grid", try XCTUnwrap(offset?.fixture, "the grid's offset fixture at batch 8"))]
        let layer = "multi_scale_manner.down_modules.1.1.batch_norm"
        for (label, fixture) in fixtures {
            XCTAssertEqual(try ReferenceComparison(fixture).all(), [], "\(label): unperturbed, nothing differs")
            for (statistic, change) in [("running_var", { (x: Float) in x * (1 + 1e-3) }), ("running_mean", { (x: Float) in x + 1e-3 })] {
                let comparison = ReferenceComparison(fixture) { model in
                    let ref = model.buffers.ref("\(layer).\(statistic)")!
                    model.buffers.set(ref, model.buffers.array(ref).map(change))
                }
                let forward = try comparison.forwardIntermediates(), gradients = try comparison.lossAndGradients().findings
                let steps = try comparison.adamSteps()
                XCTAssertTrue(forward.contains { $0.hasPrefix("evalbn.mid.msf_top13") }, "\(label), \(statistic): the evaluation-mode fusion output")
                XCTAssertTrue(gradients.contains { $0.hasPrefix("evalbn.grad: ∂L/∂") }, "\(label), \(statistic): the evaluation-mode gradients")
                XCTAssertTrue(steps.contains { $0.contains("\(layer).\(statistic)") }, "\(label), \(statistic): the statistic after the steps")
            }
            let weight = ReferenceComparison(fixture) { model in
                let ref = model.params.ref("\(layer).weight")!
                model.params.set(ref, model.params.array(ref).map { $0 * (1 + 1e-3) })
            }
            let gradients = try weight.lossAndGradients().findings
            XCTAssertTrue(gradients.contains { $0.hasPrefix("trainbn.grad: ∂L/∂") }, "\(label), weight: the training-mode gradients")
        }
    }
}
