import Foundation
import GGML
import QuantaCore
import Testing

@testable import CPUBackend

/// The mixture-of-experts ops on the CPU against plain Double loops written here: routing
/// (softmax or softmax-of-picked gating, top-k with ties to the lower index, normalization,
/// scale), the expert-routed matmul over a stacked quantized tensor (tokens grouped by expert,
/// one or several per expert, broadcast or per-slot inputs), and the weighted mix.
@Suite struct OpsTestsExperts {
  static let backend = Result { try CPUBackend() }

  /// Double routing of one token: (ids, weights).
  static func route(_ logits: [Float], _ r: ExpertRouting) -> ([Int32], [Double]) {
    let l = logits.map(Double.init)
    let m = l.max()!
    let e = l.map { exp($0 - m) }
    let z = e.reduce(0, +)
    let scores = r.gating == .softmax ? e.map { $0 / z } : l
    let picked = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
      .prefix(r.used)
    var w = picked.map { scores[$0] }
    if r.gating == .softmaxOfSelected {
      let top = w.max()!
      let ex = w.map { exp($0 - top) }
      let s = ex.reduce(0, +)
      w = ex.map { $0 / s }
    }
    if r.normalizesWeights {
      let s = max(w.reduce(0, +), 6.103515625e-5)
      w = w.map { $0 / s }
    }
    return (picked.map { Int32($0) }, w.map { $0 * Double(r.weightScale) })
  }

  @Test(arguments: [
    ExpertRouting(gating: .softmax, used: 2, normalizesWeights: true),
    ExpertRouting(gating: .softmax, used: 8, normalizesWeights: true),
    ExpertRouting(gating: .softmax, used: 3, normalizesWeights: false, weightScale: 2.5),
    ExpertRouting(gating: .softmaxOfSelected, used: 4, normalizesWeights: false),
  ])
  func routingMatchesDouble(_ routing: ExpertRouting) throws {
    let b = try Self.backend.get()
    var rng = OpsReference.Random(seed: UInt64(routing.used))
    let (tokens, experts) = (5, 16)
    var logits = rng.floats(tokens * experts, -4, 4)
    // Token 1: ties across the boundary of the picked set; token 2: all equal.
    for j in 0..<experts { logits[1 * experts + j] = j % 3 == 0 ? 1.5 : -1 }
    for j in 0..<experts { logits[2 * experts + j] = 0.25 }
    let (ids, weights) = try Ops.routeExperts(
      try Tensor(logits, shape: [tokens, experts], on: b), routing: routing)
    let gotIds = try ids.toArray()
    let gotWeights = try weights.toArray()
    for t in 0..<tokens {
      let (wantIds, wantWeights) = Self.route(Array(logits[(t * experts)..<((t + 1) * experts)]), routing)
      let k = routing.used
      #expect(Array(gotIds[(t * k)..<((t + 1) * k)]) == wantIds, "token \(t)")
      for j in 0..<k {
        #expect(abs(Double(gotWeights[t * k + j]) - wantWeights[j]) <= 1e-6 * max(1, abs(wantWeights[j])))
      }
    }
    // All equal: the lowest indices, in order.
    #expect(Array(gotIds[(2 * routing.used)..<(3 * routing.used)]) == (0..<Int32(routing.used)).map { $0 })
  }

  /// `x [tokens, xRows, k]`, experts `[e, n, k]` of `type`: each (token, slot) row against the
  /// Double product of the reference-dequantized expert rows.
  @Test(arguments: [
    (GGMLType.q8_0, 1, 1), (.q4_0, 7, 1), (.q4_K, 6, 3), (.q6_K, 1, 3), (.f32, 9, 1), (.f16, 4, 3),
  ])
  func matmulIDMatchesDouble(type: GGMLType, tokens: Int, xRows: Int) throws {
    let b = try Self.backend.get()
    let (experts, n, k, used) = (5, 24, 256, 3)
    var rng = OpsReference.Random(seed: UInt64(type.rawValue) * 31 + UInt64(tokens))
    let w = rng.floats(experts * n * k, -1, 1)
    let stacked = try QTensor.quantize(try Tensor(w, shape: [experts, n, k], on: b), type: type)
    let wq = try type == .f32 ? w : type.dequantize(try stacked.bytes(), count: w.count)
    let x = rng.floats(tokens * xRows * k, -1, 1)
    // Ids: expert 1 picked by every token (a group of `tokens`), the rest spread; expert 4 never.
    var ids: [Int32] = []
    for t in 0..<tokens { ids += [1, Int32((t + 2) % 4 == 1 ? 0 : (t + 2) % 4), Int32(t % 2 == 0 ? 3 : 0)] }
    let out = try Ops.matmulID(
      try Tensor(x, shape: [tokens, xRows, k], on: b), weights: stacked, ids: try IndexTensor(ids, on: b),
      used: used)
    #expect(out.shape == [tokens, used, n])
    let got = try out.toArray()
    var num = 0.0
    var den = 0.0
    for t in 0..<tokens {
      for j in 0..<used {
        let e = Int(ids[t * used + j])
        let xr = (t * xRows + j % xRows) * k
        for r in 0..<n {
          var s = 0.0
          for c in 0..<k { s += Double(wq[(e * n + r) * k + c]) * Double(x[xr + c]) }
          let g = Double(got[(t * used + j) * n + r])
          num += (g - s) * (g - s)
          den += s * s
        }
      }
    }
    // The activations are quantized to the type's dot type (q8_0 / q8_K) as in every matmul.
    #expect(num / den <= 5e-4, "NMSE \(num / den)")
  }

  @Test func matmulIDRejectsAnIdOutsideTheExperts() throws {
    let b = try Self.backend.get()
    let stacked = try QTensor.zeros(shape: [2, 4, 32], type: .q8_0, on: b)
    let x = try Tensor.zeros(shape: [1, 1, 32], on: b)
    #expect(throws: QuantaError.self) {
      try Ops.matmulID(x, weights: stacked, ids: try IndexTensor([0, 2], on: b), used: 2)
    }
    #expect(throws: QuantaError.self) {
      try Ops.matmulID(x, weights: stacked, ids: try IndexTensor([0], on: b), used: 2)
    }
  }

  @Test func mixExpertsIsTheWeightedSumInSlotOrder() throws {
    let b = try Self.backend.get()
    var rng = OpsReference.Random(seed: 9)
    let (tokens, used, d) = (3, 4, 19)
    let x = rng.floats(tokens * used * d, -2, 2)
    let w = rng.floats(tokens * used, 0, 1)
    let got = try Ops.mixExperts(
      try Tensor(x, shape: [tokens, used, d], on: b), weights: try Tensor(w, shape: [tokens, used], on: b)
    ).toArray()
    for t in 0..<tokens {
      for i in 0..<d {
        // Float products added in slot order, as llama.cpp's chain of adds.
        var s = x[(t * used) * d + i] * w[t * used]
        for j in 1..<used { s = s + x[(t * used + j) * d + i] * w[t * used + j] }
        #expect(got[t * d + i] == s)
      }
    }
  }
}
