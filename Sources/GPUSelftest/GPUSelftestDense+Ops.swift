import GGML
import QuantaCore

// `quanta selftest`, dense part 2: the f32 transformer ops against the CPU backend.
extension GPUSelftest {
  // MARK: Norms, rope, softmax, KV writes

  static func transformerCases(_ gpu: any ComputeBackend, _ cpu: any ComputeBackend) -> [Case] {
    var out: [Case] = []
    for shape in [[1, 1], [3, 7], [5, 4099]] {
      let x = wave(shape[0] * shape[1], seed: shape[1])
      let w = wave(shape[1], seed: 11)
      for withWeight in [false, true] {
        out.append(
          versus("rmsNorm \(shape)\(withWeight ? " · weight" : "")", elementwise, gpu, cpu) { b in
            let weight = withWeight ? try Tensor(w, shape: [shape[1]], on: b) : nil
            return try Ops.rmsNorm(Tensor(x, shape: shape, on: b), weight: weight, eps: 1e-6).toArray()
          })
      }
    }
    for shape in [[3, 7], [2, 1000]] {
      // A large mean: the two-pass variance must not cancel.
      let x = wave(shape[0] * shape[1], seed: 4).map { $0 + 100 }
      let w = wave(shape[1], seed: 12), bias = wave(shape[1], seed: 13)
      for affine in [false, true] {
        out.append(
          versus("layerNorm \(shape)\(affine ? " · weight + bias" : "")", elementwise, gpu, cpu) { b in
            let wt = affine ? try Tensor(w, shape: [shape[1]], on: b) : nil
            let bt = affine ? try Tensor(bias, shape: [shape[1]], on: b) : nil
            return try Ops.layerNorm(Tensor(x, shape: shape, on: b), weight: wt, bias: bt, eps: 1e-5)
              .toArray()
          })
      }
    }
    // (mode, tokens, heads, headDim, rotated dimensions, θ base, freq scale, freq factors)
    let ropes: [(RoPEParameters.Mode, Int, Int, Int, Int, Float, Float, Bool)] = [
      (.normal, 3, 4, 64, 64, 10000, 1, false),
      (.neox, 7, 2, 80, 48, 1e6, 1, false),
      (.normal, 2, 3, 128, 96, 500000, 0.5, true),
      (.neox, 5, 1, 256, 256, 10000, 0.25, true),
    ]
    for (mode, tokens, heads, hd, dims, base, fscale, withFactors) in ropes {
      let x = wave(tokens * heads * hd, seed: hd)
      let positions = (0..<tokens).map { Int32([0, 1, 4000, 17, 255, 8191, 3][$0 % 7]) }
      let factors = (0..<(dims / 2)).map { Float(1 + $0 % 5) * 0.75 }
      let p = RoPEParameters(mode: mode, dimensions: dims, freqBase: base, freqScale: fscale)
      let name =
        "rope \(mode) [\(tokens), \(heads), \(hd)] dims \(dims) base \(base)\(withFactors ? " freqFactors" : "")"
      out.append(
        versus(name, elementwise, gpu, cpu) { b in
          let ff = withFactors ? try Tensor(factors, shape: [dims / 2], on: b) : nil
          return try Ops.rope(
            Tensor(x, shape: [tokens, heads, hd], on: b), positions: positions, parameters: p, freqFactors: ff
          )
          .toArray()
        })
    }
    let positions: [Int32] = [0, 5, 17, 36]
    let softmaxes: [(String, SoftmaxParameters)] = [
      ("plain", .init()),
      ("scale 0.125", .init(scale: 0.125)),
      ("soft-cap 5", .init(scale: 2, softCap: 5)),
      ("causal", .init(scale: 0.5, causal: true)),
      ("causal window 5", .init(causal: true, slidingWindow: 5)),
    ]
    for keys in [1, 37, 300] {
      let x = wave(4 * 3 * keys, seed: keys, amplitude: 4)
      for (label, p) in softmaxes {
        out.append(
          versus("softmax \(label) [4, 3, \(keys)]", elementwise, gpu, cpu) { b in
            try Ops.softmax(Tensor(x, shape: [4, 3, keys], on: b), positions: positions, parameters: p)
              .toArray()
          })
      }
    }
    out.append(
      versus("writeKV [3, 2, 40] at [5, 0, 15] of 16", .exact, gpu, cpu) { b in
        let kc = try Tensor.zeros(shape: [16, 2, 40], dtype: .f16, on: b)
        let vc = try Tensor.zeros(shape: [16, 2, 40], dtype: .f16, on: b)
        // Values around and beyond f16's range and subnormals: rounding must match bit for bit.
        var k = wave(240, seed: 1, amplitude: 3)
        k[0] = 70000; k[1] = -1e-6; k[2] = 6.1e-5; k[3] = 65519
        try Ops.writeKV(
          keys: Tensor(k, shape: [3, 2, 40], on: b),
          values: Tensor(wave(240, seed: 2), shape: [3, 2, 40], on: b),
          positions: [5, 0, 15], keyCache: kc, valueCache: vc)
        return try kc.toArray() + vc.toArray()
      })
    return out
  }

