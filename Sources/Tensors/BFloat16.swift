// BFloat16.swift — bfloat16 (the upper 16 bits of an IEEE float32) and float32's rounding to it,
// to nearest with ties to even: the wire format of lighter gradients and a safetensors dtype.

extension Float {
    /// The float whose upper 16 bits are `bits` (exact: every bfloat16 is a float).
    @inline(__always) public init(bfloat16Bits bits: UInt16) {
        self.init(bitPattern: UInt32(bits) << 16)
    }

    /// The nearest bfloat16, ties to even; NaN stays NaN, infinities and overflow become infinities.
    @inline(__always) public var bfloat16Bits: UInt16 {
        guard !isNaN else { return 0x7FC0 }
        let bits = bitPattern
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// This value rounded to the nearest bfloat16.
    @inline(__always) public var roundedToBFloat16: Float { Float(bfloat16Bits: bfloat16Bits) }
}

// Whole buffers, eight values at a time (the same rounding as `bfloat16Bits`, lane by lane).

@inline(__always) private func bfloat16Bits(_ v: SIMD8<Float>) -> SIMD8<UInt16> {
    let bits = unsafeBitCast(v, to: SIMD8<UInt32>.self)
    var rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
    rounded.replace(with: 0x7FC0, where: v .!= v)
    return SIMD8<UInt16>(truncatingIfNeeded: rounded)
}

@inline(__always) private func floats(_ h: SIMD8<UInt16>) -> SIMD8<Float> {
    unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16, to: SIMD8<Float>.self)
}

/// target[i] = source[i].bfloat16Bits for i < count.
public func encodeBFloat16(_ source: UnsafePointer<Float>, _ count: Int, into target: UnsafeMutablePointer<UInt16>) {
    var i = 0
    while i + 8 <= count {
        UnsafeMutableRawPointer(target + i).storeBytes(of: bfloat16Bits(UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self)),
                                                      as: SIMD8<UInt16>.self)
        i += 8
    }
    while i < count { target[i] = source[i].bfloat16Bits; i += 1 }
}

/// target[i] = Float(bfloat16Bits: source[i]), or target[i] += it when `adding`, for i < count.
public func decodeBFloat16(_ source: UnsafePointer<UInt16>, _ count: Int, into target: UnsafeMutablePointer<Float>, adding: Bool) {
    var i = 0
    while i + 8 <= count {
        var v = floats(UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<UInt16>.self))
        if adding { v += UnsafeRawPointer(target + i).loadUnaligned(as: SIMD8<Float>.self) }
        UnsafeMutableRawPointer(target + i).storeBytes(of: v, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { target[i] = Float(bfloat16Bits: source[i]) + (adding ? target[i] : 0); i += 1 }
}

/// values[i] = values[i].roundedToBFloat16 for i < count.
public func roundToBFloat16(_ values: UnsafeMutablePointer<Float>, _ count: Int) {
    var i = 0
    while i + 8 <= count {
        let v = floats(bfloat16Bits(UnsafeRawPointer(values + i).loadUnaligned(as: SIMD8<Float>.self)))
        UnsafeMutableRawPointer(values + i).storeBytes(of: v, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { values[i] = values[i].roundedToBFloat16; i += 1 }
}

/// Error feedback for bfloat16 transport, for i < count: v = values[i] + residual[i]; values[i] = v
/// rounded to bfloat16; residual[i] = what the rounding took (0 where v is not finite).
public func roundToBFloat16KeepingResidual(_ values: UnsafeMutablePointer<Float>, residual: UnsafeMutablePointer<Float>, _ count: Int) {
    var i = 0
    while i + 8 <= count {
        let v = UnsafeRawPointer(values + i).loadUnaligned(as: SIMD8<Float>.self) + UnsafeRawPointer(residual + i).loadUnaligned(as: SIMD8<Float>.self)
        let sent = floats(bfloat16Bits(v))
        var left = v - sent
        left.replace(with: 0, where: .!((v - v) .== 0))
        UnsafeMutableRawPointer(values + i).storeBytes(of: sent, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(residual + i).storeBytes(of: left, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        let v = values[i] + residual[i], sent = v.roundedToBFloat16
        (values[i], residual[i]) = (sent, v.isFinite ? v - sent : 0)
        i += 1
    }
}
