// RunReport.swift — `refclip report RUN_DIR`: one self-contained HTML page for a run, the way people
// look at one: plots of loss, learning rate, gradient norm, throughput and accuracy per split from
// metrics.jsonl; a sample of grounded predictions of the best checkpoint, its box and the annotated
// box drawn over the image (real data) or over a rendering of the synthetic scene; the config.

import Configuration
import Datasets
import Distributed
import Evaluation
import Foundation
import Tensors
import Training

/// Writes the report of the run in `directory` to `output`; predictions on the first `samples` items
/// of `split`. Returns how many predictions it drew.
@discardableResult
public func writeRunReport(run directory: String, to output: String, split: String = "val", samples: Int = 12) throws -> Int {
    let config = try TrainingConfiguration.load(path: directory + "/config.yaml")
    let records = try MetricsRecord.read(directory + "/metrics.jsonl")
    let steps = records.compactMap { record -> StepRecord? in if case .step(let r) = record { return r } else { return nil } }
    let evaluations = records.compactMap { record -> EvalRecord? in if case .eval(let r) = record { return r } else { return nil } }
    func series<R>(_ rows: [R], _ step: (R) -> Int, _ value: (R) -> Double?) -> [(x: Double, y: Double)] {
        rows.compactMap { row in value(row).map { (Double(step(row)), $0) } }
    }
    var charts = [
        lineChartSVG(title: "loss", series: [ChartSeries(name: "loss", points: series(steps, \.step, \.loss))]),
        lineChartSVG(title: "learning rate", series: [ChartSeries(name: "lr", points: series(steps, \.step, \.lr))], logScale: true),
        lineChartSVG(title: "gradient norm (before clipping)", series: [ChartSeries(name: "grad norm", points: series(steps, \.step, \.gradNorm))]),
        lineChartSVG(title: "samples/s", series: [ChartSeries(name: "samples/s", points: series(steps, \.step, \.samplesPerSecond))]),
    ]
    let splits = Array(Set(evaluations.map(\.split))).sorted()
    if !splits.isEmpty {
        for (value, title) in [(\EvalRecord.accuracy, "accuracy (IoU > 0.5, %, EMA weights)"), (\EvalRecord.pointing, "pointing game (%)")] {
            charts.append(lineChartSVG(title: title, series: splits.map { name in
                ChartSeries(name: name, points: series(evaluations.filter { $0.split == name }, \.step, { $0[keyPath: value] }))
            }))
        }
    }

    let checkpoint = directory + "/best.refclip"
    var figures: [String] = []
    var predictionNote = ""
    if FileManager.default.fileExists(atPath: checkpoint) {
        figures = try groundedSamples(checkpoint: checkpoint, config: config, split: split, samples: samples)
        predictionNote = "\(figures.count) expressions of \(split), \(config.phase.rawValue) \(checkpoint) (EMA weights when held): annotated box green, prediction red."
    } else {
        predictionNote = "no best.refclip yet: predictions appear once the run has evaluated."
    }

    let name = config.name, phase = config.phase.rawValue
    var html = """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8"/><title>refclip · \(xmlEscaped(name))</title>
    <style>
    body { font-family: sans-serif; margin: 24px; color: #222; }
    .charts, .predictions { display: flex; flex-wrap: wrap; gap: 16px; }
    figure { margin: 0; width: 300px; }
    figure svg { width: 300px; height: auto; border: 1px solid #ccc; }
    figcaption { font-size: 13px; margin-top: 4px; }
    .hit { color: #2ca02c; } .miss { color: #d62728; }
    pre { background: #f6f6f6; padding: 12px; font-size: 12px; }
    </style></head><body>
    <h1>refclip run \(xmlEscaped(name)) (\(xmlEscaped(phase)))</h1>
    <p>\(steps.count) logged steps, \(evaluations.count) evaluations. Generated from \(xmlEscaped(directory)).</p>
    <h2>Training</h2>
    <div class="charts">

    """
    html += charts.joined() + "</div>\n<h2>Grounded predictions</h2>\n<p>\(xmlEscaped(predictionNote))</p>\n<div class=\"predictions\">\n"
    html += figures.joined() + "</div>\n<h2>Configuration</h2>\n<pre>\(xmlEscaped(try config.yaml()))</pre>\n</body></html>\n"
    try writeFileAtomically(output, bytes: Array(html.utf8))
    return figures.count
}

/// Figures of the checkpoint's predictions on the first items of `split`.
private func groundedSamples(checkpoint path: String, config: TrainingConfiguration, split: String, samples: Int) throws -> [String] {
    let comm = SingleProcessCommunicator()
    let loaded = try LoadedModel(checkpoint: path)
    let run = try loaded.openData(communicator: comm)
    let store = run.store
    let items = Array(try run.grounding.items(split).prefix(samples))
    let evaluation = try evaluateGrounding(loaded.model, split: split, items: items, store: store,
                                           view: config.data.view, batch: config.train.evalBatch, communicator: comm)
    let background = try imageBackgrounds(store: store, features: config.data.features)
    return zip(items, evaluation.outcomes).map { item, outcome in
        let info = store.manifest.images[item.image]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(info.width) \(info.height)\" width=\"\(info.width)\" height=\"\(info.height)\">\n"
        svg += background(info)
        let stroke = max(2, Double(max(info.width, info.height)) / 150)
        for (box, colour) in [(item.box, "#2ca02c"), (outcome.box, "#d62728")] {
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%@\" stroke-width=\"%.1f\"/>\n",
                          box[0], box[1], max(0, box[2] - box[0]), max(0, box[3] - box[1]), colour, stroke)
        }
        svg += "</svg>\n"
        let verdict = outcome.correct ? "<span class=\"hit\">✓ IoU &gt; 0.5</span>" : "<span class=\"miss\">✗</span>"
        let type = item.types[0].isEmpty ? "" : " <i>(\(xmlEscaped(item.types[0])))</i>"
        return "<figure>\(svg)<figcaption>“\(xmlEscaped(item.texts[0]))”\(type) \(verdict)</figcaption></figure>\n"
    }
}

/// How to draw an image under its boxes: the synthetic scene rendered from `scenes.json` beside the
/// store, the image file of an extracted store, or a plain frame.
private func imageBackgrounds(store: FeatureStore, features: String) throws -> (ImageInfo) -> String {
    let scenesPath = (features as NSString).deletingLastPathComponent + "/scenes.json"
    if let data = FileManager.default.contents(atPath: scenesPath) {
        let scenes = try JSONDecoder().decode([String: [Scene]].self, from: data).values.flatMap { $0 }
        let byID = Dictionary(scenes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return { info in byID[info.id].map(sceneSVGElements) ?? "" }
    }
    // A store extracted by either detector records its image root and naming.
    if case .extraction(let record) = store.manifest.producer, let naming = try? ImageNaming(record.imageNames) {
        return { info in
            let path = (record.images as NSString).appendingPathComponent(naming.fileName(info.id))
            guard let bytes = FileManager.default.contents(atPath: path) else { return "" }
            let mime = bytes.starts(with: [0x89, 0x50]) ? "image/png" : "image/jpeg"
            return "<image href=\"data:\(mime);base64,\(bytes.base64EncodedString())\" x=\"0\" y=\"0\" width=\"\(info.width)\" height=\"\(info.height)\"/>\n"
        }
    }
    return { info in "<rect x=\"0\" y=\"0\" width=\"\(info.width)\" height=\"\(info.height)\" fill=\"#eee\"/>\n" }
}
