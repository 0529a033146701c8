// AnchorContrastiveLoss.swift — RefCLIP's anchor-based contrastive loss over the global batch,
// computed where the texts live (DESIGN.md §3):
//   sim[t, a, s] = ⟨T_t, V_a,s⟩ over every image a of the global batch and its K selected anchors
//   logits[t]   = [top1[t, a] for all a] ++ [top2[t, a] for a ≠ t]      (2B − 1 entries)
//   loss        = mean_t CE(logits[t], target t)
// Each rank holds b = B/W texts and their b images. Forward all-gathers the anchors; each rank
// computes the rows of its own texts; backward reduce-scatters the anchors' gradient to their owners.
// Gradients flow only through the selected (top-1/top-2) entries.

import Distributed
import Layers
import Tensors

/// The distributed anchor-contrastive loss and its backward.
public final class AnchorContrastiveLoss {
    private let communicator: Communicator
    private let gathered = Tensor()       // [B·K, D], ranks in order
    private let similarity = Tensor()     // [b, B·K]
    private let similarityGrad = Tensor() // [b, B·K], nonzero only at the picked entries
    private let gatheredGrad = Tensor()
    private var text: Tensor?
    private var picked: [Int] = []        // for every logit, its column in `similarity`
    private var globalBatch = 0, localBatch = 0, anchorsPerImage = 0, dimension = 0
    private let crossEntropy = SoftmaxCrossEntropy()
    /// [b, 2B − 1]; row i belongs to global text rank·b + i, whose target column is that index.
    public let logits = Tensor()
    /// ∂L/∂V for this rank's images, [b, K, D].
    public let anchorGrad = Tensor()
    /// ∂L/∂T for this rank's texts, [b, D].
    public let textGrad = Tensor()

    public init(communicator: Communicator) { self.communicator = communicator }

    /// This rank's share of the loss (its rows' cross-entropy divided by the global batch size);
    /// the global loss is the sum over ranks.
    public func forward(anchors: Tensor, text: Tensor) -> Double {
        precondition(anchors.shape.count == 3 && text.shape.count == 2 && anchors.shape[0] == text.shape[0]
                     && anchors.shape[2] == text.shape[1], "contrastive loss: anchors \(anchors.shape), text \(text.shape)")
        let (b, k, d) = (anchors.shape[0], anchors.shape[1], anchors.shape[2])
        precondition(k >= 2, "contrastive loss needs at least two anchors per image, got \(k)")
        let world = communicator.size, bigB = b * world
        (localBatch, anchorsPerImage, dimension, globalBatch) = (b, k, d, bigB)
        self.text = text
        gathered.reshape([bigB * k, d])
        communicator.allGather(anchors.buffer, into: gathered.mutableBuffer)
        similarity.reshape([b, bigB * k])
        gemm(transB: true, m: b, n: bigB * k, k: d, a: text.data, b: gathered.data, c: similarity.data)

        let width = 2 * bigB - 1
        logits.reshape([b, width])
        picked = Array(repeating: 0, count: b * width)
        var targets: [Int] = []
        for i in 0 ..< b {
            let t = communicator.rank * b + i
            targets.append(t)
            var negative = bigB
            for a in 0 ..< bigB {
                let (first, second) = topTwo(similarity.data + i * bigB * k + a * k, k)
                logits[i * width + a] = similarity[i * bigB * k + a * k + first]
                picked[i * width + a] = a * k + first
                if a != t {
                    logits[i * width + negative] = similarity[i * bigB * k + a * k + second]
                    picked[i * width + negative] = a * k + second
                    negative += 1
                }
            }
        }
        return crossEntropy.forward(logits, targets: targets, normalizer: bigB)
    }

    /// Fills `anchorGrad` and `textGrad` (collective: every rank must call it).
    public func backward() {
        guard let text else { preconditionFailure("AnchorContrastiveLoss.backward before forward") }
        let (b, k, d, bigB) = (localBatch, anchorsPerImage, dimension, globalBatch)
        let dLogits = crossEntropy.backward()
        let width = 2 * bigB - 1
        similarityGrad.reshapeZeroed([b, bigB * k])
        for i in 0 ..< b {
            for j in 0 ..< width { similarityGrad[i * bigB * k + picked[i * width + j]] += dLogits[i * width + j] }
        }
        textGrad.reshape([b, d])
        gemm(m: b, n: d, k: bigB * k, a: similarityGrad.data, b: gathered.data, c: textGrad.data)
        gatheredGrad.reshape([bigB * k, d])
        gemm(transA: true, m: bigB * k, n: d, k: b, a: similarityGrad.data, b: text.data, c: gatheredGrad.data)
        anchorGrad.reshape([b, k, d])
        communicator.reduceScatter(gatheredGrad.buffer, into: anchorGrad.mutableBuffer)
    }
}

/// Indices of the largest and second-largest of x[0..<n] (n ≥ 2); ties go to the lower index.
@inline(__always) func topTwo(_ x: UnsafePointer<Float>, _ n: Int) -> (Int, Int) {
    var first = 0, second = -1
    for j in 1 ..< n {
        if x[j] > x[first] {
            second = first
            first = j
        } else if second < 0 || x[j] > x[second] {
            second = j
        }
    }
    return (first, second)
}
