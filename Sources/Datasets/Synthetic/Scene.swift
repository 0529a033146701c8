// Scene.swift — a synthetic scene: an image size and objects with category, colour, size and box,
// drawn so that objects barely overlap and sit in distinct cells of the stride-32 grid.

import Tensors

/// One object of a scene. `category` −1 marks unnameable clutter.
public struct SceneObject: Codable, Equatable, Sendable {
    public var category: Int
    public var colour: Int
    public var big: Bool
    /// (x1, y1, x2, y2) in original image pixels.
    public var box: [Double]

    public var isClutter: Bool { category < 0 }
    public var centre: (x: Double, y: Double) { ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2) }
}

/// One synthetic image.
public struct Scene: Codable, Equatable, Sendable {
    public var id: Int
    public var width: Int, height: Int
    public var objects: [SceneObject]

    /// The scene of image `id`, a pure function of (config seed, split, index).
    public static func generate(id: Int, split: String, index: Int, config: SyntheticConfig) -> Scene {
        var rng = KeyedGenerator(RandomKey(seed: config.seed).child("scene").child(split).child(index))
        func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * Double(rng.uniform()) }
        func integer(_ lo: Int, _ hi: Int) -> Int { lo + rng.index(below: hi - lo + 1) }

        let width = integer(config.minWidth, config.maxWidth), height = integer(config.minHeight, config.maxHeight)
        let letterbox = Letterbox(originalWidth: width, originalHeight: height, size: config.views.first ?? 416)
        let named = integer(config.minObjects, config.maxObjects), clutter = integer(config.minClutter, config.maxClutter)
        var objects: [SceneObject] = []
        var usedCells = Set<Int>()
        let side = Double(min(width, height))
        for i in 0 ..< named + clutter {
            let isClutter = i >= named
            var category = isClutter ? -1 : weightedIndex(config.categoryWeights, &rng)
            var colour = weightedIndex(config.colourWeights, &rng)
            let namedSoFar = objects.filter { !$0.isClutter }
            if !isClutter, !namedSoFar.isEmpty, Double(rng.uniform()) < config.lookalikeRate {
                let model = namedSoFar[rng.index(below: namedSoFar.count)]
                category = model.category
                if rng.uniform() < 0.5 { colour = model.colour }
            }
            let big = rng.uniform() < 0.5
            for _ in 0 ..< 60 {  // place without heavy overlap, one object per grid cell
                let extent = big ? uniform(0.22, 0.32) * side : uniform(0.12, 0.18) * side
                let aspect = uniform(0.8, 1.25)
                let (w, h) = (extent * aspect.squareRoot(), extent / aspect.squareRoot())
                let (cx, cy) = (uniform(w / 2, Double(width) - w / 2), uniform(h / 2, Double(height) - h / 2))
                let box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
                let canvas = letterbox.toCanvas(x: cx, y: cy)
                let cell = Int(canvas.y / 32) * (letterbox.size / 32) + Int(canvas.x / 32)
                guard !usedCells.contains(cell), objects.allSatisfy({ intersectionOverUnion($0.box, box) < 0.1 }) else { continue }
                usedCells.insert(cell)
                objects.append(SceneObject(category: category, colour: colour, big: big, box: box))
                break
            }
        }
        return Scene(id: id, width: width, height: height, objects: objects)
    }
}

/// An index drawn with probability ∝ `weights` (one draw from `rng`; uniform weights draw exactly as
/// `index(below:)`, so the default mix reproduces earlier datasets).
private func weightedIndex(_ weights: [Int], _ rng: inout KeyedGenerator) -> Int {
    if Set(weights).count == 1 { return rng.index(below: weights.count) }
    var pick = Int(rng.next() % UInt64(weights.reduce(0, +)))
    for (i, w) in weights.enumerated() {
        if pick < w { return i }
        pick -= w
    }
    return weights.count - 1
}
