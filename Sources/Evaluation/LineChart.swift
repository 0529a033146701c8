// LineChart.swift — a line chart as a self-contained SVG: one polyline per series over shared axes,
// the extreme values labelled, a legend. The plotted values are also kept in a `data-series`
// attribute (JSON), so a page's numbers can be checked against the log they came from.

import Foundation

/// One named series of (x, y) points.
public struct ChartSeries: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]

    public init(name: String, points: [(x: Double, y: Double)]) {
        self.name = name
        self.points = points
    }
}

/// An SVG line chart of `series` (finite points only), `width`×`height` pixels.
public func lineChartSVG(title: String, series: [ChartSeries], xLabel: String = "step", logScale: Bool = false,
                         width: Int = 460, height: Int = 230) -> String {
    let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    let transform: (Double) -> Double = logScale ? { log10(max($0, 1e-30)) } : { $0 }
    let finite = series.map { s in s.points.filter { $0.x.isFinite && $0.y.isFinite && (!logScale || $0.y > 0) } }
    let all = finite.flatMap { $0 }
    let (left, right, top, bottom) = (58.0, Double(width) - 12, 26.0, Double(height) - 30)
    let xs = all.map(\.x), ys = all.map { transform($0.y) }
    var (x0, x1) = (xs.min() ?? 0, xs.max() ?? 1), (y0, y1) = (ys.min() ?? 0, ys.max() ?? 1)
    if x1 <= x0 { x1 = x0 + 1 }
    if y1 <= y0 { (y0, y1) = (y0 - 0.5, y1 + 0.5) }
    func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (right - left) }
    func py(_ y: Double) -> Double { bottom - (transform(y) - y0) / (y1 - y0) * (bottom - top) }
    func number(_ v: Double) -> String { String(format: abs(v) >= 100 ? "%.0f" : "%.4g", v) }
    func label(_ v: Double) -> String { logScale ? String(format: "%.1e", pow(10, v)) : number(v) }

    let data = series.enumerated().map { i, s in
        "{\"name\":\(jsonString(s.name)),\"x\":[\(finite[i].map { "\($0.x)" }.joined(separator: ","))],\"y\":[\(finite[i].map { "\($0.y)" }.joined(separator: ","))]}"
    }.joined(separator: ",")
    var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
        + "class=\"chart\" data-title=\"\(xmlEscaped(title))\" data-series=\"\(xmlEscaped("[" + data + "]"))\">\n"
    svg += "<text x=\"\(Int(left))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(xmlEscaped(title))</text>\n"
    svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n", left, top, right - left, bottom - top)
    svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%@</text>\n", left - 4, top + 8, label(y1))
    svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%@</text>\n", left - 4, bottom, label(y0))
    svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">%@</text>\n", left, bottom + 13, number(x0))
    svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%@</text>\n", right, bottom + 13, number(x1))
    svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%@</text>\n", (left + right) / 2, bottom + 24, xmlEscaped(xLabel))
    for (i, points) in finite.enumerated() where !points.isEmpty {
        let colour = palette[i % palette.count]
        let coordinates = points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(coordinates)\"/>\n"
        if points.count == 1 { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>\n", px(points[0].x), py(points[0].y), colour) }
        if series.count > 1 {
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%@\" text-anchor=\"end\">%@</text>\n",
                          right - 4, top + 14 + 13 * Double(i), colour, xmlEscaped(series[i].name))
        }
    }
    return svg + "</svg>\n"
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
    return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
}
