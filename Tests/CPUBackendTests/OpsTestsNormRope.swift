import Foundation
import GGML
import Testing

@testable import CPUBackend

@Suite struct OpsTestsNorm {
  @Test(arguments: [1, 7, 8, 17, 33, 256, 640, 1027])
  func rmsNorm(n: Int) {
    let nRows = 3
    let stride = n + 5
    var rng = OpsReference.Random(seed: UInt64(n))
    var x = rng.floats(nRows * stride, -4, 4)
    x[1] = 300  // one large value in row 0
    let weight = rng.floats(n, 0.5, 1.5)
    for useWeight in [false, true] {
      var out = [Float](repeating: .nan, count: nRows * stride)
      let w: [Float]? = useWeight ? weight : nil
      w.withOptionalPointer { wp in
        CPUOps.rmsNorm(
          x, rowStride: stride, weight: wp, into: &out, outRowStride: stride, n: n, eps: 1e-6,
          rows: 0..<nRows)
      }
      for r in 0..<nRows {
        let row = Array(x[(r * stride)..<(r * stride + n)])
        let got = Array(out[(r * stride)..<(r * stride + n)])
        expectClose(
          got, OpsReference.rmsNorm(row, weight: w, eps: 1e-6), nmse: 1e-7, "rmsNorm n=\(n) row \(r)")
      }
    }
  }

  /// In place over packed rows, as the per-head QK-norm uses it; rows outside the range untouched.
  @Test func rmsNormInPlaceRowRange() {
    let n = 20
    var rng = OpsReference.Random(seed: 9)
    var x = rng.floats(5 * n)
    let original = x
    let weight = rng.floats(n, 0.9, 1.1)
    x.withUnsafeMutableBufferPointer { p in
      CPUOps.rmsNorm(
        p.baseAddress!, rowStride: n, weight: weight, into: p.baseAddress!, outRowStride: n, n: n,
        eps: 1e-5, rows: 2..<4)
    }
    #expect(Array(x[0..<(2 * n)]) == Array(original[0..<(2 * n)]))
    #expect(Array(x[(4 * n)...]) == Array(original[(4 * n)...]))
    for r in 2..<4 {
      let expected = OpsReference.rmsNorm(Array(original[(r * n)..<(r * n + n)]), weight: weight, eps: 1e-5)
      expectClose(Array(x[(r * n)..<(r * n + n)]), expected, nmse: 1e-7, "row \(r)")
    }
  }

  @Test(arguments: [1, 9, 64, 100, 768])
  func layerNorm(n: Int) {
    var rng = OpsReference.Random(seed: 50 + UInt64(n))
    // Row 1 has a mean far from 0: a one-pass variance would lose it.
    var x = rng.floats(2 * n, -1, 1)
    for i in n..<(2 * n) { x[i] += 1000 }
    let weight = rng.floats(n, 0.5, 1.5)
    let bias = rng.floats(n, -0.5, 0.5)
    for (w, b) in [(nil, nil), (weight, bias), (weight, nil)] as [([Float]?, [Float]?)] {
      var out = [Float](repeating: .nan, count: 2 * n)
      w.withOptionalPointer { wp in
        b.withOptionalPointer { bp in
          CPUOps.layerNorm(
            x, rowStride: n, weight: wp, bias: bp, into: &out, outRowStride: n, n: n, eps: 1e-5,
            rows: 0..<2)
        }
      }
      for r in 0..<2 {
        let row = Array(x[(r * n)..<(r * n + n)])
        let expected = OpsReference.layerNorm(row, weight: w, bias: b, eps: 1e-5)
        // n = 1: the normalized value is exactly 0 (plus the bias).
        expectClose(
          Array(out[(r * n)..<(r * n + n)]), expected, nmse: n == 1 ? 0 : 1e-7, "layerNorm n=\(n) row \(r)")
      }
    }
  }
}

@Suite struct OpsTestsRope {
  struct Case: CustomStringConvertible, Sendable {
    var mode: RopeMode
    var headDim: Int
    var nRot: Int
    var nHead: Int
    var freqBase: Float
    var freqScale: Float
    var attnFactor: Float = 1
    var factors = false
    var description: String {
      "\(mode) hd=\(headDim) nRot=\(nRot) heads=\(nHead) base=\(freqBase) scale=\(freqScale) attn=\(attnFactor) factors=\(factors)"
    }
  }

