import CPUKernels
import GGML
import Testing

/// f32 ↔ f16 row conversions against the GGML module's scalar conversions (ggml's rounding).
@Suite struct ConvertTests {
  /// Random bit patterns (every exponent: subnormals, overflow, inf, NaN) plus round-half cases.
  static func samples() -> [Float] {
    var rng = SplitMix64(seed: 0xF16)
    var v = (0..<20000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
    v += (0..<4000).map { i in Float(i) * 0.000_244_140_625 + 1 }  // ties at 2^-11 steps above 1
    v += [0, -0, 65504, 65520, -65520, 6.0e-8, 2.98e-8, 1e-10, .infinity, -.infinity, .nan]
    return v + [1, 2, 3]  // length not a multiple of 8: the scalar tail runs too
  }

  @Test func fp32ToFp16MatchesReference() {
    let x = Self.samples()
    var y = [UInt16](repeating: 0, count: x.count)
    qk_fp32_to_fp16_row(x, &y, x.count)
    var bad = 0
    for i in x.indices {
      let want = fp32ToFp16(x[i])
      let isNaN = want & 0x7c00 == 0x7c00 && want & 0x3ff != 0
      if isNaN ? !(y[i] & 0x7c00 == 0x7c00 && y[i] & 0x3ff != 0) : y[i] != want { bad += 1 }
    }
    #expect(bad == 0, "\(bad) of \(x.count) conversions differ")
  }

  @Test func fp16ToFp32AndRoundTrip() {
    let h = (0...0xffff).map { UInt16($0) }
    var f = [Float](repeating: 0, count: h.count)
    qk_fp16_to_fp32_row(h, &f, h.count)
    var bad = 0
    for i in h.indices {
      let want = fp16ToFp32(h[i])
      if want.isNaN ? !f[i].isNaN : f[i].bitPattern != want.bitPattern { bad += 1 }
    }
    #expect(bad == 0, "\(bad) of 65536 f16 values convert differently")
    let x = Self.samples()
    var r = x
    // In place.
    r.withUnsafeMutableBufferPointer { qk_round_to_fp16($0.baseAddress, $0.baseAddress, $0.count) }
    var badRound = 0
    for i in x.indices {
      let want = fp16ToFp32(fp32ToFp16(x[i]))
      if want.isNaN ? !r[i].isNaN : r[i].bitPattern != want.bitPattern { badRound += 1 }
    }
    #expect(badRound == 0, "\(badRound) of \(x.count) roundings differ")
  }
}
