// Tensor.swift — contiguous Float32 storage with a shape, reused across steps.

/// A contiguous, row-major Float32 buffer with a shape.
///
/// A tensor is a reference type: layers own their output and gradient tensors and hand them to the
/// next layer without copying. `reshape(_:)` keeps the allocation whenever the new element count fits
/// the capacity, so activations are allocated once for the largest batch and reused on every step.
public final class Tensor {
    /// The dimensions, outermost first.
    public private(set) var shape: [Int]
    /// Number of elements, the product of `shape`.
    public private(set) var count: Int
    /// Number of elements the allocation can hold.
    public private(set) var capacity: Int
    /// The first element. Valid until the next `reshape(_:)` that grows the tensor.
    public private(set) var data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor of the given shape.
    public init(_ shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        capacity = max(count, 1)
        data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    /// An empty tensor, to be shaped by its first `reshape(_:)`.
    public convenience init() { self.init([0]) }

    /// A tensor holding a copy of `values` with the given shape.
    public convenience init(_ shape: [Int], _ values: [Float]) {
        self.init(shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { data.deallocate() }

    /// Gives the tensor a new shape. Keeps the allocation when it is large enough; the contents are
    /// unspecified afterwards unless the element count is unchanged.
    public func reshape(_ newShape: [Int]) {
        precondition(newShape.allSatisfy { $0 >= 0 }, "negative dimension in \(newShape)")
        let newCount = newShape.reduce(1, *)
        if newCount > capacity {
            data.deallocate()
            capacity = newCount
            data = .allocate(capacity: capacity)
            data.initialize(repeating: 0, count: capacity)
        }
        shape = newShape
        count = newCount
    }

    /// Shapes the tensor and sets every element to zero.
    public func reshapeZeroed(_ newShape: [Int]) {
        reshape(newShape)
        zero()
    }

    /// Sets every element to zero.
    public func zero() { data.update(repeating: 0, count: count) }

    /// Copies `other`'s shape and contents.
    public func copy(from other: Tensor) {
        reshape(other.shape)
        data.update(from: other.data, count: count)
    }

    /// Element `i` of the flat storage.
    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// The elements as an array (for tests and I/O, not for hot loops).
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The elements as a read-only buffer.
    public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: data, count: count) }

    /// The elements as a mutable buffer.
    public var mutableBuffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// Size of dimension `axis`; negative axes count from the end.
    public func dim(_ axis: Int) -> Int { shape[axis < 0 ? shape.count + axis : axis] }
}
