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

// Reductions in eight lanes: the compiler keeps a scalar float sum in order (it may not reassociate),
// one addition per cycle's latency; eight independent lanes let it use the vector unit. The order is
// fixed, so a sum is the same on every run and every rank.

/// Σ x[0..<n].
@inline(__always) public func laneSum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var lanes = SIMD8<Float>(repeating: 0)
    var j = 0
    while j + 8 <= n {
        lanes += UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
        j += 8
    }
    var total = lanes.sum()
    while j < n { total += x[j]; j += 1 }
    return total
}

/// Σ (x[j] − center)² over j < n.
@inline(__always) public func laneSumOfSquares(_ x: UnsafePointer<Float>, _ n: Int, centeredAt center: Float) -> Float {
    var lanes = SIMD8<Float>(repeating: 0)
    let c = SIMD8<Float>(repeating: center)
    var j = 0
    while j + 8 <= n {
        let d = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self) - c
        lanes += d * d
        j += 8
    }
    var total = lanes.sum()
    while j < n { total += (x[j] - center) * (x[j] - center); j += 1 }
    return total
}

/// (Σ g[j], Σ g[j]·(x[j] − center)) over j < n.
@inline(__always) public func laneSumAndCenteredDot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                                                     centeredAt center: Float) -> (sum: Float, dot: Float) {
    var sums = SIMD8<Float>(repeating: 0), dots = SIMD8<Float>(repeating: 0)
    let c = SIMD8<Float>(repeating: center)
    var j = 0
    while j + 8 <= n {
        let gv = UnsafeRawPointer(g + j).loadUnaligned(as: SIMD8<Float>.self)
        sums += gv
        dots += gv * (UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self) - c)
        j += 8
    }
    var (sum, dot) = (sums.sum(), dots.sum())
    while j < n { sum += g[j]; dot += g[j] * (x[j] - center); j += 1 }
    return (sum, dot)
}
