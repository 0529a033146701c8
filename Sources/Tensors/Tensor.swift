// Tensor.swift — contiguous Float32 storage with a shape, reused across steps.

/// A contiguous, row-major Float32 buffer with a shape.
///
/// A tensor is a reference type: layers own their output and gradient tensors and hand them to the
/// next layer without copying. `reshape(_:)` keeps the allocation whenever the new element count fits
/// the capacity, so activations are allocated once for the largest batch and reused on every step; a
/// temporary whose contents are dead gives its storage to the next tensor that grows with `release()`.
public final class Tensor {
    /// The dimensions, outermost first.
    public private(set) var shape: [Int]
    /// Number of elements, the product of `shape`.
    public private(set) var count: Int
    /// Number of elements the allocation can hold.
    public private(set) var capacity: Int
    /// The first element. Valid until the next `reshape(_:)` that grows the tensor or `release()`.
    public private(set) var data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor of the given shape.
    public init(_ shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        (data, capacity) = Tensor.storage(atLeast: max(count, 1))
        zero()
    }

    /// An empty tensor, to be shaped by its first `reshape(_:)`.
    public convenience init() { self.init([0]) }

    /// A tensor holding a copy of `values` with the given shape.
    public convenience init(_ shape: [Int], _ values: [Float]) {
        self.init(shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit {
        guard capacity > 0 else { return }
        data.deallocate()
        TensorMemory.released(capacity * MemoryLayout<Float>.stride)
    }

    /// Storage for `count` floats: a released block that fits, else a new zero-filled allocation.
    private static func storage(atLeast count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let fresh: (UnsafeMutablePointer<Float>, Int)
        if let kept = StoragePool.take(atLeast: count) {
            fresh = kept
        } else {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
            fresh = (pointer, count)
        }
        TensorMemory.allocated(fresh.1 * MemoryLayout<Float>.stride)
        return fresh
    }

    /// Gives the storage back for other tensors to reuse (the shape becomes [0]): for a temporary whose
    /// contents are dead, such as a gradient the layer below has consumed. The next `reshape(_:)` that
    /// needs room takes storage again. The pointer `data` held before is no longer the tensor's.
    public func release() {
        guard capacity > 0 else { return }
        TensorMemory.released(capacity * MemoryLayout<Float>.stride)
        StoragePool.give(data, capacity: capacity)
        data = Tensor.noStorage
        capacity = 0
        shape = [0]
        count = 0
    }

    /// Where a released tensor points: one float that is never written.
    nonisolated(unsafe) private static let noStorage = UnsafeMutablePointer<Float>.allocate(capacity: 1)

    /// Gives the tensor a new shape. Keeps the allocation when it is large enough; the contents are
    /// unspecified afterwards unless the element count is unchanged.
    public func reshape(_ newShape: [Int]) {
        precondition(newShape.allSatisfy { $0 >= 0 }, "negative dimension in \(newShape)")
        let newCount = newShape.reduce(1, *)
        if newCount > capacity {
            if capacity > 0 {
                data.deallocate()
                TensorMemory.released(capacity * MemoryLayout<Float>.stride)
            }
            (data, capacity) = Tensor.storage(atLeast: newCount)
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
