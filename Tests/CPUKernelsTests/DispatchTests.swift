import CPUKernels
import GGML
import Testing

/// The ISA tables: which paths this machine runs, which it cannot (reported, never silently
/// passed), and which entries run an ISA's own code rather than a fallback.
@Suite struct DispatchTests {
  @Test func unsupportedISAsAreReportedWithTheirReason() {
    for isa in ISA.unsupported {
      #expect(qk_kernels(isa.value) == nil, "\(isa) is unsupported yet has a table")
      #expect(!isa.unsupportedReason.isEmpty, "\(isa) is unsupported without a reason")
      withKnownIssue("\(isa) kernels not run on this machine: \(isa.unsupportedReason)") {
        Issue.record("\(isa) skipped: \(isa.unsupportedReason)")
      }
    }
  }

  @Test func bestISAIsSupportedAndScalarAlwaysIs() {
    #expect(qk_isa_supported(QK_ISA_SCALAR) != 0)
    #expect(qk_isa_supported(qk_best_isa()) != 0)
    #expect(qk_kernels(qk_isa(rawValue: 99)) == nil)
    #if arch(x86_64)
      #expect(qk_isa_supported(QK_ISA_NEON) == 0)
    #elseif arch(arm64)
      #expect(qk_isa_supported(QK_ISA_NEON) != 0)
    #endif
  }

  @Test("every kernel type has a complete entry", arguments: ISA.supported)
  func tableIsComplete(isa: ISA) throws {
    let t = try isa.table
    #expect(t.pointee.isa == isa.value)
    #expect(String(cString: t.pointee.name) == isa.description)
    for type in quantTypes + denseTypes {
      let id = Int32(type.rawValue)
      #expect(qk_table_vec_dot(t, id) != nil, "\(isa) has no vec_dot for \(type)")
      #expect(qk_table_vec_dot_tile(t, id) != nil, "\(isa) has no tile kernel for \(type)")
      #expect(qk_table_vec_dot_type(t, id) == Int32(dotType(type).rawValue), "\(isa) \(type) dot type")
    }
    // Types without kernels say so instead of pointing anywhere.
    for type in [GGMLType.q8_K, .q8_1] {
      #expect(qk_table_vec_dot(t, Int32(type.rawValue)) == nil)
      #expect(qk_table_vec_dot_type(t, Int32(type.rawValue)) == -1)
    }
    #expect(qk_table_vec_dot(t, -1) == nil && qk_table_vec_dot(t, 1000) == nil)
    #expect(
      t.pointee.quantize_q8_0 != nil && t.pointee.quantize_q8_1 != nil && t.pointee.quantize_q8_K != nil)
    #expect(t.pointee.stream_sum != nil)
    #expect(t.pointee.tile_rows >= 1 && t.pointee.tile_cols >= 1)
  }

  /// Which ISA's code each entry runs: a table quietly losing its own kernels shows up here.
  @Test("entries run the ISA's own kernels where it has them", arguments: ISA.supported)
  func ownKernels(isa: ISA) throws {
    let t = try isa.table
    let own: [GGMLType]
    var fallback: qk_isa = QK_ISA_SCALAR
    switch isa.value {
    case QK_ISA_SCALAR, QK_ISA_AVX2: own = quantTypes + denseTypes
    case QK_ISA_AVX512: own = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K]; fallback = QK_ISA_AVX2
    case QK_ISA_AVX512_VNNI:
      own = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .iq4_nl, .mxfp4, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]
      fallback = QK_ISA_AVX2
    case QK_ISA_NEON: own = [.q4_0, .q8_0, .q4_K, .q6_K]
    default: own = []
    }
    for type in own {
      #expect(qk_table_impl_isa(t, Int32(type.rawValue)) == isa.value, "\(isa) \(type) is not its own kernel")
    }
    // The rest fall back to a lesser ISA, never to a greater one.
    for type in quantTypes + denseTypes where !own.contains(type) {
      let impl = qk_table_impl_isa(t, Int32(type.rawValue))
      #expect(impl == fallback, "\(isa) \(type) runs \(impl)")
    }
  }
}
