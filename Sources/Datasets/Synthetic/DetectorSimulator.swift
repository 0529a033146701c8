// DetectorSimulator.swift — what a frozen one-stage detector would output for a synthetic scene at one
// input size (DESIGN.md §6):
//   maps at strides 8, 16, 32: each cell carries P·s + σ·noise, where s sums the attribute vectors
//   (category incl. a clutter slot, colour, size) of the objects it sees, weighted by overlap and
//   peaked at their centres, plus a position signal; P is a fixed random projection per scale with
//   standard normal entries, so a unit attribute gives each channel a signal of unit scale and σ is
//   the noise relative to it.
//   anchors on the stride-32 grid: the cell holding an object's centre predicts its box well with high
//   objectness, neighbouring cells predict it jittered with middling objectness, other cells predict
//   small boxes with low objectness. Objectness never depends on which object is referred to or on
//   its size, so "pick the most object-like" is a baseline, not a solution.

import Foundation
import Tensors

/// Renders detector outputs for scenes; the projections depend only on the detector seed.
public struct DetectorSimulator: Sendable {
    public let config: SyntheticConfig
    /// Per scale, [channels, signalDimension] with standard normal entries.
    private let projections: [[Float]]

    /// Category slots (incl. clutter), colours, size, and two position coordinates.
    static let attributeDimension = SyntheticVocabulary.categories.count + 1 + SyntheticVocabulary.colours.count + 1
    static let signalDimension = attributeDimension + 2

    public init(config: SyntheticConfig) {
        self.config = config
        let d = Self.signalDimension
        projections = config.channels.enumerated().map { scale, channels in
            let key = RandomKey(seed: config.detectorSeed).child("projection").child(scale)
            return (0 ..< channels * d).map { key.normal($0) }
        }
    }

    /// The attribute vector of an object: one-hot category (clutter in the last slot), one-hot colour, ±1 size.
    static func attributes(_ object: SceneObject) -> [Float] {
        var a = [Float](repeating: 0, count: attributeDimension)
        let categories = SyntheticVocabulary.categories.count
        a[object.isClutter ? categories : object.category] = 1
        a[categories + 1 + object.colour] = 1
        a[attributeDimension - 1] = object.big ? 1 : -1
        return a
    }

    /// The detector outputs of `scene` at input size `view`.
    public func render(_ scene: Scene, view: Int) -> FeatureRecord {
        let letterbox = Letterbox(originalWidth: scene.width, originalHeight: scene.height, size: view)
        let boxes = scene.objects.map { letterbox.toCanvas(box: $0.box) }
        let attributes = scene.objects.map(Self.attributes)
        let noiseKey = RandomKey(seed: config.seed).child("noise").child(scene.id).child(view)
        let maps = FeatureLayout.strides.enumerated().map { scale, stride in
            renderMap(view / stride, stride: Double(stride), boxes: boxes, attributes: attributes, scale: scale,
                      noise: noiseKey.child(scale))
        }
        return FeatureRecord(maps: maps, boxes: renderAnchors(view / 32, boxes: boxes, key: RandomKey(seed: config.seed).child("anchors").child(scene.id).child(view)))
    }

    private func renderMap(_ grid: Int, stride: Double, boxes: [[Double]], attributes: [[Float]], scale: Int, noise: RandomKey) -> [Float] {
        let channels = config.channels[scale], d = Self.signalDimension
        let p = projections[scale]
        var out = [Float](repeating: 0, count: channels * grid * grid)
        var signal = [Float](repeating: 0, count: d)
        for row in 0 ..< grid {
            for col in 0 ..< grid {
                let cell = [Double(col) * stride, Double(row) * stride, Double(col + 1) * stride, Double(row + 1) * stride]
                let (cx, cy) = ((cell[0] + cell[2]) / 2, (cell[1] + cell[3]) / 2)
                for k in 0 ..< d { signal[k] = 0 }
                for (box, attribute) in zip(boxes, attributes) {
                    let weight = Float(overlap(cell, box) * centrePeak(cx, cy, box))
                    guard weight > 0 else { continue }
                    for k in 0 ..< attribute.count { signal[k] += weight * attribute[k] }
                }
                signal[d - 2] = Float(config.positionSignal * (2 * cx / (stride * Double(grid)) - 1))
                signal[d - 1] = Float(config.positionSignal * (2 * cy / (stride * Double(grid)) - 1))
                let position = row * grid + col
                for c in 0 ..< channels {
                    var v: Float = 0
                    for k in 0 ..< d { v += p[c * d + k] * signal[k] }
                    out[c * grid * grid + position] = v + Float(config.noise) * noise.normal(c * grid * grid + position)
                }
            }
        }
        return out
    }

