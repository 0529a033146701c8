// GroundingDrawing.swift — a grounding result as a self-contained SVG: the image embedded (base64),
// boxes drawn over it with their labels, the expression as a caption below.

import Foundation

/// A box to draw: (x1, y1, x2, y2) in image pixels, its stroke colour and label.
public struct DrawnBox: Sendable {
    public var box: [Double]
    public var colour: String
    public var label: String

    public init(box: [Double], colour: String, label: String) {
        self.box = box
        self.colour = colour
        self.label = label
    }
}

/// An SVG document of `encodedImage` (JPEG or PNG bytes) at `width`×`height` with `boxes` and `caption`.
public func groundingSVG(encodedImage: [UInt8], width: Int, height: Int, boxes: [DrawnBox], caption: String) -> String {
    let mime = encodedImage.starts(with: [0x89, 0x50, 0x4E, 0x47]) ? "image/png" : "image/jpeg"
    let captionHeight = 28
    let stroke = max(2, Double(max(width, height)) / 200)
    var svg = """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height + captionHeight)" viewBox="0 0 \(width) \(height + captionHeight)">
    <image href="data:\(mime);base64,\(Data(encodedImage).base64EncodedString())" x="0" y="0" width="\(width)" height="\(height)"/>

    """
    for drawn in boxes {
        let (x1, y1, x2, y2) = (drawn.box[0], drawn.box[1], drawn.box[2], drawn.box[3])
        svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%@\" stroke-width=\"%.1f\"/>\n",
                      x1, y1, max(0, x2 - x1), max(0, y2 - y1), xmlEscaped(drawn.colour), stroke)
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"%@\" font-family=\"sans-serif\" font-size=\"14\">%@</text>\n",
                      x1 + 3, max(14, y1 - 4), xmlEscaped(drawn.colour), xmlEscaped(drawn.label))
    }
    svg += "<text x=\"4\" y=\"\(height + 19)\" font-family=\"sans-serif\" font-size=\"16\">\(xmlEscaped(caption))</text>\n</svg>\n"
    return svg
}

/// Text safe inside XML content and attribute values.
public func xmlEscaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
