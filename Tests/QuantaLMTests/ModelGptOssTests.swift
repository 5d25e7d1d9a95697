import Foundation
import GGML
import GGUF
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// A tiny gpt-oss file (written here with GGUFWriter and the reference quantizers) through the
/// whole model against a Double forward pass written in this file from llama.cpp's
/// `llm_build_openai_moe_iswa`: Q/K/V/output biases, NeoX RoPE with YaRN, a window on the even
/// layers, sink logits in every attention softmax, `post_attention_norm` before the experts, the
/// biased router (top-k of the biased logits, softmax over the picked ones), per-expert biases
/// and `swiglu_oai`. Prompts as one batch and in batches of 1 and 3, then decode through the cache.
@Suite struct ModelGptOssTests {
  static let (layers, d, heads, kvHeads, headDim, experts, used, ff, vocab) = (
    2, 128, 4, 2, 64, 8, 3, 64, 320
  )
  static let window = 4
  static let (ropeBase, yarnFactor, yarnOriginal): (Float, Float, Int) = (10_000, 4, 16)
  static let eps: Float = 1e-5
  /// Its smallest top-k router gap over the 14 tokens and 2 layers is 0.148 with Q8_0 matrices and
  /// 0.070 with f32 ones (seed 31's was 7e-5: a near-tie that 8-bit activations could flip); of
  /// seeds 1-40, 12 clear 0.05.
  static let seed: UInt64 = 38

  /// Writes the model (`matrices`-typed matrices, f32 router, biases, norms and sinks) and returns
  /// its path.
  static func write(seed: UInt64, matrices: GGMLType = .q8_0) throws -> String {
    var rng = TestRNG(state: seed)
    var w = GGUFWriter()
    let a = "gpt-oss"
    w.set("general.architecture", .string(a))
    for (k, v) in [
      ("block_count", layers), ("context_length", 64), ("embedding_length", d), ("feed_forward_length", ff),
      ("attention.head_count", heads), ("attention.head_count_kv", kvHeads),
      ("attention.key_length", headDim),
      ("attention.value_length", headDim), ("expert_count", experts), ("expert_used_count", used),
      ("expert_feed_forward_length", ff), ("attention.sliding_window", window),
      ("rope.scaling.original_context_length", yarnOriginal),
    ] {
      w.set("\(a).\(k)", .uint32(UInt32(v)))
    }
    w.set("\(a).attention.layer_norm_rms_epsilon", .float32(eps))
    w.set("\(a).rope.freq_base", .float32(ropeBase))
    w.set("\(a).rope.scaling.type", .string("yarn"))
    w.set("\(a).rope.scaling.factor", .float32(yarnFactor))
    TinyModel.addVocabulary(&w, size: vocab)
    func add(_ name: String, _ type: GGMLType, _ shape: [Int], scale: Float, offset: Float = 0) throws {
      let values = rng.values(shape.reduce(1, *), scale: scale, offset: offset)
      let bytes = type == .f32 ? values.withUnsafeBytes { [UInt8]($0) } : try type.quantize(values)
      w.addTensor(name: name, type: type, shape: shape, bytes: bytes)
    }
    let (q, kv) = (heads * headDim, kvHeads * headDim)
    try add("token_embd.weight", matrices, [d, vocab], scale: 1)
    for i in 0..<layers {
      let p = "blk.\(i)."
      try add(p + "attn_norm.weight", .f32, [d], scale: 0.3, offset: 1)
      try add(p + "attn_q.weight", matrices, [d, q], scale: 3 / Float(d).squareRoot())
      try add(p + "attn_q.bias", .f32, [q], scale: 0.3)
      try add(p + "attn_k.weight", matrices, [d, kv], scale: 3 / Float(d).squareRoot())
      try add(p + "attn_k.bias", .f32, [kv], scale: 0.3)
      try add(p + "attn_v.weight", matrices, [d, kv], scale: 1.5 / Float(d).squareRoot())
      try add(p + "attn_v.bias", .f32, [kv], scale: 0.3)
      try add(p + "attn_output.weight", matrices, [q, d], scale: 1.5 / Float(q).squareRoot())
      try add(p + "attn_output.bias", .f32, [d], scale: 0.3)
      try add(p + "attn_sinks.weight", .f32, [heads], scale: 2)
      try add(p + "post_attention_norm.weight", .f32, [d], scale: 0.3, offset: 1)
      try add(p + "ffn_gate_inp.weight", .f32, [d, experts], scale: 4 / Float(d).squareRoot())
      try add(p + "ffn_gate_inp.bias", .f32, [experts], scale: 1)
      try add(p + "ffn_gate_exps.weight", matrices, [d, ff, experts], scale: 3 / Float(d).squareRoot())
      try add(p + "ffn_gate_exps.bias", .f32, [ff, experts], scale: 0.5)
      try add(p + "ffn_up_exps.weight", matrices, [d, ff, experts], scale: 3 / Float(d).squareRoot())
      try add(p + "ffn_up_exps.bias", .f32, [ff, experts], scale: 0.5)
      try add(p + "ffn_down_exps.weight", matrices, [ff, d, experts], scale: 1.5 / Float(ff).squareRoot())
      try add(p + "ffn_down_exps.bias", .f32, [d, experts], scale: 0.3)
    }
    try add("output_norm.weight", .f32, [d], scale: 0.3, offset: 1)
    try add("output.weight", matrices, [d, vocab], scale: 1.5 / Float(d).squareRoot())
    let path = FileManager.default.temporaryDirectory
      .appendingPathComponent("quanta-tiny-gpt-oss-\(seed)-\(UUID().uuidString).gguf").path
    try w.write(to: path)
    return path
  }

