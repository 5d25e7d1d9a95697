import Foundation
import Testing

@testable import GGML

/// Focused checks of the K-quant reference codecs that need no golden file: the helpers, and blocks
/// whose bytes and floats were worked out by hand from ggml's layouts. The byte-for-byte comparison
/// with ggml's own output lives in GoldenTests.
@Suite struct KQuantTests {
  static let kTypes: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

  private func dequantize(_ type: GGMLType, _ block: [UInt8]) throws -> [Float] {
    try type.dequantize(block, count: 256)
  }

  /// Bit-exact check of one dequantized value; failures point at the caller.
  private func expectAt(
    _ y: [Float], _ i: Int, _ expected: Float, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(
      y[i].bitPattern == expected.bitPattern, "y[\(i)] = \(y[i]), expected \(expected)",
      sourceLocation: sourceLocation)
  }

  /// A block of `type.typeSize` zero bytes with `patch` applied (offset → byte).
  private func block(_ type: GGMLType, _ patch: [Int: UInt8]) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: type.typeSize)
    for (offset, value) in patch { bytes[offset] = value }
    return bytes
  }

  @Test func nearestIntRoundsHalfToEven() {
    let cases: [(Float, Int)] = [
      (0, 0), (0.49, 0), (0.5, 0), (1.5, 2), (2.5, 2), (3.5, 4), (-0.4, 0), (-2.5, -2), (-3.5, -4),
      (4_194_303, 4_194_303), (-4_194_303, -4_194_303),
    ]
    for (value, expected) in cases {
      #expect(KQuant.nearest_int(value) == expected, "nearest_int(\(value))")
    }
  }

  @Test func scaleMinPackingRoundTrips() {
    // Every 6-bit value in every one of the 8 slots, for scales and mins independently.
    for shift in 0..<64 {
      var ls = [UInt8](repeating: 0, count: 8)
      var lm = [UInt8](repeating: 0, count: 8)
      for j in 0..<8 {
        ls[j] = UInt8((j * 7 + shift) % 64)
        lm[j] = UInt8((j * 13 + 2 * shift + 5) % 64)
      }
      var packed = [UInt8](repeating: 0, count: 12)
      ls.withUnsafeBufferPointer { s in
        lm.withUnsafeBufferPointer { m in
          packed.withUnsafeMutableBufferPointer {
            KQuant.set_scales_k4(s.baseAddress!, m.baseAddress!, $0.baseAddress!)
          }
        }
      }
      packed.withUnsafeBufferPointer { p in
        for j in 0..<8 {
          let (d, m) = KQuant.get_scale_min_k4(j, p.baseAddress!)
          #expect(d == ls[j] && m == lm[j], "slot \(j), shift \(shift)")
        }
      }
    }
  }

  @Test func scaleMinUnpackingMatchesHandLayout() {
    // Pair 5: low nibbles from byte 9, top bits from bytes 1 (scale) and 5 (min).
    var q = [UInt8](repeating: 0, count: 12)
    q[1] = 0x45  // pair 1 scale 5; top bits 01 → pair 5 scale +16
    q[5] = 0x82  // pair 1 min 2; top bits 10 → pair 5 min +32
    q[9] = 0x7A  // pair 5 scale low 0xA, min low 0x7
    q.withUnsafeBufferPointer { p in
      let pair1 = KQuant.get_scale_min_k4(1, p.baseAddress!)
      let pair5 = KQuant.get_scale_min_k4(5, p.baseAddress!)
      #expect(pair1.d == 5 && pair1.m == 2)
      #expect(pair5.d == 26 && pair5.m == 39)
    }
  }

  @Test("all-zero input gives an all-zero block and zero floats", arguments: kTypes)
  func zeroBlock(type: GGMLType) throws {
    let bytes = try type.quantize([Float](repeating: 0, count: 512))
    #expect(bytes == [UInt8](repeating: 0, count: 2 * type.typeSize))
    let values = try type.dequantize(bytes, count: 512)
    #expect(values.allSatisfy { $0 == 0 })
  }

  @Test func q6KConstantBlock() throws {
    // make_qx_quants(nmax 32) of all-ones: scale -1/32 per group; iscale = -128/(-1/32) = 4096,
    // d = f16(2^-12) = 0x0C00, every scale -128 (0x80), every quant -32 + 32 = 0.
    let bytes = try GGMLType.q6_K.quantize([Float](repeating: 1, count: 256))
    var expected = block(.q6_K, [209: 0x0C])
    for offset in 192..<208 { expected[offset] = 0x80 }
    #expect(bytes == expected)
    #expect(try dequantize(.q6_K, bytes).allSatisfy { $0 == 1 })  // 2^-12 * -128 * -32
  }

  @Test func q3KConstantBlock() throws {
    // make_q3_quants(nmax 4) of all-ones: L = -4, scale -64/256 = -0.25; iscale = -32/-0.25 = 128,
    // every 6-bit scale -32 + 32 = 0, d = f16(1/128) = 0x2000, every quant -4 + 4 = 0 (no hmask).
    let bytes = try GGMLType.q3_K.quantize([Float](repeating: 1, count: 256))
    #expect(bytes == block(.q3_K, [109: 0x20]))
    #expect(try dequantize(.q3_K, bytes).allSatisfy { $0 == 1 })  // 2^-7 * -32 * -4
  }

  @Test func q2KHandBuiltBlock() throws {
    // scales[16] @0 (low nibble scale, high nibble min), qs[64] @16, d @80 = 1.0, dmin @82 = 0.5.
    let b = block(
      .q2_K,
      [
        0: 0x12, 1: 0x11, 2: 0x21, 3: 0x35, 4: 0x03, 6: 0x00, 8: 0x4F,
        16: 0xE4, 32: 0x03, 48: 0x01, 81: 0x3C, 83: 0x38,
      ])
    let y = try dequantize(.q2_K, b)
    expectAt(y, 0, 2 * 0 - 0.5)  // scale 0: q bits 0-1 of qs[0]
    expectAt(y, 16, 1 * 3 - 0.5)  // scale 1: qs[16]
    expectAt(y, 32, 1 * 1 - 1)  // scale 2: qs[0] bits 2-3
    expectAt(y, 48, 5 * 0 - 1.5)  // scale 3: qs[16] bits 2-3
    expectAt(y, 64, 3 * 2 - 0)  // scale 4: qs[0] bits 4-5
    expectAt(y, 96, 0)  // scale 6 is 0: qs[0] bits 6-7 = 3
    expectAt(y, 128, 15 * 1 - 2)  // scale 8: qs[32], second 128
  }

  @Test func q3KHandBuiltBlock() throws {
    // hmask[32] @0, qs[64] @32, scales[12] @96, d @108 = 0.5. Scale 0 = 33 (low 1 in byte 96,
    // top 10 in byte 104 bits 0-1); scale 5 = 40 (low 8 in byte 101, top 10 in byte 105 bits 2-3);
    // every other scale 0 → -32.
    let b = block(
      .q3_K,
      [
        0: 0x01, 16: 0x14, 32: 0x03, 33: 0x02, 48: 0x10, 80: 0x02,
        96: 0x01, 101: 0x08, 104: 0x02, 105: 0x08, 109: 0x38,
      ])
    let y = try dequantize(.q3_K, b)
    expectAt(y, 0, 0.5 * 1 * 3)  // q 3, high bit set
    expectAt(y, 1, 0.5 * 1 * -2)  // q 2, high bit clear → -2
    expectAt(y, 16, 0.5 * -32 * -4)  // scale 1 = -32, q 0, high bit clear
    expectAt(y, 80, 0.5 * 8 * 1)  // scale 5: qs[48] bits 4-5, hmask[16] bit 2
    expectAt(y, 81, 0.5 * 8 * -4)
    expectAt(y, 144, 0.5 * -32 * 2)  // scale 9: qs[80] bits 0-1, hmask[16] bit 4
  }

  @Test func q4KHandBuiltBlock() throws {
    // d @0 = 1.0, dmin @2 = 2.0, scales[12] @4, qs[128] @16.
    let b = block(
      .q4_K,
      [
        1: 0x3C, 3: 0x40, 4: 3, 5: 0x45, 8: 1, 9: 0x82, 13: 0x7A, 16: 0x9C, 80: 0xF0,
      ])
    let y = try dequantize(.q4_K, b)
    expectAt(y, 0, 3 * 12 - 2 * 1)  // pair 0 (3, 1), low nibble of qs[0]
    expectAt(y, 32, 5 * 9 - 2 * 2)  // pair 1 (5, 2), high nibble
    expectAt(y, 128, 0)  // pair 4 (0, 0)
    expectAt(y, 160, 26 * 15 - 2 * 39)  // pair 5 (26, 39), high nibble of qs[64]
  }

  @Test func q5KHandBuiltBlock() throws {
    // d @0 = 0.5, dmin @2 = 1.0, scales[12] @4, qh[32] @16, qs[128] @48.
    let b = block(.q5_K, [1: 0x38, 3: 0x3C, 4: 4, 5: 2, 8: 3, 16: 0x03, 48: 0x21, 49: 0x0F])
    let y = try dequantize(.q5_K, b)
    expectAt(y, 0, 0.5 * 4 * (1 + 16) - 3)  // qh bit 0 adds 16
    expectAt(y, 32, 0.5 * 2 * (2 + 16) - 0)  // qh bit 1 adds 16 to the high nibble
    expectAt(y, 1, 0.5 * 4 * 15 - 3)
    expectAt(y, 33, 0)
  }

  @Test func q6KHandBuiltBlock() throws {
    // ql[128] @0, qh[64] @128, scales[16] (int8) @192, d @208 = 0.25.
    let b = block(
      .q6_K,
      [
        0: 0x5F, 32: 0x07, 128: 0xC9, 192: 2, 193: 1, 194: 0xFF, 196: 3, 198: 0x80, 209: 0x34,
      ])
    let y = try dequantize(.q6_K, b)
    expectAt(y, 0, 0.25 * 2 * -1)  // 0xF | 01<<4 = 31, -32
    expectAt(y, 16, 0.25 * 1 * -32)  // scale 1, all bits 0
    expectAt(y, 32, 0.25 * -1 * 7)  // 0x7 | 10<<4 = 39, -32
    expectAt(y, 64, 0.25 * 3 * -27)  // 0x5 | 00<<4 = 5, -32
    expectAt(y, 96, 0.25 * -128 * 16)  // 0x0 | 11<<4 = 48, -32
  }

  @Test("quantize then dequantize stays near a smooth signal", arguments: kTypes)
  func roundTripError(type: GGMLType) throws {
    let x = (0..<1024).map { Float(sin(Double($0) * 0.05)) }  // range [-1, 1]
    let y = try type.dequantize(type.quantize(x), count: x.count)
    let maxError = zip(x, y).map { abs($0 - $1) }.max()!
    // Half a step of a b-bit grid spanning [-1, 1] is 1 / (2^b - 1); sub-blocks fit tighter
    // ranges, and 25% more covers the rounding of their 4/6/8-bit scales.
    let bits: [GGMLType: Int] = [.q2_K: 2, .q3_K: 3, .q4_K: 4, .q5_K: 5, .q6_K: 6]
    let bound = 1.25 / Float((1 << bits[type]!) - 1)
    #expect(maxError <= bound, "\(type.name): max error \(maxError), bound \(bound)")
  }
}
