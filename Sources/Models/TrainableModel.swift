// TrainableModel.swift — what checkpoints, training and export need of a model, whichever it is: the
// shape that rebuilds it and its flat parameter, statistic and frozen stores; and ModelShape, the one
// place that says which model a checkpoint holds (stored as `{"teacher": …}` or `{"student": …}`, as
// checkpoints have always been).

import Layers

/// A model refclip trains: rebuilt from its shape, its state in three flat stores.
public protocol TrainableModel: AnyObject {
    associatedtype Shape: Codable, Equatable, Sendable, ModelDimensions
    /// The model's name in messages: "teacher" or "student".
    static var kind: String { get }
    /// A model of `shape` with weights initialized from `seed`.
    init(shape: Shape, seed: UInt64)
    var shape: Shape { get }
    /// Trainable parameters (one flat buffer), BatchNorm statistics, frozen word vectors.
    var params: ParameterStore { get }
    var buffers: ParameterStore { get }
    var frozen: ParameterStore { get }
}

extension RefCLIPTeacher: TrainableModel {
    public static let kind = "teacher"
}

extension SimRECStudent: TrainableModel {
    public static let kind = "student"
}

/// Which model, with its dimensions.
public enum ModelShape: Codable, Equatable, Sendable {
    case teacher(TeacherShape)
    case student(StudentShape)

    /// "teacher" or "student".
    public var kind: String {
        switch self {
        case .teacher: return RefCLIPTeacher.kind
        case .student: return SimRECStudent.kind
        }
    }

    /// The dimensions when this is a `Model`, else nil.
    public func shape<Model: TrainableModel>(of _: Model.Type) -> Model.Shape? {
        switch self {
        case .teacher(let shape): return shape as? Model.Shape
        case .student(let shape): return shape as? Model.Shape
        }
    }

    private enum Key: String, CodingKey { case teacher, student }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        switch (try c.decodeIfPresent(TeacherShape.self, forKey: .teacher), try c.decodeIfPresent(StudentShape.self, forKey: .student)) {
        case let (teacher?, nil): self = .teacher(teacher)
        case let (nil, student?): self = .student(student)
        default: throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "the model must be exactly one of teacher, student"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        switch self {
        case .teacher(let shape): try c.encode(shape, forKey: .teacher)
        case .student(let shape): try c.encode(shape, forKey: .student)
        }
    }
}
