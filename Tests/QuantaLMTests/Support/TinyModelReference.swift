import Foundation
import GGML
import GGUF

/// A straightforward forward pass in Double over the dequantized weights of a tiny model — the
/// independent expectation for the model code (no KV cache, no backend, no shared code with it:
/// hyperparameters come from the `TinySpec` the test wrote, weights straight from the file).
struct TinyReference {
  let spec: TinySpec
  let file: GGUFFile
  /// The session's context: LongRoPE's long factors apply past the original context.
  var contextLength = 32
  /// Mixture of experts: the router-logit gap between the last picked expert and the next one, per
  /// token and layer of the last `logits` call. A gap within the model's rounding (its activations
  /// are quantized to 8 bits for the matmuls) lets it pick another expert than this Double pass,
  /// so the tests check the smallest gap before comparing.
  let routingGaps = GapLog()
  final class GapLog {
    var values: [Double] = []
    func append(_ v: Double) { values.append(v) }
    var minimum: Double { values.min() ?? .infinity }
  }

  init(spec: TinySpec, path: String) throws {
    self.spec = spec
    file = try GGUFFile(path: path)
  }

  struct Missing: Error { let name: String }

  /// The tensor's values, row-major (`rows × rowLength`), dequantized by the reference codecs.
  func weights(_ name: String) throws -> [Double] {
    guard let t = file.tensor(named: name) else { throw Missing(name: name) }
    let values = try t.type.dequantize(file.data(for: t), count: t.elementCount)
    return values.map(Double.init)
  }

  func optionalWeights(_ name: String) throws -> [Double]? {
    file.tensor(named: name) == nil ? nil : try weights(name)
  }

  /// `y[r] = Σ_j W[r, j] x[j]`, W `rows × x.count`.
  func matvec(_ w: [Double], _ x: [Double]) -> [Double] {
    let k = x.count
    return (0..<(w.count / k)).map { r in
      var s = 0.0
      for j in 0..<k { s += w[r * k + j] * x[j] }
      return s
    }
  }

  func rmsNorm(_ x: ArraySlice<Double>, _ w: [Double]) -> [Double] {
    let mean = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
    let r = 1 / (mean + Double(spec.eps)).squareRoot()
    return zip(x, w).map { $0 * r * $1 }
  }

  /// Norm of each `headDim` slice.
  func headNorm(_ x: [Double], _ w: [Double]) -> [Double] {
    stride(from: 0, to: x.count, by: spec.headDim).flatMap { rmsNorm(x[$0..<($0 + spec.headDim)], w) }
  }

  func rope(
    _ x: [Double], position: Int, base: Double, neox: Bool, factors: [Double]?, attnFactor: Double = 1
  ) -> [Double] {
    var out = x
    let n = spec.headDim
    for h in 0..<(x.count / n) {
      for i in 0..<(n / 2) {
        var theta = Double(position) * pow(base, -2 * Double(i) / Double(n))
        if let factors { theta /= factors[i] }
        let (a, b) = neox ? (h * n + i, h * n + i + n / 2) : (h * n + 2 * i, h * n + 2 * i + 1)
        out[a] = (x[a] * cos(theta) - x[b] * sin(theta)) * attnFactor
        out[b] = (x[a] * sin(theta) + x[b] * cos(theta)) * attnFactor
      }
    }
    return out
  }

  func gelu(_ x: Double) -> Double {
    0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
  }
  func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

