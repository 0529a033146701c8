// LetterboxImage.swift — the detector's input tensor (DESIGN.md §3): the image resized bilinearly so
// its long side is S (sizes truncated to integers, half-pixel centres: source = (x + ½)·W/w − ½,
// clamped to the image), pasted centred on an S×S canvas filled with 127, then normalized the way the
// detector expects. Resampled values are kept in Float, not rounded back to bytes.

import Datasets
import Tensors

/// How pixel values in [0, 255] become network inputs.
public enum InputNormalization: Equatable, Sendable, CustomStringConvertible {
    /// v / 255: Darknet models.
    case unitRange
    /// (v / 255 − mean[c]) / std[c]: ImageNet-style models.
    case meanStd(mean: [Float], std: [Float])

    /// ImageNet's statistics, the RefCLIP reference's normalization.
    public static let imageNet = InputNormalization.meanStd(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// "unit", "imagenet", or the statistics of another mean/std normalization.
    public var description: String {
        switch self {
        case .unitRange: return "unit"
        case .imageNet: return "imagenet"
        case let .meanStd(mean, std): return "mean \(mean) std \(std)"
        }
    }

    /// Parses "unit" or "imagenet" (config values).
    public init?(name: String) {
        switch name {
        case "unit": self = .unitRange
        case "imagenet": self = .imageNet
        default: return nil
        }
    }

    func apply(_ value: Float, channel: Int) -> Float {
        switch self {
        case .unitRange: return value / 255
        case let .meanStd(mean, std): return (value / 255 - mean[channel]) / std[channel]
        }
    }
}

/// The fill value of the canvas around the resized image, before normalization.
public let letterboxFill: Float = 127

/// Writes `image` letterboxed to `letterbox.size` into `output` as [1, 3, S, S], normalized.
public func letterboxInput(_ image: RGBImage, _ letterbox: Letterbox, normalization: InputNormalization, into output: Tensor) {
    precondition(letterbox.originalWidth == image.width && letterbox.originalHeight == image.height, "letterbox made for another image size")
    let s = letterbox.size
    output.reshape([1, 3, s, s])
    let plane = s * s
    for c in 0 ..< 3 {
        (output.data + c * plane).update(repeating: normalization.apply(letterboxFill, channel: c), count: plane)
    }
    let xs = bilinearTaps(output: letterbox.width, input: image.width)
    let ys = bilinearTaps(output: letterbox.height, input: image.height)
    image.pixels.withUnsafeBufferPointer { pixels in
        for (y, ty) in ys.enumerated() {
            let row0 = ty.low * image.width * 3, row1 = ty.high * image.width * 3
            let canvasRow = (y + letterbox.dy) * s + letterbox.dx
            for (x, tx) in xs.enumerated() {
                for c in 0 ..< 3 {
                    let a = Float(pixels[row0 + tx.low * 3 + c]), b = Float(pixels[row0 + tx.high * 3 + c])
                    let d = Float(pixels[row1 + tx.low * 3 + c]), e = Float(pixels[row1 + tx.high * 3 + c])
                    let top = a + (b - a) * tx.weight, bottom = d + (e - d) * tx.weight
                    output.data[c * plane + canvasRow + x] = normalization.apply(top + (bottom - top) * ty.weight, channel: c)
                }
            }
        }
    }
}

/// One output coordinate's two source samples and the weight of the second.
struct BilinearTap: Equatable {
    var low: Int, high: Int, weight: Float
}

/// The sampling positions of a bilinear resize from `input` to `output` samples (half-pixel centres).
func bilinearTaps(output: Int, input: Int) -> [BilinearTap] {
    let scale = Double(input) / Double(output)
    return (0 ..< output).map { i in
        let source = min(max((Double(i) + 0.5) * scale - 0.5, 0), Double(input - 1))
        let low = Int(source)
        return BilinearTap(low: low, high: min(low + 1, input - 1), weight: Float(source - Double(low)))
    }
}
