import CPUKernels
import Testing

/// The f16 accumulator steps of ggml's CPU flash attention, against their definition written with
/// Swift's Float16 (round to nearest even) and a fused multiply-add in f32.
@Suite struct F16AccumulatorTests {
  static func values(_ n: Int, seed: UInt32) -> [Float] {
    var state = seed
    return (0..<n).map { _ in
      state = state &* 1_664_525 &+ 1_013_904_223
      return (Float(state >> 8) / Float(1 << 24) - 0.5) * 8
    }
  }

  static func half(_ x: Float) -> Float { Float(Float16(x)) }

  @Test(arguments: [1, 7, 8, 9, 256, 259])
  func madAndScaleMatchTheirDefinition(n: Int) {
    var acc = Self.values(n, seed: 1).map(Self.half)
    let v = Self.values(n, seed: 2).map(Self.half)
    let s: Float = 0.3710937
    var expected = zip(acc, v).map { a, x in Self.half(a.addingProduct(x, s)) }
    qk_f16_acc_mad(&acc, v, s, n)
    #expect(acc.map(\.bitPattern) == expected.map(\.bitPattern))

    expected = acc.map { Self.half($0 * 0.8125) }
    qk_f16_acc_scale(&acc, 0.8125, n)
    #expect(acc.map(\.bitPattern) == expected.map(\.bitPattern))
  }
}