  /// Logits of every position of `tokens` (the sequence from position 0).
  func logits(_ tokens: [Int32]) throws -> [[Double]] {
    routingGaps.values.removeAll()
    let s = spec
    let isGemma = s.arch == .gemma3 || s.arch == .gemma2
    let neox = s.arch != .llama
    let embedding = try weights("token_embd.weight")
    var factors = try optionalWeights("rope_freqs.weight")
    var attnFactor = 1.0
    if let long = s.longRope {
      factors = try weights(
        contextLength > long.originalContext ? "rope_factors_long.weight" : "rope_factors_short.weight")
      attnFactor = Double(long.attnFactor)
    }
    /// `cap · tanh(v / cap)`, or `v` without a cap.
    func capped(_ v: Double, _ cap: Float) -> Double { cap > 0 ? Double(cap) * tanh(v / Double(cap)) : v }
    /// Rows `range` of a row-major matrix of `cols` columns.
    func rows(_ w: [Double], _ range: Range<Int>, cols: Int) -> [Double] {
      Array(w[(range.lowerBound * cols)..<(range.upperBound * cols)])
    }
    var x: [[Double]] = tokens.map { t in
      let row = Array(embedding[(Int(t) * s.d)..<((Int(t) + 1) * s.d)])
      return isGemma ? row.map { $0 * Double(s.d).squareRoot() } : row
    }
    let n = tokens.count
    let group = s.heads / s.kvHeads
    for l in 0..<s.layers {
      let p = "blk.\(l)."
      // gemma3: 5 of every 6 layers slide (base 10 000 there); gemma2: the even ones; phi3: all.
      let sliding: Bool
      switch s.arch {
      case .gemma3: sliding = s.slidingWindow > 0 && l % 6 < 5
      case .gemma2: sliding = s.slidingWindow > 0 && l % 2 == 0
      case .phi3: sliding = s.slidingWindow > 0
      default: sliding = false
      }
      let base = s.arch == .gemma3 && sliding ? 10_000 : Double(s.ropeBase)
      let (qw, kvw) = (s.heads * s.headDim, s.kvHeads * s.headDim)
      var (wq, wk, wv): ([Double], [Double], [Double])
      if let qkv = try optionalWeights(p + "attn_qkv.weight") {
        // Rows: the queries, the keys, then the values.
        wq = rows(qkv, 0..<qw, cols: s.d)
        wk = rows(qkv, qw..<(qw + kvw), cols: s.d)
        wv = rows(qkv, (qw + kvw)..<(qw + 2 * kvw), cols: s.d)
      } else {
        (wq, wk, wv) = (
          try weights(p + "attn_q.weight"), try weights(p + "attn_k.weight"), try weights(p + "attn_v.weight")
        )
      }
      let wo = try weights(p + "attn_output.weight")
      let attnNorm = try weights(p + "attn_norm.weight")
      let (qb, kb, vb) = (
        try optionalWeights(p + "attn_q.bias"), try optionalWeights(p + "attn_k.bias"),
        try optionalWeights(p + "attn_v.bias")
      )
      let (qn, kn) = (
        try optionalWeights(p + "attn_q_norm.weight"), try optionalWeights(p + "attn_k_norm.weight")
      )
      let postAttention = try optionalWeights(p + "post_attention_norm.weight")
      let postFFN = try optionalWeights(p + "post_ffw_norm.weight")
      let ffnNorm = try weights(p + "ffn_norm.weight")
      let moe = try s.experts > 0 ? experts(p) : nil
      let wd = try moe == nil ? weights(p + "ffn_down.weight") : []
      var (wg, wu) = (try moe == nil ? weights(p + "ffn_up.weight") : [], [Double]())
      if let gate = try optionalWeights(p + "ffn_gate.weight") {
        (wg, wu) = (gate, wg)
      } else if moe == nil {
        // One matrix of 2·ff rows: the gate's first (ggml's swiglu activates the first half).
        (wg, wu) = (rows(wg, 0..<s.ff, cols: s.d), rows(wg, s.ff..<(2 * s.ff), cols: s.d))
      }
      var qs: [[Double]] = []
      var ks: [[Double]] = []
      var vs: [[Double]] = []
      for t in 0..<n {
        let h = rmsNorm(x[t][...], attnNorm)
        var q = matvec(wq, h)
        var k = matvec(wk, h)
        var v = matvec(wv, h)
        if let b = qb { q = zip(q, b).map(+) }
        if let b = kb { k = zip(k, b).map(+) }
        if let b = vb { v = zip(v, b).map(+) }
        if let w = qn { q = headNorm(q, w) }
        if let w = kn { k = headNorm(k, w) }
        let f = s.arch == .llama || s.arch == .phi3 ? factors : nil
        qs.append(rope(q, position: t, base: base, neox: neox, factors: f, attnFactor: attnFactor))
        ks.append(rope(k, position: t, base: base, neox: neox, factors: f, attnFactor: attnFactor))
        vs.append(v)
      }
      let scale = 1 / Double(s.headDim).squareRoot()
      for t in 0..<n {
        var heads = [Double](repeating: 0, count: s.heads * s.headDim)
        let first = sliding ? max(0, t - s.slidingWindow + 1) : 0
        for h in 0..<s.heads {
          let kvh = h / group
          let q = qs[t][(h * s.headDim)..<((h + 1) * s.headDim)]
          var scores: [Double] = []
          for j in first...t {
            let k = ks[j][(kvh * s.headDim)..<((kvh + 1) * s.headDim)]
            scores.append(capped(zip(q, k).reduce(0) { $0 + $1.0 * $1.1 } * scale, s.attentionSoftcap))
          }
          let m = scores.max()!
          let e = scores.map { exp($0 - m) }
          let z = e.reduce(0, +)
          for (i, j) in (first...t).enumerated() {
            for c in 0..<s.headDim { heads[h * s.headDim + c] += e[i] / z * vs[j][kvh * s.headDim + c] }
          }
        }
        var attn = matvec(wo, heads)
        if let w = postAttention { attn = rmsNorm(attn[...], w) }
        let mid = zip(x[t], attn).map(+)
        let h = rmsNorm(mid[...], ffnNorm)
        if let moe {
          x[t] = zip(mid, moe.forward(h, reference: self)).map(+)
          continue
        }
        let gate = matvec(wg, h)
        let up = matvec(wu, h)
        let act = zip(gate, up).map { (isGemma ? gelu($0) : silu($0)) * $1 }
        var down = matvec(wd, act)
        if let w = postFFN { down = rmsNorm(down[...], w) }
        x[t] = zip(mid, down).map(+)
      }
    }
    let head = try optionalWeights("output.weight") ?? embedding
    let norm = try weights("output_norm.weight")
    return x.map { matvec(head, rmsNorm($0[...], norm)).map { capped($0, s.finalSoftcap) } }
  }
}

