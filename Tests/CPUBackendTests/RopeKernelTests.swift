import CPUKernels
import QuantaCore
import Testing

@testable import CPUBackend

/// CPUKernels' RoPE rotation (`qk_rope_f32`, what the backend's rope runs) gives the bits of
/// `CPUOps.rope` (the Swift rotation, ggml's arithmetic) on every ISA: NeoX and normal pairs, a
/// partial rotation (nRot < headDim) and pair counts with and without a vector tail, ±0 and large
/// values (the sign of a zero result aside, see below).
@Suite struct RopeKernelTests {
  static let isas: [CPUInstructionSet] = CPUInstructionSet.allCases.filter {
    CPUBackend.unsupportedReason($0) == nil
  }

  @Test(arguments: isas, [RopeMode.neox, .normal])
  func kernelEqualsSwiftRotation(isa: CPUInstructionSet, mode: RopeMode) {
    var rng = OpsReference.Random(seed: 31)
    for (heads, headDim, nRot) in [(3, 64, 64), (2, 256, 256), (2, 80, 52), (1, 40, 40)] {
      let tokens = 5
      var x = rng.floats(tokens * heads * headDim, -40, 40)
      x[0] = 0
      x[1] = -0.0
      x[5] = 1e30
      let positions = (0..<tokens).map { Int32($0 * 37) }
      let p = RopeParameters(mode: mode, nRot: nRot, freqBase: 10_000)
      var cache = [Float](repeating: 0, count: tokens * nRot)
      CPUOps.ropeCache(
        positions: positions, parameters: p, freqFactors: nil, into: &cache, tokens: 0..<tokens)
      var want = x
      CPUOps.rope(
        &want, tokenStride: heads * headDim, nHead: heads, headDim: headDim, mode: mode, nRot: nRot,
        cache: cache, tokens: 0..<tokens)
      var got = x
      qk_rope_f32(
        isa.qkISA, &got, heads * headDim, Int32(tokens), Int32(heads), Int32(headDim), Int32(nRot),
        mode == .neox ? 1 : 0, cache)
      // Zeros compare by value: Swift's SIMD negation is 0 − x, so CPUOps' vector loop makes
      // −(+0) into +0 where C's (and ggml's) negation keeps −0.
      let differing = (0..<x.count).filter {
        got[$0].bitPattern != want[$0].bitPattern && !(got[$0] == 0 && want[$0] == 0)
      }
      #expect(
        differing.isEmpty,
        "\(isa) \(mode) \(heads)x\(headDim) nRot \(nRot): \(differing.count) values differ, first at \(differing.first ?? -1)"
      )
    }
  }
}
