import Foundation
import QuantaCore
import Testing

@testable import CPUBackend

/// `Ops.hadamard` on the CPU (the rotation llama.cpp applies around quantized KV caches) against a
/// Double product with the Sylvester matrix written from its definition, `H[i][j] =
/// (−1)^popcount(i & j) / √n`; its own inverse; in place; bad blocks as typed errors; and the
/// rotation policy (`AttentionRotation`) against llama.cpp's rule, case by case.
@Suite struct HadamardTests {
  var rng = OpsReference.Random(seed: 6464)

  /// Each run of `block` values of `x` times H, in Double.
  static func reference(_ x: [Float], block n: Int) -> [Double] {
    var out = [Double](repeating: 0, count: x.count)
    for start in stride(from: 0, to: x.count, by: n) {
      for i in 0..<n {
        var s = 0.0
        for j in 0..<n { s += ((i & j).nonzeroBitCount % 2 == 0 ? 1 : -1) * Double(x[start + j]) }
        out[start + i] = s / Double(n).squareRoot()
      }
    }
    return out
  }

  @Test mutating func matchesTheMatrixProduct() throws {
    let cpu = try Fixture.cpu()
    for (rows, width, block) in [
      (1, 2, 2), (3, 64, 64), (5, 256, 128), (7, 256, 256), (2, 1024, 512), (4, 96, 32),
    ] {
      var x = (0..<(rows * width)).map { _ in rng.uniform(-2, 2) }
      x[1] = 50  // an outlier
      let y = try Ops.hadamard(Tensor(x, shape: [rows, width], on: cpu), block: block).toArray()
      let e = OpsReference.nmse(y, Self.reference(x, block: block))
      #expect(e <= 1e-12, "[\(rows), \(width)] block \(block): NMSE \(e)")
      // Orthonormal: the norm of every run is kept (the outlier's energy spread, not lost).
      let run0 = y[0..<block].reduce(0) { $0 + Double($1) * Double($1) }
      let want = x[0..<block].reduce(0) { $0 + Double($1) * Double($1) }
      #expect(abs(run0 - want) <= 1e-5 * want)
    }
  }

  @Test mutating func isItsOwnInverseAndWorksInPlace() throws {
    let cpu = try Fixture.cpu()
    let x = (0..<(6 * 256)).map { _ in rng.uniform(-3, 3) }
    let t = try Tensor(x, shape: [6, 256], on: cpu)
    let once = try Ops.hadamard(t, block: 256)
    let twice = try Ops.hadamard(once, block: 256).toArray()
    #expect(OpsReference.nmse(twice, x.map(Double.init)) <= 1e-12)
    // out == x: the backend's contract allows it (the model rotates into a spare buffer, but a
    // caller may not).
    try cpu.hadamard(t, block: 256, into: t)
    #expect(try t.toArray() == once.toArray())
  }

  @Test func badBlocksAreTypedErrors() throws {
    let cpu = try Fixture.cpu()
    let t = try Tensor.zeros(shape: [2, 96], on: cpu)
    for block in [0, 1, 3, 48, 64] {
      #expect(throws: QuantaError.self, "block \(block)") { _ = try Ops.hadamard(t, block: block) }
    }
    _ = try Ops.hadamard(t, block: 32)
  }

  /// llama.cpp's `llama_kv_cache` (src/llama-kv-cache.cpp): K rotated for a quantized K cache and a
  /// head size that is a multiple of 64, by the largest power of two dividing it; V by 64 for a
  /// quantized V cache; nothing for f16/bf16, for other head sizes, or when disabled.
  @Test func rotationPolicyIsLlamaCpps() {
    typealias R = AttentionRotation
    #expect(R(headDim: 64, keyType: .q4_0, valueType: .q4_0) == R(keyBlock: 64, valueBlock: 64))
    #expect(R(headDim: 128, keyType: .q8_0, valueType: .q8_0) == R(keyBlock: 128, valueBlock: 64))
    #expect(R(headDim: 256, keyType: .q4_0, valueType: .q8_0) == R(keyBlock: 256, valueBlock: 64))
    #expect(R(headDim: 192, keyType: .q4_0, valueType: .q4_0) == R(keyBlock: 64, valueBlock: 64))
    #expect(R(headDim: 320, keyType: .q4_0, valueType: .q4_0) == R(keyBlock: 64, valueBlock: 64))
    #expect(R(headDim: 512, keyType: .q8_0, valueType: .f16) == R(keyBlock: 512, valueBlock: nil))
    #expect(R(headDim: 128, keyType: .f16, valueType: .q4_0) == R(keyBlock: nil, valueBlock: 64))
    #expect(R(headDim: 128, keyType: .bf16, valueType: .bf16) == .none)
    #expect(R(headDim: 96, keyType: .q4_0, valueType: .q4_0) == .none)
    #expect(R(headDim: 32, keyType: .q8_0, valueType: .q8_0) == .none)
    #expect(R(headDim: 256, keyType: .q4_0, valueType: .q4_0, enabled: false) == .none)
  }
}
