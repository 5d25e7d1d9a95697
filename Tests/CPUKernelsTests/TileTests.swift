import CPUKernels
import GGML
import Testing

/// The nr × nc tile kernel: bit-identical to nr·nc vec_dot calls, for full and ragged tiles, without
/// writing outside its outputs.
@Suite struct TileTests {
  static let shapes: [(nr: Int, nc: Int)] = [
    (1, 1), (1, 3), (2, 2), (3, 1), (4, 1), (4, 2), (4, 4), (5, 3), (8, 3), (4, 6), (9, 7), (8, 16),
  ]

  @Test(
    "tile equals vec_dot per (row, column)", arguments: ISA.supported,
    quantTypes + denseTypes + IQuantDotTests.types)
  func tileEqualsVecDot(isa: ISA, type: GGMLType) throws {
    let table = try isa.table
    let id = Int32(type.rawValue)
    let dot = try #require(qk_table_vec_dot(table, id))
    let tile = try #require(qk_table_vec_dot_tile(table, id))
    let act = dotType(type)
    // Dense rows get a ragged length too (the tail path); odd and even block counts (kernels that
    // step two blocks at a time end on a single-block tail or not).
    // 9 blocks: kernels that take four blocks at a time (q4_K's mat-vec) run two groups and a tail.
    let lengths =
      type.blockSize == 1
      ? [5, 67] : [type.blockSize, 3 * type.blockSize, 4 * type.blockSize, 9 * type.blockSize]
    for k in lengths {
      let maxR = 9
      let maxC = 16
      let rowBytes = try #require(type.byteCount(forElements: k))
      let colBytes = act == .f32 ? 4 * k : try #require(act.byteCount(forElements: k))
      var weights: [UInt8] = []
      for r in 0..<maxR {
        // The grid i-quants have no reference quantizer: random blocks with finite scales.
        weights +=
          type.quantizer == nil
          ? IQuantDotTests.weights(type, count: k, seed: UInt64(100 + r))
          : try type.quantize(sampleValues(count: k, seed: UInt64(100 + r)))
      }
      var acts: [UInt8] = []
      for c in 0..<maxC {
        let v = sampleValues(count: k, seed: UInt64(200 + c), blockSize: max(act.blockSize, 32))
        acts += act == .f32 ? floatBytes(v) : try act.quantize(v)
      }
      for (nr, nc) in Self.shapes {
        let ldS = nr + 3  // padding that must stay untouched
        var out = [Float](repeating: .nan, count: nc * ldS)
        weights.withUnsafeBytes { w in
          acts.withUnsafeBytes { a in
            out.withUnsafeMutableBufferPointer { s in
              tile(
                Int32(k), Int32(nr), Int32(nc), w.baseAddress, rowBytes, a.baseAddress, colBytes,
                s.baseAddress, ldS)
            }
          }
        }
        var mismatches = 0
        var touchedPadding = 0
        for c in 0..<nc {
          for r in 0..<nr {
            let x = Array(weights[(r * rowBytes)..<((r + 1) * rowBytes)])
            let y = Array(acts[(c * colBytes)..<((c + 1) * colBytes)])
            let single = callVecDot(dot, n: k, x, y)
            if single.bitPattern != out[c * ldS + r].bitPattern { mismatches += 1 }
          }
          for r in nr..<ldS where !out[c * ldS + r].isNaN { touchedPadding += 1 }
        }
        #expect(
          mismatches == 0, "\(isa) \(type) k=\(k) \(nr)x\(nc): \(mismatches) outputs differ from vec_dot")
        #expect(
          touchedPadding == 0, "\(isa) \(type) k=\(k) \(nr)x\(nc): wrote \(touchedPadding) padding floats")
      }
    }
  }
}