  // MARK: Attention

  /// One attention case: heads, cache size, the queries' positions and the softmax parameters.
  struct AttentionSetup {
    var label: String
    var heads, kvHeads, headDim, capacity, kvLength: Int
    var positions: [Int32]
    var softmax: SoftmaxParameters
    /// One decode query over a 300-row cache, 8 query heads on 2 KV heads: every attention case list
    /// starts with it.
    static let decodeGQA = AttentionSetup(
      label: "decode GQA 8/2", heads: 8, kvHeads: 2, headDim: 64, capacity: 320, kvLength: 300,
      positions: [299], softmax: .init(scale: 0.125, causal: true))
  }

  static func attentionCases(_ gpu: any ComputeBackend, _ cpu: any ComputeBackend) -> [Case] {
    typealias Setup = AttentionSetup
    let setups = [
      .decodeGQA,
      Setup(
        label: "prompt causal", heads: 4, kvHeads: 4, headDim: 80, capacity: 8, kvLength: 7,
        positions: Array(0..<7), softmax: .init(scale: 0.11, causal: true)),
      Setup(
        label: "sliding window 8 + soft-cap (gemma-like, MQA)", heads: 4, kvHeads: 1, headDim: 256,
        capacity: 40, kvLength: 37, positions: [34, 35, 36],
        softmax: .init(scale: 0.0625, softCap: 50, causal: true, slidingWindow: 8)),
      Setup(
        label: "query with no visible key", heads: 2, kvHeads: 1, headDim: 32, capacity: 24, kvLength: 10,
        positions: [20, 9], softmax: .init(causal: true, slidingWindow: 4)),
      Setup(
        label: "unmasked, tile + 2 keys", heads: 6, kvHeads: 3, headDim: 128, capacity: 130, kvLength: 130,
        positions: [3, 100, 129, 0, 64], softmax: .init(scale: 0.088)),
      // Prompts (≥ KernelBuild.attentionTileMinTokens tokens): the tile kernels, each variant, token
      // counts that are no multiple of a tile, rows of a tile whose windows leave gaps.
      Setup(
        label: "prompt causal GQA 8/2", heads: 8, kvHeads: 2, headDim: 128, capacity: 208, kvLength: 200,
        positions: Array(0..<200), softmax: .init(scale: 0.088, causal: true)),
      Setup(
        label: "prompt GQA 4/2 after 30 cached", heads: 4, kvHeads: 2, headDim: 64, capacity: 100,
        kvLength: 100, positions: Array(30..<100), softmax: .init(scale: 0.125, causal: true)),
      Setup(
        label: "prompt sliding window 32 + soft-cap (gemma-like, MQA)", heads: 4, kvHeads: 1, headDim: 256,
        capacity: 120, kvLength: 110, positions: Array(45..<110),
        softmax: .init(scale: 0.0625, softCap: 50, causal: true, slidingWindow: 32)),
      Setup(
        label: "prompt unsorted positions, window 2 (gaps)", heads: 2, kvHeads: 1, headDim: 80, capacity: 100,
        kvLength: 100, positions: (0..<37).map { Int32($0 * 37 % 97) },
        softmax: .init(scale: 0.11, causal: true, slidingWindow: 2)),
      Setup(
        label: "prompt odd head dim, unmasked", heads: 3, kvHeads: 3, headDim: 45, capacity: 40, kvLength: 40,
        positions: Array(0..<33), softmax: .init(scale: 0.15)),
      Setup(
        label: "prompt head dim 300 (no tile variant: attention_f16)", heads: 2, kvHeads: 1, headDim: 300,
        capacity: 40, kvLength: 40, positions: Array(0..<40), softmax: .init(scale: 0.05, causal: true)),
    ]
    return setups.map { s in
      let tokens = s.positions.count
      let q = wave(tokens * s.heads * s.headDim, seed: s.headDim, amplitude: 0.5)
      let cacheCount = s.capacity * s.kvHeads * s.headDim
      let k = wave(cacheCount, seed: 21), v = wave(cacheCount, seed: 22)
      let name =
        "attention \(s.label) q[\(tokens), \(s.heads), \(s.headDim)] kv \(s.kvLength)/\(s.capacity)×\(s.kvHeads)"
      return versus(name, reduction, gpu, cpu) { b in
        let cacheShape = [s.capacity, s.kvHeads, s.headDim]
        return try Ops.attention(
          query: Tensor(q, shape: [tokens, s.heads, s.headDim], on: b), positions: s.positions,
          keyCache: Tensor(k, shape: cacheShape, dtype: .f16, on: b),
          valueCache: Tensor(v, shape: cacheShape, dtype: .f16, on: b),
          parameters: AttentionParameters(kvLength: s.kvLength, softmax: s.softmax)
        ).toArray()
      }
    }
  }

