import GGML
import QuantaCore

// `quanta selftest`, gpt-oss's ops (SinkOps.swift) on the device against the CPU backend with the
// same inputs: attention with a sink logit per head (decode, prompts on the tile kernel, a sliding
// window, a query that sees no key, and quantized caches); RoPE with YaRN (gpt-oss's shape and a normal-mode one with freq factors);
// swiglu_oai (gate and up past ±limit); add_id (in place, repeating ids; an id outside the experts
// is an indexOutOfRange error on both); and the router gpt-oss uses (top-k of biased logits, then
// the softmax of those: `routeExperts` `.softmaxOfSelected`) is in GPUSelftestExperts.swift.
extension GPUSelftest {
  static func gptOssCases(_ gpu: any ComputeBackend, _ cpu: any ComputeBackend) -> [Case] {
    var out: [Case] = []
    typealias Setup = AttentionSetup
    let setups = [
      .decodeGQA,
      Setup(
        label: "prompt causal GQA 8/2", heads: 8, kvHeads: 2, headDim: 64, capacity: 208, kvLength: 200,
        positions: Array(0..<200), softmax: .init(scale: 0.125, causal: true)),
      Setup(
        label: "prompt sliding window 16 after 30 cached", heads: 4, kvHeads: 2, headDim: 64, capacity: 100,
        kvLength: 100, positions: Array(30..<100),
        softmax: .init(scale: 0.125, causal: true, slidingWindow: 16)),
      Setup(
        label: "query with no visible key", heads: 2, kvHeads: 1, headDim: 32, capacity: 24, kvLength: 10,
        positions: [20, 9], softmax: .init(causal: true, slidingWindow: 4)),
    ]
    let caches: [(KVCacheType, KVCacheType)] = [(.f16, .f16), (.q8_0, .q8_0), (.f16, .q4_0)]
    for s in setups {
      // Sinks above every score, comparable to them, and far below.
      let sinks = (0..<s.heads).map { Float([6, -0.7, 1.5, -40][$0 % 4]) }
      for (kt, vt) in caches { out.append(cachedAttentionCase(s, kt, vt, gpu, cpu, sinks: sinks)) }
    }
    // YaRN: gpt-oss's rope (neox, base 150000, factor 32 over 4096 original positions, β 32 / 1), and
    // a normal-mode one with freq factors and a partial ext_factor.
    let gptOssRange = RoPEParameters.yarnCorrectionDims(
      dimensions: 64, originalContext: 4096, freqBase: 150000, betaFast: 32, betaSlow: 1)
    let yarns: [(Int, Int, Int, RoPEParameters, Bool)] = [
      (
        7, 4, 64,
        RoPEParameters(
          mode: .neox, dimensions: 64, freqBase: 150000, freqScale: 1.0 / 32, extFactor: 1,
          yarnLow: gptOssRange.low, yarnHigh: gptOssRange.high), false
      ),
      (
        3, 2, 80,
        RoPEParameters(
          mode: .normal, dimensions: 48, freqBase: 10000, freqScale: 0.25, attnFactor: 0.9, extFactor: 0.5,
          yarnLow: 3, yarnHigh: 11), true
      ),
    ]
    for (tokens, heads, hd, p, withFactors) in yarns {
      let x = wave(tokens * heads * hd, seed: hd + 1)
      let positions = (0..<tokens).map { Int32([0, 1, 4000, 17, 255, 8191, 3][$0 % 7]) }
      let factors = (0..<(p.dimensions / 2)).map { Float(1 + $0 % 5) * 0.75 }
      let name =
        "rope YaRN \(p.mode) [\(tokens), \(heads), \(hd)] dims \(p.dimensions) scale \(p.freqScale) ext \(p.extFactor)"
        + " corr \(p.yarnLow)…\(p.yarnHigh)\(withFactors ? " freqFactors" : "")"
      out.append(
        versus(name, elementwise, gpu, cpu) { b in
          let ff = withFactors ? try Tensor(factors, shape: [p.dimensions / 2], on: b) : nil
          return try Ops.rope(
            Tensor(x, shape: [tokens, heads, hd], on: b), positions: positions, parameters: p, freqFactors: ff
          ).toArray()
        })
    }
    for n in [7, 1000] {
      var g = wave(n, seed: n, amplitude: 6), u = wave(n, seed: n + 1, amplitude: 6)
      g[0] = 30; u[n - 1] = -50
      if n > 2 { g[1] = -30; u[2] = 50 }
      out.append(
        versus("swiglu_oai [\(n)] (alpha 1.702, limit 7)", elementwise, gpu, cpu) { b in
          try Ops.swigluOAI(gate: Tensor(g, shape: [n], on: b), up: Tensor(u, shape: [n], on: b)).toArray()
        })
    }
    let (tokens, used, n, experts) = (3, 2, 37, 5)
    let x = wave(tokens * used * n, seed: 5), bias = wave(experts * n, seed: 6)
    let ids: [Int32] = [4, 0, 2, 2, 1, 4]
    out.append(
      versus("add_id x[\(tokens), \(used), \(n)] + bias[\(experts), \(n)] ids \(ids)", .exact, gpu, cpu) {
        b in
        try Ops.addID(
          Tensor(x, shape: [tokens, used, n], on: b), bias: Tensor(bias, shape: [experts, n], on: b),
          ids: IndexTensor(ids, on: b)
        ).toArray()
      })
    out.append(
      Case(name: "add_id with an expert id out of range: indexOutOfRange") {
        do {
          _ = try Ops.addID(
            Tensor(x, shape: [tokens, used, n], on: gpu), bias: Tensor(bias, shape: [experts, n], on: gpu),
            ids: IndexTensor([0, 1, 2, Int32(experts), 0, 1], on: gpu))
          return "no error"
        } catch QuantaError.indexOutOfRange {
          return nil
        }
      })
    return out
  }
}
