// RMSNorm and LayerNorm over rows.

extension CPUOps {
  /// RMSNorm of each row: `out = x / sqrt(mean(x²) + eps) * weight` (ggml's `rms_norm` followed by
  /// `mul`). Gemma's norm weights need no `+ 1` here: llama.cpp's converter already stored `1 + w`.
  /// Rounding as ggml's CPU op: the f32 squares summed in double in index order, the mean rounded
  /// to f32, `scale = 1 / sqrtf(mean + eps)` in f32, then `(x · scale) · weight`.
  /// Also the per-head QK-norm of qwen3/gemma3: rows = (nTokens · nHead), `n` = headDim.
  /// - Parameters:
  ///   - x: `(nRows, n)` with `rowStride` floats between rows.
  ///   - weight: `(n)` or nil for no multiply.
  ///   - out: `(nRows, n)` with `outRowStride`; may be `x` itself.
  ///   - rows: the rows this call handles.
  static func rmsNorm(
    _ x: UnsafePointer<Float>, rowStride: Int,
    weight: UnsafePointer<Float>?,
    into out: UnsafeMutablePointer<Float>, outRowStride: Int,
    n: Int, eps: Float, rows: Range<Int>
  ) {
    for r in rows {
      let src = x + r * rowStride
      let dst = out + r * outRowStride
      var sumSquares = 0.0
      for i in 0..<n { sumSquares += Double(src[i] * src[i]) }
      let mean = Float(sumSquares / Double(n))
      let scale = 1 / (mean + eps).squareRoot()
      if let weight {
        scaleRow(src, by: scale, times: weight, into: dst, n)
      } else {
        scaleRow(src, by: scale, into: dst, n)
      }
    }
  }

  /// LayerNorm of each row: `out = (x - mean) / sqrt(var + eps) * weight + bias` (biased variance,
  /// as ggml's `norm`).
  /// - Parameters:
  ///   - x: `(nRows, n)` with `rowStride`.
  ///   - weight, bias: `(n)` each, or nil.
  ///   - out: `(nRows, n)` with `outRowStride`; may be `x` itself.
  static func layerNorm(
    _ x: UnsafePointer<Float>, rowStride: Int,
    weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
    into out: UnsafeMutablePointer<Float>, outRowStride: Int,
    n: Int, eps: Float, rows: Range<Int>
  ) {
    for r in rows {
      let src = x + r * rowStride
      let dst = out + r * outRowStride
      let mean = sum(src, n) / Float(n)
      // Two passes (mean, then centred squares): no cancellation for rows with a large mean.
      var acc = SIMD8<Float>()
      var i = 0
      while i + 8 <= n {
        let d = SIMDMath.load8(src + i) - mean
        acc += d * d
        i += 8
      }
      var variance = acc.sum()
      while i < n {
        let d = src[i] - mean
        variance += d * d
        i += 1
      }
      variance /= Float(n)
      let inv = 1 / (variance + eps).squareRoot()
      i = 0
      while i + 8 <= n {
        var v = (SIMDMath.load8(src + i) - mean) * inv
        if let weight { v *= SIMDMath.load8(weight + i) }
        if let bias { v += SIMDMath.load8(bias + i) }
        SIMDMath.store8(v, dst + i)
        i += 8
      }
      while i < n {
        var v = (src[i] - mean) * inv
        if let weight { v *= weight[i] }
        if let bias { v += bias[i] }
        dst[i] = v
        i += 1
      }
    }
  }

  @inline(__always)
  static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>()
    var acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
      acc0 += SIMDMath.load8(x + i)
      acc1 += SIMDMath.load8(x + i + 8)
      i += 16
    }
    if i + 8 <= n {
      acc0 += SIMDMath.load8(x + i)
      i += 8
    }
    var s = (acc0 + acc1).sum()
    while i < n {
      s += x[i]
      i += 1
    }
    return s
  }

  @inline(__always)
  static func scaleRow(
    _ x: UnsafePointer<Float>, by s: Float, into out: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    var i = 0
    while i + 8 <= n {
      SIMDMath.store8(SIMDMath.load8(x + i) * s, out + i)
      i += 8
    }
    while i < n {
      out[i] = x[i] * s
      i += 1
    }
  }

  @inline(__always)
  static func scaleRow(
    _ x: UnsafePointer<Float>, by s: Float, times w: UnsafePointer<Float>,
    into out: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    var i = 0
    while i + 8 <= n {
      SIMDMath.store8(SIMDMath.load8(x + i) * s * SIMDMath.load8(w + i), out + i)
      i += 8
    }
    while i < n {
      out[i] = x[i] * s * w[i]
      i += 1
    }
  }
}
