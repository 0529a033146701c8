// ReportCommandLineTests.swift — `refclip report` on a short run: the page is well-formed XML, its
// plots hold exactly the logged values, it draws the asked number of predictions over the rendered
// synthetic scenes, and headless Chromium renders it without errors.

import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TestSupport
import XCTest

final class ReportCommandLineTests: XCTestCase {
    typealias W = RefclipWorkspace

    /// The `data-series` of the chart titled `title`: (name, x, y) per series.
    private func chart(_ title: String, in html: String) throws -> [(name: String, x: [Double], y: [Double])] {
        let marker = "data-title=\"\(title)\" data-series=\""
        let start = try XCTUnwrap(html.range(of: marker), "no chart '\(title)'").upperBound
        let end = try XCTUnwrap(html[start...].firstIndex(of: "\""))
        let json = String(html[start ..< end]).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
        let decoded = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        return decoded.map { ($0["name"] as? String ?? "", $0["x"] as? [Double] ?? [], $0["y"] as? [Double] ?? []) }
    }

    func testReportPlotsTheLoggedValuesAndRendersInChromium() throws {
        try W.succeed(try W.train("reported", ["--set", "train.max_steps=6", "--set", "train.eval_every=3"]))
        let page = W.root.path + "/report.html"
        let output = try W.succeed(["report", "\(W.runs)/reported", "--out", page, "--samples", "5"])
        XCTAssertTrue(output.contains("5 predictions drawn"), output)
        let html = try String(contentsOfFile: page, encoding: .utf8)

        let parser = XMLParser(data: Data(html.utf8))
        XCTAssertTrue(parser.parse(), "the page is well-formed: \(parser.parserError.map { "\($0)" } ?? "")")

        let logged = try W.losses("reported")
        let loss = try chart("loss", in: html)
        XCTAssertEqual(loss.first?.x, logged.map { Double($0.step) })
        let plotted = try XCTUnwrap(loss.first?.y)
        XCTAssertEqual(plotted.count, logged.count)
        for (a, b) in zip(plotted, logged.map(\.loss)) { XCTAssertEqual(a, b, accuracy: 1e-12 * abs(b), "the loss plot holds the logged losses") }
        let accuracy = try chart("accuracy (IoU &gt; 0.5, %, EMA weights)", in: html)
        XCTAssertEqual(accuracy.map(\.name), ["val"])
        XCTAssertEqual(accuracy.first?.x, [3, 6], "one point per evaluation")
        XCTAssertEqual(html.components(separatedBy: "<figure>").count - 1, 5)
        XCTAssertTrue(html.contains("<polygon") || html.contains("<ellipse"), "the synthetic scenes are drawn")

        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            XCTFail("chromium is missing: make deps installs it")
            return
        }
        let screenshot = W.root.path + "/report.png"
        let (status, log) = try runProcess(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600",
                                                      "--screenshot=\(screenshot)", "file://\(page)"], timeout: 120)
        XCTAssertEqual(status, 0, log)
        XCTAssertFalse(log.contains("Uncaught") || log.contains("This page contains the following errors"), log)
        let size = (try? FileManager.default.attributesOfItem(atPath: screenshot)[.size] as? Int) ?? 0
        XCTAssertGreaterThan(size, 10_000, "Chromium drew the page")
    }
}
