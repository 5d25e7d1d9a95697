import Foundation
import GGML
import Testing

@testable import CPUBackend

@Suite struct OpsTestsSoftmax {
  struct Case: CustomStringConvertible, Sendable {
    var n: Int
    var causal: Bool
    var window: Int
    var softCap: Float
    var description: String { "n=\(n) causal=\(causal) window=\(window) cap=\(softCap)" }
  }

  static let cases: [Case] = [
    Case(n: 1, causal: false, window: 0, softCap: 0),
    Case(n: 7, causal: false, window: 0, softCap: 0),
    Case(n: 33, causal: true, window: 0, softCap: 0),
    Case(n: 33, causal: true, window: 4, softCap: 0),
    Case(n: 100, causal: true, window: 1, softCap: 30),
    Case(n: 129, causal: false, window: 0, softCap: 5),
    Case(n: 64, causal: true, window: 512, softCap: 50),
  ]

  @Test(arguments: cases)
  func softmax(_ c: Case) {
    let nHead = 2
    let positions: [Int32] = [0, 3, Int32(c.n - 1), Int32(c.n / 2)]
    let nRows = positions.count * nHead
    let stride = c.n + 1
    var rng = OpsReference.Random(seed: UInt64(c.n))
    let x = rng.floats(nRows * stride, -20, 20)
    var out = [Float](repeating: .nan, count: nRows * stride)
    let logits = AttentionLogits(
      scale: 0.7, softCap: c.softCap, mask: AttentionMask(causal: c.causal, slidingWindow: c.window))
    for range in [0..<3, 3..<nRows] {
      CPUOps.softmax(
        x, rowStride: stride, into: &out, outRowStride: stride, n: c.n, logits: logits,
        queryPositions: positions, rowsPerPosition: nHead, rows: range)
    }
    var actual: [Float] = []
    var expected: [Double] = []
    for r in 0..<nRows {
      let row = x[(r * stride)..<(r * stride + c.n)].map(Double.init)
      let want = OpsReference.softmax(
        row, scale: Double(Float(0.7)), softCap: Double(c.softCap), queryPosition: Int(positions[r / nHead]),
        causal: c.causal, window: c.window)
      let got = Array(out[(r * stride)..<(r * stride + c.n)])
      // Masked entries are exactly zero.
      for j in 0..<c.n where want[j] == 0 { #expect(got[j] == 0, "row \(r) key \(j) not masked") }
      actual += got
      expected += want
    }
    expectClose(actual, expected, nmse: 1e-7, "\(c)")
  }

  /// Rows of -inf (pre-masked by the caller) and fully masked rows become zeros, not NaN.
  @Test func emptyRows() {
    let n = 10
    var x = [Float](repeating: -.infinity, count: 2 * n)
    x[n + 4] = 2  // row 1: one finite entry
    var out = [Float](repeating: .nan, count: 2 * n)
    CPUOps.softmax(
      x, rowStride: n, into: &out, outRowStride: n, n: n, logits: AttentionLogits(scale: 1, mask: .none),
      queryPositions: nil, rowsPerPosition: 1, rows: 0..<2)
    #expect(out[0..<n].allSatisfy { $0 == 0 })
    #expect(out[n + 4] == 1)
    #expect(out[n...].filter { $0 != 0 }.count == 1)
    // A window of 1 and a causal mask past the keys: a query at position 20 with 10 keys sees none.
    let positions: [Int32] = [20]
    var y = [Float](repeating: 1, count: n)
    CPUOps.softmax(
      y, rowStride: n, into: &y, outRowStride: n, n: n,
      logits: AttentionLogits(scale: 1, mask: AttentionMask(causal: true, slidingWindow: 1)),
      queryPositions: positions, rowsPerPosition: 1, rows: 0..<1)
    #expect(y.allSatisfy { $0 == 0 })
  }

  /// The sliding window keeps exactly W keys: p_q - p_k >= W is masked, W - 1 is not.
  @Test(arguments: [1, 2, 3, 7])
  func slidingWindowBoundary(window: Int) {
    let n = 12
    let positions: [Int32] = [9]
    let x = [Float](repeating: 0, count: n)
    var out = [Float](repeating: .nan, count: n)
    CPUOps.softmax(
      x, rowStride: n, into: &out, outRowStride: n, n: n,
      logits: AttentionLogits(scale: 1, mask: AttentionMask(causal: true, slidingWindow: window)),
      queryPositions: positions, rowsPerPosition: 1, rows: 0..<1)
    for j in 0..<n {
      let visible = j <= 9 && 9 - j < window
      #expect(out[j] == (visible ? 1 / Float(window) : 0), "W=\(window) key \(j): \(out[j])")
    }
  }
}

@Suite struct OpsTestsAttention {
  struct Case: CustomStringConvertible, Sendable {
    var nHead: Int
    var nKVHead: Int
    var headDim: Int
    var nKV: Int
    var positions: [Int32]
    var causal = true
    var window = 0
    var softCap: Float = 0
    var description: String {
      "heads \(nHead)/\(nKVHead) hd=\(headDim) nKV=\(nKV) tokens=\(positions.count) causal=\(causal) W=\(window) cap=\(softCap)"
    }
  }

