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
