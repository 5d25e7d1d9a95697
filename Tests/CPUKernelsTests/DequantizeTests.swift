import CPUKernels
import GGML
import Testing

/// The C row dequantizers of the types without an integer kernel: bit-equal to the reference codecs.
@Suite struct DequantizeTests {
  static let types: [GGMLType] = [
    .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m, .tq1_0, .tq2_0, .q8_1,
  ]

  /// Random block bytes (every grid index, sign pattern and scale code occurs across the blocks).
  static func randomBlocks(_ type: GGMLType, blocks: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    return (0..<(blocks * type.typeSize)).map { _ in UInt8(truncatingIfNeeded: rng.next() >> 17) }
  }

  @Test("C dequantizer equals the reference codec bit for bit", arguments: ISA.supported, types)
  func matchesReference(isa: ISA, type: GGMLType) throws {
    let fn = try #require(
      qk_table_dequantize(try isa.table, Int32(type.rawValue)), "\(isa) has no dequantizer for \(type)")
    let blocks = 64
    let k = blocks * type.blockSize
    let bytes = Self.randomBlocks(type, blocks: blocks, seed: 0xD0 &+ UInt64(type.rawValue))
    let expected = try type.dequantize(bytes, count: k)
    var got = [Float](repeating: .nan, count: k)
    bytes.withUnsafeBytes { src in
      got.withUnsafeMutableBufferPointer { fn(src.baseAddress, $0.baseAddress, Int64(k)) }
    }
    var differing = 0
    var first = -1
    for i in 0..<k where got[i].bitPattern != expected[i].bitPattern && !(got[i].isNaN && expected[i].isNaN) {
      differing += 1
      if first < 0 { first = i }
    }
    #expect(
      differing == 0,
      "\(isa) \(type): \(differing) of \(k) values differ, first at \(first): \(first >= 0 ? "\(got[first]) vs \(expected[first])" : "")"
    )
    // Random bytes give finite values for most blocks: the comparison is not all-NaN.
    #expect(expected.filter(\.isFinite).count > k / 2, "\(type): test data mostly non-finite")
  }

  @Test("types with integer kernels have no dequantizer entry", arguments: ISA.supported)
  func onlyDequantOnlyTypes(isa: ISA) throws {
    let t = try isa.table
    for type in quantTypes + denseTypes {
      #expect(qk_table_dequantize(t, Int32(type.rawValue)) == nil, "\(isa) \(type)")
    }
    #expect(qk_table_dequantize(t, -1) == nil && qk_table_dequantize(t, 1000) == nil)
  }
}