  static let cases: [Case] = [
    // decode: one token at the end of the cache, GQA ratios 1, 2, 4, 8
    Case(nHead: 4, nKVHead: 4, headDim: 64, nKV: 37, positions: [36]),
    Case(nHead: 4, nKVHead: 2, headDim: 24, nKV: 50, positions: [49]),
    Case(nHead: 4, nKVHead: 1, headDim: 256, nKV: 70, positions: [69]),  // gemma3-270m
    Case(nHead: 8, nKVHead: 1, headDim: 20, nKV: 17, positions: [16]),
    Case(nHead: 16, nKVHead: 2, headDim: 12, nKV: 33, positions: [32]),
    // prompt: causal over a batch, odd head sizes, non-multiple-of-block nKV
    Case(nHead: 6, nKVHead: 3, headDim: 13, nKV: 21, positions: Array(0..<21)),
    Case(nHead: 4, nKVHead: 1, headDim: 72, nKV: 40, positions: Array(0..<40)),
    // continuation of a prompt: queries at 30..<45
    Case(nHead: 2, nKVHead: 2, headDim: 32, nKV: 45, positions: Array(30..<45)),
    // sliding window (gemma3 local layers) and soft-capping
    Case(nHead: 4, nKVHead: 1, headDim: 40, nKV: 60, positions: Array(0..<60), window: 16),
    Case(nHead: 4, nKVHead: 2, headDim: 16, nKV: 33, positions: [32, 20, 5], window: 5, softCap: 20),
    Case(nHead: 2, nKVHead: 1, headDim: 8, nKV: 25, positions: [24], softCap: 3),
    // no mask at all (encoder style)
    Case(nHead: 3, nKVHead: 1, headDim: 9, nKV: 19, positions: [0, 5], causal: false),
  ]

  /// `batchTokens` picks the precision path (default: the case's own batch; ≥ 64 → f32 blocks).
  static func run(
    _ c: Case, q: [Float], k: [UInt16], v: [UInt16], logits: AttentionLogits, splits: [Range<Int>],
    batchTokens: Int? = nil
  ) -> [Float] {
    var shape = AttentionShape(nHead: c.nHead, nKVHead: c.nKVHead, headDim: c.headDim, nKV: c.nKV)
    shape.nTokens = batchTokens ?? c.positions.count
    var out = [Float](repeating: .nan, count: c.positions.count * c.nHead * c.headDim)
    var scratch = [Float](repeating: .nan, count: CPUOps.attentionScratchCount(shape))
    for items in splits {
      CPUOps.attention(
        q: q, kCache: k, vCache: v, positions: c.positions, into: &out, shape: shape, logits: logits,
        items: items, scratch: &scratch)
    }
    return out
  }

