import CPUKernels
import Foundation
import GGML
import Testing

/// `qk_attention_prompt_f16` (a block of prompt queries over an f16 cache) against softmax attention
/// in Double over the same f16 keys and values: causal, windowed and empty key ranges, key counts
/// across the 32-key conversion blocks, head sizes with and without a vector tail, soft-capping.
@Suite struct AttentionPromptTests {
  @Test("prompt attention equals the Double reference", arguments: ISA.supported)
  func matchesReference(isa: ISA) {
    var rng = SplitMix64(seed: 2718)
    for (hd, nh, nq, nKV, cap) in [
      (64, 3, 16, 70, Float(0)), (256, 4, 9, 33, 0), (40, 1, 5, 12, 0), (64, 2, 7, 40, 5),
    ] {
      let q = (0..<nq * nh * hd).map { _ in rng.unit() }
      // Cache rows are f16 values; the reference reads the same values.
      let k = (0..<nKV * hd).map { _ in Float16(rng.unit()) }
      let v = (0..<nKV * hd).map { _ in Float16(rng.unit()) }
      // Query t sees [lo, hi): causal at position nKV - nq + t, a window of 20 on odd t, none for t = 2.
      var lo = [Int32](repeating: 0, count: nq)
      var hi = [Int32](repeating: 0, count: nq)
      for t in 0..<nq {
        let pos = nKV - nq + t
        hi[t] = Int32(pos + 1)
        lo[t] = t % 2 == 1 ? Int32(max(0, pos - 19)) : 0
        if t == 2 { (lo[t], hi[t]) = (0, 0) }
      }
      let scale: Float = 0.125
      let scratch = qk_attention_prompt_scratch(Int32(nq), Int32(nh), Int32(hd))
      var work = [Float](repeating: .nan, count: scratch)
      var out = [Float](repeating: .nan, count: nq * nh * hd)
      let kb = k.map(\.bitPattern)
      let vb = v.map(\.bitPattern)
      qk_attention_prompt_f16(
        isa.value, Int32(nq), Int32(nh), Int32(hd), q, nh * hd, kb, vb, hd, lo, hi, scale, cap, &out, nh * hd,
        &work)
      var worst = 0.0
      for t in 0..<nq {
        for h in 0..<nh {
          let qr = Array(q[(t * nh + h) * hd..<(t * nh + h + 1) * hd])
          var logits: [Double] = []
          for j in Int(lo[t])..<Int(hi[t]) {
            var d = 0.0
            for c in 0..<hd { d += Double(qr[c]) * Double(k[j * hd + c]) }
            var x = Double(scale) * d
            if cap > 0 { x = Double(cap) * tanh(x / Double(cap)) }
            logits.append(x)
          }
          let m = logits.max() ?? 0
          let e = logits.map { exp($0 - m) }
          let total = e.reduce(0, +)
          for c in 0..<hd {
            var want = 0.0
            for (i, j) in (Int(lo[t])..<Int(hi[t])).enumerated() {
              want += e[i] / total * Double(v[j * hd + c])
            }
            worst = max(worst, abs(Double(out[(t * nh + h) * hd + c]) - want))
          }
        }
      }
      #expect(worst <= 1e-5, "\(isa) hd=\(hd) nh=\(nh) nq=\(nq) nKV=\(nKV) cap=\(cap): max error \(worst)")
    }
  }
}
