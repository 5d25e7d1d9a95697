import CPUKernels
import Testing

@testable import GGML

/// Integer dots of the i-quants and ternary types against q8_K (kernels_scalar_iq.c,
/// kernels_avx2_iq.c, kernels_avx512_iq.c): against the reference codecs' dequantized values, against a
/// Swift model of ggml's x86 summation (bit for bit), every ISA against the scalar reference-order
/// kernel. TileTests holds their tile kernels to vec_dot.
@Suite struct IQuantDotTests {
  static let types: [GGMLType] = [
    .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m, .tq1_0, .tq2_0,
  ]
  static let isas = ISA.supported.filter { $0.description != "neon" }
  /// Row lengths: one super-block, odd and even counts, a model-sized row.
  static let lengths = [256, 768, 2816, 4096]

  /// Random block bytes (every grid index, sign and scale code occurs across blocks) with the fp16
  /// super-block scale replaced by a finite one in [2⁻¹⁰, 2⁻⁸).
  static func weights(_ type: GGMLType, count k: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    let size = type.typeSize
    var bytes = (0..<(k / 256 * size)).map { _ in UInt8(truncatingIfNeeded: rng.next() >> 11) }
    for b in 0..<(k / 256) {
      let h = UInt16(0x1400 + rng.next() % 0x800)  // fp16 exponent field 5 or 6
      let base = b * size
      switch type {
      case .iq1_m:
        // d is spread over the top nibbles of the four scale words (bytes 48..55).
        for j in 0..<4 {
          bytes[base + 49 + 2 * j] =
            (bytes[base + 49 + 2 * j] & 0x0f) | UInt8((h >> UInt16(4 * j)) & 0xf) << 4
        }
      default:
        let at = type == .tq1_0 ? 52 : type == .tq2_0 ? 64 : 0
        bytes[base + at] = UInt8(h & 0xff)
        bytes[base + at + 1] = UInt8(h >> 8)
      }
    }
    return bytes
  }

  static func activations(count k: Int, seed: UInt64) throws -> [UInt8] {
    try GGMLType.q8_K.quantize(sampleValues(count: k, seed: seed, blockSize: 32))
  }

  // MARK: ggml's x86 sums, modelled from ggml-cpu/arch/x86/quants.c (GCC build: mul + add fused)

  /// One super-block as integers: weight (grid value · sign; ternary: unsigned 0...2), the scale
  /// of each 16 values (2·ls + 1; ternary 1), iq1's delta sign of each 8 values, and d.
  struct Decoded {
    var q = [Int](repeating: 0, count: 256)
    var sc = [Int](repeating: 1, count: 16)
    var delta = [Int](repeating: 0, count: 32)
    var d: Float = 0
  }

  static func u16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
  static func signed(_ grid: UInt64, _ j: Int, _ signs: UInt8) -> Int {
    let v = Int(UInt8(truncatingIfNeeded: grid >> UInt64(8 * j)))
    return signs >> UInt8(j) & 1 == 1 ? -v : v
  }
  static func grid32x2(_ a: UInt32, _ b: UInt32) -> UInt64 { UInt64(a) | UInt64(b) << 32 }

