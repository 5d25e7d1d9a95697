import Foundation
import GGML
import QuantaCore
import Testing

@testable import CPUBackend

/// gpt-oss's ops on the CPU through `Ops`, each against a plain Double loop written here from
/// ggml's definitions (checked against llama.cpp's `ggml-cpu/ops.cpp` and `ggml.c`): attention with
/// a sink logit per head (decode, prompt, window, GQA; f16 caches and every KV cache type),
/// `swiglu_oai` (both clamps), `add_id`, the biased top-k-then-softmax router, and YaRN RoPE (both
/// pair layouts, ext_factor 1, 0.5, 0). gpt-oss's GGUF has no fused gate/up: llama.cpp's converter
/// splits the checkpoint's interleaved `gate_up_proj` (even rows gate, odd rows up) into
/// `ffn_gate_exps` and `ffn_up_exps`.
@Suite struct OpsTestsGptOss {
  func tensor(_ values: [Float], _ shape: [Int]) throws -> Tensor {
    try Tensor(values, shape: shape, dtype: .f32, on: Fixture.cpu())
  }

  func expectClose(_ got: [Float], _ want: [Double], _ limit: Double, _ what: String) {
    #expect(got.count == want.count, "\(what): count")
    let e = OpsReference.nmse(got, want)
    #expect(e <= limit, "\(what): NMSE \(e)")
  }

  /// Attention of one query head with a sink: `Σ_j e^{s_j} v_j / (Σ_j e^{s_j} + e^{sink})` over the
  /// visible keys (f16 cache values), zeros when no key is visible.
  static func sinkAttention(
    q: [Float], k: [Double], v: [Double], positions: [Int32], heads: Int, kvHeads: Int, headDim: Int,
    nKV: Int, scale: Double, window: Int, sinks: [Float]
  ) -> [Double] {
    var out = [Double](repeating: 0, count: positions.count * heads * headDim)
    let group = heads / kvHeads
    for t in positions.indices {
      let p = Int(positions[t])
      for h in 0..<heads {
        let kv = h / group
        var scores: [(j: Int, s: Double)] = []
        for j in 0..<nKV where j <= p && (window == 0 || p - j < window) {
          var s = 0.0
          for d in 0..<headDim {
            s += Double(q[(t * heads + h) * headDim + d]) * k[(j * kvHeads + kv) * headDim + d]
          }
          scores.append((j, s * scale))
        }
        guard !scores.isEmpty else { continue }
        let sink = Double(sinks[h])
        let m = max(scores.map(\.s).max()!, sink)
        let z = scores.reduce(0) { $0 + exp($1.s - m) } + exp(sink - m)
        for (j, s) in scores {
          for d in 0..<headDim {
            out[(t * heads + h) * headDim + d] += exp(s - m) / z * v[(j * kvHeads + kv) * headDim + d]
          }
        }
      }
    }
    return out
  }

