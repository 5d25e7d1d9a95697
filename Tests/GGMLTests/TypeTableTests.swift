import GGML
import GGMLBlocks
import Testing

@Suite struct TypeTableTests {
  @Test func blockLayoutsMatchOnDiskSizes() {
    let sizes: [(GGMLType, Int)] = [
      (.q4_0, MemoryLayout<block_q4_0>.size), (.q4_1, MemoryLayout<block_q4_1>.size),
      (.q5_0, MemoryLayout<block_q5_0>.size), (.q5_1, MemoryLayout<block_q5_1>.size),
      (.q8_0, MemoryLayout<block_q8_0>.size), (.q8_1, MemoryLayout<block_q8_1>.size),
      (.mxfp4, MemoryLayout<block_mxfp4>.size), (.tq1_0, MemoryLayout<block_tq1_0>.size),
      (.tq2_0, MemoryLayout<block_tq2_0>.size), (.q2_K, MemoryLayout<block_q2_K>.size),
      (.q3_K, MemoryLayout<block_q3_K>.size), (.q4_K, MemoryLayout<block_q4_K>.size),
      (.q5_K, MemoryLayout<block_q5_K>.size), (.q6_K, MemoryLayout<block_q6_K>.size),
      (.q8_K, MemoryLayout<block_q8_K>.size), (.iq2_xxs, MemoryLayout<block_iq2_xxs>.size),
      (.iq2_xs, MemoryLayout<block_iq2_xs>.size), (.iq2_s, MemoryLayout<block_iq2_s>.size),
      (.iq3_xxs, MemoryLayout<block_iq3_xxs>.size), (.iq3_s, MemoryLayout<block_iq3_s>.size),
      (.iq1_s, MemoryLayout<block_iq1_s>.size), (.iq1_m, MemoryLayout<block_iq1_m>.size),
      (.iq4_nl, MemoryLayout<block_iq4_nl>.size), (.iq4_xs, MemoryLayout<block_iq4_xs>.size),
    ]
    for (type, size) in sizes {
      #expect(type.typeSize == size, "\(type)")
    }
  }

  @Test func removedIdsAreUnknown() {
    for id: UInt32 in [4, 5, 31, 32, 33, 36, 37, 38, 43, 1000] {
      #expect(GGMLType(rawValue: id) == nil, "id \(id)")
    }
  }

  @Test func namesRoundTrip() {
    for type in GGMLType.allCases {
      #expect(GGMLType(name: type.name) == type)
      #expect(GGMLType(name: type.name.uppercased()) == type)
    }
  }

  @Test func byteCountRejectsRaggedAndOverflow() {
    #expect(GGMLType.q4_0.byteCount(forElements: 64) == 36)
    #expect(GGMLType.q4_0.byteCount(forElements: 33) == nil)
    #expect(GGMLType.q8_K.byteCount(forElements: Int.max - 255) == nil)
    #expect(GGMLType.f32.byteCount(forElements: Int.max) == nil)
  }
}
