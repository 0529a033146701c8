// Kernels.swift — small element-wise and row-wise kernels shared by the layers.

import Foundation

/// target += source, element-wise.
public func accumulate(_ source: Tensor, into target: Tensor) {
    precondition(source.count == target.count, "accumulate: \(source.shape) into \(target.shape)")
    let (s, t) = (source.data, target.data)
    for i in 0 ..< target.count { t[i] += s[i] }
}

/// y[r, :] += v for every row r of a [rows, n] matrix.
@inline(__always) public func addRowVector(_ y: UnsafeMutablePointer<Float>, rows: Int, _ v: UnsafePointer<Float>, _ n: Int) {
    for r in 0 ..< rows {
        let row = y + r * n
        for j in 0 ..< n { row[j] += v[j] }
    }
}

/// out[j] += Σ_r x[r, j] for a [rows, n] matrix.
@inline(__always) public func sumRows(_ x: UnsafePointer<Float>, rows: Int, _ n: Int, into out: UnsafeMutablePointer<Float>) {
    for r in 0 ..< rows {
        let row = x + r * n
        for j in 0 ..< n { out[j] += row[j] }
    }
}

/// Replaces x[0..<n] by its softmax (max-subtracted).
@inline(__always) public func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    var peak = -Float.infinity
    for j in 0 ..< n { peak = max(peak, x[j]) }
    var sum: Float = 0
    for j in 0 ..< n {
        x[j] = expf(x[j] - peak)
        sum += x[j]
    }
    let inv = 1 / sum
    for j in 0 ..< n { x[j] *= inv }
}

// Per-plane reductions and the normalization of BatchNorm, in Double: a Float32 sum over a plane of
// thousands of values carries rounding of ~1e-6 of its size, which BatchNorm's division by the spread
// turns into pre-activation errors of the same order as the values the next rectifier's kink
// separates. Four Double lanes keep the vector unit busy and the order fixed, so a result is the same
// on every run and every rank.

/// Σ x[0..<n], accumulated in Double.
@inline(__always) public func doubleSum(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    var lanes = SIMD4<Double>(repeating: 0)
    var j = 0
    while j + 4 <= n {
        lanes += SIMD4<Double>(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD4<Float>.self))
        j += 4
    }
    var total = lanes.sum()
    while j < n { total += Double(x[j]); j += 1 }
    return total
}

/// Σ (x[j] − center)² over j < n, in Double.
@inline(__always) public func doubleSumOfSquares(_ x: UnsafePointer<Float>, _ n: Int, centeredAt center: Double) -> Double {
    var lanes = SIMD4<Double>(repeating: 0)
    let c = SIMD4<Double>(repeating: center)
    var j = 0
    while j + 4 <= n {
        let d = SIMD4<Double>(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD4<Float>.self)) - c
        lanes += d * d
        j += 4
    }
    var total = lanes.sum()
    while j < n { total += (Double(x[j]) - center) * (Double(x[j]) - center); j += 1 }
    return total
}

/// (Σ g[j], Σ g[j]·(x[j] − center)) over j < n, in Double.
@inline(__always) public func doubleSumAndCenteredDot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                                                       centeredAt center: Double) -> (sum: Double, dot: Double) {
    var sums = SIMD4<Double>(repeating: 0), dots = SIMD4<Double>(repeating: 0)
    let c = SIMD4<Double>(repeating: center)
    var j = 0
    while j + 4 <= n {
        let gv = SIMD4<Double>(UnsafeRawPointer(g + j).loadUnaligned(as: SIMD4<Float>.self))
        sums += gv
        dots += gv * (SIMD4<Double>(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD4<Float>.self)) - c)
        j += 4
    }
    var (sum, dot) = (sums.sum(), dots.sum())
    while j < n { sum += Double(g[j]); dot += Double(g[j]) * (Double(x[j]) - center); j += 1 }
    return (sum, dot)
}

/// y[j] = x[j]·scale + shift evaluated in Double and rounded once to Float.
@inline(__always) public func affineInDouble(_ x: UnsafePointer<Float>, _ n: Int, scale: Double, shift: Double, into y: UnsafeMutablePointer<Float>) {
    let s = SIMD4<Double>(repeating: scale), t = SIMD4<Double>(repeating: shift)
    var j = 0
    while j + 4 <= n {
        let v = SIMD4<Double>(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD4<Float>.self)) * s + t
        UnsafeMutableRawPointer(y + j).storeBytes(of: SIMD4<Float>(v), as: SIMD4<Float>.self)
        j += 4
    }
    while j < n { y[j] = Float(Double(x[j]) * scale + shift); j += 1 }
}