  // MARK: Element-wise

  static func elementwiseCases(_ gpu: any ComputeBackend, _ cpu: any ComputeBackend) -> [Case] {
    var out: [Case] = []
    for shape in [[1], [7], [3, 37], [1000]] {
      let n = shape.reduce(1, *)
      let x = wave(n, seed: n, amplitude: 3), y = wave(n, seed: n + 1)
      let unary: [(String, (Tensor) throws -> Tensor)] = [
        ("silu", { try Ops.silu($0) }), ("gelu", { try Ops.gelu($0) }),
        ("scale 0.37", { try Ops.scale($0, by: 0.37) }), ("softcap 2.5", { try Ops.softcap($0, cap: 2.5) }),
      ]
      for (label, op) in unary {
        out.append(
          versus("\(label) \(shape)", elementwise, gpu, cpu) { b in
            try op(Tensor(x, shape: shape, on: b)).toArray()
          })
      }
      let binary: [(String, (Tensor, Tensor) throws -> Tensor)] = [
        ("swiglu", { try Ops.swiglu(gate: $0, up: $1) }), ("geglu", { try Ops.geglu(gate: $0, up: $1) }),
        ("add", { try Ops.add($0, $1) }), ("mul", { try Ops.mul($0, $1) }),
      ]
      for (label, op) in binary {
        out.append(
          versus("\(label) \(shape)", elementwise, gpu, cpu) { b in
            try op(Tensor(x, shape: shape, on: b), Tensor(y, shape: shape, on: b)).toArray()
          })
      }
    }
    // Row broadcast: b a suffix of a's shape.
    let a = wave(5 * 4 * 37, seed: 8)
    for bShape in [[4, 37], [37]] {
      let bv = wave(bShape.reduce(1, *), seed: 9)
      for (label, op) in [("add", Ops.add), ("mul", Ops.mul)] as [(String, (Tensor, Tensor) throws -> Tensor)]
      {
        out.append(
          versus("\(label) [5, 4, 37] with \(bShape) broadcast", elementwise, gpu, cpu) { b in
            try op(Tensor(a, shape: [5, 4, 37], on: b), Tensor(bv, shape: bShape, on: b)).toArray()
          })
      }
    }
    return out
  }
}
