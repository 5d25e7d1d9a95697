import QuantaCore
import Testing

@testable import CPUBackend

/// The CPU backend keeps the last RoPE cos/sin table (one per forward pass instead of one per call):
/// a sequence of calls that hit and miss it gives, bit for bit, what a fresh backend computes.
@Suite struct RopeMemoTests {
  @Test func memoizedTableEqualsFreshComputation() throws {
    var rng = OpsReference.Random(seed: 77)
    let (tokens, heads, headDim) = (6, 2, 32)
    let shared = try CPUBackend()
    let x = rng.floats(tokens * heads * headDim)
    let a: [Int32] = [0, 1, 2, 3, 4, 5]
    let b: [Int32] = [0, 1, 2, 3, 4, 6]
    let neox = RoPEParameters(mode: .neox, dimensions: 32, freqBase: 10_000)
    let scaled = RoPEParameters(mode: .neox, dimensions: 32, freqBase: 10_000, freqScale: 0.25)
    let f1 = rng.floats(16, 0.5, 2)
    var f2 = f1
    f2[15] += 1
    // (positions, parameters, freq factors): repeats hit the memo, each change must miss it.
    let calls: [([Int32], RoPEParameters, [Float]?)] = [
      (a, neox, nil), (a, neox, nil), (b, neox, nil), (a, neox, nil), (a, scaled, nil), (a, scaled, f1),
      (a, scaled, f1), (a, scaled, f2), (a, neox, nil),
    ]
    for (i, (positions, p, ff)) in calls.enumerated() {
      func run(_ backend: CPUBackend) throws -> [Float] {
        let xt = try Tensor(x, shape: [tokens, heads, headDim], on: backend)
        let ft = try ff.map { try Tensor($0, shape: [$0.count], on: backend) }
        return try Ops.rope(xt, positions: positions, parameters: p, freqFactors: ft).toArray()
      }
      let got = try run(shared)
      let want = try run(try CPUBackend())
      #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "call \(i): differs from a fresh backend")
    }
  }
}
