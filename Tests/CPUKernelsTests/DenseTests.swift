import CPUKernels
import GGML
import Testing

/// Dense weights (f32, f16, bf16) against f32 activations, and the streaming read, against double
/// precision. Any f32 summation order errs by at most about n·2⁻²⁴·Σ|xᵢyᵢ|; 2n·2⁻²⁴ is the bound.
@Suite struct DenseTests {
  @Test("dense dot equals the double-precision dot", arguments: ISA.supported, denseTypes)
  func denseDot(isa: ISA, type: GGMLType) throws {
    let dot = try #require(qk_table_vec_dot(try isa.table, Int32(type.rawValue)))
    for n in [1, 7, 8, 16, 33, 1000, 4096] {
      let w = sampleValues(count: n, seed: UInt64(n))
      let y = sampleValues(count: n, seed: UInt64(n) &+ 7)
      let wBytes = try type.quantize(w)
      // The weights as stored (f16/bf16 rounded), exactly representable in f32.
      let wStored = try type.dequantize(wBytes, count: n)
      let expected = referenceDot(wStored, y)
      let got = callVecDot(dot, n: n, wBytes, floatBytes(y))
      let bound = 2 * Double(n) * 0x1p-24 * expected.magnitude
      #expect(abs(Double(got) - expected.dot) <= bound, "\(isa) \(type) n=\(n): \(got) vs \(expected.dot)")
    }
  }

  @Test("streaming sum equals the double-precision sum", arguments: ISA.supported)
  func streamSum(isa: ISA) throws {
    let sum = try #require(try isa.table.pointee.stream_sum)
    for n in [0, 1, 31, 32, 33, 100_003] {
      let x = sampleValues(count: n, seed: 77)
      var exact = 0.0
      var magnitude = 0.0
      for v in x {
        exact += Double(v)
        magnitude += abs(Double(v))
      }
      let got = x.withUnsafeBufferPointer { sum($0.baseAddress, n) }
      #expect(
        abs(Double(got) - exact) <= 2 * Double(n) * 0x1p-24 * magnitude, "\(isa) n=\(n): \(got) vs \(exact)")
    }
  }
}
