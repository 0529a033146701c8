// TorchCheckpoint.swift — the tensors of a PyTorch `.pth` state dict, read without Python and
// without executing its pickle (RestrictedUnpickler): the ZIP archive `torch.save` writes holds
// `<name>/data.pkl` and one raw little-endian storage per tensor at `<name>/data/<key>`. The state
// dict is the pickle's top-level dict, or the dict under its "state_dict" or "model" key.

import Foundation
import Tensors

/// One tensor of a checkpoint, its elements contiguous in row-major order.
public struct TorchTensor: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// The elements' little-endian bytes.
    public var bytes: [UInt8]
}

/// The tensors of a `.pth` file, in the state dict's order.
public struct TorchCheckpoint: Sendable {
    public var tensors: [TorchTensor]

    /// Reads `path`; a legacy (pre-1.6, non-ZIP) file, a damaged archive, a pickle with anything but
    /// tensors in dicts, and storages that do not hold their tensors are errors naming the file.
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        if bytes.count >= 2, bytes[0] == 0x80, bytes[1] <= 5 {
            throw InputError(file: path, "is a legacy (non-ZIP) PyTorch file, which cannot be read without running its pickle",
                             hint: "convert it once in Python: python -c \"import torch; torch.save(torch.load('\(path)', map_location='cpu'), 'converted.pth')\"")
        }
        guard bytes.count >= 4, bytes.loadUnaligned(as: UInt32.self) == UInt32(0x0403_4b50).littleEndian else {
            throw InputError(file: path, "is not a PyTorch checkpoint (a ZIP archive written by torch.save)", hint: "give the .pth file itself")
        }
        let archive = try ZipArchive(bytes: bytes, source: path)
        guard let pickle = archive.entries.first(where: { $0.name.hasSuffix("data.pkl") && $0.name.split(separator: "/").count == 2 }) else {
            throw InputError(file: path, "holds no data.pkl", hint: "the archive was not written by torch.save")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        if let order = archive.entry(prefix + "byteorder"), String(decoding: try archive.contents(order), as: UTF8.self) != "little" {
            throw InputError(file: path, "stores big-endian tensors", hint: "save it on a little-endian machine")
        }
        let root = try restrictedUnpickle(try archive.contents(pickle), source: path)
        var tensors: [TorchTensor] = []
        var held = 0
        for (name, view) in try Self.stateDict(root, source: path) {
            guard let dtype = Self.dtypes[view.storageType] else {
                throw InputError(file: path, location: name, "has storage type \(view.storageType), which refclip does not read")
            }
            guard let entry = archive.entry(prefix + "data/" + view.storageKey) else {
                throw InputError(file: path, location: name, "its storage \(view.storageKey) is missing from the archive", hint: "the file is damaged; re-download it")
            }
            let storage = try archive.contents(entry)
            guard CheckedSize.product([view.storageCount, dtype.size]) == storage.count else {
                throw InputError(file: path, location: name, "its storage holds \(storage.count) bytes, not \(view.storageCount) × \(dtype.size)")
            }
            let tensor = TorchTensor(name: name, dtype: dtype, shape: view.shape, bytes: try Self.gather(view, storage, elementSize: dtype.size, name: name, source: path))
            // Views of one storage each hold at most the storage, but many can share it.
            held += tensor.bytes.count
            guard held <= Self.heldLimit * bytes.count else {
                throw InputError(file: path, location: name, "its tensors would hold more than \(Self.heldLimit)× the file's \(bytes.count) bytes (views sharing one storage over and over)")
            }
            tensors.append(tensor)
        }
        self.tensors = tensors
    }

    /// The most the tensors may hold together, as a multiple of the file's size (weights tied to each
    /// other share a storage; a state dict holds each storage about once).
    static let heldLimit = 4

    private static let dtypes: [String: DType] = [
        "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16, "DoubleStorage": .f64, "LongStorage": .i64,
        "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8, "ByteStorage": .u8, "BoolStorage": .bool,
    ]

    /// The (name, tensor) pairs of the state dict in `root`.
    private static func stateDict(_ root: PickleValue, source: String) throws -> [(String, TorchTensorView)] {
        guard case let .dict(top) = root else { throw InputError(file: source, "does not hold a dict", hint: "save model.state_dict() with torch.save") }
        var dict = top
        for key in ["state_dict", "model"] {
            if let nested = top.items.first(where: { if case .string(key) = $0.key { return true } else { return false } }), case let .dict(inner) = nested.value {
                dict = inner
                break
            }
        }
        return try dict.items.map { item in
            guard case let .string(name) = item.key else { throw InputError(file: source, "has a state-dict key that is not a string") }
            guard case let .tensor(view) = item.value else {
                throw InputError(file: source, location: name, "is not a tensor", hint: "save model.state_dict() with torch.save")
            }
            return (name, view)
        }
    }

    /// The view's elements in row-major order, checking every index stays inside the storage and that
    /// the view holds no more elements than the storage.
    private static func gather(_ view: TorchTensorView, _ storage: UnsafeRawBufferPointer, elementSize: Int, name: String, source: String) throws -> [UInt8] {
        func fail(_ problem: String) -> InputError { InputError(file: source, location: name, problem, hint: "the file is damaged; re-download it") }
        guard view.shape.count == view.strides.count, view.offset >= 0, view.strides.allSatisfy({ $0 >= 0 }),
              let count = CheckedSize.product(view.shape) else {
            throw fail("has a size \(view.shape) and stride \(view.strides) that do not fit together")
        }
        guard count <= view.storageCount else {
            throw fail("has \(count) elements, more than its storage of \(view.storageCount) (a view that repeats elements; save it with .contiguous())")
        }
        var last: Int? = view.offset
        for (size, stride) in zip(view.shape, view.strides) where size > 0 {
            last = last.flatMap { CheckedSize.sum($0, CheckedSize.product([size - 1, stride]) ?? Int.max) }
        }
        guard count == 0 || (last.map { $0 < view.storageCount } ?? false) else {
            throw fail("reads past its storage of \(view.storageCount) elements")
        }
        guard count > 0 else { return [] }
        let rowMajor = view.shape.indices.map { axis in CheckedSize.product(view.shape[(axis + 1)...]) ?? -1 }
        if view.strides == rowMajor || count == 1 {
            return Array(storage[view.offset * elementSize ..< (view.offset + count) * elementSize])
        }
        var bytes = [UInt8](repeating: 0, count: count * elementSize)
        var index = [Int](repeating: 0, count: view.shape.count)
        for element in 0 ..< count {
            let at = view.offset + zip(index, view.strides).reduce(0) { $0 + $1.0 * $1.1 }
            for b in 0 ..< elementSize { bytes[element * elementSize + b] = storage[at * elementSize + b] }
            for axis in stride(from: index.count - 1, through: 0, by: -1) {
                index[axis] += 1
                if index[axis] < view.shape[axis] { break }
                index[axis] = 0
            }
        }
        return bytes
    }

    /// The tensors as a safetensors file under their own names, with `metadata`.
    public func safetensors(metadata: [String: String] = [:]) -> SafetensorsWriter {
        var writer = SafetensorsWriter()
        writer.metadata = metadata
        for tensor in tensors { tensor.bytes.withUnsafeBytes { writer.add(tensor.name, dtype: tensor.dtype, shape: tensor.shape, bytes: $0) } }
        return writer
    }
}
