// KeyedRandom.swift — counter-based random numbers keyed by (seed, purpose, step, sample, …).
//
// Randomness in training must not depend on which rank or thread draws it: a dropout mask is a pure
// function of (seed, step, global sample index, site). A `RandomKey` hashes such a tuple into 64 bits;
// element i of its stream is a hash of (key, i). No state advances, so any element can be drawn
// from anywhere in any order.

import Foundation

/// A 64-bit key naming one random stream.
public struct RandomKey: Hashable, Sendable {
    public let value: UInt64

    /// The root key of a run.
    public init(seed: UInt64) { value = mix64(seed &+ 0x9E37_79B9_7F4A_7C15) }

    private init(raw: UInt64) { value = raw }

    /// A sub-stream of this one, named by an integer (a step, a sample index, a layer number, …).
    public func child(_ index: Int) -> RandomKey {
        RandomKey(raw: mix64(value ^ mix64(UInt64(bitPattern: Int64(index)) &+ 0xD1B5_4A32_D192_ED03)))
    }

    /// A sub-stream named by a string (a purpose such as "dropout" or a parameter name).
    public func child(_ name: String) -> RandomKey {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a over the UTF-8 bytes
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return RandomKey(raw: mix64(value ^ mix64(h)))
    }

    /// Element `i` of this stream as 64 random bits.
    @inline(__always) public func bits(_ i: Int) -> UInt64 {
        mix64(value &+ UInt64(bitPattern: Int64(i)) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Element `i` of this stream as a uniform Float in [0, 1).
    @inline(__always) public func uniform(_ i: Int) -> Float { Float(bits(i) >> 40) * (1.0 / 16_777_216.0) }

    /// Element `i` of this stream as a uniform Double in [0, 1).
    @inline(__always) public func uniformDouble(_ i: Int) -> Double {
        Double(bits(i) >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Element pair (2i, 2i+1) turned into a standard normal sample (Box–Muller).
    @inline(__always) public func normal(_ i: Int) -> Float {
        let u1 = max(uniformDouble(2 * i), 1e-300)
        let u2 = uniformDouble(2 * i + 1)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// A uniformly drawn integer in `0..<n` from element `i`.
    @inline(__always) public func index(_ i: Int, below n: Int) -> Int {
        precondition(n > 0, "empty range")
        return Int(bits(i) % UInt64(n))
    }
}

/// A sequential generator over a keyed stream, for code that draws many numbers in order.
public struct KeyedGenerator: RandomNumberGenerator, Sendable {
    public let key: RandomKey
    public private(set) var position: Int

    public init(_ key: RandomKey, position: Int = 0) {
        self.key = key
        self.position = position
    }

    public mutating func next() -> UInt64 {
        defer { position += 1 }
        return key.bits(position)
    }

    /// The next uniform Float in [0, 1).
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// The next standard normal sample.
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// A uniformly drawn integer in `0..<n`.
    public mutating func index(below n: Int) -> Int {
        precondition(n > 0, "empty range")
        return Int(next() % UInt64(n))
    }
}

/// SplitMix64's finalizer: a bijective 64-bit mixing function.
@inline(__always) func mix64(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
