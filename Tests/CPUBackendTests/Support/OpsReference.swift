// Plain reference implementations of the dense ops, written from the definitions (not from the
// SIMD code): Double accumulation, one element at a time, masks as per-key predicates.

import Foundation
import GGML

enum OpsReference {
  // MARK: Comparison

  /// Normalized mean squared error: Σ(a-b)² / Σb² (b the reference). 0 when both are all zero.
  static func nmse(_ actual: [Float], _ expected: [Double]) -> Double {
    precondition(actual.count == expected.count)
    var num = 0.0
    var den = 0.0
    for i in actual.indices {
      let d = Double(actual[i]) - expected[i]
      num += d * d
      den += expected[i] * expected[i]
    }
    if den == 0 { return num == 0 ? 0 : .infinity }
    return num / den
  }

  /// Index of the first value that is NaN/inf where the reference is finite, or nil.
  static func firstNonFinite(_ actual: [Float], _ expected: [Double]) -> Int? {
    actual.indices.first { !actual[$0].isFinite && expected[$0].isFinite }
  }

  // MARK: Data

  /// SplitMix64: deterministic test data.
  struct Random {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
      lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func floats(_ count: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
      (0..<count).map { _ in uniform(lo, hi) }
    }
  }

  // MARK: Element-wise

  static func silu(_ x: Double) -> Double { x / (1 + Foundation.exp(-x)) }

