// Vector building blocks for the dense ops: unaligned loads/stores, exp/tanh/sigmoid on SIMD8<Float>,
// and f16 → f32 conversion that vectorizes on baseline x86-64.
//
// Why not `Float(Float16)`: without `-mf16c` (we use no unsafeFlags) that is a compiler-rt call per
// value, ~3 ns; a `SIMD8<UInt16>` → `SIMD8<UInt32>` widening is scalarized too. Loading eight halves
// as `SIMD4<UInt32>` and splitting the low/high 16 bits stays in SSE2 registers (~0.2 ns a value) —
// at the price of an even/odd ("split") order inside every chunk of 8, see `halfToFloatSplit`.

enum SIMDMath {
  // MARK: Loads and stores (no alignment needed)

  @inline(__always)
  static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
  }

  @inline(__always)
  static func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
  }

  @inline(__always)
  static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
  }

  @inline(__always)
  static func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
  }

  @inline(__always)
  static func store4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
  }

  // MARK: Reductions

  /// Dot product of two f32 vectors of `n` values (any `n`).
  @inline(__always)
  static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>()
    var acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
      acc0 += load8(a + i) * load8(b + i)
      acc1 += load8(a + i + 8) * load8(b + i + 8)
      i += 16
    }
    if i + 8 <= n {
      acc0 += load8(a + i) * load8(b + i)
      i += 8
    }
    var s = (acc0 + acc1).sum()
    while i < n {
      s += a[i] * b[i]
      i += 1
    }
    return s
  }

  // MARK: Transcendentals

  /// e^x, relative error ~2 ulp (Cephes `expf` polynomial; range reduction x = n·ln2 + r).
  /// Returns 0 below -87.3 (subnormal results are flushed: they only slow later arithmetic) and
  /// +inf above 88.72; -inf → 0.
  @inline(__always)
  static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let lo: Float = -87.3
    let hi: Float = 88.722_83  // ln(Float.greatestFiniteMagnitude)
    // Compare-and-select clamp: `clamped(lowerBound:upperBound:)` is an out-of-line call here.
    var xc = x.replacing(with: lo, where: x .< lo)
    xc.replace(with: hi, where: xc .> hi)
    // n = round(x / ln2) with the 1.5·2^23 trick: round-to-nearest without SSE4.1's roundps.
    let shifter: Float = 12_582_912
    let t = xc * 1.442_695_04 + shifter
    let n = t - shifter
    let r = xc - n * 0.693_359_375 + n * 2.121_944_40e-4
    var p = SIMD8<Float>(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let y = p * r * r + r + 1
    // 2^n as two factors 2^(n/2): n reaches 128 at the top of the range, one past a float exponent.
    let nInt = unsafeBitCast(t, to: SIMD8<Int32>.self) &- Int32(bitPattern: shifter.bitPattern)
    let n1 = nInt &>> 1
    let n2 = nInt &- n1
    let pow1 = unsafeBitCast((n1 &+ 127) &<< 23, to: SIMD8<Float>.self)
    let pow2 = unsafeBitCast((n2 &+ 127) &<< 23, to: SIMD8<Float>.self)
    var result = y * pow1 * pow2
    result.replace(with: .infinity, where: x .> hi)
    result.replace(with: 0, where: x .< lo)
    return result
  }

  /// 1 / (1 + e^-x).
  @inline(__always)
  static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    1 / (1 + exp(-x))
  }

  /// tanh(x): an odd Taylor polynomial near 0 (where 1 - e^-2|x| would cancel), else
  /// (1 - e) / (1 + e) with e = e^(-2|x|). Relative error ≤ ~3e-7.
  @inline(__always)
  static func tanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let ax = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7fff_ffff, to: SIMD8<Float>.self)
    let e = exp(-2 * ax)
    var big = (1 - e) / (1 + e)
    big.replace(with: -big, where: x .< 0)
    // tanh x = x - x³/3 + 2x⁵/15 - 17x⁷/315 + 62x⁹/2835 (next term < 2e-8 at |x| = 0.3)
    let x2 = x * x
    var p = SIMD8<Float>(repeating: 62.0 / 2835.0)
    p = p * x2 - 17.0 / 315.0
    p = p * x2 + 2.0 / 15.0
    p = p * x2 - 1.0 / 3.0
    big.replace(with: x + x * x2 * p, where: ax .< 0.3)
    return big
  }

  // MARK: f32 → f16 (round to nearest even, as F16C's `vcvtps2ph` with mode 0 and ggml's
  // `GGML_CPU_FP32_TO_FP16`)

  /// Eight f32 values → f16 bits (in the low 16 bits of each lane), exact RNE for every input
  /// (subnormals, overflow to inf, NaN stays NaN). The float add of a power-of-two "bias" does the
  /// rounding (the FP16 library's `fp16_ieee_from_fp32_value`, vectorized).
  @inline(__always)
  static func floatToHalfBits(_ f: SIMD8<Float>) -> SIMD8<UInt32> {
    let w = unsafeBitCast(f, to: SIMD8<UInt32>.self)
    let shl1 = w &+ w
    let sign = w & 0x8000_0000
    var bias = shl1 & 0xff00_0000
    bias.replace(with: 0x7100_0000, where: bias .< 0x7100_0000)
    // |f| · 2^112 · 2^-110 saturates to inf past the f16 range (then rounds into 0x7c00).
    let magnitude = unsafeBitCast(w & 0x7fff_ffff, to: SIMD8<Float>.self)
    let base =
      unsafeBitCast((bias &>> 1) &+ 0x0780_0000, to: SIMD8<Float>.self)
      + (magnitude * Float(bitPattern: 0x7780_0000)) * Float(bitPattern: 0x0880_0000)
    let bits = unsafeBitCast(base, to: SIMD8<UInt32>.self)
    var nonSign = ((bits &>> 13) & 0x7c00) &+ (bits & 0x0fff)
    nonSign.replace(with: 0x7e00, where: shl1 .> 0xff00_0000)  // NaN
    return (sign &>> 16) | nonSign
  }

  /// Eight f16 values (bits in the low 16 bits of each lane) → f32, exact.
  @inline(__always)
  static func halfBitsToFloat(_ w: SIMD8<UInt32>) -> SIMD8<Float> {
    let lo = halfBitsToFloat(w.lowHalf)
    let hi = halfBitsToFloat(w.highHalf)
    return SIMD8(lowHalf: lo, highHalf: hi)
  }

  /// `f` rounded to the nearest f16 value (RNE), as f32: what a value stored in an f16 buffer and
  /// read back holds (`fp16ToFp32(fp32ToFp16(f))`, in fewer operations). f16 normals: round the
  /// f32 mantissa to 10 bits (carry into the exponent is right), past 65504 → inf; f16 subnormals
  /// (|f| < 2^-14): `(|f| + 0.5) - 0.5` rounds to the 2^-24 grid; inf and NaN pass through.
  @inline(__always)
  static func roundToHalf(_ f: SIMD8<Float>) -> SIMD8<Float> {
    let u = unsafeBitCast(f, to: SIMD8<UInt32>.self)
    let sign = u & 0x8000_0000
    let magnitude = u & 0x7fff_ffff
    var normal = (magnitude &+ 0x0fff &+ ((magnitude &>> 13) & 1)) & 0xffff_e000
    normal.replace(with: 0x7f80_0000, where: normal .> 0x477f_e000)
    let tiny = unsafeBitCast(
      (unsafeBitCast(magnitude, to: SIMD8<Float>.self) + 0.5) - 0.5, to: SIMD8<UInt32>.self)
    var r = normal
    r.replace(with: tiny, where: magnitude .< 0x3880_0000)
    r.replace(with: magnitude, where: magnitude .>= 0x7f80_0000)
    return unsafeBitCast(r | sign, to: SIMD8<Float>.self)
  }

  // MARK: f16 → f32

  /// Eight f16 values (bits in the low 16 bits of each lane) → f32, exact for every input:
  /// normals and subnormals by one multiply by 2^112 (f16 bias 15 → f32 bias 127), inf/NaN by
  /// forcing the f32 exponent to all ones.
  @inline(__always)
  static func halfBitsToFloat(_ w: SIMD4<UInt32>) -> SIMD4<Float> {
    let magnitude = (w & 0x7fff) &<< 13
    let scaled = unsafeBitCast(magnitude, to: SIMD4<Float>.self) * Float(bitPattern: 0x7780_0000)
    let isInfNaN = SIMD4<Int32>(truncatingIfNeeded: w & 0x7c00) .== 0x7c00
    var bits = unsafeBitCast(scaled, to: SIMD4<UInt32>.self)
    bits |= unsafeBitCast(isInfNaN, to: SIMD4<UInt32>.self) & 0x7f80_0000
    bits |= (w & 0x8000) &<< 16
    return unsafeBitCast(bits, to: SIMD4<Float>.self)
  }

  /// Eight f16 values at `src` → f32 in split order: `(even lanes 0,2,4,6, odd lanes 1,3,5,7)`.
  @inline(__always)
  static func halfToFloatSplit(_ src: UnsafePointer<UInt16>) -> (even: SIMD4<Float>, odd: SIMD4<Float>) {
    let raw = UnsafeRawPointer(src).loadUnaligned(as: SIMD4<UInt32>.self)
    #if _endian(little)
      return (halfBitsToFloat(raw & 0xffff), halfBitsToFloat(raw &>> 16))
    #else
      return (halfBitsToFloat(raw &>> 16), halfBitsToFloat(raw & 0xffff))
    #endif
  }

  /// f16 row → f32 row in natural order (`n` any size).
  @inline(__always)
  static func halfToFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
      let (even, odd) = halfToFloatSplit(src + i)
      // Interleave back: lanes (e0 o0 e1 o1 | e2 o2 e3 o3).
      store8(
        SIMD8(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3]), dst + i)
      i += 8
    }
    while i < n {
      dst[i] = Float(Float16(bitPattern: src[i]))
      i += 1
    }
  }

  /// f16 row → f32 row in split order: every full chunk of 8 as (4 even, 4 odd), the tail
  /// (`n % 8` values) in natural order. Dot products between two split-order rows equal the
  /// natural-order ones, so attention works in split order and un-splits only its output.
  @inline(__always)
  static func halfToFloatSplitRow(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ n: Int)
  {
    var i = 0
    while i + 8 <= n {
      let (even, odd) = halfToFloatSplit(src + i)
      store4(even, dst + i)
      store4(odd, dst + i + 4)
      i += 8
    }
    while i < n {
      dst[i] = Float(Float16(bitPattern: src[i]))
      i += 1
    }
  }

  /// Natural order → split order (see `halfToFloatSplitRow`), `n` values, no aliasing.
  @inline(__always)
  static func splitOrder(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
      let v = load8(src + i)
      store4(v.evenHalf, dst + i)
      store4(v.oddHalf, dst + i + 4)
      i += 8
    }
    while i < n {
      dst[i] = src[i]
      i += 1
    }
  }

  /// Split order → natural order, `n` values, no aliasing; every value multiplied by `scale`.
  @inline(__always)
  static func unsplitOrder(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, scale: Float
  ) {
    var i = 0
    while i + 8 <= n {
      let even = load4(src + i) * scale
      let odd = load4(src + i + 4) * scale
      store8(SIMD8(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3]), dst + i)
      i += 8
    }
    while i < n {
      dst[i] = src[i] * scale
      i += 1
    }
  }
}