  static func decode(_ type: GGMLType, _ b: [UInt8]) -> Decoded {
    var r = Decoded()
    let half = GGMLSumsTests.half
    func put(_ c: Int, _ l: Int, _ grid: UInt64, _ signs: UInt8) {
      for j in 0..<8 { r.q[32 * c + 8 * l + j] = signed(grid, j, signs) }
    }
    // iq1 grid bytes are int8 values −1, 0, 1.
    func putSigned(_ c: Int, _ l: Int, _ grid: UInt64) {
      for j in 0..<8 { r.q[32 * c + 8 * l + j] = Int(Int8(truncatingIfNeeded: grid >> UInt64(8 * j))) }
    }
    func trit(_ q: UInt8, _ n: Int) -> Int {
      let p: [UInt8] = [1, 3, 9, 27, 81, 243]
      return (Int(q &* p[n]) * 3) >> 8
    }
    switch type {
    case .iq2_xxs:
      r.d = half(b, 0)
      for c in 0..<8 {
        let aux1 = GGMLSumsTests.u32(b, 2 + 8 * c + 4)
        for l in 0..<4 {
          put(c, l, iq2xxs_grid[Int(b[2 + 8 * c + l])], ksigns_iq2xs[Int(aux1 >> (7 * UInt32(l))) & 127])
        }
        r.sc[2 * c] = 2 * Int(aux1 >> 28) + 1
        r.sc[2 * c + 1] = r.sc[2 * c]
      }
    case .iq2_xs, .iq2_s:
      r.d = half(b, 0)
      for c in 0..<8 {
        for l in 0..<4 {
          if type == .iq2_xs {
            let v = u16(b, 2 + 2 * (4 * c + l))
            put(c, l, iq2xs_grid[v & 511], ksigns_iq2xs[v >> 9])
          } else {
            let idx = Int(b[2 + 4 * c + l]) | (Int(b[66 + c]) << (8 - 2 * l) & 0x300)
            put(c, l, iq2s_grid[idx], b[2 + 32 + 4 * c + l])
          }
        }
        let s = b[type == .iq2_xs ? 66 + c : 74 + c]
        r.sc[2 * c] = 2 * Int(s & 15) + 1
        r.sc[2 * c + 1] = 2 * Int(s >> 4) + 1
      }
    case .iq3_xxs:
      r.d = half(b, 0)
      for c in 0..<8 {
        let aux = GGMLSumsTests.u32(b, 66 + 4 * c)
        for l in 0..<4 {
          let g = grid32x2(iq3xxs_grid[Int(b[2 + 8 * c + 2 * l])], iq3xxs_grid[Int(b[2 + 8 * c + 2 * l + 1])])
          put(c, l, g, ksigns_iq2xs[Int(aux >> (7 * UInt32(l))) & 127])
        }
        r.sc[2 * c] = 2 * Int(aux >> 28) + 1
        r.sc[2 * c + 1] = r.sc[2 * c]
      }
    case .iq3_s:
      r.d = half(b, 0)
      for c in 0..<8 {
        let h = Int(b[66 + c])
        func idx(_ k: Int) -> Int { Int(b[2 + 8 * c + k]) | (h << (8 - k) & 256) }
        for l in 0..<4 {
          put(c, l, grid32x2(iq3s_grid[idx(2 * l)], iq3s_grid[idx(2 * l + 1)]), b[74 + 4 * c + l])
        }
        r.sc[2 * c] = 2 * Int(b[106 + c / 2] >> UInt8(4 * (c % 2)) & 15) + 1
        r.sc[2 * c + 1] = r.sc[2 * c]
      }
    case .iq1_s:
      r.d = half(b, 0)
      for c in 0..<8 {
        let h = u16(b, 34 + 2 * c)
        for l in 0..<4 {
          putSigned(c, l, iq1s_grid[Int(b[2 + 4 * c + l]) | (h >> (3 * l) & 7) << 8])
          r.delta[4 * c + l] = h & 0x8000 != 0 ? -1 : 1
        }
        r.sc[2 * c] = 2 * (h >> 12 & 7) + 1
        r.sc[2 * c + 1] = r.sc[2 * c]
      }
    case .iq1_m:
      let sc = (0..<4).map { u16(b, 48 + 2 * $0) }
      r.d = fp16ToFp32(UInt16(sc[0] >> 12 | (sc[1] >> 8) & 0xf0 | (sc[2] >> 4) & 0xf00 | sc[3] & 0xf000))
      for c in 0..<8 {
        for l in 0..<4 {
          let h = Int(b[32 + 2 * c + l / 2]) >> (4 * (l % 2))
          putSigned(c, l, iq1s_grid[Int(b[4 * c + l]) | (h & 7) << 8])
          r.delta[4 * c + l] = h & 8 != 0 ? -1 : 1
        }
        r.sc[2 * c] = 2 * (sc[c / 2] >> (6 * (c % 2)) & 7) + 1
        r.sc[2 * c + 1] = 2 * (sc[c / 2] >> (6 * (c % 2) + 3) & 7) + 1
      }
    case .tq1_0:
      r.d = half(b, 52)
      for n in 0..<5 { for m in 0..<32 { r.q[32 * n + m] = trit(b[m], n) } }
      for n in 0..<5 { for m in 0..<16 { r.q[160 + 16 * n + m] = trit(b[32 + m], n) } }
      for n in 0..<4 { for j in 0..<4 { r.q[240 + 4 * n + j] = trit(b[48 + j], n) } }
    default:  // tq2_0
      r.d = half(b, 64)
      for j in [0, 32] {
        for l in 0..<4 { for m in 0..<32 { r.q[4 * j + 32 * l + m] = Int(b[j + m]) >> (2 * l) & 3 } }
      }
    }
    return r
  }

