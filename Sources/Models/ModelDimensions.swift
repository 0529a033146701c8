// ModelDimensions.swift — the checks a model's dimensions pass before a model is built from a file
// (a checkpoint's header): every dimension one a model can have, and a lower bound of the values the
// model holds, which the file's payload must cover. Every dimension enters that bound multiplied by
// the others it allocates with, so a header cannot ask for more memory than its payload could fill.

import Tensors

/// Dimensions read from a file, checked before the model they describe is allocated.
public protocol ModelDimensions {
    /// The first dimension no model can have (key and problem), nil when every one is possible.
    var invalidDimension: String? { get }
    /// A lower bound of the parameters, statistics and word vectors of the model these dimensions
    /// build; nil when it overflows.
    var minimumValueCount: Int? { get }
}

/// The most tokens an expression may have (`data.max_tokens`).
public let maximumTokens = 1024

/// The first dimension whose check fails, as "… is out of range".
private func firstFailing(_ checks: [(String, Bool)]) -> String? {
    checks.first { !$0.1 }.map { "\($0.0) is out of range" }
}

extension LanguageShape: ModelDimensions {
    public var invalidDimension: String? {
        firstFailing([("vocabulary size \(vocabularySize)", vocabularySize > 0), ("word dimension \(wordDimension)", wordDimension > 0),
                      ("hidden \(hidden)", hidden > 0), ("heads \(heads)", heads > 0 && hidden % max(heads, 1) == 0),
                      ("feed-forward width \(feedForward)", feedForward > 0), ("layers \(layers)", layers >= 0),
                      ("max tokens \(maxTokens)", (1 ... maximumTokens).contains(maxTokens)), ("dropout \(dropout)", dropout >= 0 && dropout < 1)])
    }

    /// Word vectors, the GRU's input and recurrent weights, each self-attention layer's four
    /// projections and feed-forward.
    public var minimumValueCount: Int? {
        guard let words = CheckedSize.product([vocabularySize, wordDimension]), let gruInputs = CheckedSize.sum(wordDimension, hidden),
              let gru = CheckedSize.product([3, hidden, gruInputs]), let layerInputs = CheckedSize.sum(hidden, hidden, feedForward),
              let perLayer = CheckedSize.product([2, hidden, layerInputs]), let attention = CheckedSize.product([layers, perLayer]) else { return nil }
        return CheckedSize.sum(words, gru, attention)
    }
}

extension FusionShape: ModelDimensions {
    public var invalidDimension: String? {
        firstFailing([("fusion channels \([channels52, channels26, channels13])", [channels52, channels26, channels13].allSatisfy { $0 > 0 }),
                      ("fusion hidden \(hidden)", hidden > 0 && hidden % 2 == 0)])
    }

    /// Each branch's 1×1 convolution from its input maps and 3×3 convolution (four branches).
    public var minimumValueCount: Int? {
        let half = hidden / 2
        guard let inputs = CheckedSize.sum(channels52, channels26, channels13), let reduce = CheckedSize.product([half, inputs]),
              let spatial = CheckedSize.product([36, half, half]) else { return nil }
        return CheckedSize.sum(reduce, spatial)
    }
}

extension TeacherShape: ModelDimensions {
    public var invalidDimension: String? {
        language.invalidDimension ?? fusion.invalidDimension ?? firstFailing([("selected cells \(selectedCells)", selectedCells > 0)])
    }

    public var minimumValueCount: Int? {
        guard let language = language.minimumValueCount, let fusion = fusion.minimumValueCount,
              let projection = CheckedSize.product([self.fusion.hidden, embedding]) else { return nil }
        return CheckedSize.sum(language, fusion, projection)
    }
}

extension StudentShape: ModelDimensions {
    public var invalidDimension: String? {
        language.invalidDimension ?? fusion.invalidDimension ?? firstFailing([("box weight \(boxWeight)", boxWeight.isFinite && boxWeight >= 0)])
    }

    /// The language encoder, the fusion, and each map's text gate (a 1×1 convolution of the map and a
    /// projection of the sentence to its channels).
    public var minimumValueCount: Int? {
        guard let language = language.minimumValueCount, let fusion = fusion.minimumValueCount else { return nil }
        var total: Int? = CheckedSize.sum(language, fusion)
        for channels in [self.fusion.channels52, self.fusion.channels26, self.fusion.channels13] {
            total = total.flatMap { sum in CheckedSize.sum(channels, self.language.hidden).flatMap { CheckedSize.product([channels, $0]) }.flatMap { CheckedSize.sum(sum, $0) } }
        }
        return total
    }
}
