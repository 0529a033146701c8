// ParameterStore.swift — every parameter of a model in one flat buffer, its gradient in another.
//
// Zeroing gradients, the optimizer, the gradient all-reduce, the EMA and checkpoints each touch one
// contiguous buffer. Layers hold `ParameterRef`s (name, shape, offset) and ask the store for pointers.
// Backward tells the store where a module's gradients are final (`finishGradients`), so that they can
// be summed over ranks while backward goes on.

import Formats
import Tensors

/// A named, shaped slice of a `ParameterStore`.
public struct ParameterRef: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    /// Offset of the first element in the flat buffer.
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// How a parameter is initialized (PyTorch's defaults are uniform in ±1/√fan_in).
public enum ParameterInit: Sendable {
    case zeros
    case constant(Float)
    case uniform(bound: Float)
    case normal(std: Float)
}

/// A model's parameters (or buffers) in one flat Float32 buffer, with a same-sized gradient buffer.
public final class ParameterStore {
    /// The parameters in registration order.
    public private(set) var refs: [ParameterRef] = []
    /// All values, concatenated in registration order.
    public private(set) var values = Tensor([0])
    /// All gradients, laid out like `values`.
    public private(set) var grads = Tensor([0])
    private var byName: [String: Int] = [:]
    private let initKey: RandomKey
    private var underPrefix: [String: [Int]] = [:]

    /// Called during backward with the indices in `refs` of parameters whose gradients are final for
    /// this step (the gradient reducer listens); nil when nobody listens.
    public var gradientsFinished: (([Int]) -> Void)?

    /// An empty store; initial values derive from `seed` and each parameter's name, so they do not
    /// depend on the order in which layers are built.
    public init(seed: UInt64 = 0) { initKey = RandomKey(seed: seed).child("init") }

    /// Total number of elements.
    public var count: Int { values.count }

    /// Registers a parameter and initializes it.
    @discardableResult
    public func add(_ name: String, _ shape: [Int], _ initializer: ParameterInit) -> ParameterRef {
        precondition(byName[name] == nil, "parameter \(name) registered twice")
        let ref = ParameterRef(name: name, shape: shape, offset: values.count)
        values = grown(values, to: values.count + ref.count)
        grads = grown(grads, to: values.count)
        byName[name] = refs.count
        refs.append(ref)
        let p = values.data + ref.offset
        let key = initKey.child(name)
        switch initializer {
        case .zeros: break
        case .constant(let c): p.update(repeating: c, count: ref.count)
        case .uniform(let bound): for i in 0 ..< ref.count { p[i] = (2 * key.uniform(i) - 1) * bound }
        case .normal(let std): for i in 0 ..< ref.count { p[i] = key.normal(i) * std }
        }
        return ref
    }

    /// `tensor` holding `count` elements: the same tensor when its allocation suffices, else a copy
    /// with twice the capacity, so that registering n parameters costs O(n) copying, not O(n²).
    /// Elements beyond the old count are zero.
    private func grown(_ tensor: Tensor, to count: Int) -> Tensor {
        let old = tensor.count
        if count <= tensor.capacity {
            tensor.reshape([count])
            (tensor.data + old).update(repeating: 0, count: count - old)
            return tensor
        }
        let bigger = Tensor([max(count, 2 * tensor.capacity)])
        bigger.data.update(from: tensor.data, count: old)
        bigger.reshape([count])
        return bigger
    }

    /// Gives the values and gradients exactly their size, once every parameter is registered
    /// (registration doubles the capacity as it grows: up to twice the model's size held otherwise).
    public func shrinkToFit() {
        guard values.capacity > values.count || grads.capacity > grads.count else { return }
        values = Tensor([values.count], values.array)
        grads = Tensor([grads.count], grads.array)
    }

    /// The parameter of this name, if registered.
    public func ref(_ name: String) -> ParameterRef? { byName[name].map { refs[$0] } }

    /// Pointer to a parameter's values.
    @inline(__always) public func value(_ ref: ParameterRef) -> UnsafeMutablePointer<Float> { values.data + ref.offset }

    /// Pointer to a parameter's gradient.
    @inline(__always) public func grad(_ ref: ParameterRef) -> UnsafeMutablePointer<Float> { grads.data + ref.offset }

    /// A copy of a parameter's values.
    public func array(_ ref: ParameterRef) -> [Float] { Array(UnsafeBufferPointer(start: value(ref), count: ref.count)) }

    /// A copy of a parameter's gradient.
    public func gradArray(_ ref: ParameterRef) -> [Float] { Array(UnsafeBufferPointer(start: grad(ref), count: ref.count)) }

    /// Overwrites a parameter's values.
    public func set(_ ref: ParameterRef, _ newValues: [Float]) {
        precondition(newValues.count == ref.count, "\(ref.name): \(newValues.count) values for shape \(ref.shape)")
        newValues.withUnsafeBufferPointer { value(ref).update(from: $0.baseAddress!, count: ref.count) }
    }

    /// Overwrites every value from a flat array of the same size.
    public func set(all newValues: [Float]) {
        precondition(newValues.count == count, "\(newValues.count) values for a store of \(count)")
        newValues.withUnsafeBufferPointer { values.data.update(from: $0.baseAddress!, count: count) }
    }

    /// Sets every gradient to zero.
    public func zeroGrads() { grads.zero() }

    /// Tells `gradientsFinished` that every parameter named `prefix` or `prefix.…` has its final gradient:
    /// backward calls this where a module has written its last gradient.
    public func finishGradients(under prefix: String) {
        guard let listener = gradientsFinished else { return }
        if underPrefix[prefix] == nil {
            underPrefix[prefix] = refs.indices.filter { refs[$0].name == prefix || refs[$0].name.hasPrefix(prefix + ".") }
        }
        listener(underPrefix[prefix]!)
    }
}

extension ParameterStore {
    /// Loads every parameter from the tensors named `prefix + name` in `file`, checking shapes.
    /// Refuses with one error that lists every missing name and every shape that differs.
    public func load(from file: SafetensorsFile, prefix: String = "") throws {
        var missing: [String] = [], mismatched: [String] = []
        for ref in refs {
            let key = prefix + ref.name
            guard file.contains(key) else { missing.append(key); continue }
            let entry = try file.entry(key)
            guard entry.shape == ref.shape else {
                mismatched.append("\(key): file \(entry.shape), model \(ref.shape)")
                continue
            }
            set(ref, try file.floats(key))
        }
        guard missing.isEmpty && mismatched.isEmpty else {
            var parts: [String] = []
            if !mismatched.isEmpty { parts.append("shapes differ: " + mismatched.joined(separator: "; ")) }
            if !missing.isEmpty { parts.append("missing: " + missing.joined(separator: ", ")) }
            throw InputError(file: file.path, parts.joined(separator: ". "),
                             hint: "the file was written for a model of another configuration")
        }
    }
}