  /// ggml_vec_dot_<type>_q8_K (AVX2): int32 lane l sums values 32c + 4l ..< 32c + 4l + 4 of every
  /// chunk c; one FMA per lane per super-block with d_x·d_y; factor · hsum_float_8.
  static func model(_ type: GGMLType, _ x: [UInt8], _ y: [UInt8], count k: Int) -> Float {
    var acc = [Float](repeating: 0, count: 8)
    var accDelta = [Float](repeating: 0, count: 8)
    var s: Float = 0
    for i in 0..<(k / 256) {
      let w = decode(type, Array(x[(i * type.typeSize)..<((i + 1) * type.typeSize)]))
      let a = GGMLSumsTests.q8K(y, i)
      let d = w.d * a.d
      for l in 0..<8 {
        var lane = 0
        var laneDelta = 0
        for c in 0..<8 {
          for e in (32 * c + 4 * l)..<(32 * c + 4 * l + 4) {
            lane += w.sc[e / 16] * w.q[e] * a.q[e]
            laneDelta += w.sc[e / 16] * w.delta[e / 8] * a.q[e]
          }
        }
        if type == .tq1_0 || type == .tq2_0 { lane -= a.bsums[2 * l] + a.bsums[2 * l + 1] }
        acc[l] = acc[l].addingProduct(d, Float(lane))
        accDelta[l] = accDelta[l].addingProduct(d, Float(laneDelta))
      }
      if type == .iq1_s {
        var delta = 0
        for c in 0..<8 {
          let bsum: Int = a.bsums[2 * c] + a.bsums[2 * c + 1]
          delta += bsum * w.delta[4 * c] * w.sc[2 * c]
        }
        s = s.addingProduct(d, Float(delta))
      }
    }
    let h = GGMLSumsTests.hsum8(acc)
    switch type {
    case .iq2_xxs, .iq2_xs, .iq2_s: return 0.125 * h
    case .iq3_xxs: return 0.25 * h
    case .iq1_s: return h + 0.125 * s
    case .iq1_m: return h + 0.125 * GGMLSumsTests.hsum8(accDelta)
    default: return h
    }
  }

  // MARK: tests