  /// Decode (one token: the f16 path), a short batch and a prompt of 70 tokens (the block path, which
  /// the plain prompt kernel would take without sinks), with and without a window; sinks below,
  /// among and above the scores.
  @Test(arguments: [(1, 0), (5, 0), (70, 0), (70, 16), (1, 16)])
  func attentionWithSinks(_ c: (tokens: Int, window: Int)) throws {
    let cpu = try Fixture.cpu()
    var rng = OpsReference.Random(seed: UInt64(c.tokens * 31 + c.window))
    let (heads, kvHeads, headDim, nKV) = (8, 2, 64, 80)
    let kCache = try Tensor.zeros(shape: [nKV, kvHeads, headDim], dtype: .f16, on: cpu)
    let vCache = try Tensor.zeros(shape: [nKV, kvHeads, headDim], dtype: .f16, on: cpu)
    let kAll = rng.floats(nKV * kvHeads * headDim, -2, 2)
    let vAll = rng.floats(nKV * kvHeads * headDim)
    try Ops.writeKV(
      keys: tensor(kAll, [nKV, kvHeads, headDim]), values: tensor(vAll, [nKV, kvHeads, headDim]),
      positions: (0..<nKV).map(Int32.init), keyCache: kCache, valueCache: vCache)
    let k = try kCache.toArray().map(Double.init)
    let v = try vCache.toArray().map(Double.init)
    let q = rng.floats(c.tokens * heads * headDim, -2, 2)
    // Sinks from far below the scores (no effect) to far above (most of the mass).
    let sinks: [Float] = [-30, -2, 0, 0.5, 1.5, 3, 6, 20]
    let positions = (nKV - c.tokens..<nKV).map(Int32.init)
    let scale = 1 / Float(headDim).squareRoot()
    let params = AttentionParameters(
      kvLength: nKV, softmax: .init(scale: scale, causal: true, slidingWindow: c.window > 0 ? c.window : nil))
    let got = try Ops.attention(
      query: tensor(q, [c.tokens, heads, headDim]), positions: positions, keyCache: kCache,
      valueCache: vCache,
      parameters: params, sinks: tensor(sinks, [heads])
    ).toArray()
    let want = Self.sinkAttention(
      q: q, k: k, v: v, positions: positions, heads: heads, kvHeads: kvHeads, headDim: headDim, nKV: nKV,
      scale: Double(scale), window: c.window, sinks: sinks)
    expectClose(got, want, 5e-4, "attention with sinks \(c)")
    // The sink takes mass: the last head's output (sink 20) is near zero, unlike without sinks.
    let plain = try Ops.attention(
      query: tensor(q, [c.tokens, heads, headDim]), positions: positions, keyCache: kCache,
      valueCache: vCache,
      parameters: params
    ).toArray()
    let last = (heads - 1) * headDim..<(heads * headDim)
    #expect(got[last].map(abs).max()! < 1e-4 && plain[last].map(abs).max()! > 1e-2)
    // A sinks tensor of the wrong length is refused.
    #expect(throws: QuantaError.self) {
      try Ops.attention(
        query: tensor(q, [c.tokens, heads, headDim]), positions: positions, keyCache: kCache,
        valueCache: vCache, parameters: params, sinks: tensor(Array(sinks[0..<4]), [4]))
    }
  }

  /// Sinks over caches of every `KVCacheType` (and mixed pairs) read in place: reference-encoded
  /// caches, the Double loop over what the reference codecs decode from them. A decode step, a
  /// windowed batch, and a prompt past the f16 path's batch limit (64).
  @Test(arguments: 0..<KVCacheTypeTests.pairs.count)
  func attentionWithSinksOverEachCacheType(pair: Int) throws {
    let (kt, vt) = KVCacheTypeTests.pairs[pair]
    let cpu = try Fixture.cpu()
    var rng = OpsReference.Random(seed: UInt64(100 + pair))
    let (heads, kvHeads, headDim, nKV) = (8, 2, 64, 72)
    let count = nKV * kvHeads * headDim
    let (kBytes, vBytes) = (
      try KVCacheTypeTests.referenceBytes(rng.floats(count, -2, 2), kt),
      try KVCacheTypeTests.referenceBytes(rng.floats(count), vt)
    )
    let shape = [nKV, kvHeads, headDim]
    let kCache = try QTensor(bytes: kBytes, type: kt.ggmlType, shape: shape, on: cpu)
    let vCache = try QTensor(bytes: vBytes, type: vt.ggmlType, shape: shape, on: cpu)
    let k = try KVCacheTypeTests.decoded(kBytes, kt, count: count)
    let v = try KVCacheTypeTests.decoded(vBytes, vt, count: count)
    let sinks: [Float] = [-30, -2, 0, 0.5, 1.5, 3, 6, 20]
    let scale = 1 / Float(headDim).squareRoot()
    for (tokens, window) in [(1, 0), (3, 5), (70, 0)] {
      let q = rng.floats(tokens * heads * headDim, -2, 2)
      let positions = (nKV - tokens..<nKV).map(Int32.init)
      let got = try Ops.attention(
        query: tensor(q, [tokens, heads, headDim]), positions: positions, keyCache: kCache,
        valueCache: vCache,
        parameters: AttentionParameters(
          kvLength: nKV, softmax: .init(scale: scale, causal: true, slidingWindow: window > 0 ? window : nil)),
        sinks: tensor(sinks, [heads])
      ).toArray()
      let want = Self.sinkAttention(
        q: q, k: k, v: v, positions: positions, heads: heads, kvHeads: kvHeads, headDim: headDim, nKV: nKV,
        scale: Double(scale), window: window, sinks: sinks)
      // As KVCacheTypeTests: exact cache values; q rounded to K's dot type for quantized keys.
      expectClose(got, want, 2e-5, "sinks, K \(kt) V \(vt), \(tokens) tokens, window \(window)")
      let finite = got.allSatisfy { $0.isFinite }
      #expect(finite, "K \(kt) V \(vt) \(tokens): non-finite output")
    }
  }

  /// ggml's `swiglu_oai` with α 1.702 and limit 7: gate clamped above, up on both sides.
  @Test func swigluOAI() throws {
    var rng = OpsReference.Random(seed: 77)
    let n = 40_000 + 5
    let gate = rng.floats(n, -12, 12)
    let up = rng.floats(n, -12, 12)
    let got = try Ops.swigluOAI(gate: tensor(gate, [5, n / 5]), up: tensor(up, [5, n / 5])).toArray()
    let (alpha, limit) = (1.702, 7.0)
    let want = zip(gate, up).map { g, u -> Double in
      let x = min(Double(g), limit)
      let y = min(max(Double(u), -limit), limit)
      return x / (1 + exp(-alpha * x)) * (y + 1)
    }
    expectClose(got, want, 1e-12, "swiglu_oai")
    // The clamps bite: a gate of 12 acts as 7, an up of -12 as -7.
    let edge = try Ops.swigluOAI(gate: tensor([12, 12, -3], [3]), up: tensor([-12, 12, 0.5], [3])).toArray()
    let at7 = 7 / (1 + exp(-1.702 * 7))
    #expect(abs(Double(edge[0]) - at7 * -6) < 1e-5 && abs(Double(edge[1]) - at7 * 8) < 1e-5)
    #expect(throws: QuantaError.self) {
      try Ops.swigluOAI(gate: tensor(gate, [n]), up: tensor(up, [5, n / 5]))
    }
  }

  /// `add_id`: each (token, slot) row plus its expert's bias row; an id outside the experts throws.
  @Test func addID() throws {
    var rng = OpsReference.Random(seed: 78)
    let (tokens, used, n, experts) = (7, 4, 96, 16)
    let x = rng.floats(tokens * used * n)
    let bias = rng.floats(experts * n)
    let ids: [Int32] = (0..<(tokens * used)).map { Int32(($0 * 7 + 3) % experts) }
    let cpu = try Fixture.cpu()
    let got = try Ops.addID(
      tensor(x, [tokens, used, n]), bias: tensor(bias, [experts, n]), ids: IndexTensor(ids, on: cpu)
    ).toArray()
    var want: [Double] = []
    for p in 0..<(tokens * used) {
      for i in 0..<n { want.append(Double(x[p * n + i]) + Double(bias[Int(ids[p]) * n + i])) }
    }
    #expect(got.map(Double.init) == want.map { Double(Float($0)) })
    var bad = ids
    bad[5] = Int32(experts)
    #expect(throws: QuantaError.self) {
      try Ops.addID(
        tensor(x, [tokens, used, n]), bias: tensor(bias, [experts, n]), ids: IndexTensor(bad, on: cpu))
    }
  }

  /// gpt-oss's router: the logits plus the router bias, the `used` largest picked (the lower index
  /// first on ties), weighed by the softmax of the picked logits alone.
  @Test func biasedRouting() throws {
    var rng = OpsReference.Random(seed: 79)
    let (tokens, experts, used) = (9, 32, 4)
    let logits = rng.floats(tokens * experts, -3, 3)
    var bias = rng.floats(experts, -1, 1)
    bias[5] = 10  // one expert every token picks, by its bias alone
    let biased = try Ops.add(tensor(logits, [tokens, experts]), tensor(bias, [experts]))
    let (ids, weights) = try Ops.routeExperts(
      biased, routing: ExpertRouting(gating: .softmaxOfSelected, used: used, normalizesWeights: false))
    let gotIDs = try ids.toArray()
    let gotWeights = try weights.toArray()
    var want: [Double] = []
    for t in 0..<tokens {
      let row = (0..<experts).map { Double(logits[t * experts + $0]) + Double(bias[$0]) }
      let picked = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(used)
      #expect(gotIDs[(t * used)..<((t + 1) * used)].map(Int.init) == Array(picked), "token \(t) ids")
      #expect(picked.first == 5)
      let m = picked.map { row[$0] }.max()!
      let z = picked.reduce(0) { $0 + exp(row[$1] - m) }
      want += picked.map { exp(row[$0] - m) / z }
    }
    expectClose(gotWeights, want, 1e-12, "biased routing weights")
  }

  /// YaRN RoPE as ggml's `rope_yarn`: per pair, the interpolated angle (position · freqScale · θ_i)
  /// mixed with the extrapolated one by the ramp between the correction dims times ext_factor, cos
  /// and sin scaled by attnFactor · (1 + 0.1 ln(1 / freqScale)) when ext_factor ≠ 0 (attnFactor
  /// alone when it is 0: plain linear interpolation); the correction dims as
  /// `ggml_rope_yarn_corr_dims`. NeoX pairs (x_i, x_{i+d/2}), gpt-oss's, and normal pairs
  /// (x_{2i}, x_{2i+1}), with ext_factor 1 (llama.cpp's for YaRN), 0.5 and 0.
  @Test(arguments: [RoPEParameters.Mode.neox, .normal], [Float(1), 0.5, 0])
  func yarnRope(_ mode: RoPEParameters.Mode, _ extFactor: Float) throws {
    var rng = OpsReference.Random(seed: 80)
    let (tokens, heads, headDim) = (6, 3, 64)
    let x = rng.floats(tokens * heads * headDim)
    let positions: [Int32] = [0, 1, 17, 128, 1000, 4095]
    let (base, factor, original) = (150_000.0, 32.0, 4096)
    func corr(_ rotations: Double) -> Double {
      Double(headDim) * log(Double(original) / (rotations * 2 * Double.pi)) / (2 * log(base))
    }
    let (low, high) = (max(0, floor(corr(32))), min(Double(headDim - 1), ceil(corr(1))))
    #expect(low == 8 && high == 18)  // gpt-oss-20b's head: the ramp spans pairs 8-18 of 32
    let dims = RoPEParameters.yarnCorrectionDims(
      dimensions: headDim, originalContext: original, freqBase: Float(base), betaFast: 32, betaSlow: 1)
    #expect(Double(dims.low) == low && Double(dims.high) == high)
    let attnFactor = 0.97
    let p = RoPEParameters(
      mode: mode, dimensions: headDim, freqBase: Float(base), freqScale: Float(1 / factor),
      attnFactor: Float(attnFactor), extFactor: extFactor, yarnLow: dims.low, yarnHigh: dims.high)
    let got = try Ops.rope(tensor(x, [tokens, heads, headDim]), positions: positions, parameters: p).toArray()
    let ext = Double(extFactor)
    let mscale = ext != 0 ? attnFactor * (1 + 0.1 * log(factor)) : attnFactor
    var want: [Double] = []
    for t in 0..<tokens {
      for h in 0..<heads {
        let head = (0..<headDim).map { Double(x[(t * heads + h) * headDim + $0]) }
        var out = head
        for i in 0..<(headDim / 2) {
          let extrapolated = Double(positions[t]) * pow(base, -2 * Double(i) / Double(headDim))
          let interpolated = extrapolated / factor
          let ramp = 1 - min(1, max(0, (Double(i) - low) / max(0.001, high - low)))
          let theta = interpolated * (1 - ramp * ext) + extrapolated * ramp * ext
          let (a, b) = mode == .neox ? (i, i + headDim / 2) : (2 * i, 2 * i + 1)
          out[a] = (head[a] * cos(theta) - head[b] * sin(theta)) * mscale
          out[b] = (head[a] * sin(theta) + head[b] * cos(theta)) * mscale
        }
        want += out
      }
    }
    expectClose(got, want, 1e-9, "yarn rope \(mode) ext \(extFactor)")
  }
}
