// AttentionMaskConsistency.swift — SynGround's attention–mask consistency loss on the teacher's
// anchor heatmap (DESIGN.md §6), for items that carry a box (synthetic ground truth or pseudo-labels):
//   h[b, c]  = ⟨T_b, V_b,c⟩ over every cell c of the stride-32 grid
//   n[b, c]  = (r − min r) / (max r − min r + ε) with r = ReLU(h), per sample
//   m[b, c]  = the share of cell c that the box covers
//   μ_in     = Σ n·m / Σ m,   μ_out = Σ n·(1 − m) / Σ (1 − m)         (pooled over the global batch)
//   L_mean   = max(0, μ_out − μ_in + 0.1)
//   L_max    = mean_b max(0, max_c n·(1 − m) − max_c n·m + 0.5)
//   L        = 0.2·L_mean + 0.8·L_max
// Each rank holds its samples; the pooled sums and the sample count are all-reduced, so every rank
// computes the gradient of the global loss with respect to its own rows.

import Distributed
import Tensors

/// The share of each cell of a `grid`×`grid` map over an input of `size` pixels that `box`
/// (x1, y1, x2, y2 in input pixels) covers, row-major.
public func boxCoverage(_ box: [Float], grid: Int, size: Int) -> [Float] {
    let cell = Float(size) / Float(grid)
    var coverage = [Float](repeating: 0, count: grid * grid)
    for row in 0 ..< grid {
        let h = max(0, min(box[3], Float(row + 1) * cell) - max(box[1], Float(row) * cell))
        guard h > 0 else { continue }
        for col in 0 ..< grid {
            let w = max(0, min(box[2], Float(col + 1) * cell) - max(box[0], Float(col) * cell))
            coverage[row * grid + col] = w * h / (cell * cell)
        }
    }
    return coverage
}

/// The distributed attention–mask consistency loss and its backward.
public final class AttentionMaskConsistency {
    public static let meanMargin: Float = 0.1, maxMargin: Float = 0.5
    public static let meanWeight: Float = 0.2, maxWeight: Float = 0.8
    /// Keeps the min–max normalization finite on a flat heatmap.
    public static let epsilon: Float = 1e-6

    private let communicator: Communicator
    private var cells: Tensor?, text: Tensor?
    private var masks: [Float] = []
    private let heat = Tensor()        // r = ReLU(h), [b, C]
    private let normalized = Tensor()  // n, [b, C]
    private var lowest: [Int] = [], highest: [Int] = [], spread: [Float] = []
    private var insidePeak: [Int] = [], outsidePeak: [Int] = []
    private var maxActive: [Bool] = []
    private var meanActive = false
    private var sums = [Double](repeating: 0, count: 5)  // Σ n·m, Σ m, Σ n·(1 − m), Σ (1 − m), samples
    /// ∂L/∂V for this rank's cells, [b, C, D].
    public let cellGrad = Tensor()
    /// ∂L/∂T for this rank's texts, [b, D].
    public let textGrad = Tensor()

    public init(communicator: Communicator) { self.communicator = communicator }

    /// This rank's share of the global loss (the shares sum to it): its samples' L_max terms, and
    /// L_mean on rank 0. `masks` is [b, C].
    public func forward(cells: Tensor, text: Tensor, masks: [Float]) -> Double {
        let (b, c, d) = (cells.shape[0], cells.shape[1], cells.shape[2])
        precondition(text.shape == [b, d] && masks.count == b * c, "attention–mask consistency: cells \(cells.shape), text \(text.shape), \(masks.count) mask values")
        (self.cells, self.text, self.masks) = (cells, text, masks)
        heat.reshape([b, c])
        gemmBatchedDot(cells: cells, text: text, into: heat)
        normalized.reshape([b, c])
        lowest = []; highest = []; spread = []; insidePeak = []; outsidePeak = []
        var local = [Double](repeating: 0, count: 5)
        var peaks: [Float] = []
        for i in 0 ..< b {
            let r = heat.data + i * c, n = normalized.data + i * c
            for j in 0 ..< c { r[j] = max(0, r[j]) }
            var (lo, hi) = (0, 0)
            for j in 1 ..< c {
                if r[j] < r[lo] { lo = j }
                if r[j] > r[hi] { hi = j }
            }
            let range = r[hi] - r[lo] + Self.epsilon
            var (inside, outside) = (0, 0)
            for j in 0 ..< c {
                n[j] = (r[j] - r[lo]) / range
                let mj = masks[i * c + j]
                if n[j] * mj > n[inside] * masks[i * c + inside] { inside = j }
                if n[j] * (1 - mj) > n[outside] * (1 - masks[i * c + outside]) { outside = j }
                local[0] += Double(n[j] * mj)
                local[1] += Double(mj)
                local[2] += Double(n[j] * (1 - mj))
                local[3] += Double(1 - mj)
            }
            lowest.append(lo); highest.append(hi); spread.append(range)
            insidePeak.append(inside); outsidePeak.append(outside)
            peaks.append(n[outside] * (1 - masks[i * c + outside]) - n[inside] * masks[i * c + inside] + Self.maxMargin)
        }
        local[4] = Double(b)
        sums = local
        communicator.allReduce(&sums, .sum)
        maxActive = peaks.map { $0 > 0 }
        var share = Double(Self.maxWeight) * peaks.reduce(0) { $0 + Double(max(0, $1)) } / sums[4]
        let gap = meanGap
        meanActive = gap > 0
        if communicator.isRoot { share += Double(Self.meanWeight) * max(0, gap) }
        return share
    }

