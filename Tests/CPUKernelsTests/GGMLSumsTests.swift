import CPUKernels
import GGML
import Testing

/// The kernels reproduce ggml's x86 CPU backend bit for bit (cpu_kernels.h), so a model gives
/// llama.cpp's logits. This file models ggml's summation in plain Swift, from ggml-cpu's
/// arch/x86/quants.c and arch/x86/repack.cpp, independently of the kernels: every x86 ISA and the
/// scalar table must equal it exactly. (NEON keeps its own summation order and is not held to it.)
@Suite struct GGMLSumsTests {
  static let isas = ISA.supported.filter { $0.description != "neon" }
  static let laneTypes: [GGMLType] = [.q4_0, .q5_0, .q8_0, .iq4_nl, .q4_1, .q5_1, .q6_K]

  // MARK: ggml's x86 summation, modelled

  /// ggml's hsum_float_8.
  static func hsum8(_ a: [Float]) -> Float {
    let s0 = a[0] + a[4]
    let s1 = a[1] + a[5]
    let s2 = a[2] + a[6]
    let s3 = a[3] + a[7]
    return (s0 + s2) + (s1 + s3)
  }

  static func half(_ b: [UInt8], _ at: Int) -> Float { fp16ToFp32(UInt16(b[at]) | UInt16(b[at + 1]) << 8) }
  static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
  }
  static func f32(_ b: [UInt8], _ at: Int) -> Float { Float(bitPattern: u32(b, at)) }
  static func i16(_ b: [UInt8], _ at: Int) -> Int {
    Int(Int16(bitPattern: UInt16(b[at]) | UInt16(b[at + 1]) << 8))
  }

  static let iq4nl: [Int] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

  /// One 32-value weight block: scale, min (q4_1/q5_1) and integer values.
  static func weightBlock(_ type: GGMLType, _ b: [UInt8]) -> (d: Float, m: Float, q: [Int]) {
    var q = [Int](repeating: 0, count: 32)
    switch type {
    case .q4_0, .iq4_nl, .q4_1:
      let o = type == .q4_1 ? 4 : 2
      for j in 0..<16 {
        let lo = Int(b[o + j] & 15)
        let hi = Int(b[o + j] >> 4)
        q[j] = type == .q4_0 ? lo - 8 : type == .iq4_nl ? iq4nl[lo] : lo
        q[j + 16] = type == .q4_0 ? hi - 8 : type == .iq4_nl ? iq4nl[hi] : hi
      }
      return (half(b, 0), type == .q4_1 ? half(b, 2) : 0, q)
    case .q5_0, .q5_1:
      let o = type == .q5_1 ? 4 : 2
      let qh = u32(b, o)
      let off = type == .q5_0 ? 16 : 0
      for j in 0..<16 {
        q[j] = (Int(b[o + 4 + j] & 15) | Int((qh >> UInt32(j)) & 1) << 4) - off
        q[j + 16] = (Int(b[o + 4 + j] >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4) - off
      }
      return (half(b, 0), type == .q5_1 ? half(b, 2) : 0, q)
    default:  // q8_0
      for j in 0..<32 { q[j] = Int(Int8(bitPattern: b[2 + j])) }
      return (half(b, 0), 0, q)
    }
  }

  /// ggml_vec_dot_{q4_0,q5_0,q8_0,iq4_nl}_q8_0 and {q4_1,q5_1}_q8_1 (AVX2): 8 lanes of 4 products,
  /// one FMA per block with d_x·d_y; q8_1 types add Σ m_x·s_y after the lanes.
  static func legacyDot(_ type: GGMLType, _ x: [UInt8], _ y: [UInt8], blocks: Int) -> Float {
    let xs = type.typeSize
    let ys = dotType(type).typeSize
    let yq = dotType(type) == .q8_1 ? 4 : 2
    var acc = [Float](repeating: 0, count: 8)
    var summs: Float = 0
    for i in 0..<blocks {
      let w = weightBlock(type, Array(x[(i * xs)..<((i + 1) * xs)]))
      let yb = Array(y[(i * ys)..<((i + 1) * ys)])
      let d = w.d * half(yb, 0)
      for l in 0..<8 {
        var s = 0
        for j in (4 * l)..<(4 * l + 4) { s += w.q[j] * Int(Int8(bitPattern: yb[yq + j])) }
        acc[l] = acc[l].addingProduct(d, Float(s))
      }
      if yq == 4 { summs += w.m * half(yb, 2) }
    }
    return hsum8(acc) + summs
  }

  /// q8_K block fields: d, 256 values, 16 bsums.
  static func q8K(_ y: [UInt8], _ i: Int) -> (d: Float, q: [Int], bsums: [Int]) {
    let o = i * GGMLType.q8_K.typeSize
    return (
      f32(y, o), (0..<256).map { Int(Int8(bitPattern: y[o + 4 + $0])) },
      (0..<16).map { i16(y, o + 260 + 2 * $0) }
    )
  }

  /// ggml_vec_dot_q6_K_q8_K (AVX2): lane l = Σ over the 8 chunks of 32 of scale·u·y for values
  /// 4l..4l+3 (u unsigned), minus 32·Σ scale·bsum of groups 2l, 2l+1; one FMA per super-block.
  static func q6KDot(_ x: [UInt8], _ y: [UInt8], blocks: Int) -> Float {
    var acc = [Float](repeating: 0, count: 8)
    for i in 0..<blocks {
      let b = Array(x[(i * 210)..<((i + 1) * 210)])
      var u = [Int](repeating: 0, count: 256)
      for k in 0..<2 {
        for l in 0..<32 {
          let h = Int(b[128 + 32 * k + l])
          let ql0 = Int(b[64 * k + l])
          let ql1 = Int(b[64 * k + l + 32])
          u[128 * k + l] = (ql0 & 15) | (h & 3) << 4
          u[128 * k + l + 32] = (ql1 & 15) | ((h >> 2) & 3) << 4
          u[128 * k + l + 64] = (ql0 >> 4) | ((h >> 4) & 3) << 4
          u[128 * k + l + 96] = (ql1 >> 4) | ((h >> 6) & 3) << 4
        }
      }
      let sc = (0..<16).map { Int(Int8(bitPattern: b[192 + $0])) }
      let a = q8K(y, i)
      let d = a.d * half(b, 208)
      for l in 0..<8 {
        var s = 0
        for c in 0..<8 {
          for e in (32 * c + 4 * l)..<(32 * c + 4 * l + 4) { s += sc[e / 16] * u[e] * a.q[e] }
        }
        s -= 32 * (sc[2 * l] * a.bsums[2 * l] + sc[2 * l + 1] * a.bsums[2 * l + 1])
        acc[l] = acc[l].addingProduct(d, Float(s))
      }
    }
    return hsum8(acc)
  }

  /// ggml's repacked q4_K (q4_K_8x8_q8_K): per step (a super-block in its gemv, 64 values in its
  /// gemm) acc += (int Σ scale·q·y)·d·d_y and acc_min += (int Σ min·bsum)·dmin·d_y; acc − acc_min.
  static func q4KDot(_ x: [UInt8], _ y: [UInt8], blocks: Int, gemm: Bool) -> Float {
    var acc: Float = 0
    var accMin: Float = 0
    for i in 0..<blocks {
      let b = Array(x[(i * 144)..<((i + 1) * 144)])
      let s = Array(b[4..<16])
      var sc = [Int](repeating: 0, count: 8)
      var mn = [Int](repeating: 0, count: 8)
      for j in 0..<8 {  // get_scale_min_k4
        if j < 4 {
          sc[j] = Int(s[j] & 63)
          mn[j] = Int(s[j + 4] & 63)
        } else {
          sc[j] = Int(s[j + 4] & 15) | Int(s[j - 4] >> 6) << 4
          mn[j] = Int(s[j + 4] >> 4) | Int(s[j] >> 6) << 4
        }
      }
      let a = q8K(y, i)
      var sub = [Int](repeating: 0, count: 8)
      for j in 0..<4 {
        for l in 0..<32 {
          sub[2 * j] += Int(b[16 + 32 * j + l] & 15) * a.q[64 * j + l]
          sub[2 * j + 1] += Int(b[16 + 32 * j + l] >> 4) * a.q[64 * j + 32 + l]
        }
      }
      let d = half(b, 0) * a.d
      let dmin = half(b, 2) * a.d
      let steps = gemm ? [[0, 1], [2, 3], [4, 5], [6, 7]] : [Array(0..<8)]
      for step in steps {
        let isum = step.reduce(0) { $0 + sc[$1] * sub[$1] }
        let imin = step.reduce(0) { $0 + mn[$1] * (a.bsums[2 * $1] + a.bsums[2 * $1 + 1]) }
        acc = acc.addingProduct(Float(isum), d)
        accMin = accMin.addingProduct(Float(imin), dmin)
      }
    }
    return acc - accMin
  }

  static func model(_ type: GGMLType, _ x: [UInt8], _ y: [UInt8], count k: Int) -> Float {
    switch type {
    case .q6_K: return q6KDot(x, y, blocks: k / 256)
    case .q4_K: return q4KDot(x, y, blocks: k / 256, gemm: false)
    default: return legacyDot(type, x, y, blocks: k / 32)
    }
  }

  // MARK: the kernels against the model

  @Test("vec_dot and tile equal ggml's x86 sums bit for bit", arguments: isas, laneTypes + [.q4_K])
  func vecDotEqualsGGML(isa: ISA, type: GGMLType) throws {
    let table = try isa.table
    let dot = try #require(qk_table_vec_dot(table, Int32(type.rawValue)))
    let act = dotType(type)
    // Odd and even block counts (the VNNI kernels step two blocks at a time).
    for blocks in [1, 3, 8, 21] {
      let k = blocks * type.blockSize
      let mismatches = try bitMismatches(seeds: 0..<6) { seed in
        let x = try type.quantize(sampleValues(count: k, seed: UInt64(300 + seed)))
        let y = try act.quantize(sampleValues(count: k, seed: UInt64(400 + seed), blockSize: act.blockSize))
        return (callVecDot(dot, n: k, x, y), Self.model(type, x, y, count: k))
      }
      #expect(mismatches.isEmpty, "\(isa) \(type) k=\(k): \(mismatches.joined(separator: "; "))")
    }
  }

  /// The tile kernels' mat-vec (one activation row: decode), which runs two rows at once from parts
  /// of the strip at least a page (QK_MV_STREAM_GAP) apart and some types through a kernel of their
  /// own (q4_K: four super-blocks at a time), against the model.
  @Test("mat-vec tile equals ggml's x86 sums bit for bit", arguments: isas, laneTypes + [.q4_K])
  func matVecTileEqualsGGML(isa: ISA, type: GGMLType) throws {
    let table = try isa.table
    let tile = try #require(qk_table_vec_dot_tile(table, Int32(type.rawValue)))
    let act = dotType(type)
    // Block counts below, at and past the 4-block groups, with and without a tail; q4_K also at and
    // past its mat-vec's 64-block limit (Q4K_MV2_MAX_BLOCKS: longer rows go through the tile kernel).
    for blocks in [1, 3, 4, 5, 8, 9, 21] + (type == .q4_K ? [64, 65] : []) {
      let k = blocks * type.blockSize
      let rowBytes = try #require(type.byteCount(forElements: k))
      // 7 rows: parts closer than a page (one row at a time); and enough rows for two parts a page
      // apart plus a ragged last row or three.
      for nr in [7, 2 * ((4096 + rowBytes - 1) / rowBytes) + 3] {
        var w: [UInt8] = []
        for r in 0..<nr { w += try type.quantize(sampleValues(count: k, seed: UInt64(700 + r % 50))) }
        let y = try act.quantize(sampleValues(count: k, seed: UInt64(800 + blocks), blockSize: act.blockSize))
        var out = [Float](repeating: .nan, count: nr)
        w.withUnsafeBytes { wb in
          y.withUnsafeBytes { yb in
            out.withUnsafeMutableBufferPointer { s in
              tile(
                Int32(k), Int32(nr), 1, wb.baseAddress, rowBytes, yb.baseAddress, y.count, s.baseAddress, nr)
            }
          }
        }
        var mismatches: [String] = []
        for r in 0..<nr {
          let want = Self.model(type, Array(w[(r * rowBytes)..<((r + 1) * rowBytes)]), y, count: k)
          if out[r].bitPattern != want.bitPattern { mismatches.append("row \(r): \(out[r]) vs \(want)") }
        }
        #expect(mismatches.isEmpty, "\(isa) \(type) k=\(k) rows=\(nr): \(mismatches.joined(separator: "; "))")
      }
    }
  }

  /// q4_K's kernel for activation rows in full groups of four is ggml's repacked gemm.
  @Test("q4_K groups-of-4 tile equals ggml's gemm sums", arguments: isas)
  func q4KGroupTile(isa: ISA) throws {
    let table = try isa.table
    let tile = try #require(qk_table_vec_dot_tile_g4(table, Int32(GGMLType.q4_K.rawValue)))
    for k in [256, 768] {
      let (nr, nc) = (5, 4)
      let rowBytes = try #require(GGMLType.q4_K.byteCount(forElements: k))
      let colBytes = try #require(GGMLType.q8_K.byteCount(forElements: k))
      var w: [UInt8] = []
      for r in 0..<nr { w += try GGMLType.q4_K.quantize(sampleValues(count: k, seed: UInt64(500 + r))) }
      var a: [UInt8] = []
      for c in 0..<nc { a += try GGMLType.q8_K.quantize(sampleValues(count: k, seed: UInt64(600 + c))) }
      var out = [Float](repeating: .nan, count: nr * nc)
      w.withUnsafeBytes { wb in
        a.withUnsafeBytes { ab in
          out.withUnsafeMutableBufferPointer { s in
            tile(
              Int32(k), Int32(nr), Int32(nc), wb.baseAddress, rowBytes, ab.baseAddress, colBytes,
              s.baseAddress, nr)
          }
        }
      }
      var mismatches = 0
      for c in 0..<nc {
        for r in 0..<nr {
          let want = Self.q4KDot(
            Array(w[(r * rowBytes)..<((r + 1) * rowBytes)]), Array(a[(c * colBytes)..<((c + 1) * colBytes)]),
            blocks: k / 256, gemm: true)
          if out[c * nr + r].bitPattern != want.bitPattern { mismatches += 1 }
        }
      }
      #expect(mismatches == 0, "\(isa) q4_K k=\(k): \(mismatches) of \(nr * nc) differ from ggml's gemm sums")
    }
  }

  /// The model is not vacuous: the gemm and gemv summations of q4_K differ on real data, and the
  /// lane order of hsum_float_8 matters (else these tests could not tell kernels apart).
  @Test func summationOrdersAreDistinguishable() throws {
    var differ = 0
    for seed in 0..<16 {
      let k = 8 * 256
      let x = try GGMLType.q4_K.quantize(sampleValues(count: k, seed: UInt64(700 + seed)))
      let y = try GGMLType.q8_K.quantize(sampleValues(count: k, seed: UInt64(800 + seed)))
      if Self.q4KDot(x, y, blocks: 8, gemm: true).bitPattern
        != Self.q4KDot(x, y, blocks: 8, gemm: false).bitPattern
      {
        differ += 1
      }
    }
    #expect(differ > 0, "gemm and gemv sums never differ: the test data cannot separate them")
    let lanes: [Float] = [1e8, 1, -1e8, 1, 3, 0.5, 7, 0.25]
    #expect(Self.hsum8(lanes) != lanes.reduce(0, +))
  }
}