  /// The Double forward pass; also the smallest router gap at the top-k boundary it met.
  static func reference(_ path: String, _ tokens: [Int32]) throws -> (logits: [[Double]], routingGap: Double)
  {
    let file = try GGUFFile(path: path)
    func t(_ name: String) throws -> [Double] {
      let info = try #require(file.tensor(named: name), "\(name) missing")
      return try info.type.dequantize(file.data(for: info), count: info.elementCount).map(Double.init)
    }
    func matvec(_ w: ArraySlice<Double>, _ x: [Double]) -> [Double] {
      let k = x.count
      let base = w.startIndex
      return (0..<(w.count / k)).map { r in (0..<k).reduce(0) { $0 + w[base + r * k + $1] * x[$1] } }
    }
    func norm(_ x: [Double], _ w: [Double]) -> [Double] {
      let r = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(x.count) + Double(eps)).squareRoot()
      return zip(x, w).map { $0 * r * $1 }
    }
    // YaRN (ggml's rope_yarn, llama.cpp's context: ext_factor 1, the magnitude 1 + 0.1 ln factor).
    let factor = Double(yarnFactor)
    func corr(_ rotations: Double) -> Double {
      Double(headDim) * log(Double(yarnOriginal) / (rotations * 2 * .pi)) / (2 * log(Double(ropeBase)))
    }
    let (low, high) = (max(0, floor(corr(32))), min(Double(headDim - 1), ceil(corr(1))))
    let mscale = 1 + 0.1 * log(factor)
    func rope(_ x: [Double], _ pos: Int) -> [Double] {
      var out = x
      let half = headDim / 2
      for h in 0..<(x.count / headDim) {
        for i in 0..<half {
          let extrapolated = Double(pos) * pow(Double(ropeBase), -2 * Double(i) / Double(headDim))
          let ramp = 1 - min(1, max(0, (Double(i) - low) / max(0.001, high - low)))
          let theta = extrapolated / factor * (1 - ramp) + extrapolated * ramp
          let (a, b) = (h * headDim + i, h * headDim + i + half)
          out[a] = (x[a] * cos(theta) - x[b] * sin(theta)) * mscale
          out[b] = (x[a] * sin(theta) + x[b] * cos(theta)) * mscale
        }
      }
      return out
    }
    let embedding = try t("token_embd.weight")
    var x = tokens.map { Array(embedding[(Int($0) * d)..<((Int($0) + 1) * d)]) }
    var gap = Double.infinity
    for l in 0..<layers {
      let p = "blk.\(l)."
      let sliding = l % 2 == 0
      let (wq, wk, wv, wo) = (
        try t(p + "attn_q.weight"), try t(p + "attn_k.weight"), try t(p + "attn_v.weight"),
        try t(p + "attn_output.weight")
      )
      let (bq, bk, bv, bo) = (
        try t(p + "attn_q.bias"), try t(p + "attn_k.bias"), try t(p + "attn_v.bias"),
        try t(p + "attn_output.bias")
      )
      let sinks = try t(p + "attn_sinks.weight")
      let (router, routerBias) = (try t(p + "ffn_gate_inp.weight"), try t(p + "ffn_gate_inp.bias"))
      let (wg, wu, wd) = (
        try t(p + "ffn_gate_exps.weight"), try t(p + "ffn_up_exps.weight"), try t(p + "ffn_down_exps.weight")
      )
      let (bg, bu, bd) = (
        try t(p + "ffn_gate_exps.bias"), try t(p + "ffn_up_exps.bias"), try t(p + "ffn_down_exps.bias")
      )
      let (attnNorm, ffnNorm) = (try t(p + "attn_norm.weight"), try t(p + "post_attention_norm.weight"))
      var qs: [[Double]] = []
      var ks: [[Double]] = []
      var vs: [[Double]] = []
      for (pos, row) in x.enumerated() {
        let h = norm(row, attnNorm)
        qs.append(rope(zip(matvec(wq[...], h), bq).map(+), pos))
        ks.append(rope(zip(matvec(wk[...], h), bk).map(+), pos))
        vs.append(zip(matvec(wv[...], h), bv).map(+))
      }
      let scale = 1 / Double(headDim).squareRoot()
      for pos in x.indices {
        var heads = [Double](repeating: 0, count: Self.heads * headDim)
        let first = sliding ? max(0, pos - window + 1) : 0
        for h in 0..<Self.heads {
          let kvh = h / (Self.heads / kvHeads)
          let scores = (first...pos).map { j in
            (0..<headDim).reduce(0) { $0 + qs[pos][h * headDim + $1] * ks[j][kvh * headDim + $1] } * scale
          }
          let m = max(scores.max()!, sinks[h])
          let z = scores.reduce(0) { $0 + exp($1 - m) } + exp(sinks[h] - m)
          for (i, j) in (first...pos).enumerated() {
            for c in 0..<headDim {
              heads[h * headDim + c] += exp(scores[i] - m) / z * vs[j][kvh * headDim + c]
            }
          }
        }
        let mid = zip(x[pos], zip(matvec(wo[...], heads), bo).map(+)).map(+)
        let h = norm(mid, ffnNorm)
        let logits = zip(matvec(router[...], h), routerBias).map(+)
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        gap = min(gap, logits[order[used - 1]] - logits[order[used]])
        let picked = Array(order.prefix(used))
        let top = logits[picked[0]]
        let z = picked.reduce(0) { $0 + exp(logits[$1] - top) }
        var out = [Double](repeating: 0, count: d)
        for e in picked {
          let g = zip(matvec(wg[(e * ff * d)..<((e + 1) * ff * d)], h), bg[(e * ff)..<((e + 1) * ff)]).map(+)
          let u = zip(matvec(wu[(e * ff * d)..<((e + 1) * ff * d)], h), bu[(e * ff)..<((e + 1) * ff)]).map(+)
          let act = zip(g, u).map { g, u -> Double in
            let xg = min(g, 7)
            return xg / (1 + exp(-1.702 * xg)) * (min(max(u, -7), 7) + 1)
          }
          let y = zip(matvec(wd[(e * d * ff)..<((e + 1) * d * ff)], act), bd[(e * d)..<((e + 1) * d)]).map(+)
          let weight = exp(logits[e] - top) / z
          for i in 0..<d { out[i] += weight * y[i] }
        }
        x[pos] = zip(mid, out).map(+)
      }
    }
    let (outputNorm, output) = (try t("output_norm.weight"), try t("output.weight"))
    return (x.map { matvec(output[...], norm($0, outputNorm)) }, gap)
  }

  /// With f32 matrices the activations stay f32 and the model must agree with the Double pass to
  /// f32 accumulation (measured ≤ 3e-6; the f16 KV cache included): this holds the logic. With Q8_0
  /// matrices the activations are rounded to 8 bits before every matmul, and this model's sharp
  /// attention (Q and K at 3/√d, so scores of several units) and clamped experts amplify that
  /// rounding: measured up to 4.2e-3 on one row. With Q8_0 attention and f32 experts that row is at
  /// 3.4e-3, and at 3.3e-4 when the Double pass rounds those matmuls' inputs to Q8_0 too (a probe,
  /// not kept): rounding, not logic. That case checks the quantized path end to end at 1e-2.
  @Test(arguments: [GGMLType.f32, .q8_0], [512, 1, 3])
  func logitsMatchReference(_ matrices: GGMLType, _ batch: Int) async throws {
    let path = try Self.write(seed: Self.seed, matrices: matrices)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let tolerance = matrices == .f32 ? 1e-5 : 1e-2
    let sequence = ModelForwardTests.sequence(14)
    let (reference, gap) = try Self.reference(path, sequence)
    // A closer call would route by rounding (8-bit activations), not by the code under test.
    try #require(gap >= ModelExpertsTests.routingMargin, "router gap \(gap): pick another seed")
    let model = try await ModelForwardTests.load(path, batchSize: batch)
    let c = model.config
    #expect(c.architecture == .gptOss && c.expertCount == Self.experts && c.expertUsedCount == Self.used)
    #expect(c.slidingWindow == Self.window && c.isSlidingWindowLayer(0) && !c.isSlidingWindowLayer(1))
    #expect(c.ropeExtFactor == 1 && c.ropeFreqScale == 1 / Self.yarnFactor)
    let session = try model.makeSession()
    // A prompt of 10 (past the window of 4), then 4 decode steps through the cache.
    let rows = try session.evaluateAll(tokens: Array(sequence[..<10]))
    for (i, row) in rows.enumerated() {
      #expect(nmse(row, reference[i]) <= tolerance, "\(matrices) row \(i): \(nmse(row, reference[i]))")
    }
    for i in 10..<sequence.count {
      let logits = try session.evaluate(tokens: [sequence[i]])
      #expect(
        nmse(logits, reference[i]) <= tolerance, "\(matrices) decode \(i): \(nmse(logits, reference[i]))")
    }
  }

  /// A file without sinks (or any other tensor of the table) is a typed error naming it.
  @Test func missingSinksIsATypedError() throws {
    let path = try Self.write(seed: Self.seed)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let file = try GGUFFile(path: path)
    var w = GGUFWriter()
    for (k, v) in file.metadata.entries { w.set(k, v) }
    for t in file.tensors where t.name != "blk.1.attn_sinks.weight" {
      w.addTensor(name: t.name, type: t.type, shape: t.shape, bytes: [UInt8](file.data(for: t)))
    }
    let stripped = path + ".nosinks.gguf"
    try w.write(to: stripped)
    defer { try? FileManager.default.removeItem(atPath: stripped) }
    #expect(throws: ModelError.missingTensor("blk.1.attn_sinks.weight")) {
      try ModelConfig(file: try GGUFFile(path: stripped))
    }
  }
}
