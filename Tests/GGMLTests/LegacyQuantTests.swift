import GGMLBlocks
import Testing

@testable import GGML

/// Edge cases of the scalar and 32-value block codecs and q8_K. Expected bytes are worked out by hand
/// from ggml's formulas (comments show the arithmetic), never computed by the code under test.
@Suite struct LegacyQuantTests {
  /// A 32-value block: `head` followed by zeros.
  static func block(_ head: [Float], count: Int = 32) -> [Float] {
    head + [Float](repeating: 0, count: count - head.count)
  }

  @Test func blockOffsetsMatchTheCLayouts() {
    #expect(MemoryLayout<block_q4_0>.offset(of: \block_q4_0.qs) == Q4_0Codec.qsOffset)
    #expect(MemoryLayout<block_q4_1>.offset(of: \block_q4_1.m) == 2)
    #expect(MemoryLayout<block_q4_1>.offset(of: \block_q4_1.qs) == Q4_1Codec.qsOffset)
    #expect(MemoryLayout<block_q5_0>.offset(of: \block_q5_0.qh) == Q5_0Codec.qhOffset)
    #expect(MemoryLayout<block_q5_0>.offset(of: \block_q5_0.qs) == Q5_0Codec.qsOffset)
    #expect(MemoryLayout<block_q5_1>.offset(of: \block_q5_1.qh) == Q5_1Codec.qhOffset)
    #expect(MemoryLayout<block_q5_1>.offset(of: \block_q5_1.qs) == Q5_1Codec.qsOffset)
    #expect(MemoryLayout<block_q8_0>.offset(of: \block_q8_0.qs) == Q8_0Codec.qsOffset)
    #expect(MemoryLayout<block_q8_1>.offset(of: \block_q8_1.s) == 2)
    #expect(MemoryLayout<block_q8_1>.offset(of: \block_q8_1.qs) == Q8_1Codec.qsOffset)
    #expect(MemoryLayout<block_q8_K>.offset(of: \block_q8_K.qs) == Q8_KCodec.qsOffset)
    #expect(MemoryLayout<block_q8_K>.offset(of: \block_q8_K.bsums) == Q8_KCodec.bsumsOffset)
    for codec: any GGMLDequantizer.Type in [
      Q4_0Codec.self, Q4_1Codec.self, Q5_0Codec.self, Q5_1Codec.self, Q8_0Codec.self, Q8_1Codec.self,
      Q8_KCodec.self,
    ] {
      #expect(GGMLType.allCases.contains(codec.type))
    }
    #expect(Q4_0Codec.blockBytes == GGMLType.q4_0.typeSize)
    #expect(Q4_1Codec.blockBytes == GGMLType.q4_1.typeSize)
    #expect(Q5_0Codec.blockBytes == GGMLType.q5_0.typeSize)
    #expect(Q5_1Codec.blockBytes == GGMLType.q5_1.typeSize)
    #expect(Q8_0Codec.blockBytes == GGMLType.q8_0.typeSize)
    #expect(Q8_1Codec.blockBytes == GGMLType.q8_1.typeSize)
    #expect(Q8_KCodec.blockBytes == GGMLType.q8_K.typeSize)
  }

  @Test func registryHasTheSimpleTypes() {
    for type: GGMLType in [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .q8_K] {
      #expect(type.quantizer?.type == type, "\(type)")
    }
  }

  // MARK: all-zero blocks

