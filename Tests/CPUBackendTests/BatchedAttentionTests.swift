import GGML
import QuantaCore
import Testing

@testable import CPUBackend

/// `attention(_:)`: several sequences' attentions as one job (batched decode), each over its own
/// cache at its own positions, against the plain reference and against the same calls one by one.
@Suite struct BatchedAttentionTests {
  var rng = OpsReference.Random(seed: 715)

  struct Sequence {
    var keys: [Float]
    var values: [Float]
    var kCache: QTensor
    var vCache: QTensor
  }

  /// A cache of `cacheType` holding `length` random positions.
  mutating func sequence(length: Int, kvHeads: Int, headDim: Int, capacity: Int, cacheType: GGMLType) throws
    -> Sequence
  {
    let cpu = try Fixture.cpu()
    let kCache = try QTensor.zeros(shape: [capacity, kvHeads, headDim], type: cacheType, on: cpu)
    let vCache = try QTensor.zeros(shape: [capacity, kvHeads, headDim], type: cacheType, on: cpu)
    let keys = rng.floats(length * kvHeads * headDim)
    let values = rng.floats(length * kvHeads * headDim)
    try cpu.writeKV(
      keys: Tensor(keys, shape: [length, kvHeads, headDim], on: cpu),
      values: Tensor(values, shape: [length, kvHeads, headDim], on: cpu),
      positions: (0..<length).map(Int32.init), keyCache: kCache, valueCache: vCache)
    return Sequence(keys: keys, values: values, kCache: kCache, vCache: vCache)
  }

  @Test mutating func sequencesTogetherEqualOneByOne() throws {
    let cpu = try Fixture.cpu()
    let (heads, kvHeads, headDim, capacity) = (4, 2, 64, 32)
    // Cache lengths and each call's query positions: decode rows, a short prompt chunk, a
    // sliding window, and a q8_0 cache (which runs as its own call).
    let cases: [(length: Int, positions: [Int32], window: Int?, type: GGMLType)] = [
      (7, [6], nil, .f16), (12, [9, 10, 11], nil, .f16), (3, [2], nil, .f16), (20, [19], 4, .f16),
      (9, [8], nil, .q8_0), (1, [0], nil, .f16),
    ]
    var sequences: [Sequence] = []
    var calls: [AttentionCall] = []
    var queries: [[Float]] = []
    for c in cases {
      let s = try sequence(
        length: c.length, kvHeads: kvHeads, headDim: headDim, capacity: capacity, cacheType: c.type)
      sequences.append(s)
      let q = rng.floats(c.positions.count * heads * headDim)
      queries.append(q)
      let params = AttentionParameters(
        kvLength: Int(c.positions.max()!) + 1,
        softmax: .init(
          scale: 1 / Float(headDim).squareRoot(), softCap: 30, causal: true, slidingWindow: c.window))
      calls.append(
        AttentionCall(
          query: try Tensor(q, shape: [c.positions.count, heads, headDim], on: cpu), positions: c.positions,
          keyCache: s.kCache, valueCache: s.vCache, parameters: params,
          out: try Tensor.zeros(shape: [c.positions.count, heads, headDim], on: cpu)))
    }
    try cpu.attention(calls)
    for (i, (c, call)) in zip(cases, calls).enumerated() {
      let got = try call.out.toArray()
      let alone = try Tensor.zeros(shape: call.out.shape, on: cpu)
      try cpu.attention(
        query: call.query, positions: call.positions, keyCache: call.keyCache, valueCache: call.valueCache,
        parameters: call.parameters, into: alone)
      #expect(got == (try alone.toArray()), "call \(i): batched and alone differ")
      guard c.type == .f16 else { continue }
      let want = OpsReference.attention(
        q: queries[i], k: sequences[i].keys.map(fp32ToFp16), v: sequences[i].values.map(fp32ToFp16),
        positions: c.positions, nHead: heads, nKVHead: kvHeads, headDim: headDim,
        nKV: call.parameters.kvLength,
        scale: 1 / Double(headDim).squareRoot(), softCap: 30, causal: true, window: c.window ?? 0)
      let e = OpsReference.nmse(got, want)
      #expect(e <= 5e-4, "call \(i): NMSE \(e)")
    }
  }
}
