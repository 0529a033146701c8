// RestrictedUnpickler.swift — reads the pickle of a PyTorch checkpoint without executing anything:
// a stack machine over the opcodes `torch.save` emits (protocols 2–5) that builds plain values, and
// knows a short list of globals only as names — an ordered dict, the tensor and parameter rebuild
// functions, the storage types. Any other global (`os.system`, `builtins.eval`, …) is refused by
// name the moment the pickle mentions it; any other opcode is refused by its byte.
//
// Hostile pickles are bounded too: values nest at most `Unpickler.nestingLimit` deep (a state dict
// nests about 5 deep; far deeper values would overflow the stack when they are released), and a list
// or dict can no longer change once it sits inside another value (a pickler finishes a container
// before it places it), which keeps the depth of every value exact and rules out cycles. Lengths are
// checked against the bytes left before anything is read or allocated.

import Tensors

/// A value of a restricted pickle.
public indirect enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// An allowed global, named "module.name".
    case global(String)
    /// A storage from a persistent id: its type's name ("FloatStorage", …), key in the archive and element count.
    case storage(type: String, key: String, count: Int)
    /// A tensor: a view of a storage.
    case tensor(TorchTensorView)
}

/// A pickle list (a reference: memoized lists are appended to in place).
public final class PickleList: @unchecked Sendable {
    public var items: [PickleValue] = []
    /// Containers nested in it, itself included; and whether it sits inside another value.
    var depth = 1, placed = false
}

/// A pickle dict in insertion order (a reference, like `PickleList`).
public final class PickleDict: @unchecked Sendable {
    public var items: [(key: PickleValue, value: PickleValue)] = []
    var depth = 1, placed = false
}

/// What `torch._utils._rebuild_tensor_v2` would build: a strided view of a storage.
public struct TorchTensorView: Sendable {
    public var storageType: String, storageKey: String, storageCount: Int
    public var offset: Int, shape: [Int], strides: [Int]
}

/// Unpickles `bytes`, the `data.pkl` of a checkpoint; `source` names it in errors.
public func restrictedUnpickle(_ bytes: UnsafeRawBufferPointer, source: String) throws -> PickleValue {
    var machine = Unpickler(bytes: bytes, source: source)
    return try machine.run()
}

/// The globals a state dict may name; everything else is refused.
private let allowedGlobals = Set(["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter"]
    + ["Float", "Half", "BFloat16", "Double", "Long", "Int", "Short", "Char", "Byte", "Bool"].map { "torch.\($0)Storage" })

private struct Unpickler {
    /// How deep values may nest.
    static let nestingLimit = 100

    /// A value on the stack or in the memo, with its nesting depth (0 for a scalar).
    struct Slot {
        var value: PickleValue
        var depth: Int
    }

    let bytes: UnsafeRawBufferPointer
    let source: String
    var at = 0
    var stack: [Slot] = []
    var marks: [Int] = []
    var memo: [Int: Slot] = [:]

    init(bytes: UnsafeRawBufferPointer, source: String) {
        self.bytes = bytes
        self.source = source
    }

    func fail(_ problem: String) -> InputError {
        InputError(file: source, location: "data.pkl byte \(at)", problem,
                   hint: "the checkpoint is damaged or holds more than a state dict of tensors; save model.state_dict() with torch.save")
    }

    mutating func take(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - at else { throw fail("the pickle ends early (a truncated file?)") }
        defer { at += count }
        return UnsafeRawBufferPointer(rebasing: bytes[at ..< at + count])
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
        T(littleEndian: try take(MemoryLayout<T>.size).loadUnaligned(as: T.self))
    }

    /// A length field of type T, checked to fit an Int (it is then checked against the bytes left).
    mutating func length<T: FixedWidthInteger>(_: T.Type) throws -> Int {
        guard let length = CheckedSize.int(try integer(T.self)) else { throw fail("a length field is out of range") }
        return length
    }

