import Foundation
import GGML
import QuantaCore
import Testing

@testable import CPUBackend

/// KV caches of every `KVCacheType` on the CPU: the cache write against the reference encodings,
/// and attention reading the caches in place against a Double reference over the values the
/// reference codecs decode from reference-encoded caches.
@Suite struct KVCacheTypeTests {
  var rng = OpsReference.Random(seed: 1616)
  static let (heads, kvHeads, headDim, capacity) = (8, 2, 64, 24)

  /// Every cache type for K and V, and mixed pairs.
  static let pairs: [(KVCacheType, KVCacheType)] =
    KVCacheType.allCases.map { ($0, $0) } + [(.f16, .q8_0), (.q8_0, .f16), (.q4_0, .bf16), (.bf16, .q4_0)]

  /// `values` (rows of `headDim`) encoded as `type` by the reference: ggml's f16/bf16 conversions
  /// and `quantize_row_*_ref`.
  static func referenceBytes(_ values: [Float], _ type: KVCacheType) throws -> [UInt8] {
    switch type {
    case .f16: return values.map(fp32ToFp16).withUnsafeBytes { Array($0) }
    case .bf16: return values.map(fp32ToBf16).withUnsafeBytes { Array($0) }
    case .q8_0, .q4_0: return try type.ggmlType.quantize(values)
    }
  }

