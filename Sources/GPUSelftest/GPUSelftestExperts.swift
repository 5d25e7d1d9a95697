import Foundation
import GGML
import QuantaCore

// `quanta selftest`, mixture-of-experts part: routing, the expert-routed matmul (ggml's mul_mat_id)
// and the weighted mix through QuantaCore's checked one-op entry points (Ops.routeExperts,
// Ops.matmulID, Ops.mixExperts) on the device and on the CPU backend with the same inputs. Routing:
// the same ids, weights by normalized MSE ≤ 1e-7. matmulID: ≤ 5e-4 (q8_1 activations on the device),
// for decode (one token: one pair per CTA row), prompts (tokens grouped per expert on the device) and
// the byte-load path (a type without a per-type mat-vec, and experts at an offset the per-type loads
// can't take), with the token's row broadcast to every slot (gate/up) or one row per slot (down).
// An id outside the experts is an indexOutOfRange error on both.
extension GPUSelftest {
  static func expertCases(_ gpu: any ComputeBackend, _ cpu: any ComputeBackend) -> [Case] {
    var out: [Case] = []
    let routings = [
      ExpertRouting(gating: .softmax, used: 4, normalizesWeights: true),
      ExpertRouting(gating: .softmax, used: 8, normalizesWeights: false, weightScale: 2.5),
      ExpertRouting(gating: .softmaxOfSelected, used: 2, normalizesWeights: false),
    ]
    for r in routings {
      for (tokens, experts) in [(1, 16), (21, 128)] {
        let name = "routeExperts \(r.gating) top \(r.used) of \(experts), \(tokens) tokens"
        out.append(
          Case(name: name) {
            // Spread logits, plus a token of ties (the lower index first on both).
            var logits = wave(tokens * experts, seed: experts + r.used, amplitude: 2)
            if tokens > 1 { for j in 0..<experts { logits[experts + j] = j % 3 == 0 ? 1.5 : -1 } }
            func run(_ b: any ComputeBackend) throws -> ([Int32], [Float]) {
              let (ids, w) = try Ops.routeExperts(
                Tensor(logits, shape: [tokens, experts], on: b), routing: r)
              return (try ids.toArray(), try w.toArray())
            }
            let want = try run(cpu), got = try run(gpu)
            if let p = (0..<want.0.count).first(where: { got.0[$0] != want.0[$0] }) {
              return "pair \(p): expert \(got.0[p]) vs reference \(want.0[p])"
            }
            return compare(got.1, want.1, elementwise)
          })
      }
    }
    // Weights [experts, n, k]: n ragged; k of several blocks.
    let experts = 6, n = weightRows
    let shapes: [(tokens: Int, used: Int, xRows: Int)] = [
      (1, 4, 1), (1, 4, 4), (3, 2, 2), (21, 4, 1), (21, 4, 4),
    ]
    // mxfp4: gpt-oss's experts.
    for t in [GGMLType.q4_0, .q4_K, .q6_K, .q8_0, .iq4_xs, .iq2_xxs, .mxfp4] {
      let k = t.blockSize == 32 ? 32 * 9 : 256 * 2
      let blocks = randomBlocks(t, rows: experts * n, k: k, seed: UInt64(Int(t.rawValue) * 77 + k))
      for s in shapes {
        let name =
          "matmulID \(t.name) [\(experts), \(n), \(k)] x[\(s.tokens), \(s.xRows), \(k)] top \(s.used)"
        out.append(
          versus(name, reduction, gpu, cpu) { b in
            let w = try QTensor(bytes: blocks, type: t, shape: [experts, n, k], on: b)
            return try expertMatmul(
              w, tokens: s.tokens, used: s.used, xRows: s.xRows, experts: experts, on: b)
          })
      }
    }
    // Dense experts (f32 / f16 / bf16: the F32 test files), one pair per CTA row.
    for t in [GGMLType.f32, .f16, .bf16] {
      let k = 300
      let values = wave(experts * n * k, seed: Int(t.rawValue) + 3)
      for s in [shapes[0], shapes[4]] {
        out.append(
          versus(
            "matmulID \(t.name) [\(experts), \(n), \(k)] x[\(s.tokens), \(s.xRows), \(k)] top \(s.used)",
            reduction, gpu, cpu
          ) { b in
            let w = try QTensor.quantize(Tensor(values, shape: [experts, n, k], on: b), type: t)
            return try expertMatmul(
              w, tokens: s.tokens, used: s.used, xRows: s.xRows, experts: experts, on: b)
          })
      }
    }
    // q4_0 experts of 37 rows are 37 · 9 · 18 bytes apart, not a multiple of 16: the byte-load path.
    let k0 = 32 * 9
    let odd = randomBlocks(.q4_0, rows: experts * n, k: k0, seed: 5)
    out.append(
      versus("matmulID q4_0 unaligned experts x[21, 1, \(k0)] top 4", reduction, gpu, cpu) { b in
        let w = try QTensor(bytes: odd, type: .q4_0, shape: [experts, n, k0], on: b)
        return try expertMatmul(w, tokens: 21, used: 4, xRows: 1, experts: experts, on: b)
      })
    out.append(
      Case(name: "matmulID with an expert id out of range: indexOutOfRange") {
        let w = try QTensor(bytes: odd, type: .q4_0, shape: [experts, n, k0], on: gpu)
        let x = try Tensor(wave(k0, seed: 1), shape: [1, 1, k0], on: gpu)
        let ids = try IndexTensor([0, Int32(experts)], on: gpu)
        do {
          _ = try Ops.matmulID(x, weights: w, ids: ids, used: 2)
          return "no error"
        } catch QuantaError.indexOutOfRange {
          return nil
        }
      })
    for (tokens, used, d) in [(1, 8, 300), (21, 2, 64)] {
      out.append(
        versus("mixExperts [\(tokens), \(used), \(d)]", elementwise, gpu, cpu) { b in
          let x = try Tensor(wave(tokens * used * d, seed: d), shape: [tokens, used, d], on: b)
          let w = try Tensor(wave(tokens * used, seed: 3), shape: [tokens, used], on: b)
          return try Ops.mixExperts(x, weights: w).toArray()
        })
    }
    return out
  }

  /// `Ops.matmulID` of deterministic inputs: several tokens sharing experts (the first token's ids
  /// distinct, as routing picks them; later ones may name an expert twice, which the op allows).
  static func expertMatmul(
    _ w: QTensor, tokens: Int, used: Int, xRows: Int, experts: Int, on b: any ComputeBackend
  ) throws -> [Float] {
    let k = w.shape[2]
    let x = try Tensor(wave(tokens * xRows * k, seed: tokens + 7 * xRows), shape: [tokens, xRows, k], on: b)
    let ids = (0..<tokens).flatMap { t in (0..<used).map { j in Int32((t * 5 + j * (1 + t % 2)) % experts) } }
    return try Ops.matmulID(x, weights: w, ids: IndexTensor(ids, on: b), used: used).toArray()
  }
}