    /// [grid², anchorsPerCell, 5] anchor boxes and objectness.
    private func renderAnchors(_ grid: Int, boxes: [[Double]], key: RandomKey) -> [Float] {
        let a = config.anchorsPerCell
        var out = [Float](repeating: 0, count: grid * grid * a * 5)
        let centreCells = boxes.map { box -> (Int, Int) in
            (min(grid - 1, Int((box[1] + box[3]) / 2 / 32)), min(grid - 1, Int((box[0] + box[2]) / 2 / 32)))
        }
        for row in 0 ..< grid {
            for col in 0 ..< grid {
                let cell = row * grid + col
                var rng = KeyedGenerator(key.child(cell))
                let owner = centreCells.firstIndex { $0 == (row, col) }
                let neighbour = centreCells.indices.filter { max(abs(centreCells[$0].0 - row), abs(centreCells[$0].1 - col)) == 1 }
                    .min { distance(boxes[$0], row, col) < distance(boxes[$1], row, col) }
                let base = Float(owner != nil ? 0.7 + 0.25 * Double(rng.uniform()) : neighbour != nil ? 0.3 + 0.2 * Double(rng.uniform()) : 0.02 + 0.15 * Double(rng.uniform()))
                for anchor in 0 ..< a {
                    var box: [Double]
                    if let object = owner ?? neighbour {
                        let jitter = owner != nil ? 0.03 + 0.05 * Double(anchor) : config.boxJitter
                        box = jittered(boxes[object], jitter, &rng)
                    } else {
                        let extent = 32 * (1 + 2 * Double(rng.uniform()))
                        let (cx, cy) = (32 * (Double(col) + 0.5), 32 * (Double(row) + 0.5))
                        box = [cx - extent / 2, cy - extent / 2, cx + extent / 2, cy + extent / 2]
                    }
                    let objectness = min(0.999, max(0.001, base - (owner != nil ? 0.05 * Float(anchor) : 0) + 0.03 * rng.normal()))
                    let o = (cell * a + anchor) * 5
                    out[o] = Float((box[0] + box[2]) / 2)
                    out[o + 1] = Float((box[1] + box[3]) / 2)
                    out[o + 2] = Float(box[2] - box[0])
                    out[o + 3] = Float(box[3] - box[1])
                    out[o + 4] = objectness
                }
            }
        }
        return out
    }
}

/// How much of the smaller of a cell and a box the other covers.
private func overlap(_ cell: [Double], _ box: [Double]) -> Double {
    let w = max(0, min(cell[2], box[2]) - max(cell[0], box[0])), h = max(0, min(cell[3], box[3]) - max(cell[1], box[1]))
    let smaller = min((cell[2] - cell[0]) * (cell[3] - cell[1]), (box[2] - box[0]) * (box[3] - box[1]))
    return min(1, w * h / smaller)
}

/// 1 at the box centre, falling off with a width of a third of the box.
private func centrePeak(_ x: Double, _ y: Double, _ box: [Double]) -> Double {
    let (cx, cy) = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    let sigma = max(box[2] - box[0], box[3] - box[1]) / 3
    return exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * sigma * sigma))
}

private func distance(_ box: [Double], _ row: Int, _ col: Int) -> Double {
    let (cx, cy) = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    let (x, y) = (32 * (Double(col) + 0.5), 32 * (Double(row) + 0.5))
    return (cx - x) * (cx - x) + (cy - y) * (cy - y)
}

/// The box with centre and size moved by `fraction` of its size times standard normal draws.
private func jittered(_ box: [Double], _ fraction: Double, _ rng: inout KeyedGenerator) -> [Double] {
    let (w, h) = (box[2] - box[0], box[3] - box[1])
    let cx = (box[0] + box[2]) / 2 + fraction * w * Double(rng.normal())
    let cy = (box[1] + box[3]) / 2 + fraction * h * Double(rng.normal())
    let nw = w * max(0.3, 1 + fraction * Double(rng.normal())), nh = h * max(0.3, 1 + fraction * Double(rng.normal()))
    return [cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2]
}
