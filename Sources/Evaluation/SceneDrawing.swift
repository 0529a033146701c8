// SceneDrawing.swift — a synthetic scene drawn from its description (DESIGN.md §6): each named object
// as its shape in its colour inside its box, clutter as grey blobs, on a light background. It stands
// in for the image when a report shows grounded predictions on synthetic data.

import Datasets
import Foundation

/// SVG elements (no document wrapper) that draw `scene` at its own pixel size.
public func sceneSVGElements(_ scene: Scene) -> String {
    let fills = ["red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4", "yellow": "#e5c100", "purple": "#9467bd", "orange": "#ff7f0e"]
    var svg = "<rect x=\"0\" y=\"0\" width=\"\(scene.width)\" height=\"\(scene.height)\" fill=\"#f3f1ec\"/>\n"
    for object in scene.objects {
        let (x1, y1, x2, y2) = (object.box[0], object.box[1], object.box[2], object.box[3])
        let (cx, cy, w, h) = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
        guard !object.isClutter else {
            svg += String(format: "<ellipse cx=\"%.1f\" cy=\"%.1f\" rx=\"%.1f\" ry=\"%.1f\" fill=\"#9a9a9a\" opacity=\"0.7\"/>\n", cx, cy, w / 2, h / 3)
            continue
        }
        let fill = fills[SyntheticVocabulary.colours[object.colour]] ?? "#777"
        switch SyntheticVocabulary.categories[object.category] {
        case "cube":
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"/>\n", x1, y1, w, h, fill)
        case "ball":
            svg += String(format: "<ellipse cx=\"%.1f\" cy=\"%.1f\" rx=\"%.1f\" ry=\"%.1f\" fill=\"%@\"/>\n", cx, cy, w / 2, h / 2, fill)
        case "cone":
            svg += String(format: "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%@\"/>\n", cx, y1, x2, y2, x1, y2, fill)
        case "star":
            let points = (0 ..< 10).map { k -> String in
                let angle = Double(k) * .pi / 5 - .pi / 2, r = k % 2 == 0 ? 1.0 : 0.45
                return String(format: "%.1f,%.1f", cx + r * w / 2 * cos(angle), cy + r * h / 2 * sin(angle))
            }
            svg += "<polygon points=\"\(points.joined(separator: " "))\" fill=\"\(fill)\"/>\n"
        case "ring":
            svg += String(format: "<ellipse cx=\"%.1f\" cy=\"%.1f\" rx=\"%.1f\" ry=\"%.1f\" fill=\"none\" stroke=\"%@\" stroke-width=\"%.1f\"/>\n",
                          cx, cy, w * 0.4, h * 0.4, fill, min(w, h) * 0.2)
        default:  // cylinder
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"/>\n", x1, y1 + h * 0.1, w, h * 0.8, fill)
            svg += String(format: "<ellipse cx=\"%.1f\" cy=\"%.1f\" rx=\"%.1f\" ry=\"%.1f\" fill=\"%@\" stroke=\"#fff\"/>\n", cx, y1 + h * 0.1, w / 2, h * 0.1, fill)
        }
    }
    return svg
}
