import GGML
import QuantaCore

// `quanta selftest`, KV cache types (`-ctk` / `-ctv`): the cache write and attention over caches of
// every KVCacheType on the device against the CPU backend. Writes compare the caches' decoded
// values (bit for bit where both sides round as the reference: f16, bf16, q4_0; q8_0 within the
// reduction bound, since the CPU stores ggml's x86 quantize_row_q8_0 and the device the reference,
// whose quants may differ by one at a rounding boundary). Attention reads the same bytes on both
// sides (reference-encoded on the host) for decode, a small batch and a prompt. The Hadamard
// rotation llama.cpp applies around quantized caches: the op, and a rotated attention step.
extension GPUSelftest {
  /// The cache type pairs the cases cover: each type for K and V, and mixed pairs.
  static let cacheTypePairs: [(KVCacheType, KVCacheType)] =
    [(.bf16, .bf16), (.q8_0, .q8_0), (.q4_0, .q4_0), (.f16, .q8_0), (.q8_0, .f16), (.q4_0, .bf16)]

  static func cacheTypeCases(_ gpu: any ComputeBackend, _ cpu: any ComputeBackend) -> [Case] {
    var out: [Case] = []
    for type in KVCacheType.allCases {
      let exact = type != .q8_0
      out.append(
        versus("writeKV \(type) [3, 2, 64] at [5, 0, 15] of 16", exact ? .exact : reduction, gpu, cpu) { b in
          let shape = [16, 2, 64]
          let kc = try QTensor.zeros(shape: shape, type: type.ggmlType, on: b)
          let vc = try QTensor.zeros(shape: shape, type: type.ggmlType, on: b)
          try Ops.writeKV(
            keys: Tensor(wave(384, seed: 1, amplitude: 3), shape: [3, 2, 64], on: b),
            values: Tensor(wave(384, seed: 2), shape: [3, 2, 64], on: b),
            positions: [5, 0, 15], keyCache: kc, valueCache: vc)
          return try kc.dequantize().toArray() + vc.dequantize().toArray()
        })
    }
    typealias Setup = AttentionSetup
    let setups = [
      .decodeGQA,
      Setup(
        label: "window 8 + soft-cap (gemma-like, MQA)", heads: 4, kvHeads: 1, headDim: 256, capacity: 40,
        kvLength: 37, positions: [34, 35, 36],
        softmax: .init(scale: 0.0625, softCap: 50, causal: true, slidingWindow: 8)),
      Setup(
        label: "prompt causal GQA 4/2", heads: 4, kvHeads: 2, headDim: 128, capacity: 72, kvLength: 70,
        positions: Array(0..<70), softmax: .init(scale: 0.088, causal: true)),
    ]
    for s in setups {
      for (kt, vt) in cacheTypePairs { out.append(cachedAttentionCase(s, kt, vt, gpu, cpu)) }
    }
    out += rotationCases(gpu, cpu)
    return out
  }

