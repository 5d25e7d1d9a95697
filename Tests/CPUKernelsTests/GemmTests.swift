import CPUKernels
import GGML
import Testing

/// The prompt mat-mat kernels (`gemm`): against a Double dot of the reference-dequantized weights
/// and activations, for full and ragged 16-row strips and every column-group width, without writing
/// outside their outputs. Not bit-compared with vec_dot: they sum in their own order (cpu_kernels.h).
@Suite struct GemmTests {
  /// The types each ISA's table must have a gemm kernel for (a table that lost one fails here
  /// instead of silently testing fewer types).
  static func expectedTypes(_ isa: ISA) -> [GGMLType] {
    isa.value == QK_ISA_AVX512_VNNI ? [.q4_0, .q5_0, .q8_0, .iq4_nl, .q4_K, .q5_K, .q6_K] : []
  }

  static let shapes: [(nr: Int, nc: Int)] = [
    (1, 1), (16, 1), (5, 2), (16, 3), (17, 4), (16, 7), (16, 8), (3, 9), (37, 19),
  ]

  @Test("gemm entries per ISA", arguments: ISA.supported)
  func entries(isa: ISA) throws {
    let table = try isa.table
    let present = quantTypes.filter { qk_table_gemm(table, Int32($0.rawValue)) != nil }
    #expect(Set(present) == Set(Self.expectedTypes(isa)), "\(isa): gemm for \(present)")
    for type in present {
      let id = Int32(type.rawValue)
      #expect(qk_table_gemm_act(table, id) != nil, "\(isa) \(type): gemm without its activation function")
      let group = Int(qk_table_gemm_group(table, id))
      #expect(group == (type == .q6_K ? 16 : 32), "\(isa) \(type): group \(group)")
    }
  }

  @Test(
    "gemm equals the Double reference", arguments: ISA.supported,
    [GGMLType.q4_0, .q5_0, .q8_0, .iq4_nl, .q4_K, .q5_K, .q6_K])
  func gemmMatchesReference(isa: ISA, type: GGMLType) throws {
    let table = try isa.table
    let id = Int32(type.rawValue)
    guard let gemm = qk_table_gemm(table, id) else {
      #expect(!Self.expectedTypes(isa).contains(type), "\(isa) \(type): gemm missing")
      return
    }
    let act = try #require(qk_table_gemm_act(table, id))
    let group = Int(qk_table_gemm_group(table, id))
    let dot = dotType(type)
    // One block and several (odd and even block counts).
    for k in [type.blockSize, 3 * type.blockSize, 4 * max(type.blockSize, 64)] {
      let maxR = 37
      let maxC = 19
      let rowBytes = try #require(type.byteCount(forElements: k))
      let colBytes = try #require(dot.byteCount(forElements: k))
      var weights: [UInt8] = []
      var wf: [[Float]] = []
      for r in 0..<maxR {
        let row = try type.quantize(sampleValues(count: k, seed: UInt64(300 + r)))
        weights += row
        wf.append(try type.dequantize(row, count: k))
      }
      var acts: [UInt8] = []
      var yf: [[Float]] = []
      for c in 0..<maxC {
        let col = try kernelQuantize(
          table, dot: dot, sampleValues(count: k, seed: UInt64(400 + c), blockSize: max(dot.blockSize, 32)))
        acts += col
        yf.append(try dot.dequantize(col, count: k))
      }
      let groups = k / group
      for (nr, nc) in Self.shapes {
        let ldS = nr + 3  // padding that must stay untouched
        var out = [Float](repeating: .nan, count: nc * ldS)
        var info = [qk_gemm_act](repeating: qk_gemm_act(d: 0, c: 0), count: nc * groups)
        weights.withUnsafeBytes { w in
          acts.withUnsafeBytes { a in
            info.withUnsafeMutableBufferPointer { i in
              act(Int32(k), Int32(nc), a.baseAddress, colBytes, i.baseAddress)
              out.withUnsafeMutableBufferPointer { s in
                gemm(
                  Int32(k), Int32(nr), Int32(nc), w.baseAddress, rowBytes, a.baseAddress, colBytes,
                  i.baseAddress, s.baseAddress, ldS)
              }
            }
          }
        }
        var worst = 0.0
        var touchedPadding = 0
        for c in 0..<nc {
          for r in 0..<nr {
            let (want, magnitude) = referenceDot(wf[r], yf[c])
            // f32 rounding of one product per group and of the running sum: a few ulps of the
            // magnitude per group, far below any wrong scale, offset or value (≥ 1e-3 here).
            worst = max(worst, abs(Double(out[c * ldS + r]) - want) / max(magnitude, 1e-30))
          }
          for r in nr..<ldS where !out[c * ldS + r].isNaN { touchedPadding += 1 }
        }
        #expect(
          worst <= 1e-6 * Double(groups + 8), "\(isa) \(type) k=\(k) \(nr)x\(nc): relative error \(worst)")
        #expect(
          touchedPadding == 0, "\(isa) \(type) k=\(k) \(nr)x\(nc): wrote \(touchedPadding) padding floats")
      }
    }
  }
}
