// ImageNaming.swift — how an image id becomes a file name (DESIGN.md §5): the RefCOCO family names
// COCO train2014 images `COCO_train2014_%012d.jpg`, ReferIt names SAIAPR images `%d.jpg`; any other
// layout is a pattern with one `%d` or zero-padded `%0Nd`.

import Tensors

/// A file-name pattern for image ids.
public struct ImageNaming: Equatable, Sendable {
    public let pattern: String
    private let prefix: String, suffix: String, width: Int

    /// The named presets.
    public static let presets = ["coco": "COCO_train2014_%012d.jpg", "referit": "%d.jpg"]

    /// A preset name (coco, referit) or a pattern with exactly one `%d` / `%0Nd`.
    public init(_ text: String) throws {
        let pattern = Self.presets[text] ?? text
        guard let percent = pattern.firstIndex(of: "%"), let d = pattern[percent...].firstIndex(of: "d"),
              pattern[pattern.index(after: d)...].firstIndex(of: "%") == nil else {
            throw InputError(location: "data.image_names", "'\(text)' is neither a preset (\(Self.presets.keys.sorted().joined(separator: ", "))) nor a pattern with one %d",
                             hint: "for example COCO_train2014_%012d.jpg")
        }
        let spec = pattern[pattern.index(after: percent) ..< d]
        guard spec.isEmpty || (spec.first == "0" && Int(spec) != nil) else {
            throw InputError(location: "data.image_names", "'%\(spec)d' is not supported; use %d or %0Nd")
        }
        self.pattern = pattern
        prefix = String(pattern[..<percent])
        suffix = String(pattern[pattern.index(after: d)...])
        width = Int(spec) ?? 0
    }

    /// The file name of image `id`.
    public func fileName(_ id: Int) -> String {
        let digits = String(id)
        return prefix + String(repeating: "0", count: max(0, width - digits.count)) + digits + suffix
    }
}