  /// The attention rotation around quantized caches (`AttentionRotation`, llama.cpp's): the
  /// Hadamard op alone at each block a head dimension gives (bit for bit: the same scale and adds
  /// in the same order on both sides), and a whole rotated attention step — q and k rotated, k
  /// and v written to q8_0/q4_0 caches, attention, the output rotated back — against the CPU.
  static func rotationCases(_ gpu: any ComputeBackend, _ cpu: any ComputeBackend) -> [Case] {
    var out: [Case] = []
    for (rows, width, block) in [(3, 256, 64), (5, 512, 128), (7, 256, 256), (2, 1024, 1024), (1, 64, 2)] {
      var x = wave(rows * width, seed: block, amplitude: 2)
      x[3] = 60  // an outlier, what the rotation spreads
      out.append(
        versus("hadamard block \(block) [\(rows), \(width)]", .exact, gpu, cpu) { b in
          try Ops.hadamard(Tensor(x, shape: [rows, width], on: b), block: block).toArray()
        })
    }
    for (headDim, kt, vt) in [
      (256, KVCacheType.q4_0, KVCacheType.q4_0), (128, .q8_0, .q8_0), (64, .q4_0, .f16),
    ] {
      let rotation = AttentionRotation(headDim: headDim, keyType: kt, valueType: vt)
      let (heads, kvHeads, tokens, capacity) = (4, 2, 5, 8)
      let positions: [Int32] = [0, 1, 2, 3, 4]
      let q = wave(tokens * heads * headDim, seed: 31, amplitude: 0.5)
      var k = wave(tokens * kvHeads * headDim, seed: 32)
      let v = wave(tokens * kvHeads * headDim, seed: 33)
      for i in stride(from: 5, to: k.count, by: headDim) { k[i] *= 20 }  // an outlier dimension per head
      let name = "rotated attention K \(kt) V \(vt) (\(rotation)) q[\(tokens), \(heads), \(headDim)]"
      out.append(
        versus(name, reduction, gpu, cpu) { b in
          func rotated(_ t: Tensor, _ block: Int?) throws -> Tensor {
            try block.map { try Ops.hadamard(t, block: $0) } ?? t
          }
          let shape = [capacity, kvHeads, headDim]
          let kc = try QTensor.zeros(shape: shape, type: kt.ggmlType, on: b)
          let vc = try QTensor.zeros(shape: shape, type: vt.ggmlType, on: b)
          try Ops.writeKV(
            keys: rotated(Tensor(k, shape: [tokens, kvHeads, headDim], on: b), rotation.keyBlock),
            values: rotated(Tensor(v, shape: [tokens, kvHeads, headDim], on: b), rotation.valueBlock),
            positions: positions, keyCache: kc, valueCache: vc)
          let o = try Ops.attention(
            query: rotated(Tensor(q, shape: [tokens, heads, headDim], on: b), rotation.keyBlock),
            positions: positions, keyCache: kc, valueCache: vc,
            parameters: AttentionParameters(kvLength: tokens, softmax: .init(scale: 0.1, causal: true)))
          return try rotated(o, rotation.valueBlock).toArray()
        })
    }
    return out
  }

  /// `values` encoded as `type` on the host (f16/bf16 rounded to nearest even, q8_0/q4_0 by the
  /// reference quantizers), copied to `backend`: the same bytes on every device.
  /// Attention of `s` (queries and caches from `wave`) over caches of types `kt` / `vt`, with a sink
  /// logit per head when `sinks` is given (gpt-oss), against the CPU.
  static func cachedAttentionCase(
    _ s: AttentionSetup, _ kt: KVCacheType, _ vt: KVCacheType, _ gpu: any ComputeBackend,
    _ cpu: any ComputeBackend, sinks: [Float]? = nil
  ) -> Case {
    let tokens = s.positions.count
    let q = wave(tokens * s.heads * s.headDim, seed: s.headDim, amplitude: 0.5)
    let cacheCount = s.capacity * s.kvHeads * s.headDim
    let k = wave(cacheCount, seed: 21), v = wave(cacheCount, seed: 22)
    let name =
      "attention\(sinks != nil ? " sinks" : "") K \(kt) V \(vt) \(s.label) q[\(tokens), \(s.heads), \(s.headDim)]"
      + " kv \(s.kvLength)/\(s.capacity)"
    return versus(name, reduction, gpu, cpu) { b in
      let shape = [s.capacity, s.kvHeads, s.headDim]
      return try Ops.attention(
        query: Tensor(q, shape: [tokens, s.heads, s.headDim], on: b), positions: s.positions,
        keyCache: try encodedCache(k, kt, shape: shape, on: b),
        valueCache: try encodedCache(v, vt, shape: shape, on: b),
        parameters: AttentionParameters(kvLength: s.kvLength, softmax: s.softmax),
        sinks: try sinks.map { try Tensor($0, shape: [s.heads], on: b) }
      ).toArray()
    }
  }

  static func encodedCache(
    _ values: [Float], _ type: KVCacheType, shape: [Int], on backend: any ComputeBackend
  )
    throws -> QTensor
  {
    let bytes: [UInt8]
    switch type {
    case .f16: bytes = values.map(fp32ToFp16).withUnsafeBytes { Array($0) }
    case .bf16: bytes = values.map(fp32ToBf16).withUnsafeBytes { Array($0) }
    case .q8_0, .q4_0: bytes = try type.ggmlType.quantize(values)
    }
    return try QTensor(bytes: bytes, type: type.ggmlType, shape: shape, on: backend)
  }
}
