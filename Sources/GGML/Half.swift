/// IEEE binary16 and bfloat16 conversions, bit-exact with ggml's reference conversions.

/// binary16 bits → f32 (exact).
@inline(__always)
public func fp16ToFp32(_ bits: UInt16) -> Float {
  Float(Float16(bitPattern: bits))
}

/// f32 → binary16 bits, round to nearest even (ggml's `GGML_FP32_TO_FP16`).
@inline(__always)
public func fp32ToFp16(_ value: Float) -> UInt16 {
  Float16(value).bitPattern
}

/// bfloat16 bits → f32 (exact).
@inline(__always)
public func bf16ToFp32(_ bits: UInt16) -> Float {
  Float(bitPattern: UInt32(bits) << 16)
}

/// f32 → bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN, as ggml's
/// `ggml_compute_fp32_to_bf16` does.
@inline(__always)
public func fp32ToBf16(_ value: Float) -> UInt16 {
  let u = value.bitPattern
  if (u & 0x7fff_ffff) > 0x7f80_0000 {  // NaN: force quiet
    return UInt16(truncatingIfNeeded: (u >> 16) | 64)
  }
  return UInt16(truncatingIfNeeded: (u &+ (0x7fff &+ ((u >> 16) & 1))) >> 16)
}
