// ReferenceFixture.swift — a reference fixture (Tests/Fixtures/README.md) read for what it is: every
// dimension and optimizer setting comes from its `config` metadata, and every tensor a test hands to
// the library is checked first against the shape that config implies. A fixture of another size is
// then tested as it is, and a malformed one fails the test with the key and the shapes named instead
// of tripping a precondition inside the library. `REFCLIP_REFERENCE_FIXTURE` names another fixture
// file for the reference tests; by default they read the shipped one.

import Distributed
import Formats
import Foundation
import Layers
import Models
import Tensors

/// A reference fixture with the dimensions of its `config` metadata.
public struct ReferenceFixture {
    /// The environment variable naming another fixture file for the reference tests.
    public static let pathVariable = "REFCLIP_REFERENCE_FIXTURE"

    public let file: SafetensorsFile
    /// Images (and expressions) in the fixture's batch.
    public let batch: Int
    /// Side of the stride-32 grid (13 at 416); the other maps are 2× and 4× as wide.
    public let grid: Int
    /// Anchors per cell and channels per anchor in `in.boxes13` (cx, cy, w, h, objectness, classes…).
    public let anchorsPerCell: Int, boxChannels: Int
    /// The teacher the fixture's reference was built with.
    public let teacherShape: TeacherShape
    /// The recorded steps' optimizer: constant learning rate, Adam's betas and eps, the clipping norm.
    public let learningRate: Float, beta1: Float, beta2: Float, eps: Float, clipNorm: Float

    /// The fixture the reference tests use: `$REFCLIP_REFERENCE_FIXTURE`, else the shipped one.
    public static func load() throws -> ReferenceFixture {
        let path = ProcessInfo.processInfo.environment[pathVariable]
            ?? fixturesDirectory.appendingPathComponent("refclip_small.safetensors").path
        return try ReferenceFixture(file: try SafetensorsFile(path: path))
    }