    /// μ_out − μ_in + margin from the pooled sums.
    private var meanGap: Double {
        let inside = sums[1] > 0 ? sums[0] / sums[1] : 0, outside = sums[3] > 0 ? sums[2] / sums[3] : 0
        return outside - inside + Double(Self.meanMargin)
    }

    /// Fills `cellGrad` and `textGrad` (gradients of the global loss) for this rank's rows.
    public func backward() {
        guard let cells, let text else { preconditionFailure("AttentionMaskConsistency.backward before forward") }
        let (b, c, d) = (cells.shape[0], cells.shape[1], cells.shape[2])
        let samples = Float(sums[4])
        let inWeight = meanActive && sums[1] > 0 ? Self.meanWeight / Float(sums[1]) : 0
        let outWeight = meanActive && sums[3] > 0 ? Self.meanWeight / Float(sums[3]) : 0
        var dn = [Float](repeating: 0, count: c), dh = [Float](repeating: 0, count: c)
        cellGrad.reshapeZeroed([b, c, d])
        textGrad.reshapeZeroed([b, d])
        for i in 0 ..< b {
            let r = heat.data + i * c, n = normalized.data + i * c
            // ∂L/∂n: the pooled means, then the two peaks of this sample.
            for j in 0 ..< c { dn[j] = outWeight * (1 - masks[i * c + j]) - inWeight * masks[i * c + j] }
            if maxActive[i] {
                dn[outsidePeak[i]] += Self.maxWeight / samples * (1 - masks[i * c + outsidePeak[i]])
                dn[insidePeak[i]] -= Self.maxWeight / samples * masks[i * c + insidePeak[i]]
            }
            // Through n = (r − r_lo) / (r_hi − r_lo + ε): each r directly, and r_lo, r_hi through every n.
            let range = spread[i]
            var throughLow: Float = 0, throughHigh: Float = 0
            for j in 0 ..< c {
                dh[j] = dn[j] / range
                throughLow += dn[j] * (n[j] / range - 1 / range)
                throughHigh -= dn[j] * n[j] / range
            }
            dh[lowest[i]] += throughLow
            dh[highest[i]] += throughHigh
            // Through r = ReLU(h), then h = ⟨T, V_c⟩.
            let t = text.data + i * d, dt = textGrad.data + i * d
            for j in 0 ..< c where r[j] > 0 && dh[j] != 0 {
                let v = cells.data + (i * c + j) * d, dv = cellGrad.data + (i * c + j) * d
                for k in 0 ..< d {
                    dv[k] += dh[j] * t[k]
                    dt[k] += dh[j] * v[k]
                }
            }
        }
    }

    /// h[i, j] = ⟨text_i, cells_i,j⟩ for every sample i.
    private func gemmBatchedDot(cells: Tensor, text: Tensor, into out: Tensor) {
        let (b, c, d) = (cells.shape[0], cells.shape[1], cells.shape[2])
        for i in 0 ..< b {
            gemm(m: c, n: 1, k: d, a: cells.data + i * c * d, b: text.data + i * d, c: out.data + i * c)
        }
    }
}
