// DebugChecks.swift — the debug mode's checks after every step (`runtime.debug_checks`, on with
// `refclip train --debug`): every rank holds bitwise the same parameters and BatchNorm statistics
// (hashes all-gathered), and no layer produced NaN or ±Inf (the forward's probe). A failure ends the
// run on every rank alike, naming the step and the ranks, or the rank and the first bad layer.

import Distributed
import Layers
import Tensors

/// Ranks that ended a step with different parameters.
public struct ParameterDivergence: Error, CustomStringConvertible {
    public let step: Int
    public let ranks: [Int]
    public var description: String {
        "step \(step): rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", ")) \(ranks.count == 1 ? "holds" : "hold") parameters that differ from rank 0's; "
            + "the distributed path diverged (a collective or a decision taken from rank-local values)"
    }
}

/// FNV-1a over the bit patterns of every value of `stores`.
public func parameterHash(_ stores: [ParameterStore]) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for store in stores {
        let values = store.values.data
        for i in 0 ..< store.count {
            hash = (hash ^ UInt64(values[i].bitPattern)) &* 0x0000_0100_0000_01B3
        }
    }
    return hash
}

/// Throws (on every rank) when the ranks' `stores` differ after global step `step`. Collective.
public func checkRanksAgree(_ stores: [ParameterStore], step: Int, communicator comm: Communicator) throws {
    let hashes = comm.allGather([Int(bitPattern: UInt(parameterHash(stores)))])
    let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
    if !differing.isEmpty { throw AgreedFailure(underlying: ParameterDivergence(step: step, ranks: differing)) }
}

/// A layer whose output held NaN or ±Inf.
public struct NonFiniteLayer: Error, CustomStringConvertible {
    public let step: Int
    /// The ranks whose forward pass produced non-finite values (synchronized BatchNorm spreads them).
    public let ranks: [Int]
    /// The first such layer on the lowest of those ranks.
    public let layer: String
    public var description: String {
        "step \(step): the output of \(layer) holds NaN or Inf (the first layer of the forward pass that does) on rank\(ranks.count == 1 ? "" : "s") "
            + ranks.map(String.init).joined(separator: ", ")
    }
}

/// Throws (on every rank) when any rank's probe found a non-finite layer output in global step `step`.
/// Collective.
public func checkFinite(_ probe: NonFiniteProbe, step: Int, communicator comm: Communicator) throws {
    let found = comm.allGather([probe.firstLayer == nil ? 0 : 1])
    let ranks = found.indices.filter { found[$0] == 1 }
    guard let first = ranks.first else { return }
    let layer = comm.broadcast(bytes: Array((probe.firstLayer ?? "").utf8), root: first)
    throw AgreedFailure(underlying: NonFiniteLayer(step: step, ranks: ranks, layer: String(decoding: layer, as: UTF8.self)))
}