    /// Reads the dimensions from `file`'s `config` metadata; a missing or malformed key is an error
    /// naming it.
    public init(file: SafetensorsFile) throws {
        self.file = file
        let config = try Self.config(of: file)
        func value(_ path: String) throws -> Any {
            var node: Any = config
            for part in path.split(separator: ".") {
                guard let object = node as? [String: Any], let next = object[String(part)] else {
                    throw InputError(file: file.path, location: "__metadata__.config.\(path)", "missing",
                                     hint: "a reference fixture's config records every dimension (Tests/Fixtures/README.md)")
                }
                node = next
            }
            return node
        }
        func int(_ path: String) throws -> Int {
            guard let number = try value(path) as? NSNumber, number.doubleValue == number.doubleValue.rounded(), number.intValue > 0 else {
                throw InputError(file: file.path, location: "__metadata__.config.\(path)", "is \(try value(path)), not a positive integer")
            }
            return number.intValue
        }
        func float(_ path: String) throws -> Float {
            guard let number = try value(path) as? NSNumber else {
                throw InputError(file: file.path, location: "__metadata__.config.\(path)", "is \(try value(path)), not a number")
            }
            return number.floatValue
        }
        let planes = try value("v_planes") as? [NSNumber] ?? []
        guard planes.count == 3, planes.allSatisfy({ $0.intValue > 0 }) else {
            throw InputError(file: file.path, location: "__metadata__.config.v_planes", "is \(try value("v_planes")), not three channel counts (f52, f26, f13)")
        }
        batch = try int("batch")
        grid = try int("grid")
        anchorsPerCell = try int("anchors_per_cell")
        boxChannels = try int("box_channels")
        guard boxChannels >= AnchorBoxes.channels else {
            throw InputError(file: file.path, location: "__metadata__.config.box_channels",
                             "is \(boxChannels); an anchor needs at least (cx, cy, w, h, objectness)")
        }
        let language = LanguageShape(vocabularySize: try int("token_size"), wordDimension: try int("cfg.WORD_EMBED_SIZE"),
                                     hidden: try int("cfg.HIDDEN_SIZE"), heads: try int("cfg.MULTI_HEAD"), feedForward: try int("cfg.FF_SIZE"),
                                     layers: try int("cfg.N_SA"), maxTokens: try int("max_token"), dropout: try float("cfg.DROPOUT_R"))
        teacherShape = TeacherShape(language: language,
                                    fusion: FusionShape(channels52: planes[0].intValue, channels26: planes[1].intValue,
                                                        channels13: planes[2].intValue, hidden: try int("hiden_planes")),
                                    selectedCells: try int("cfg.SELECT_NUM"))
        learningRate = try float("cfg.LR")
        clipNorm = try float("cfg.GRAD_NORM_CLIP")
        // OPT_PARAMS is the reference's YAML text, e.g. "betas: (0.9, 0.98)\neps: 1e-9".
        let options = try value("cfg.OPT_PARAMS") as? String ?? ""
        guard let betas = options.firstMatch(of: #/betas:\s*\(\s*([0-9.eE+-]+)\s*,\s*([0-9.eE+-]+)\s*\)/#),
              let epsMatch = options.firstMatch(of: #/eps:\s*([0-9.eE+-]+)/#),
              let b1 = Float(betas.1), let b2 = Float(betas.2), let e = Float(epsMatch.1) else {
            throw InputError(file: file.path, location: "__metadata__.config.cfg.OPT_PARAMS",
                             "is \(options.debugDescription); expected \"betas: (b1, b2)\" and \"eps: e\"")
        }
        (beta1, beta2, eps) = (b1, b2, e)
    }

    private static func config(of file: SafetensorsFile) throws -> [String: Any] {
        guard let text = file.metadata["config"] else {
            throw InputError(file: file.path, location: "__metadata__.config", "missing", hint: "a reference fixture records its configuration there")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw InputError(file: file.path, location: "__metadata__.config", "is not a JSON object")
        }
        return object
    }

    /// The shape every input tensor must have under the config.
    public func expectedInputShape(_ key: String) -> [Int]? {
        let fusion = teacherShape.fusion
        switch key {
        case "in.f52": return [batch, fusion.channels52, 4 * grid, 4 * grid]
        case "in.f26": return [batch, fusion.channels26, 2 * grid, 2 * grid]
        case "in.f13": return [batch, fusion.channels13, grid, grid]
        case "in.boxes13": return [batch, grid * grid, anchorsPerCell, boxChannels]
        case "in.token_ids": return [batch, teacherShape.language.maxTokens]
        default: return nil
        }
    }

    /// A tensor's values after checking its shape (equal up to dimensions of size 1, as PyTorch keeps
    /// a GRU's layer axis): a mismatch is an error naming the key, the file's shape and the expected one.
    public func floats(_ key: String, shape expected: [Int]) throws -> [Float] {
        try check(key, shape: expected)
        return try file.floats(key)
    }

    /// An integer tensor's values after checking its shape.
    public func integers(_ key: String, shape expected: [Int]) throws -> [Int] {
        try check(key, shape: expected)
        return try file.integers(key)
    }

    /// Throws unless tensor `key` has shape `expected` (up to dimensions of size 1).
    public func check(_ key: String, shape expected: [Int]) throws {
        let shape = try file.entry(key).shape
        guard shape.reduce(1, *) == expected.reduce(1, *), shape.filter({ $0 != 1 }) == expected.filter({ $0 != 1 }) else {
            throw InputError(file: file.path, location: key, "shape \(shape) in the file, \(expected) from the fixture's config",
                             hint: "the tensors and __metadata__.config disagree: the file was edited or written by another generator")
        }
    }

    /// A teacher holding the fixture's initial weights, buffers and word vectors (shapes checked,
    /// each difference named).
    public func teacher() throws -> RefCLIPTeacher {
        let model = RefCLIPTeacher(shape: teacherShape, seed: 0)
        try model.params.load(from: file, prefix: "w.")
        try model.buffers.load(from: file, prefix: "w.")
        try model.frozen.load(from: file, prefix: "w.")
        return model
    }

    /// The fixture's inputs, every shape checked against the config and every token id against the
    /// vocabulary; anchor boxes keep (cx, cy, w, h, objectness) of their channels.
    public func inputs() throws -> TeacherInputs {
        func tensor(_ key: String) throws -> Tensor {
            let shape = expectedInputShape(key)!
            return Tensor(shape, try floats(key, shape: shape))
        }
        let full = try tensor("in.boxes13")
        let anchors = batch * grid * grid * anchorsPerCell
        let boxes = Tensor([batch, grid * grid, anchorsPerCell, AnchorBoxes.channels])
        for i in 0 ..< anchors {
            for c in 0 ..< AnchorBoxes.channels { boxes[i * AnchorBoxes.channels + c] = full[i * boxChannels + c] }
        }
        let ids = try integers("in.token_ids", shape: expectedInputShape("in.token_ids")!)
        if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= teacherShape.language.vocabularySize }) {
            throw InputError(file: file.path, location: "in.token_ids", "element \(bad) is \(ids[bad]), outside the vocabulary of \(teacherShape.language.vocabularySize) (config token_size)")
        }
        return TeacherInputs(f52: try tensor("in.f52"), f26: try tensor("in.f26"), f13: try tensor("in.f13"), anchorBoxes: boxes, tokenIDs: ids)
    }

    /// The fixture's modes: `trainbn` (batch statistics) and `evalbn` (running statistics); dropout off in both.
    public func context(_ mode: String, communicator: Communicator = SingleProcessCommunicator()) -> ForwardContext {
        ForwardContext(batchStatistics: mode == "trainbn", dropout: false, sampleIndices: Array(0 ..< batch), communicator: communicator)
    }
}
