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
