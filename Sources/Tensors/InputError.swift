// InputError.swift — the one error type for bad input: which file, where in it, what is wrong, what to do.

/// An error caused by input the user controls (a file, a flag, a config key), never by a bug.
///
/// Its description reads `file:location: problem (hint)` so that a user can go straight to the place.
public struct InputError: Error, CustomStringConvertible, Equatable {
    /// The file concerned, when there is one.
    public var file: String?
    /// Where in the file: a key, a line number, a tensor name, an entry index.
    public var location: String?
    /// What is wrong.
    public var problem: String
    /// What the user can do about it.
    public var hint: String?

    public init(file: String? = nil, location: String? = nil, _ problem: String, hint: String? = nil) {
        self.file = file
        self.location = location
        self.problem = problem
        self.hint = hint
    }

    public var description: String {
        var place = [file, location].compactMap { $0 }.joined(separator: ":")
        if !place.isEmpty { place += ": " }
        return place + problem + (hint.map { " (\($0))" } ?? "")
    }
}
