// DeformableConvolutionTests.swift — the deformable convolution: zero offsets give the ordinary
// convolution exactly, one integer offset everywhere gives the convolution of the shifted input
// exactly, and fractional offsets near and beyond the border give the bilinear values worked out by
// hand with DCN's rules (corners outside are zero, taps outside (−1, H) × (−1, W) are zero).

@testable import Detector
import Tensors
import TestSupport
import XCTest

final class DeformableConvolutionTests: XCTestCase {
    private let (filters, channels, height, width, groups) = (5, 8, 7, 9, 4)

    private func layers(seed: UInt64) -> (DeformableConvolution, DarknetConvolution, [Float]) {
        var random = KeyedGenerator(RandomKey(seed: seed))
        let weights = (0 ..< filters * channels * 9).map { _ in Float.random(in: -1 ... 1, using: &random) }
        let biases = (0 ..< filters).map { _ in Float.random(in: -1 ... 1, using: &random) }
        let input = (0 ..< channels * height * width).map { _ in Float.random(in: -1 ... 1, using: &random) }
        let deformable = DeformableConvolution(weights: weights, biases: biases, filters: filters, channels: channels, size: 3,
                                               padding: 1, deformableGroups: groups)
        let ordinary = DarknetConvolution(shape: ConvolutionShape(filters: filters, channels: channels, size: 3, batchNormalize: false), stride: 1, padding: 1,
                                          activation: .linear, values: ConvolutionWeights(weights: weights, biases: biases, batchNorm: nil))
        return (deformable, ordinary, input)
    }

    private func deformableOutput(_ layer: DeformableConvolution, _ input: [Float], offsets: [Float], height: Int? = nil, width: Int? = nil) -> Tensor {
        let output = Tensor()
        input.withUnsafeBufferPointer { x in
            offsets.withUnsafeBufferPointer { layer.forward(x.baseAddress!, height: height ?? self.height, width: width ?? self.width, offsets: $0.baseAddress!, into: output) }
        }
        return output
    }

    private func ordinaryOutput(_ layer: DarknetConvolution, _ input: [Float]) -> Tensor {
        let output = Tensor()
        input.withUnsafeBufferPointer { layer.forward($0.baseAddress!, height: height, width: width, into: output) }
        return output
    }

    func testZeroOffsetsGiveTheOrdinaryConvolutionExactly() {
        let (deformable, ordinary, input) = layers(seed: 1)
        let offsets = [Float](repeating: 0, count: deformable.offsetChannels * height * width)
        let got = deformableOutput(deformable, input, offsets: offsets), expected = ordinaryOutput(ordinary, input)
        XCTAssertEqual(got.shape, [filters, height, width])
        XCTAssertEqual(Array(got.buffer), Array(expected.buffer))
    }

    /// Both products have the same dimensions (one sgemm each, the same summation order per
    /// element), so equal columns give bitwise equal outputs on any BLAS kernel and thread count.
    func testAnIntegerOffsetEverywhereGivesTheShiftedConvolutionExactly() {
        let (deformable, ordinary, input) = layers(seed: 2)
        for (dy, dx) in [(1, -2), (-3, 0), (0, 4), (2, 2)] {
            var offsets = [Float](repeating: 0, count: deformable.offsetChannels * height * width)
            for pair in 0 ..< deformable.offsetChannels / 2 {
                for p in 0 ..< height * width {
                    offsets[2 * pair * height * width + p] = Float(dy)
                    offsets[(2 * pair + 1) * height * width + p] = Float(dx)
                }
            }
            // shifted[c, y, x] = input[c, y + dy, x + dx], zero outside.
            var shifted = [Float](repeating: 0, count: input.count)
            for c in 0 ..< channels {
                for y in 0 ..< height where (0 ..< height).contains(y + dy) {
                    for x in 0 ..< width where (0 ..< width).contains(x + dx) {
                        shifted[(c * height + y) * width + x] = input[(c * height + y + dy) * width + x + dx]
                    }
                }
            }
            let got = deformableOutput(deformable, input, offsets: offsets), expected = ordinaryOutput(ordinary, shifted)
            // Outputs whose 3×3 taps lie inside the image in both (elsewhere zero padding differs by design).
            let rows = max(1, 1 - dy) ... min(height - 2, height - 2 - dy), columns = max(1, 1 - dx) ... min(width - 2, width - 2 - dx)
            for f in 0 ..< filters { for y in rows { for x in columns {
                let at = (f * height + y) * width + x
                XCTAssertEqual(got.data[at], expected.data[at], "offset (\(dy), \(dx)), filter \(f) at (\(y), \(x))")
            } } }
        }
    }

