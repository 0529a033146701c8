// Letterbox.swift — the detector's input geometry (DESIGN.md §3): resize so the long side is S (sizes
// truncated to integers), paste centred on an S×S canvas; and the inverse map back to the original
// image, per axis with the resized size as in the reference (x = (x' − dx) · W / w').

/// The placement of one image inside an S×S letterbox.
public struct Letterbox: Equatable, Codable, Sendable {
    public let size: Int
    public let originalWidth: Int, originalHeight: Int
    /// The resized image and its offset on the canvas.
    public let width: Int, height: Int, dx: Int, dy: Int

    public init(originalWidth: Int, originalHeight: Int, size: Int) {
        precondition(originalWidth > 0 && originalHeight > 0 && size > 0, "letterbox of an empty image")
        self.size = size
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
        let scale = Double(size) / Double(max(originalWidth, originalHeight))
        width = max(1, Int(Double(originalWidth) * scale))
        height = max(1, Int(Double(originalHeight) * scale))
        dx = (size - width) / 2
        dy = (size - height) / 2
    }

    /// A point of the original image on the canvas.
    public func toCanvas(x: Double, y: Double) -> (x: Double, y: Double) {
        (x * Double(width) / Double(originalWidth) + Double(dx), y * Double(height) / Double(originalHeight) + Double(dy))
    }

    /// A point of the canvas in the original image.
    public func toOriginal(x: Double, y: Double) -> (x: Double, y: Double) {
        ((x - Double(dx)) * Double(originalWidth) / Double(width), (y - Double(dy)) * Double(originalHeight) / Double(height))
    }

    /// A box (x1, y1, x2, y2) of the original image on the canvas.
    public func toCanvas(box: [Double]) -> [Double] {
        let a = toCanvas(x: box[0], y: box[1]), b = toCanvas(x: box[2], y: box[3])
        return [a.x, a.y, b.x, b.y]
    }

    /// A box (x1, y1, x2, y2) of the canvas in the original image.
    public func toOriginal(box: [Double]) -> [Double] {
        let a = toOriginal(x: box[0], y: box[1]), b = toOriginal(x: box[2], y: box[3])
        return [a.x, a.y, b.x, b.y]
    }
}

/// Intersection over union of two (x1, y1, x2, y2) boxes (strict geometry, no +1).
public func intersectionOverUnion(_ a: [Double], _ b: [Double]) -> Double {
    let w = max(0, min(a[2], b[2]) - max(a[0], b[0])), h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    let inter = w * h
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return union > 0 ? inter / union : 0
}
