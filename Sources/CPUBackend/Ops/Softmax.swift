// Row softmax with attention's extras: scale, logit soft-capping, causal / sliding-window masks.

extension CPUOps {
  /// Softmax of each row of attention scores, as `AttentionLogits` describes: scale, then soft-cap,
  /// then the mask (masked entries become exactly 0), then a numerically stable softmax (max
  /// subtracted). A row whose entries are all masked or -inf becomes all zeros.
  /// - Parameters:
  ///   - x: `(nRows, n)` with `rowStride`; column j is the key at position j.
  ///   - out: `(nRows, n)` with `outRowStride`; may be `x` itself.
  ///   - queryPositions: `(nRows / rowsPerPosition)`: row r is a query at
  ///     `queryPositions[r / rowsPerPosition]` (rows laid out `(nTokens, nHead)` → `nHead`).
  ///     Unused when the mask is `.none`.
  static func softmax(
    _ x: UnsafePointer<Float>, rowStride: Int, into out: UnsafeMutablePointer<Float>, outRowStride: Int,
    n: Int, logits: AttentionLogits,
    queryPositions: UnsafePointer<Int32>?, rowsPerPosition: Int, rows: Range<Int>
  ) {
    for r in rows {
      let src = x + r * rowStride
      let dst = out + r * outRowStride
      var visible = 0..<n
      if logits.mask != .none, let queryPositions {
        let position = Int(queryPositions[r / max(rowsPerPosition, 1)])
        visible = logits.mask.visibleKeys(queryPosition: position, nKV: n)
      }
      // Masked columns first: the visible part may be written in place below.
      for j in 0..<visible.lowerBound { dst[j] = 0 }
      for j in visible.upperBound..<n { dst[j] = 0 }
      softmaxSpan(
        src + visible.lowerBound, into: dst + visible.lowerBound, count: visible.count,
        scale: logits.scale, softCap: logits.softCap)
    }
  }

  /// The softmax of one contiguous span: `dst = softmax(cap(scale · src))`.
  @inline(__always)
  static func softmaxSpan(
    _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count n: Int,
    scale: Float, softCap: Float
  ) {
    guard n > 0 else { return }
    // Pass 1: logits into dst, and their max.
    let capped = softCap > 0
    let invCap = capped ? 1 / softCap : 0
    var maxVector = SIMD8<Float>(repeating: -.infinity)
    map(src, dst, n) { v in
      var y = v * scale
      if capped { y = softCap * SIMDMath.tanh(y * invCap) }
      return y
    }
    var i = 0
    while i + 8 <= n {
      let v = SIMDMath.load8(dst + i)
      maxVector.replace(with: v, where: v .> maxVector)
      i += 8
    }
    var maxValue = maxVector.max()
    while i < n {
      maxValue = Swift.max(maxValue, dst[i])
      i += 1
    }
    guard maxValue > -.infinity else {
      // Every entry -inf: no key to attend to.
      for j in 0..<n { dst[j] = 0 }
      return
    }
    // Pass 2: exponentials and their sum; pass 3: normalize.
    var sumVector = SIMD8<Float>()
    i = 0
    while i + 8 <= n {
      let e = SIMDMath.exp(SIMDMath.load8(dst + i) - maxValue)
      sumVector += e
      SIMDMath.store8(e, dst + i)
      i += 8
    }
    var total = sumVector.sum()
    if i < n {
      var v = SIMD8<Float>(repeating: -.infinity)
      for k in 0..<(n - i) { v[k] = dst[i + k] - maxValue }
      let e = SIMDMath.exp(v)
      for k in 0..<(n - i) {
        dst[i + k] = e[k]
        total += e[k]
      }
    }
    CPUOps.scale(dst, by: 1 / total, into: dst, count: n)
  }
}