/// A mixture-of-experts FFN as llama.cpp's `build_moe_ffn` computes it for Mixtral and
/// Qwen3-MoE: softmax over the router's logits, the `used` most probable experts (the lower index
/// first on equal probabilities), their probabilities divided by their sum, and the sum of each
/// picked expert's SwiGLU FFN times its weight.
struct TinyExperts {
  var router: [Double]  // experts × d
  var gate, up: [Double]  // experts × ff × d
  var down: [Double]  // experts × d × ff
  var count, used, ff: Int

  func forward(_ h: [Double], reference r: TinyReference) -> [Double] {
    let d = h.count
    let logits = r.matvec(router, h)
    let m = logits.max()!
    let e = logits.map { exp($0 - m) }
    let z = e.reduce(0, +)
    let probs = e.map { $0 / z }
    let picked = probs.indices.sorted { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
      .prefix(used)
    let total = picked.reduce(0) { $0 + probs[$1] }
    if used < count {
      let sorted = logits.sorted(by: >)
      r.routingGaps.append(sorted[used - 1] - sorted[used])
    }
    var out = [Double](repeating: 0, count: d)
    for x in picked {
      let g = r.matvec(Array(gate[(x * ff * d)..<((x + 1) * ff * d)]), h)
      let u = r.matvec(Array(up[(x * ff * d)..<((x + 1) * ff * d)]), h)
      let act = zip(g, u).map { r.silu($0) * $1 }
      let y = r.matvec(Array(down[(x * d * ff)..<((x + 1) * d * ff)]), act)
      for i in 0..<d { out[i] += probs[x] / total * y[i] }
    }
    return out
  }
}

extension TinyReference {
  func experts(_ p: String) throws -> TinyExperts {
    TinyExperts(
      router: try weights(p + "ffn_gate_inp.weight"), gate: try weights(p + "ffn_gate_exps.weight"),
      up: try weights(p + "ffn_up_exps.weight"), down: try weights(p + "ffn_down_exps.weight"),
      count: spec.experts, used: spec.expertsUsed, ff: spec.expertFF)
  }
}

/// Normalized MSE `Σ(a−b)² / Σb²` (TESTING.md's cross-backend metric); infinite on any non-finite value.
func nmse(_ a: [Float], _ b: [Double]) -> Double {
  guard a.count == b.count, a.allSatisfy(\.isFinite) else { return .infinity }
  var num = 0.0
  var den = 0.0
  for (x, y) in zip(a, b) {
    num += (Double(x) - y) * (Double(x) - y)
    den += y * y
  }
  return den > 0 ? num / den : num
}
