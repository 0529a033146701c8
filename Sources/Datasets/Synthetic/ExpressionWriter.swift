// ExpressionWriter.swift — referring expressions that identify exactly one object of a scene, from
// templates of three kinds: attributes ("the red cube", "the big ball"), absolute position among
// look-alikes ("the cone on the left", "the lowest star") and relations to another uniquely named
// object ("the ball left of the green cube"). Clutter is never named and never a look-alike.

/// The kind of an expression, used to report accuracy per kind.
public enum ExpressionType: String, Codable, CaseIterable, Sendable {
    case attribute, position, relation
}

/// A candidate expression for one object.
public struct Expression: Equatable, Sendable {
    public var text: String
    public var type: ExpressionType
}

/// Every unique expression the templates give for object `target` of `scene`, by kind.
public func candidateExpressions(for target: Int, in scene: Scene) -> [ExpressionType: [String]] {
    let objects = scene.objects
    let me = objects[target]
    precondition(!me.isClutter, "clutter is not referable")
    let named = objects.indices.filter { !objects[$0].isClutter }
    let category = SyntheticVocabulary.categories[me.category]
    var result: [ExpressionType: [String]] = [:]

    // Attributes: the shortest descriptions no other named object shares.
    let attributes = uniqueDescriptions(of: target, in: scene)
    if !attributes.isEmpty { result[.attribute] = attributes.map { "the " + $0 } }

    // Position and relation only matter among look-alikes (same category).
    let lookalikes = named.filter { $0 != target && objects[$0].category == me.category }
    guard !lookalikes.isEmpty else { return result }
    let margin = 0.05 * Double(max(scene.width, scene.height))
    let (x, y) = me.centre
    var positions: [String] = []
    if lookalikes.allSatisfy({ objects[$0].centre.x > x + margin }) { positions += ["the \(category) on the left", "the leftmost \(category)"] }
    if lookalikes.allSatisfy({ objects[$0].centre.x < x - margin }) { positions += ["the \(category) on the right", "the rightmost \(category)"] }
    if lookalikes.allSatisfy({ objects[$0].centre.y > y + margin }) { positions += ["the \(category) at the top", "the highest \(category)"] }
    if lookalikes.allSatisfy({ objects[$0].centre.y < y - margin }) { positions += ["the \(category) at the bottom", "the lowest \(category)"] }
    if !positions.isEmpty { result[.position] = positions }

    // Relations: to an object of another category that has a unique attribute description.
    let relations: [(String, (SceneObject, SceneObject) -> Bool)] = [
        ("left of", { $0.centre.x < $1.centre.x - margin }), ("right of", { $0.centre.x > $1.centre.x + margin }),
        ("above", { $0.centre.y < $1.centre.y - margin }), ("below", { $0.centre.y > $1.centre.y + margin }),
    ]
    var relational: [String] = []
    for anchor in named where objects[anchor].category != me.category {
        guard let anchorName = uniqueDescriptions(of: anchor, in: scene).first else { continue }
        for (phrase, holds) in relations where holds(me, objects[anchor]) && !lookalikes.contains(where: { holds(objects[$0], objects[anchor]) }) {
            relational.append("the \(category) \(phrase) the \(anchorName)")
        }
    }
    if !relational.isEmpty { result[.relation] = relational }
    return result
}

/// Attribute descriptions ("cube", "red cube", "big cube", "big red cube") that only `target` fits.
func uniqueDescriptions(of target: Int, in scene: Scene) -> [String] {
    let objects = scene.objects
    let me = objects[target]
    let others = objects.indices.filter { $0 != target && !objects[$0].isClutter }.map { objects[$0] }
    let category = SyntheticVocabulary.categories[me.category]
    let colour = SyntheticVocabulary.colours[me.colour], size = SyntheticVocabulary.sizes[me.big ? 1 : 0]
    let templates: [(String, (SceneObject) -> Bool)] = [
        (category, { $0.category == me.category }),
        ("\(colour) \(category)", { $0.category == me.category && $0.colour == me.colour }),
        ("\(size) \(category)", { $0.category == me.category && $0.big == me.big }),
        ("\(size) \(colour) \(category)", { $0.category == me.category && $0.colour == me.colour && $0.big == me.big }),
    ]
    return templates.filter { _, matches in !others.contains(where: matches) }.map(\.0)
}

/// Every word the templates can produce, in a fixed order.
public var syntheticWords: [String] {
    ["the", "on", "at", "of", "left", "right", "top", "bottom", "leftmost", "rightmost", "highest", "lowest", "above", "below"]
        + SyntheticVocabulary.sizes + SyntheticVocabulary.colours + SyntheticVocabulary.categories
}