  /// What the reference codecs decode from `bytes`.
  static func decoded(_ bytes: [UInt8], _ type: KVCacheType, count: Int) throws -> [Double] {
    switch type {
    case .f16:
      return bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }.map { Double(fp16ToFp32($0)) }
    case .bf16:
      return bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }.map { Double(bf16ToFp32($0)) }
    case .q8_0, .q4_0:
      var out = [Float](repeating: 0, count: count)
      let codec = try #require(type.ggmlType.dequantizer)
      bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBufferPointer {
          codec.dequantize(src.baseAddress!, into: $0.baseAddress!, count: count)
        }
      }
      return out.map(Double.init)
    }
  }

  @Test(arguments: 0..<pairs.count)
  mutating func attentionReadsEachCacheType(pair: Int) throws {
    let (kt, vt) = Self.pairs[pair]
    let cpu = try Fixture.cpu()
    let (kvHeads, headDim, capacity) = (Self.kvHeads, Self.headDim, Self.capacity)
    let rowValues = capacity * kvHeads * headDim
    // Every row filled (rows past the valid length must not be read).
    let kAll = rng.floats(rowValues)
    let vAll = rng.floats(rowValues)
    let (kBytes, vBytes) = (try Self.referenceBytes(kAll, kt), try Self.referenceBytes(vAll, vt))
    let shape = [capacity, kvHeads, headDim]
    let kCache = try QTensor(bytes: kBytes, type: kt.ggmlType, shape: shape, on: cpu)
    let vCache = try QTensor(bytes: vBytes, type: vt.ggmlType, shape: shape, on: cpu)
    let k = try Self.decoded(kBytes, kt, count: rowValues)
    let v = try Self.decoded(vBytes, vt, count: rowValues)
    let nKV = 19
    // A prompt batch over every position, a batch with a sliding window and soft-capping, a
    // decode step; and one larger than the f16 path's batch limit (64).
    for (tokens, window, cap): (Int, Int?, Float?) in [
      (19, nil, nil), (3, 5, 20), (1, nil, nil), (70, nil, nil),
    ] {
      let q = rng.floats(tokens * Self.heads * headDim)
      let positions = (0..<tokens).map { Int32(max(0, nKV - tokens) + $0 % nKV) }
      let scale = 1 / Float(headDim).squareRoot()
      let got = try Ops.attention(
        query: Tensor(q, shape: [tokens, Self.heads, headDim], on: cpu), positions: positions,
        keyCache: kCache,
        valueCache: vCache,
        parameters: AttentionParameters(
          kvLength: nKV, softmax: .init(scale: scale, softCap: cap, causal: true, slidingWindow: window))
      ).toArray()
      let want = OpsReference.attention(
        q: q, k: k, v: v, positions: positions, nHead: Self.heads, nKVHead: kvHeads, headDim: headDim,
        nKV: nKV,
        scale: Double(scale), softCap: Double(cap ?? 0), causal: true, window: window ?? 0)
      let e = OpsReference.nmse(got, want)
      // The cache values are exact (measured: NMSE ≤ 2e-6; TESTING.md tier 3 allows 5e-4); q is rounded to K's dot type
      // (q8_0 for quantized keys, as ggml), which is the only error besides f32/f16 accumulation.
      #expect(e <= 2e-5, "K \(kt) V \(vt) tokens \(tokens): NMSE \(e)")
      let finite = got.allSatisfy { $0.isFinite }
      #expect(finite, "K \(kt) V \(vt) tokens \(tokens): non-finite output")
    }
  }

  @Test(arguments: KVCacheType.allCases)
  mutating func writeKVEncodesAsTheReference(type: KVCacheType) throws {
    let cpu = try Fixture.cpu()
    let (kvHeads, headDim, capacity) = (Self.kvHeads, Self.headDim, Self.capacity)
    let rowValues = kvHeads * headDim
    let shape = [capacity, kvHeads, headDim]
    let kCache = try QTensor.zeros(shape: shape, type: type.ggmlType, on: cpu)
    let vCache = try QTensor.zeros(shape: shape, type: .f16, on: cpu)
    // Rows 3, 7, 8 written out of order; the rest stay zero.
    let positions: [Int32] = [7, 3, 8]
    let keys = rng.floats(positions.count * rowValues, -3, 3)
    let values = rng.floats(positions.count * rowValues)
    try Ops.writeKV(
      keys: Tensor(keys, shape: [positions.count, kvHeads, headDim], on: cpu),
      values: Tensor(values, shape: [positions.count, kvHeads, headDim], on: cpu), positions: positions,
      keyCache: kCache, valueCache: vCache)
    let rowBytes = try #require(type.byteCount(values: rowValues))
    let got = try kCache.bytes()
    for (t, p) in positions.enumerated() {
      let row = Array(got[(Int(p) * rowBytes)..<((Int(p) + 1) * rowBytes)])
      let want = try Self.referenceBytes(Array(keys[(t * rowValues)..<((t + 1) * rowValues)]), type)
      if type == .q8_0 {
        // ggml's CPU quantize_row_q8_0 (what the cache write uses) scales by 127/amax where the
        // reference multiplies by 1/(amax/127): the scale d is the same, a quant may differ by one
        // where x·id lands within an ulp of a rounding boundary.
        for b in 0..<(rowValues / 32) {
          let o = b * 34
          #expect(row[o..<(o + 2)] == want[o..<(o + 2)], "q8_0 block \(b) scale")
          for i in 2..<34 {
            #expect(abs(Int(Int8(bitPattern: row[o + i])) - Int(Int8(bitPattern: want[o + i]))) <= 1)
          }
        }
        let off = zip(row, want).filter { $0 != $1 }.count
        #expect(off <= rowValues / 64, "q8_0 row \(p): \(off) quants off by one")
      } else {
        #expect(row == want, "\(type) row \(p)")
      }
    }
    let untouched = (0..<capacity).filter { !positions.contains(Int32($0)) }
    for p in untouched {
      let zero = got[(p * rowBytes)..<((p + 1) * rowBytes)].allSatisfy { $0 == 0 }
      #expect(zero, "row \(p)")
    }
  }

  @Test func badCacheTypesAreTypedErrors() throws {
    let cpu = try Fixture.cpu()
    let shape = [4, 1, 32]
    let q41 = try QTensor.zeros(shape: shape, type: .q4_1, on: cpu)
    let f16 = try QTensor.zeros(shape: shape, type: .f16, on: cpu)
    let query = try Tensor([Float](repeating: 0.5, count: 32), shape: [1, 1, 32], on: cpu)
    #expect(throws: QuantaError.self) {
      _ = try Ops.attention(
        query: query, positions: [0], keyCache: q41, valueCache: f16,
        parameters: .init(kvLength: 1, softmax: .init(causal: true)))
    }
    #expect(throws: QuantaError.self) {
      try Ops.writeKV(keys: query, values: query, positions: [0], keyCache: f16, valueCache: q41)
    }
    // Different shapes for K and V.
    let other = try QTensor.zeros(shape: [4, 1, 64], type: .q8_0, on: cpu)
    #expect(throws: QuantaError.self) {
      try Ops.writeKV(keys: query, values: query, positions: [0], keyCache: f16, valueCache: other)
    }
    do {
      _ = try KVCacheType(parsing: "q5_1")
      Issue.record("q5_1 parsed as a KV cache type")
    } catch {
      #expect("\(error)".contains("f16, bf16, q8_0, q4_0"), "\(error)")
    }
    #expect(try KVCacheType(parsing: "Q8_0") == .q8_0)
    #expect(KVCacheType(GGMLType.q4_1) == nil)
  }
}