  @Test(arguments: cases)
  func attention(_ c: Case) {
    var rng = OpsReference.Random(seed: UInt64(c.nHead * 1000 + c.headDim * 10 + c.nKV))
    let nCtx = c.nKV + 3  // entries past nKV hold garbage that must be ignored
    let q = rng.floats(c.positions.count * c.nHead * c.headDim, -2, 2)
    let k = rng.floats(nCtx * c.nKVHead * c.headDim, -2, 2).map(fp32ToFp16)
    var v = rng.floats(nCtx * c.nKVHead * c.headDim, -1, 1).map(fp32ToFp16)
    for i in (c.nKV * c.nKVHead * c.headDim)..<v.count { v[i] = fp32ToFp16(1000) }
    let scale = 1 / Float(c.headDim).squareRoot() * 2  // sharper than usual: masks matter more
    let logits = AttentionLogits(
      scale: scale, softCap: c.softCap, mask: AttentionMask(causal: c.causal, slidingWindow: c.window))
    let expected = OpsReference.attention(
      q: q, k: k, v: v, positions: c.positions, nHead: c.nHead, nKVHead: c.nKVHead, headDim: c.headDim,
      nKV: c.nKV, scale: Double(scale), softCap: Double(c.softCap), causal: c.causal, window: c.window)
    let nItems = c.positions.count * c.nHead
    // Both precision paths: ggml's f16 one (batches < 64 tokens) and the f32 block one.
    for batch in [c.positions.count, CPUOps.attentionF16MaxTokens] {
      let whole = Self.run(c, q: q, k: k, v: v, logits: logits, splits: [0..<nItems], batchTokens: batch)
      expectClose(whole, expected, nmse: 5e-4, "\(c) batch \(batch)")
      // Split mid-group at odd item boundaries (threads): bit-identical to one call.
      let cut1 = nItems / 3 + 1
      let cut2 = max(cut1, nItems - 1)
      let split = Self.run(
        c, q: q, k: k, v: v, logits: logits, splits: [0..<cut1, cut1..<cut2, cut2..<nItems],
        batchTokens: batch)
      #expect(split == whole, "\(c) batch \(batch): split work items differ")
    }
  }

  /// The f16 path rounds as ggml's CPU flash attention: with one visible key the output is that
  /// key's V row exactly (f16 accumulator = v, sum = 1); q is rounded to f16 before the dot, so q
  /// values that differ below f16 precision give identical outputs.
  @Test func f16PathRounding() {
    let c = Case(nHead: 1, nKVHead: 1, headDim: 64, nKV: 3, positions: [2])
    var rng = OpsReference.Random(seed: 5)
    let k = rng.floats(3 * 64, -2, 2).map(fp32ToFp16)
    let v = rng.floats(3 * 64, -1, 1).map(fp32ToFp16)
    let q = rng.floats(64, -2, 2).map { Float(Float16($0)) }
    let qNudged = q.map { $0 + $0.ulp * 4 }  // far below f16's 2^-11 relative spacing
    let l = AttentionLogits(scale: 0.125)
    let a = Self.run(c, q: q, k: k, v: v, logits: l, splits: [0..<1])
    let b = Self.run(c, q: qNudged, k: k, v: v, logits: l, splits: [0..<1])
    #expect(a == b)
    let window = AttentionLogits(scale: 0.125, mask: AttentionMask(causal: true, slidingWindow: 1))
    let one = Self.run(c, q: q, k: k, v: v, logits: window, splits: [0..<1])
    #expect(one == (128..<192).map { fp16ToFp32(v[$0]) })
  }

