// GradientCheck.swift — central finite differences for checking hand-written backward passes.
//
// Differences are taken in Float32 (the layers' precision) with the loss accumulated in Double; with
// step 1e-2 and inputs of order one, truncation and rounding errors stay below 1e-3 of the gradient's
// norm, so checks compare relative norm errors against a stated tolerance of a few 1e-3.

import Tensors
import XCTest

/// A fixed random projection L = Σ w ⊙ y that turns any output into a scalar loss with ∂L/∂y = w.
public struct ProjectionLoss {
    public let weights: Tensor

    public init(shape: [Int], seed: UInt64) {
        weights = randomTensor(shape, seed: seed)
    }

    public func value(_ y: Tensor) -> Double {
        precondition(y.count == weights.count, "projection loss: \(y.shape) vs \(weights.shape)")
        var sum = 0.0
        for i in 0 ..< y.count { sum += Double(y.data[i]) * Double(weights.data[i]) }
        return sum
    }
}

/// A tensor of standard normal values (times `scale`) drawn from a keyed stream.
public func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    let t = Tensor(shape)
    let key = RandomKey(seed: seed)
    for i in 0 ..< t.count { t.data[i] = key.normal(i) * scale }
    return t
}

/// ∂loss/∂values[i] by central differences for each i in `indices`.
public func numericGradient(_ values: UnsafeMutablePointer<Float>, indices: [Int], step: Float = 1e-2,
                            loss: () -> Double) -> [Double] {
    indices.map { i in
        let saved = values[i]
        values[i] = saved + step
        let up = loss()
        values[i] = saved - step
        let down = loss()
        values[i] = saved
        return (up - down) / (2 * Double(step))
    }
}

/// ‖a − b‖ / max(‖a‖, ‖b‖, 1e-12).
public func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.count) vs \(b.count) values")
    var diff = 0.0, na = 0.0, nb = 0.0
    for i in a.indices {
        diff += (a[i] - b[i]) * (a[i] - b[i])
        na += a[i] * a[i]
        nb += b[i] * b[i]
    }
    return diff.squareRoot() / max(na.squareRoot(), nb.squareRoot(), 1e-12)
}

/// Up to `limit` indices of `0..<count`, spread evenly, always including the first and last.
public func sampleIndices(_ count: Int, limit: Int = 64) -> [Int] {
    guard count > limit else { return Array(0 ..< count) }
    return (0 ..< limit).map { $0 * (count - 1) / (limit - 1) }
}

/// Checks the analytic gradient of `values` (at `analytic`) against central differences of `loss`.
/// `expectZero` is for parameters whose gradient vanishes by symmetry (e.g. a bias added to every
/// logit of a softmax): the backward must then give zeros, and the differences must too.
public func assertGradient(_ what: String, values: UnsafeMutablePointer<Float>, analytic: UnsafePointer<Float>, count: Int,
                           tolerance: Double = 5e-3, limit: Int = 64, step: Float = 1e-2, expectZero: Bool = false, loss: () -> Double,
                           file: StaticString = #filePath, line: UInt = #line) {
    let indices = sampleIndices(count, limit: limit)
    let numeric = numericGradient(values, indices: indices, step: step, loss: loss)
    let exact = indices.map { Double(analytic[$0]) }
    if expectZero {
        XCTAssertLessThan(exact.map(abs).max() ?? 0, 1e-5, "\(what): backward gives a gradient that should vanish", file: file, line: line)
        XCTAssertLessThan(numeric.map(abs).max() ?? 0, 1e-4, "\(what): finite differences say the gradient is not zero", file: file, line: line)
        return
    }
    let error = relativeError(exact, numeric)
    XCTAssertLessThan(error, tolerance, "\(what): relative error \(error) between backward and finite differences", file: file, line: line)
    XCTAssertGreaterThan(numeric.map(abs).max() ?? 0, 1e-4, "\(what): the loss barely depends on these values", file: file, line: line)
}

/// Checks the directional derivative along a random direction u over `indices` of `values`:
/// (L(θ + εu) − L(θ − εu)) / 2ε against Σ g·u. It aggregates every element's contribution, so it
/// stays meaningful where single gradients are too small to see through Float32 rounding.
public func assertDirectionalDerivative(_ what: String, values: UnsafeMutablePointer<Float>, analytic: UnsafePointer<Float>,
                                        indices: [Int], step: Float = 1e-2, tolerance: Double = 1e-2, seed: UInt64 = 17,
                                        loss: () -> Double, file: StaticString = #filePath, line: UInt = #line) {
    let key = RandomKey(seed: seed)
    let direction = indices.indices.map { key.normal($0) / Float(indices.count).squareRoot() }
    let saved = indices.map { values[$0] }
    for (k, i) in indices.enumerated() { values[i] = saved[k] + step * direction[k] }
    let up = loss()
    for (k, i) in indices.enumerated() { values[i] = saved[k] - step * direction[k] }
    let down = loss()
    for (k, i) in indices.enumerated() { values[i] = saved[k] }
    let numeric = (up - down) / (2 * Double(step))
    let exact = zip(indices, direction).reduce(0.0) { $0 + Double(analytic[$1.0]) * Double($1.1) }
    let error = abs(numeric - exact) / max(abs(numeric), abs(exact), 1e-12)
    XCTAssertLessThan(error, tolerance, "\(what): directional derivative \(exact) vs finite differences \(numeric)", file: file, line: line)
    XCTAssertGreaterThan(abs(numeric), 1e-5, "\(what): the loss barely depends on these values", file: file, line: line)
}

/// Asserts two float arrays agree within a relative norm error.
public func assertClose(_ actual: [Float], _ expected: [Float], relative: Double, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): sizes differ", file: file, line: line)
    guard actual.count == expected.count else { return }
    let error = relativeError(actual.map(Double.init), expected.map(Double.init))
    XCTAssertLessThan(error, relative, "\(what): relative error \(error)", file: file, line: line)
}

/// Asserts two float arrays agree element-wise within an absolute tolerance.
public func assertAllClose(_ actual: [Float], _ expected: [Float], absolute: Float, _ what: String,
                           file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): sizes differ", file: file, line: line)
    guard actual.count == expected.count else { return }
    var worst: Float = 0, at = 0
    for i in actual.indices where abs(actual[i] - expected[i]) > worst { (worst, at) = (abs(actual[i] - expected[i]), i) }
    XCTAssertLessThanOrEqual(worst, absolute, "\(what): element \(at) differs by \(worst) (\(actual[at]) vs \(expected[at]))",
                             file: file, line: line)
}

/// Rank `rank`'s equal share of a batch of `size` ranks: its rows along the leading dimension.
public func rankShare(_ t: Tensor, rank: Int, of size: Int) -> Tensor {
    let rows = t.shape[0] / size, rowSize = t.count / t.shape[0]
    return Tensor([rows] + t.shape.dropFirst(), Array(t.array[rank * rows * rowSize ..< (rank + 1) * rows * rowSize]))
}

/// Rank `rank`'s equal share of a flat per-sample array (for example `cells` masks per sample).
public func rankShare<Element>(_ values: [Element], rank: Int, of size: Int) -> [Element] {
    let share = values.count / size
    return Array(values[rank * share ..< (rank + 1) * share])
}