  @Test func allZeroBlocks() throws {
    let zeros = Self.block([])
    // q4_0: d = 0 / -8 = -0 (f16 0x8000; ggml stores the negative zero too), id = 0, every value →
    // (int8)(0 + 8.5) = 8 → 0x88.
    #expect(try GGMLType.q4_0.quantize(zeros) == [0x00, 0x80] + [UInt8](repeating: 0x88, count: 16))
    // q4_1 / q5_1: min = max = 0 → d = 0, m = 0, q = (int8)(0 + 0.5) = 0.
    #expect(try GGMLType.q4_1.quantize(zeros) == [UInt8](repeating: 0, count: 20))
    #expect(try GGMLType.q5_1.quantize(zeros) == [UInt8](repeating: 0, count: 24))
    // q5_0: d = 0 / -16 = -0; q = (int8)(0 + 16.5) = 16 = 0b1_0000: low nibbles 0, every high bit set.
    #expect(
      try GGMLType.q5_0.quantize(zeros)
        == [0x00, 0x80, 0xFF, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 16))
    #expect(try GGMLType.q8_0.quantize(zeros) == [UInt8](repeating: 0, count: 34))
    #expect(try GGMLType.q8_1.quantize(zeros) == [UInt8](repeating: 0, count: 36))
    // q8_K: ggml's early exit (d = 0, qs = 0); bsums zeroed too.
    #expect(try GGMLType.q8_K.quantize(Self.block([], count: 256)) == [UInt8](repeating: 0, count: 292))
    for type: GGMLType in [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1] {
      let back = try type.dequantize(type.quantize(zeros), count: 32)
      #expect(back.allSatisfy { $0 == 0 }, "\(type)")
    }
  }

  // MARK: q4_0 / q5_0: the signed max picks the sign of the scale

  @Test func q4_0NegativeDominantBlock() throws {
    // max = -4 → d = -4 / -8 = 0.5 (f16 0x3800), id = 2.
    // -4 → (int8)(-8 + 8.5) = 0;  3.75 → (int8)(7.5 + 8.5) = 16 → MIN 15;  1 → (int8)10.5 = 10;  0 → 8.
    let x = Self.block([-4, 3.75, 1])
    let q = try GGMLType.q4_0.quantize(x)
    #expect(q[0] == 0x00 && q[1] == 0x38)
    #expect(q[2] == 0x80)  // value 0 (low) = 0, value 16 (high) = 8
    #expect(q[3] == 0x8F)  // value 1 = 15
    #expect(q[4] == 0x8A)  // value 2 = 10
    #expect(q[5...].allSatisfy { $0 == 0x88 })
    let back = try GGMLType.q4_0.dequantize(q, count: 32)
    // (q - 8)·d: the positive side saturates at 7·0.5 = 3.5.
    #expect(Array(back[0..<4]) == [-4, 3.5, 1, 0])
  }

  @Test func q4_0PositiveDominantBlockAndTies() throws {
    // First of equal magnitudes wins (strict <): max = 4 → d = -0.5 (f16 0xB800), id = -2.
    // 4 → (int8)(-8 + 8.5) = 0;  -4 → (int8)(8 + 8.5) = 16 → 15;  -3.75 → 16 → 15.
    let q = try GGMLType.q4_0.quantize(Self.block([4, -4, -3.75]))
    #expect(q[0] == 0x00 && q[1] == 0xB8)
    #expect(q[2] == 0x80 && q[3] == 0x8F && q[4] == 0x8F)
    let back = try GGMLType.q4_0.dequantize(q, count: 32)
    #expect(Array(back[0..<3]) == [4, -3.5, -3.5])
  }

  @Test func q5_0NegativeDominantBlock() throws {
    // max = -8 → d = 0.5 (0x3800), id = 2.  -8 → (int8)(-16 + 16.5) = 0;  7.9 → (int8)(32.3) = 32 →
    // MIN 31 = 0b1_1111;  0 → 16 = 0b1_0000.  qh: bit j = high bit of value j: all but bit 0.
    let q = try GGMLType.q5_0.quantize(Self.block([-8, 7.9]))
    #expect(Array(q[0..<6]) == [0x00, 0x38, 0xFE, 0xFF, 0xFF, 0xFF])
    #expect(q[6] == 0x00 && q[7] == 0x0F)
    let back = try GGMLType.q5_0.dequantize(q, count: 32)
    #expect(Array(back[0..<3]) == [-8, 7.5, 0])
  }

  // MARK: rounding: roundf (ties away) in q8_0, nearest_int (ties even) in q8_K

  @Test func q8_0RoundsHalfAwayFromZero() throws {
    // amax = 127 → d = 1 (0x3C00), id = 1: roundf(0.5) = 1, roundf(-0.5) = -1, 1.5 → 2, 2.5 → 3.
    let q = try GGMLType.q8_0.quantize(Self.block([127, 0.5, -0.5, 1.5, 2.5, -127]))
    #expect(q[0] == 0x00 && q[1] == 0x3C)
    #expect(Array(q[2..<8]) == [0x7F, 0x01, 0xFF, 0x02, 0x03, 0x81])
  }

  @Test func q8_0ExactForIntegersWithMax127() throws {
    let x = (0..<32).map { Float($0 * 8 - 127) }  // -127, -119, ..., 121; amax = 127 → d = 1
    #expect(try GGMLType.q8_0.dequantize(GGMLType.q8_0.quantize(x), count: 32) == x)
  }

  @Test func q8_1StoresScaledSum() throws {
    // d = 1, qs = 127, 1, -1, 2, 3, -127 → Σ = 5 → s = 5·1 (f16 0x4500).
    let q = try GGMLType.q8_1.quantize(Self.block([127, 0.5, -0.5, 1.5, 2.5, -127]))
    #expect(Array(q[0..<4]) == [0x00, 0x3C, 0x00, 0x45])
    #expect(Array(q[4..<10]) == [0x7F, 0x01, 0xFF, 0x02, 0x03, 0x81])
  }

  @Test func q8_KRoundsHalfToEvenAndSumsGroups() throws {
    // max = 127 → iscale = -127/127 = -1, d = 1/iscale = -1 (f32 0xBF800000).
    // nearest_int: -127, -0.5 → -0 = 0, -1.5 → -2, -2.5 → -2, 0.5 → 0; value 16 = 3 → -3.
    var x = Self.block([127, 0.5, 1.5, 2.5, -0.5], count: 256)
    x[16] = 3
    let q = try GGMLType.q8_K.quantize(x)
    #expect(Array(q[0..<4]) == [0x00, 0x00, 0x80, 0xBF])
    #expect(Array(q[4..<9]) == [0x81, 0x00, 0xFE, 0xFE, 0x00])
    #expect(q[4 + 16] == 0xFD)
    // bsums[0] = -127 + 0 - 2 - 2 + 0 = -131 (0xFF7D), bsums[1] = -3 (0xFFFD).
    #expect(Array(q[260..<264]) == [0x7D, 0xFF, 0xFD, 0xFF])
    let back = try GGMLType.q8_K.dequantize(q, count: 256)
    #expect(Array(back[0..<5]) == [127, 0, 2, 2, 0])
  }

  @Test func nearestIntMatchesGgmlTrick() {
    #expect(nearest_int(2.5) == 2)
    #expect(nearest_int(3.5) == 4)
    #expect(nearest_int(-2.5) == -2)
    #expect(nearest_int(-2.6) == -3)
    #expect(nearest_int(0.49999997) == 0)
    #expect(nearest_int(4194303) == 4194303)
    #expect(nearest_int(-4194303) == -4194303)
  }

  @Test func cCastsNeverTrap() {
    #expect(cTruncToInt8(16.9) == 16)
    #expect(cTruncToInt8(-0.9) == 0)
    #expect(cTruncToInt8(200) == -56)  // low byte of 200
    #expect(cTruncToInt8(.nan) == 0)  // INT32_MIN's low byte
    #expect(cTruncToInt32(.infinity) == Int32.min)
    #expect(cTruncToInt32(-2_147_483_648) == Int32.min)
    #expect(cTruncToUInt8(255.5) == 255)
  }

  // MARK: max magnitude and non-finite input (ggml's x86-64 behaviour, no traps)

  @Test func q8_0ScaleOverflowsToInfinity() throws {
    // d = 1e7/127 = 78740.2 > 65504: the f16 scale is +Inf (0x7C00), as in ggml; qs use the f32 id.
    let q = try GGMLType.q8_0.quantize(Self.block([1e7, -4e6]))
    #expect(q[0] == 0x00 && q[1] == 0x7C)
    #expect(q[2] == 0x7F && q[3] == 0xCD)  // 127, roundf(-50.8) = -51
    let back = try GGMLType.q8_0.dequantize(q, count: 32)
    #expect(back[0] == .infinity && back[1] == -.infinity)
    #expect(back[2].isNaN)  // 0·Inf
  }

  @Test func q4_1HandlesFullFloatRange() throws {
    // max - min overflows to +Inf → d = Inf, id = 1/Inf = 0. (x - min)·0 is 0 for the finite
    // differences and Inf·0 = NaN for x = max; both become q = 0 (the NaN through C's cast).
    let big = Float.greatestFiniteMagnitude
    let q = try GGMLType.q4_1.quantize(Self.block([big, -big]))
    #expect(q[0] == 0x00 && q[1] == 0x7C)  // d = +Inf
    #expect(q[2] == 0x00 && q[3] == 0xFC)  // m = -FLT_MAX → -Inf in f16
    #expect(q[4...].allSatisfy { $0 == 0 })
  }

  @Test func nanInputsFollowGgml() throws {
    // q4_0: NaN never becomes the max (comparisons are false). max = 2 → d = -0.25, id = -4;
    // NaN·id + 8.5 = NaN → (int8_t) → 0 on x86-64.  -1 → (int8)(4 + 8.5) = 12;  0 → 8.
    let q4 = try GGMLType.q4_0.quantize(Self.block([2, .nan, -1]))
    #expect(q4[0] == 0x00 && q4[1] == 0xB4)  // -0.25
    #expect(q4[2] == 0x80 && q4[3] == 0x80 && q4[4] == 0x8C)
    // q8_0: ggml's MAX(a, b) = a > b ? a : b takes the NaN and then forgets it, and with it every
    // larger value before it: amax = MAX(NaN, |0|)... = 0 at the end → d = 0, id = 0, all q = 0.
    let q8 = try GGMLType.q8_0.quantize(Self.block([5, .nan]))
    #expect(q8.allSatisfy { $0 == 0 })
    // A NaN last in the block stays: d = NaN (f16 0x7E00), id = NaN, every q → 0.
    var tailNaN = Self.block([1, 2])
    tailNaN[31] = .nan
    let q8n = try GGMLType.q8_0.quantize(tailNaN)
    #expect(q8n[0] == 0x00 && q8n[1] == 0x7E)
    #expect(q8n[2...].allSatisfy { $0 == 0 })
  }

  // MARK: scalar types

  @Test func f32IsACopy() throws {
    let x: [Float] = [1, -0.0, .infinity, Float(bitPattern: 0x7FC0_1234), .leastNonzeroMagnitude]
    let bytes = try GGMLType.f32.quantize(x)
    #expect(bytes[0..<4] == [0x00, 0x00, 0x80, 0x3F])
    #expect(bytes[12..<16] == [0x34, 0x12, 0xC0, 0x7F])  // NaN payload kept
    let back = try GGMLType.f32.dequantize(bytes, count: x.count)
    #expect(back.map(\.bitPattern) == x.map(\.bitPattern))
  }

  @Test func f16AndBf16Rounding() throws {
    // f16: 1 + 2^-11 is a tie → even (1.0); 65520 overflows to Inf; 2^-25 (half the smallest
    // subnormal, a tie) → 0.
    let f16 = try GGMLType.f16.quantize([1 + 0x1p-11, 65520, 0x1p-25, -2])
    #expect(f16 == [0x00, 0x3C, 0x00, 0x7C, 0x00, 0x00, 0x00, 0xC0])
    // bf16: 1 + 2^-8 is a tie → 1.0 (0x3F80); 1 + 3·2^-8 → up to 0x3F82; NaN made quiet.
    let bf16 = try GGMLType.bf16.quantize([1 + 0x1p-8, 1 + 3 * 0x1p-8, Float(bitPattern: 0x7F80_0001)])
    #expect(bf16 == [0x80, 0x3F, 0x82, 0x3F, 0xC0, 0x7F])
    #expect(try GGMLType.bf16.dequantize([0x80, 0x3F], count: 1) == [1])
    #expect(try GGMLType.f16.dequantize([0x01, 0x00], count: 1) == [0x1p-24])
  }

  @Test func raggedCountsAreErrors() {
    #expect(throws: GGMLCodecError.countNotMultipleOfBlock(type: .q4_0, count: 33)) {
      try GGMLType.q4_0.quantize([Float](repeating: 0, count: 33))
    }
    #expect(throws: GGMLCodecError.bufferSize(type: .q8_K, expected: 292, actual: 291)) {
      try GGMLType.q8_K.dequantize([UInt8](repeating: 0, count: 291), count: 256)
    }
  }
}