  /// One-hot values make the attention weights visible: with q = 0 every visible key weighs the
  /// same, so out[d] = 1/|visible| exactly on the visible keys' dimensions.
  @Test(arguments: [(true, 0), (true, 1), (true, 3), (true, 16), (false, 4)])
  func maskBoundaries(causal: Bool, window: Int) {
    let nKV = 20
    let hd = nKV
    let positions: [Int32] = [0, 5, 16, 17, 19]
    let q = [Float](repeating: 0, count: positions.count * hd)
    let k = [UInt16](repeating: fp32ToFp16(0.5), count: nKV * hd)
    var v = [UInt16](repeating: 0, count: nKV * hd)
    for j in 0..<nKV { v[j * hd + j] = fp32ToFp16(1) }
    let c = Case(
      nHead: 1, nKVHead: 1, headDim: hd, nKV: nKV, positions: positions, causal: causal, window: window)
    let out = Self.run(
      c, q: q, k: k, v: v,
      logits: AttentionLogits(scale: 1, mask: AttentionMask(causal: causal, slidingWindow: window)),
      splits: [0..<positions.count])
    for (t, p) in positions.enumerated() {
      let visible = (0..<nKV).filter {
        !OpsReference.masked(queryPosition: Int(p), keyPosition: $0, causal: causal, window: window)
      }
      for d in 0..<hd {
        let want: Float = visible.contains(d) ? 1 / Float(visible.count) : 0
        #expect(abs(out[t * hd + d] - want) <= 1e-6, "pos \(p) key \(d): \(out[t * hd + d]) want \(want)")
      }
    }
  }

  /// A query that sees no key (empty cache) gets zeros, not NaN.
  @Test func noVisibleKeys() {
    let c = Case(nHead: 2, nKVHead: 1, headDim: 8, nKV: 0, positions: [0])
    let out = Self.run(
      c, q: [Float](repeating: 1, count: 16), k: [UInt16](repeating: 0, count: 8),
      v: [UInt16](repeating: 0, count: 8), logits: AttentionLogits(scale: 1), splits: [0..<2])
    #expect(out.allSatisfy { $0 == 0 })
  }

  /// Large logits (no cap) stay finite: the running max is subtracted block by block.
  @Test func largeLogitsStable() {
    let c = Case(nHead: 1, nKVHead: 1, headDim: 16, nKV: 40, positions: [39])
    var rng = OpsReference.Random(seed: 77)
    let q = rng.floats(16, 40, 60)
    let k = rng.floats(40 * 16, -60, 60).map(fp32ToFp16)
    let v = rng.floats(40 * 16).map(fp32ToFp16)
    let out = Self.run(c, q: q, k: k, v: v, logits: AttentionLogits(scale: 1), splits: [0..<1])
    let expected = OpsReference.attention(
      q: q, k: k, v: v, positions: c.positions, nHead: 1, nKVHead: 1, headDim: 16, nKV: 40, scale: 1,
      softCap: 0, causal: true, window: 0)
    expectClose(out, expected, nmse: 5e-4, "large logits")
  }

  @Test func storeKV() throws {
    let kvDim = 11
    let nCtx = 8
    var rng = OpsReference.Random(seed: 5)
    var src = rng.floats(3 * (kvDim + 2), -70000, 70000)  // includes values that overflow f16
    src[0] = 1e-7  // a subnormal half
    let positions: [Int32] = [6, 0, 3]
    var cache = [UInt16](repeating: 0xFFFF, count: nCtx * kvDim)
    try CPUOps.storeKV(
      src, srcTokenStride: kvDim + 2, positions: positions, into: &cache, cachePositionStride: kvDim,
      nCtx: nCtx, kvDim: kvDim, tokens: 0..<3)
    for p in 0..<nCtx {
      let row = Array(cache[(p * kvDim)..<(p * kvDim + kvDim)])
      if let t = positions.firstIndex(of: Int32(p)) {
        let want = (0..<kvDim).map { Float16(src[t * (kvDim + 2) + $0]).bitPattern }
        #expect(row == want, "position \(p)")
      } else {
        #expect(row.allSatisfy { $0 == 0xFFFF }, "position \(p) written")
      }
    }
    #expect(throws: CPUOpsError.positionOutOfRange(position: 8, nCtx: 8)) {
      try CPUOps.storeKV(
        src, srcTokenStride: kvDim, positions: [Int32(8)], into: &cache, cachePositionStride: kvDim,
        nCtx: nCtx, kvDim: kvDim, tokens: 0..<1)
    }
    #expect(throws: CPUOpsError.positionOutOfRange(position: -1, nCtx: 8)) {
      try CPUOps.storeKV(
        src, srcTokenStride: kvDim, positions: [Int32(-1)], into: &cache, cachePositionStride: kvDim,
        nCtx: nCtx, kvDim: kvDim, tokens: 0..<1)
    }
  }
}