    /// A 1×1 deformable convolution with one filter of weight 2 and bias 1 on one 2×3 plane, each
    /// output reading the input at its own offset; expected values by hand.
    func testFractionalOffsetsFollowDCNsBilinearRules() {
        let plane: [Float] = [1, 2, 3,
                              4, 5, 6]
        let layer = DeformableConvolution(weights: [2], biases: [1], filters: 1, channels: 1, size: 1, padding: 0, deformableGroups: 1)
        // (Δy, Δx) per output position (row-major over 2×3).
        let shifts: [(Float, Float)] = [(0.5, 0.25),   // (0.5, 0.25): ¾·(½·1 + ½·4) + ¼·(½·2 + ½·5) = 1.875 + 0.875 = 2.75 → 6.5
                                        (0, 0),        // 2 → 5
                                        (-0.5, 0),     // (−0.5, 2): only the row-0 corner, weight ½: 1.5 → 4
                                        (-1, 0),       // (0, 0): 1 → 3
                                        (0.5, 0.5),    // (1.5, 1.5): row 2 outside; ½·(½·5 + ½·6) = 2.75 → 6.5
                                        (0, 1)]        // (1, 3): x = W, outside → 0 → 1
        var offsets = [Float](repeating: 0, count: 2 * 6)
        for (p, (dy, dx)) in shifts.enumerated() { (offsets[p], offsets[6 + p]) = (dy, dx) }
        let got = deformableOutput(layer, plane, offsets: offsets, height: 2, width: 3)
        XCTAssertEqual(Array(got.buffer), [6.5, 5, 4, 3, 6.5, 1])
    }

    func testEachDeformableGroupReadsItsOwnOffsets() {
        // Two groups of one channel each: group 1 reads every tap one row lower, group 0 reads in
        // place. Row oy of the result is then the ordinary convolution of a 3-row window in which
        // channel 1 has moved up by one: compared at every output whose taps stay inside the image.
        var random = KeyedGenerator(RandomKey(seed: 3))
        let (c, h, w) = (2, 6, 5)
        let weights = (0 ..< 3 * c * 9).map { _ in Float.random(in: -1 ... 1, using: &random) }
        let input = (0 ..< c * h * w).map { _ in Float.random(in: -1 ... 1, using: &random) }
        let layer = DeformableConvolution(weights: weights, biases: [0, 0, 0], filters: 3, channels: c, size: 3, padding: 1, deformableGroups: 2)
        var offsets = [Float](repeating: 0, count: layer.offsetChannels * h * w)
        for tap in 0 ..< 9 { for p in 0 ..< h * w { offsets[(18 + 2 * tap) * h * w + p] = 1 } }
        var moved = input
        for y in 0 ..< h { for x in 0 ..< w { moved[(h + y) * w + x] = y + 1 < h ? input[(h + y + 1) * w + x] : 0 } }
        let ordinary = DarknetConvolution(shape: ConvolutionShape(filters: 3, channels: c, size: 3, batchNormalize: false), stride: 1, padding: 1,
                                          activation: .linear, values: ConvolutionWeights(weights: weights, biases: [0, 0, 0], batchNorm: nil))
        let expected = Tensor()
        moved.withUnsafeBufferPointer { ordinary.forward($0.baseAddress!, height: h, width: w, into: expected) }
        let got = deformableOutput(layer, input, offsets: offsets, height: h, width: w)
        // Rows 1 ..< h − 2: every tap of both groups reads inside the image in both computations.
        for f in 0 ..< 3 { for y in 1 ..< h - 2 { for x in 0 ..< w {
            XCTAssertEqual(got.data[(f * h + y) * w + x], expected.data[(f * h + y) * w + x], "filter \(f) at (\(y), \(x))")
        } } }
    }
}
