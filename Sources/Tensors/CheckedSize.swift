// CheckedSize.swift — sizes, counts and offsets read from a file, converted and combined without
// trapping: nil where a value does not fit an Int or the arithmetic overflows, so each reader can turn
// that into an error naming the file instead of dying on it.

/// Overflow-checked arithmetic on sizes that come from outside.
public enum CheckedSize {
    /// `value` as an Int, nil when it does not fit.
    public static func int<T: BinaryInteger>(_ value: T) -> Int? { Int(exactly: value) }

    /// The sum, nil on overflow.
    public static func sum(_ values: Int...) -> Int? {
        var total = 0
        for value in values {
            let (next, overflow) = total.addingReportingOverflow(value)
            if overflow { return nil }
            total = next
        }
        return total
    }

    /// The product of non-negative `values` (1 for none), nil when one is negative or it overflows.
    public static func product<S: Sequence>(_ values: S) -> Int? where S.Element == Int {
        var total = 1
        for value in values {
            guard value >= 0 else { return nil }
            let (next, overflow) = total.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            total = next
        }
        return total
    }

    /// Whether the `count` bytes at `offset` lie inside a buffer of `size` bytes.
    public static func fits(offset: Int, count: Int, in size: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= size && count <= size - offset
    }
}
