// Tokenizer.swift — the reference's expression tokenizer and vocabulary (DESIGN.md §3):
// lowercase; drop . , ' ! ? " ( ) * # : ; ; turn - and / into spaces; split on whitespace.
// Ids: PAD = 0, UNK = 1, CLS = 2, then words in first-seen order over all splits.

/// Splits an expression into the reference's tokens.
public func tokenize(_ expression: String) -> [String] {
    let dropped: Set<Character> = [".", ",", "'", "!", "?", "\"", "(", ")", "*", "#", ":", ";"]
    var cleaned = ""
    for ch in expression.lowercased() {
        if dropped.contains(ch) { continue }
        cleaned.append(ch == "-" || ch == "/" ? " " : ch)
    }
    return cleaned.split(whereSeparator: { $0.isWhitespace }).map(String.init)
}

/// Word ids in the reference's order.
public struct Vocabulary: Codable, Equatable, Sendable {
    public static let pad = 0, unknown = 1, cls = 2
    /// Words by id; the first three are the special tokens.
    public private(set) var words: [String] = ["PAD", "UNK", "CLS"]
    private var ids: [String: Int] = ["PAD": 0, "UNK": 1, "CLS": 2]

    public init() {}

    /// A vocabulary of every token of `expressions`, in first-seen order.
    public init<S: Sequence>(expressions: S) where S.Element == String {
        for expression in expressions { for token in tokenize(expression) { add(token) } }
    }

    /// The vocabulary whose words by id are `words` (a checkpoint's list, special tokens first).
    public init(words: [String]) {
        for word in words.dropFirst(3) { add(word) }
    }

    /// The words of `vocabularies` in order: the first's, then each next one's new words.
    public init(merging vocabularies: [Vocabulary]) {
        for vocabulary in vocabularies { for word in vocabulary.words.dropFirst(3) { add(word) } }
    }

    public var count: Int { words.count }

    public mutating func add(_ word: String) {
        guard ids[word] == nil else { return }
        ids[word] = words.count
        words.append(word)
    }

    public func id(_ word: String) -> Int { ids[word] ?? Self.unknown }

    /// Token ids of `expression`, truncated or padded with PAD to `length`.
    public func encode(_ expression: String, length: Int) -> [Int] {
        let tokens = tokenize(expression).prefix(length).map(id)
        return tokens + Array(repeating: Self.pad, count: length - tokens.count)
    }
}