  @Test("vec_dot equals the dot of the dequantized operands", arguments: ISA.supported, types)
  func matchesDequantizedDot(isa: ISA, type: GGMLType) throws {
    let dot = try #require(
      qk_table_vec_dot(try isa.table, Int32(type.rawValue)), "\(isa) has no \(type) kernel")
    #expect(qk_table_vec_dot_type(try isa.table, Int32(type.rawValue)) == Int32(GGMLType.q8_K.rawValue))
    for (n, k) in Self.lengths.enumerated() {
      let x = Self.weights(type, count: k, seed: UInt64(10 + n))
      let y = try Self.activations(count: k, seed: UInt64(20 + n))
      let (want, magnitude) = referenceDot(
        try type.dequantize(x, count: k), try GGMLType.q8_K.dequantize(y, count: k))
      let got = callVecDot(dot, n: k, x, y)
      // Integer sums are exact; only d_x·d_y, the per-super-block FMAs and the dequantized weights'
      // own rounding (2⁻²⁴ relative each) differ: well inside 1e-5·Σ|xᵢyᵢ|.
      #expect(
        abs(Double(got) - want) <= 1e-5 * magnitude && magnitude > 0,
        "\(isa) \(type) k=\(k): \(got) vs \(want) (Σ|xy| \(magnitude))")
    }
  }

  @Test("vec_dot equals ggml's x86 sums bit for bit", arguments: isas, types)
  func equalsGGMLSums(isa: ISA, type: GGMLType) throws {
    let dot = try #require(qk_table_vec_dot(try isa.table, Int32(type.rawValue)))
    for k in Self.lengths {
      let mismatches = try bitMismatches(seeds: 0..<4) { seed in
        let x = Self.weights(type, count: k, seed: UInt64(100 + seed))
        let y = try Self.activations(count: k, seed: UInt64(200 + seed))
        return (callVecDot(dot, n: k, x, y), Self.model(type, x, y, count: k))
      }
      #expect(mismatches.isEmpty, "\(isa) \(type) k=\(k): \(mismatches.joined(separator: "; "))")
    }
  }

  /// The model can tell summation orders apart: the lanes' FMAs differ from one rounding of the
  /// exact sum on this data, so a kernel summing in another order would fail the test above.
  @Test("the ggml model separates summation orders", arguments: types)
  func modelIsNotVacuous(type: GGMLType) throws {
    var differ = 0
    for seed in 0..<8 {
      let k = 4096
      let x = Self.weights(type, count: k, seed: UInt64(300 + seed))
      let y = try Self.activations(count: k, seed: UInt64(400 + seed))
      let exact = referenceDot(try type.dequantize(x, count: k), try GGMLType.q8_K.dequantize(y, count: k))
        .dot
      if Self.model(type, x, y, count: k) != Float(exact) { differ += 1 }
    }
    #expect(differ > 0, "\(type): the modelled sum always equals the rounded exact dot")
  }

  @Test("every ISA equals the scalar reference-order kernel bit for bit", arguments: types)
  func isasAgreeExactly(type: GGMLType) throws {
    let scalar = try #require(qk_table_vec_dot(try ISA(raw: 0).table, Int32(type.rawValue)))
    for isa in Self.isas {
      let dot = try #require(qk_table_vec_dot(try isa.table, Int32(type.rawValue)))
      for (n, k) in Self.lengths.enumerated() {
        let x = Self.weights(type, count: k, seed: UInt64(500 + n))
        let y = try Self.activations(count: k, seed: UInt64(600 + n))
        let got = callVecDot(dot, n: k, x, y)
        let want = callVecDot(scalar, n: k, x, y)
        #expect(got.bitPattern == want.bitPattern, "\(isa) \(type) k=\(k): \(got) vs scalar \(want)")
      }
    }
  }

  @Test("x86 tables run SIMD code for these types", arguments: isas)
  func ownKernels(isa: ISA) throws {
    let t = try isa.table
    for type in Self.types {
      let impl = qk_table_impl_isa(t, Int32(type.rawValue))
      let want = isa.value == QK_ISA_SCALAR ? QK_ISA_SCALAR : QK_ISA_AVX2
      #expect(
        impl == want || (impl.rawValue > QK_ISA_AVX2.rawValue && impl.rawValue <= isa.value.rawValue),
        "\(isa) \(type) runs \(impl)")
      // The dequantize op keeps its row dequantizer.
      #expect(qk_table_dequantize(t, Int32(type.rawValue)) != nil, "\(isa) \(type) lost its dequantizer")
    }
  }
}
