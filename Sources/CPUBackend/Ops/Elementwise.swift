// Element-wise ops: activations, gated units, add / mul (with row broadcast), scale.
// Activations take a flat `count`: a thread pool splits them by offsetting the pointers.
// Every output may alias its first input (in-place use).

import CPUKernels
import GGML

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension CPUOps {
  // MARK: Activations

  /// SiLU: `out = x · sigmoid(x)`. x, out: `(count)`.
  static func silu(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    map(x, out, count) { v in v / (1 + SIMDMath.exp(-v)) }
  }

  /// GELU as ggml computes it on the CPU (`GGML_GELU_FP16`, ggml-cpu/vec.h): for -10 < x < 10 the
  /// value is `geluTable[f16(x)]`, an f16 table of the tanh approximation
  /// `0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²)))`; x ≤ -10 → 0; x ≥ 10 → x. So the input is
  /// rounded to f16 and so is the output: this is the function llama.cpp's CPU backend evaluates
  /// (its largest numerical difference from an exact f32 GELU, ~1e-3 relative). x, out: `(count)`.
  /// Runs in CPUKernels (`qk_gelu_f16_table`: F16C index, gathered table; the same bits as
  /// `geluLookup`).
  static func gelu(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    geluTable.withUnsafeBufferPointer { table in qk_gelu_f16_table(x, nil, out, count, table.baseAddress) }
  }

  /// SwiGLU: `out = silu(gate) · up`. gate, up, out: `(count)`.
  static func swiglu(
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    zip(gate, up, out, count) { g, u in g / (1 + SIMDMath.exp(-g)) * u }
  }

  /// GeGLU: `out = gelu(gate) · up` (gemma's FFN), with `gelu` as above (ggml's
  /// `ggml_vec_geglu_f32`: x ≥ 10 gives `x · up`). gate, up, out: `(count)`.
  static func geglu(
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    geluTable.withUnsafeBufferPointer { table in qk_gelu_f16_table(gate, up, out, count, table.baseAddress) }
  }

  /// The tanh-approximation GELU of `x` in f32, in ggml's operation order (`ggml_gelu_f32`), with
  /// the fused multiply-add GCC contracts `1 + 0.044715·x·x` into (checked bit for bit against
  /// ggml's table) and the C library's `tanhf`.
  static func geluF32(_ x: Float) -> Float {
    let coefA: Float = 0.044_715
    let sqrt2OverPi: Float = 0.797_884_560_802_865_4
    let inner = Float(1).addingProduct(coefA * x, x)
    return 0.5 * x * (1 + tanhf(sqrt2OverPi * x * inner))
  }

  /// ggml's `ggml_table_gelu_f16`: f16 bits → f16 bits of `geluF32`, 64 K entries (128 KB), built
  /// on first use.
  static let geluTable: [UInt16] = (0...0xffff).map { bits in
    fp32ToFp16(geluF32(fp16ToFp32(UInt16(bits))))
  }

  /// The table lookup in Swift SIMD (the semantics `qk_gelu_f16_table` reproduces; kept for tests).
  @inline(__always)
  static func geluLookup(_ x: SIMD8<Float>, _ table: UnsafePointer<UInt16>) -> SIMD8<Float> {
    let index = SIMDMath.floatToHalfBits(x)
    var bits = SIMD8<UInt32>()
    for l in 0..<8 { bits[l] = UInt32(table[Int(index[l])]) }
    var y = SIMDMath.halfBitsToFloat(bits)
    y.replace(with: 0, where: x .<= -10)
    y.replace(with: x, where: x .>= 10)
    return y
  }

  // MARK: Arithmetic

  /// `out = x · s`. x, out: `(count)`.
  static func scale(_ x: UnsafePointer<Float>, by s: Float, into out: UnsafeMutablePointer<Float>, count: Int)
  {
    map(x, out, count) { v in v * s }
  }

  /// Soft-capping `out = cap · tanh(x · (1 / cap))`, as ggml's chain `scale(1/cap)`, `tanh`,
  /// `scale(cap)` evaluates it (gemma2's final logits; ggml-cpu's `tanh` is the C library's
  /// `tanhf` per element). x, out: `(count)`.
  static func softcap(
    _ x: UnsafePointer<Float>, cap: Float, into out: UnsafeMutablePointer<Float>, count: Int
  ) {
    let inverse = 1 / cap
    for i in 0..<count { out[i] = tanhf(x[i] * inverse) * cap }
  }

  /// `out[r] = a[r] + b[r]` row by row; `bRowStride == 0` broadcasts one row of `b` (a bias).
  /// - Parameters:
  ///   - a: `(nRows, n)` with `aRowStride`; b: `(nRows, n)` with `bRowStride`, or `(n)` when 0.
  ///   - out: `(nRows, n)` with `outRowStride`; may alias `a` or `b`.
  static func add(
    _ a: UnsafePointer<Float>, aRowStride: Int, _ b: UnsafePointer<Float>, bRowStride: Int,
    into out: UnsafeMutablePointer<Float>, outRowStride: Int, n: Int, rows: Range<Int>
  ) {
    for r in rows {
      zip(a + r * aRowStride, b + r * bRowStride, out + r * outRowStride, n) { x, y in x + y }
    }
  }

  /// `out[r] = a[r] · b[r]` row by row; `bRowStride == 0` broadcasts one row of `b` (a norm weight).
  /// Shapes as `add`.
  static func mul(
    _ a: UnsafePointer<Float>, aRowStride: Int, _ b: UnsafePointer<Float>, bRowStride: Int,
    into out: UnsafeMutablePointer<Float>, outRowStride: Int, n: Int, rows: Range<Int>
  ) {
    for r in rows {
      zip(a + r * aRowStride, b + r * bRowStride, out + r * outRowStride, n) { x, y in x * y }
    }
  }

  /// Flat `out = a + b`. a, b, out: `(count)`.
  static func add(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    zip(a, b, out, count) { x, y in x + y }
  }

  /// Flat `out = a · b`. a, b, out: `(count)`.
  static func mul(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    zip(a, b, out, count) { x, y in x * y }
  }

  // MARK: Loop shapes

  /// Applies `f` eight lanes at a time; the tail is padded into one more vector (no scalar variant
  /// of `f` needed, so tails compute exactly what full vectors do).
  @inline(__always)
  static func map(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int,
    _ f: (SIMD8<Float>) -> SIMD8<Float>
  ) {
    var i = 0
    while i + 8 <= n {
      SIMDMath.store8(f(SIMDMath.load8(x + i)), out + i)
      i += 8
    }
    if i < n {
      var v = SIMD8<Float>()
      for k in 0..<(n - i) { v[k] = x[i + k] }
      let y = f(v)
      for k in 0..<(n - i) { out[i + k] = y[k] }
    }
  }

  @inline(__always)
  static func zip(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int,
    _ f: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>
  ) {
    var i = 0
    while i + 8 <= n {
      SIMDMath.store8(f(SIMDMath.load8(a + i), SIMDMath.load8(b + i)), out + i)
      i += 8
    }
    if i < n {
      var va = SIMD8<Float>()
      var vb = SIMD8<Float>()
      for k in 0..<(n - i) {
        va[k] = a[i + k]
        vb[k] = b[i + k]
      }
      let y = f(va, vb)
      for k in 0..<(n - i) { out[i + k] = y[k] }
    }
  }
}