    mutating func line() throws -> String {
        guard let end = bytes[at...].firstIndex(of: 0x0A) else { throw fail("the pickle ends early (a truncated file?)") }
        defer { at = end + 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at ..< end]), as: UTF8.self)
    }

    /// The current depth of `slot`: a list's or dict's own, which grows while it is filled.
    func depth(_ slot: Slot) -> Int {
        switch slot.value {
        case let .list(list): return list.depth
        case let .dict(dict): return dict.depth
        default: return slot.depth
        }
    }

    /// Marks `children` as placed inside another value; returns the depth of a container holding them.
    func place(_ children: [Slot]) throws -> Int {
        var deepest = 0
        for child in children {
            switch child.value {
            case let .list(list): list.placed = true
            case let .dict(dict): dict.placed = true
            default: break
            }
            deepest = max(deepest, depth(child))
        }
        guard deepest < Self.nestingLimit else { throw fail("values nest more than \(Self.nestingLimit) deep (a state dict nests about 5)") }
        return deepest + 1
    }

    mutating func push(_ value: PickleValue, depth: Int = 0) { stack.append(Slot(value: value, depth: depth)) }

    /// A container of `children`, which are placed inside it.
    mutating func push(container value: PickleValue, of children: [Slot]) throws {
        push(value, depth: try place(children))
    }

    mutating func pop() throws -> Slot {
        guard let slot = stack.popLast(), stack.count >= (marks.last ?? 0) else { throw fail("the pickle pops an empty stack") }
        return slot
    }

    /// The values above the last mark, removing them and the mark.
    mutating func popToMark() throws -> [Slot] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw fail("the pickle has no mark to pop to") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    mutating func global(_ module: String, _ name: String) throws -> PickleValue {
        let full = "\(module).\(name)"
        guard allowedGlobals.contains(full) else {
            throw InputError(file: source, location: "data.pkl byte \(at)", "names the global \(full), which a state dict of tensors never needs; refused, nothing was executed",
                             hint: "only a state dict of tensors is read (globals allowed: \(allowedGlobals.sorted().joined(separator: ", ")))")
        }
        return .global(full)
    }

    mutating func run() throws -> PickleValue {
        while true {
            let opcode = try take(1)[0]
            switch opcode {
            case 0x80: _ = try take(1)                                         // PROTO
            case 0x95: _ = try take(8)                                         // FRAME
            case 0x2E: return try pop().value                                  // STOP
            case 0x28: marks.append(stack.count)                               // MARK
            case 0x4E: push(.none)                                             // NONE
            case 0x88: push(.bool(true))                                       // NEWTRUE
            case 0x89: push(.bool(false))                                      // NEWFALSE
            case 0x4B: push(.int(Int(try integer(UInt8.self))))                // BININT1
            case 0x4D: push(.int(Int(try integer(UInt16.self))))               // BININT2
            case 0x4A: push(.int(Int(try integer(Int32.self))))                // BININT
            case 0x8A:                                                         // LONG1
                let length = Int(try integer(UInt8.self))
                guard length <= 8 else { throw fail("an integer of \(length) bytes is too large") }
                let digits = try take(length)
                var value: Int64 = 0
                for (i, byte) in digits.enumerated() { value |= Int64(byte) << (8 * i) }
                if length > 0, length < 8, digits[length - 1] & 0x80 != 0 { value -= Int64(1) << (8 * length) }
                push(.int(Int(value)))
            case 0x47:                                                         // BINFLOAT (big-endian)
                push(.float(Double(bitPattern: UInt64(bigEndian: try take(8).loadUnaligned(as: UInt64.self)))))
            case 0x58: try pushString(try length(UInt32.self))                 // BINUNICODE
            case 0x8C: try pushString(try length(UInt8.self))                  // SHORT_BINUNICODE
            case 0x8D: try pushString(try length(UInt64.self))                 // BINUNICODE8
            case 0x54: try pushString(try length(UInt32.self))                 // BINSTRING
            case 0x55: try pushString(try length(UInt8.self))                  // SHORT_BINSTRING
            case 0x42: push(.bytes(Array(try take(try length(UInt32.self))))) // BINBYTES
            case 0x43: push(.bytes(Array(try take(try length(UInt8.self)))))  // SHORT_BINBYTES
            case 0x29: push(.tuple([]), depth: 1)                              // EMPTY_TUPLE
            case 0x85: try pushTuple([try pop()])                              // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); try pushTuple([a, b])             // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); try pushTuple([a, b, c])  // TUPLE3
            case 0x74: try pushTuple(try popToMark())                          // TUPLE
            case 0x5D: push(.list(PickleList()), depth: 1)                     // EMPTY_LIST
            case 0x6C:                                                         // LIST
                let items = try popToMark(), list = PickleList()
                list.depth = try place(items)
                list.items = items.map(\.value)
                push(.list(list), depth: list.depth)
            case 0x7D: push(.dict(PickleDict()), depth: 1)                     // EMPTY_DICT
            case 0x64:                                                         // DICT
                let dict = PickleDict()
                try fill(dict, try popToMark())
                push(.dict(dict), depth: dict.depth)
            case 0x61: let item = try pop(); try append([item], to: try top())  // APPEND
            case 0x65: let items = try popToMark(); try append(items, to: try top())  // APPENDS
            case 0x73: let value = try pop(), key = try pop(); try fill(try dict(try top()), [key, value])  // SETITEM
            case 0x75: let items = try popToMark(); try fill(try dict(try top()), items)  // SETITEMS
            case 0x71: memo[Int(try integer(UInt8.self))] = try top()          // BINPUT
            case 0x72: memo[Int(try integer(UInt32.self))] = try top()         // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                            // MEMOIZE
            case 0x68: try pushMemo(Int(try integer(UInt8.self)))              // BINGET
            case 0x6A: try pushMemo(Int(try integer(UInt32.self)))             // LONG_BINGET
            case 0x63: let module = try line(), name = try line(); push(try global(module, name))  // GLOBAL
            case 0x93:                                                         // STACK_GLOBAL
                guard case let .string(name) = try pop().value, case let .string(module) = try pop().value else { throw fail("STACK_GLOBAL needs two strings") }
                push(try global(module, name))
            case 0x51: push(try persistent(try pop().value))                   // BINPERSID
            case 0x52: let arguments = try pop(), callable = try pop(); push(try reduce(callable.value, arguments.value))  // REDUCE
            case 0x62:                                                         // BUILD: a dict's or tensor's state is not needed
                _ = try pop()
                switch try top().value {
                case .dict, .tensor: break
                default: throw fail("BUILD on a value other than a dict or tensor")
                }
            default:
                throw fail(String(format: "opcode 0x%02X is not one a state dict of tensors uses; refused", opcode))
            }
        }
    }

    func top() throws -> Slot {
        guard let slot = stack.last else { throw fail("the pickle reads an empty stack") }
        return slot
    }

    mutating func pushTuple(_ items: [Slot]) throws {
        try push(container: .tuple(items.map(\.value)), of: items)
    }

    /// Appends `items` to the list in `target`, which must not sit inside another value yet.
    func append(_ items: [Slot], to target: Slot) throws {
        guard case let .list(list) = target.value else { throw fail("appends to a value that is not a list") }
        guard !list.placed else { throw fail("appends to a list already inside another value") }
        list.depth = max(list.depth, try place(items))
        guard !list.placed else { throw fail("appends a list to itself") }
        list.items += items.map(\.value)
    }

    func dict(_ slot: Slot) throws -> PickleDict {
        guard case let .dict(dict) = slot.value else { throw fail("sets an item of a value that is not a dict") }
        return dict
    }

    /// Adds key–value pairs to `dict`, which must not sit inside another value yet.
    func fill(_ dict: PickleDict, _ items: [Slot]) throws {
        guard items.count % 2 == 0 else { throw fail("a dict's items do not pair into keys and values") }
        guard !dict.placed else { throw fail("sets an item of a dict already inside another value") }
        dict.depth = max(dict.depth, try place(items))
        guard !dict.placed else { throw fail("puts a dict inside itself") }
        for i in stride(from: 0, to: items.count, by: 2) { dict.items.append((items[i].value, items[i + 1].value)) }
    }

    mutating func pushString(_ length: Int) throws {
        push(.string(String(decoding: try take(length), as: UTF8.self)))
    }

    mutating func pushMemo(_ index: Int) throws {
        guard let slot = memo[index] else { throw fail("reads memo entry \(index), which was never stored") }
        stack.append(slot)
    }

    /// A persistent id ('storage', type, key, location, count) becomes a storage.
    func persistent(_ id: PickleValue) throws -> PickleValue {
        guard case let .tuple(fields) = id, fields.count == 5, case .string("storage") = fields[0], case let .global(type) = fields[1],
              case let .string(key) = fields[2], case let .int(count) = fields[4], type.hasSuffix("Storage") else {
            throw fail("a persistent id that is not ('storage', type, key, location, size)")
        }
        return .storage(type: String(type.dropFirst("torch.".count)), key: key, count: count)
    }

    /// The calls the allowed globals stand for, done on values.
    func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws -> PickleValue {
        guard case let .global(name) = callable, case let .tuple(args) = arguments else { throw fail("REDUCE of a value that is not an allowed global") }
        switch name {
        case "collections.OrderedDict":
            guard args.isEmpty else { throw fail("OrderedDict with arguments") }
            return .dict(PickleDict())
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            func ints(_ value: PickleValue) throws -> [Int] {
                guard case let .tuple(items) = value else { throw fail("a tensor's size or stride is not a tuple") }
                return try items.map { guard case let .int(n) = $0 else { throw fail("a tensor's size or stride is not integers") }; return n }
            }
            guard args.count >= 4, case let .storage(type, key, count) = args[0], case let .int(offset) = args[1] else {
                throw fail("a tensor rebuilt from something other than (storage, offset, size, stride, …)")
            }
            return .tensor(TorchTensorView(storageType: type, storageKey: key, storageCount: count, offset: offset,
                                           shape: try ints(args[2]), strides: try ints(args[3])))
        case "torch._utils._rebuild_parameter":
            guard let data = args.first, case .tensor = data else { throw fail("a parameter rebuilt from something other than a tensor") }
            return data
        default:
            throw fail("\(name) cannot be called")
        }
    }
}
