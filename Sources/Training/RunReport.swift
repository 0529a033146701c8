// RunReport.swift — `refclip report RUN_DIR`: one self-contained HTML page for a run, the way people
// look at one: plots of loss, learning rate, gradient norm, throughput and accuracy per split from
// metrics.jsonl; a sample of grounded predictions of the best checkpoint, its box and the annotated
// box drawn over the image (real data) or over a rendering of the synthetic scene; the config.

import Datasets
import Distributed
import Evaluation
import Foundation
import Tensors

/// Writes the report of the run in `directory` to `output`; predictions on the first `samples` items
/// of `split`. Returns how many predictions it drew.
@discardableResult
public func writeRunReport(run directory: String, to output: String, split: String = "val", samples: Int = 12) throws -> Int {
    let configPath = directory + "/config.yaml"
    let (phase, config) = try loadPhaseConfig(path: configPath, overrides: [])
    let events = try readMetrics(directory + "/metrics.jsonl")
    let steps = events.filter { $0["event"] as? String == "step" }
    func series(_ key: String, from rows: [[String: Any]]) -> [(x: Double, y: Double)] {
        rows.compactMap { row in
            guard let step = row["step"] as? Double ?? (row["step"] as? Int).map(Double.init), let value = row[key] as? Double else { return nil }
            return (step, value)
        }
    }
    var charts = [
        lineChartSVG(title: "loss", series: [ChartSeries(name: "loss", points: series("loss", from: steps))]),
        lineChartSVG(title: "learning rate", series: [ChartSeries(name: "lr", points: series("lr", from: steps))], logScale: true),
        lineChartSVG(title: "gradient norm (before clipping)", series: [ChartSeries(name: "grad norm", points: series("grad_norm", from: steps))]),
        lineChartSVG(title: "samples/s", series: [ChartSeries(name: "samples/s", points: series("samples_per_s", from: steps))]),
    ]
    let evaluations = events.filter { $0["event"] as? String == "eval" }
    let splits = Array(Set(evaluations.compactMap { $0["split"] as? String })).sorted()
    if !splits.isEmpty {
        for (key, title) in [("accuracy", "accuracy (IoU > 0.5, %, EMA weights)"), ("pointing", "pointing game (%)")] {
            charts.append(lineChartSVG(title: title, series: splits.map { name in
                ChartSeries(name: name, points: series(key, from: evaluations.filter { $0["split"] as? String == name }))
            }))
        }
    }

    let checkpoint = directory + "/best.refclip"
    var figures: [String] = []
    var predictionNote = ""
    if FileManager.default.fileExists(atPath: checkpoint) {
        figures = try groundedSamples(checkpoint: checkpoint, phase: phase, config: config, split: split, samples: samples)
        predictionNote = "\(figures.count) expressions of \(split), \(phase) \(checkpoint) (EMA weights when held): annotated box green, prediction red."
    } else {
        predictionNote = "no best.refclip yet: predictions appear once the run has evaluated."
    }

    let name = config.string("name")
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
    html += figures.joined() + "</div>\n<h2>Configuration</h2>\n<pre>\(xmlEscaped(config.yaml()))</pre>\n</body></html>\n"
    try writeFileAtomically(output, bytes: Array(html.utf8))
    return figures.count
}

/// The JSON objects of a metrics file, in order.
private func readMetrics(_ path: String) throws -> [[String: Any]] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw InputError(file: path, "cannot read the run's metrics", hint: "is this a run directory (runs/NAME)?")
    }
    return try text.split(separator: "\n").enumerated().map { number, line in
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw InputError(file: path, location: "line \(number + 1)", "not a JSON object")
        }
        return object
    }
}

/// Figures of the checkpoint's predictions on the first items of `split`.
private func groundedSamples(checkpoint path: String, phase: String, config: RunConfig, split: String, samples: Int) throws -> [String] {
    let comm = SingleProcessCommunicator()
    let loaded = try Checkpoint.read(path)
    let store = try FeatureStore(directory: config.string("data.features"))
    let data = try GroundingData.prepare(annotations: config.string("data.annotations"), wordVectors: config.string("data.word_vectors"),
                                         store: store, maxTokens: config.int("data.max_tokens"), vocabulary: Vocabulary(words: loaded.header.vocabulary))
    let items = Array(try data.items(split).prefix(samples))
    let view = config.int("data.view"), batch = config.int("train.eval_batch")
    let evaluation = phase == TeacherPhase.name
        ? try evaluateTeacher(try loaded.teacher(path: path, average: true), split: split, items: items, store: store, view: view, batch: batch, communicator: comm)
        : try evaluateStudent(try loaded.student(path: path, average: true), split: split, items: items, store: store, view: view, batch: batch, communicator: comm)
    let background = try imageBackgrounds(store: store, features: config.string("data.features"))
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
    let producer = store.manifest.producer
    if producer["kind"] == "darknet", let root = producer["images"], let names = producer["image_names"], let naming = try? ImageNaming(names) {
        return { info in
            let path = (root as NSString).appendingPathComponent(naming.fileName(info.id))
            guard let bytes = FileManager.default.contents(atPath: path) else { return "" }
            let mime = bytes.starts(with: [0x89, 0x50]) ? "image/png" : "image/jpeg"
            return "<image href=\"data:\(mime);base64,\(bytes.base64EncodedString())\" x=\"0\" y=\"0\" width=\"\(info.width)\" height=\"\(info.height)\"/>\n"
        }
    }
    return { info in "<rect x=\"0\" y=\"0\" width=\"\(info.width)\" height=\"\(info.height)\" fill=\"#eee\"/>\n" }
}