  static func gelu(_ x: Double) -> Double {
    0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * x * (1 + 0.044715 * x * x)))
  }

  /// GELU as ggml defines it on the CPU (`GGML_GELU_FP16`): x ≤ -10 → 0, x ≥ 10 → x, otherwise the
  /// tanh GELU of x rounded to f16, itself rounded to f16. Returns the exact GELU of the rounded
  /// input; an implementation's output must be an f16 value within one f16 ulp of it
  /// (`geluF16Bound`: its f32 arithmetic may round a near-midpoint value either way).
  static func geluF16Input(_ x: Float) -> Double { gelu(Double(Float(Float16(x)))) }

  /// How far ggml's f16 GELU of `x` may sit from `r = geluF16Input(x)`: one f16 ulp (the table
  /// entry is computed in f32 and rounded to f16) plus the f32 error of `0.5·x·(1 + tanh(u))`,
  /// |x|·2^-23, which dominates in the negative tail where 1 + tanh(u) cancels.
  static func geluF16Bound(_ x: Float, _ r: Double) -> Double {
    f16Ulp(r) + Double(abs(Float(Float16(x)))) * 0x1p-23
  }

  /// One f16 ulp of `v` (subnormal spacing 2^-24 at the bottom).
  static func f16Ulp(_ v: Double) -> Double {
    let m = abs(v)
    guard m >= 0x1p-14 else { return 0x1p-24 }
    return Double(Float16(Float(m)).ulp)
  }

  // MARK: Norms

  static func rmsNorm(_ row: [Float], weight: [Float]?, eps: Float) -> [Double] {
    let meanSquare = row.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(row.count)
    let inv = 1 / (meanSquare + Double(eps)).squareRoot()
    return row.indices.map { i in
      let w = weight.map { Double($0[i]) } ?? 1
      return Double(row[i]) * inv * w
    }
  }

  static func layerNorm(_ row: [Float], weight: [Float]?, bias: [Float]?, eps: Float) -> [Double] {
    let n = Double(row.count)
    let mean = row.reduce(0.0) { $0 + Double($1) } / n
    let variance = row.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
    let inv = 1 / (variance + Double(eps)).squareRoot()
    return row.indices.map { i in
      var v = (Double(row[i]) - mean) * inv
      if let weight { v *= Double(weight[i]) }
      if let bias { v += Double(bias[i]) }
      return v
    }
  }

  // MARK: RoPE

  /// One head vector rotated at `position`. normal: pairs (2i, 2i+1); neox: pairs (i, i + nRot/2).
  static func rope(
    _ head: [Float], position: Int, nRot: Int, neox: Bool, freqBase: Double, freqScale: Double,
    attnFactor: Double = 1, freqFactors: [Float]? = nil
  ) -> [Double] {
    var out = head.map(Double.init)
    for i in 0..<(nRot / 2) {
      var theta = Double(position) * freqScale * Foundation.pow(freqBase, -2 * Double(i) / Double(nRot))
      if let freqFactors { theta /= Double(freqFactors[i]) }
      let (a, b) = neox ? (i, i + nRot / 2) : (2 * i, 2 * i + 1)
      let x0 = Double(head[a])
      let x1 = Double(head[b])
      out[a] = (x0 * Foundation.cos(theta) - x1 * Foundation.sin(theta)) * attnFactor
      out[b] = (x0 * Foundation.sin(theta) + x1 * Foundation.cos(theta)) * attnFactor
    }
    return out
  }

  // MARK: Softmax and attention

  /// Is the key at `keyPosition` hidden from the query at `queryPosition`?
  static func masked(queryPosition: Int, keyPosition: Int, causal: Bool, window: Int) -> Bool {
    if causal && keyPosition > queryPosition { return true }
    if window > 0 && queryPosition - keyPosition >= window { return true }
    return false
  }

  /// Softmax of `scale · x` soft-capped, with masked keys at 0; all-masked → zeros.
  static func softmax(
    _ x: [Double], scale: Double, softCap: Double, queryPosition: Int?, causal: Bool, window: Int
  ) -> [Double] {
    var logits = [Double](repeating: -.infinity, count: x.count)
    for j in x.indices {
      if let qp = queryPosition, masked(queryPosition: qp, keyPosition: j, causal: causal, window: window) {
        continue
      }
      var v = x[j] * scale
      if softCap > 0 { v = softCap * Foundation.tanh(v / softCap) }
      logits[j] = v
    }
    guard let m = logits.max(), m > -.infinity else { return [Double](repeating: 0, count: x.count) }
    let e = logits.map { $0 == -.infinity ? 0 : Foundation.exp($0 - m) }
    let total = e.reduce(0, +)
    return e.map { $0 / total }
  }

  /// Attention over an f16 cache, with the full score matrix. Returns `(nTokens, nHead, headDim)`.
  static func attention(
    q: [Float], k: [UInt16], v: [UInt16], positions: [Int32], nHead: Int, nKVHead: Int, headDim: Int,
    nKV: Int, scale: Double, softCap: Double, causal: Bool, window: Int
  ) -> [Double] {
    attention(
      q: q, k: k.map { Double(fp16ToFp32($0)) }, v: v.map { Double(fp16ToFp32($0)) }, positions: positions,
      nHead: nHead, nKVHead: nKVHead, headDim: headDim, nKV: nKV, scale: scale, softCap: softCap,
      causal: causal, window: window)
  }

  /// The same over cache values already decoded (`(nKV, nKVHead, headDim)` each).
  static func attention(
    q: [Float], k: [Double], v: [Double], positions: [Int32], nHead: Int, nKVHead: Int, headDim: Int,
    nKV: Int, scale: Double, softCap: Double, causal: Bool, window: Int
  ) -> [Double] {
    let nTokens = positions.count
    var out = [Double](repeating: 0, count: nTokens * nHead * headDim)
    let group = nHead / nKVHead
    for t in 0..<nTokens {
      for h in 0..<nHead {
        let kv = h / group
        var scores = [Double](repeating: 0, count: nKV)
        for j in 0..<nKV {
          var s = 0.0
          for d in 0..<headDim {
            s += Double(q[(t * nHead + h) * headDim + d]) * k[(j * nKVHead + kv) * headDim + d]
          }
          scores[j] = s
        }
        let p = softmax(
          scores, scale: scale, softCap: softCap, queryPosition: Int(positions[t]), causal: causal,
          window: window)
        for d in 0..<headDim {
          var s = 0.0
          for j in 0..<nKV { s += p[j] * v[(j * nKVHead + kv) * headDim + d] }
          out[(t * nHead + h) * headDim + d] = s
        }
      }
    }
    return out
  }

}