  static let cases: [Case] = [
    Case(mode: .normal, headDim: 64, nRot: 64, nHead: 4, freqBase: 10_000, freqScale: 1),
    Case(mode: .neox, headDim: 256, nRot: 256, nHead: 4, freqBase: 1_000_000, freqScale: 1),
    Case(mode: .normal, headDim: 128, nRot: 96, nHead: 3, freqBase: 10_000, freqScale: 0.25),
    Case(mode: .neox, headDim: 128, nRot: 64, nHead: 2, freqBase: 500_000, freqScale: 0.5),
    Case(mode: .normal, headDim: 12, nRot: 10, nHead: 5, freqBase: 10_000, freqScale: 1),
    Case(mode: .neox, headDim: 12, nRot: 10, nHead: 5, freqBase: 10_000, freqScale: 0.125),
    Case(mode: .neox, headDim: 40, nRot: 34, nHead: 1, freqBase: 10_000, freqScale: 2, attnFactor: 1.1),
    Case(mode: .normal, headDim: 64, nRot: 64, nHead: 2, freqBase: 500_000, freqScale: 1, factors: true),
  ]

  @Test(arguments: cases)
  func rope(_ c: Case) {
    let positions: [Int32] = [0, 1, 2, 7, 511, 4095, 3]
    let nTokens = positions.count
    let tokenStride = c.nHead * c.headDim + 3  // q inside a wider (fused) row
    var rng = OpsReference.Random(seed: UInt64(c.headDim * 31 + c.nRot))
    var x = rng.floats(nTokens * tokenStride, -2, 2)
    let original = x
    let factors: [Float]? = c.factors ? (0..<(c.nRot / 2)).map { 1 + Float($0 % 5) } : nil
    let params = RopeParameters(
      mode: c.mode, nRot: c.nRot, freqBase: c.freqBase, freqScale: c.freqScale, attnFactor: c.attnFactor)
    var cache = [Float](repeating: .nan, count: nTokens * CPUOps.ropeCacheCount(nRot: c.nRot))
    factors.withOptionalPointer { fp in
      CPUOps.ropeCache(
        positions: positions, parameters: params, freqFactors: fp, into: &cache, tokens: 0..<nTokens)
    }
    // Two calls over a split token range, as two threads would.
    x.withUnsafeMutableBufferPointer { p in
      for range in [0..<3, 3..<nTokens] {
        CPUOps.rope(
          p.baseAddress!, tokenStride: tokenStride, nHead: c.nHead, headDim: c.headDim, mode: c.mode,
          nRot: c.nRot, cache: cache, tokens: range)
      }
    }
    var actual: [Float] = []
    var expected: [Double] = []
    for t in 0..<nTokens {
      for h in 0..<c.nHead {
        let start = t * tokenStride + h * c.headDim
        let head = Array(original[start..<(start + c.headDim)])
        let want = OpsReference.rope(
          head, position: Int(positions[t]), nRot: c.nRot, neox: c.mode == .neox,
          freqBase: Double(c.freqBase), freqScale: Double(c.freqScale),
          attnFactor: Double(c.attnFactor), freqFactors: factors)
        actual += x[start..<(start + c.headDim)]
        expected += want
        // Dimensions past nRot pass through bit for bit.
        #expect(Array(x[(start + c.nRot)..<(start + c.headDim)]) == Array(head[c.nRot...]))
      }
      // The padding after the heads is not touched.
      let pad = (t * tokenStride + c.nHead * c.headDim)..<((t + 1) * tokenStride)
      #expect(Array(x[pad]) == Array(original[pad]))
    }
    expectClose(actual, expected, nmse: 1e-7, "\(c)")
  }

  /// The two modes pair different values: the same input must not give the same output.
  @Test func modesDiffer() {
    let positions: [Int32] = [5]
    var rng = OpsReference.Random(seed: 1)
    let x = rng.floats(16)
    var results: [[Float]] = []
    for mode in [RopeMode.normal, .neox] {
      var cache = [Float](repeating: 0, count: 16)
      CPUOps.ropeCache(
        positions: positions, parameters: RopeParameters(mode: mode, nRot: 16), freqFactors: nil,
        into: &cache, tokens: 0..<1)
      var y = x
      CPUOps.rope(
        &y, tokenStride: 16, nHead: 1, headDim: 16, mode: mode, nRot: 16, cache: cache, tokens: 0..<1)
      results.append(y)
    }
    #expect(results[0] != results[1])
  }
}

extension Optional where Wrapped == [Float] {
  /// The array's base pointer (or nil) for the duration of `body`.
  func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
    switch self {
    case .none: return try body(nil)
    case .some(let array): return try array.withUnsafeBufferPointer { try body($0.baseAddress) }
    }
  }
}
