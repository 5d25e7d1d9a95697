import QuantaCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// gpt-oss's element-wise ops on the CPU (semantics: QuantaCore's SinkOps.swift; attention with sinks
// is `CPUBackend.attention(…, sinks:, …)`, the sink entering each head's softmax denominator at the
// end through `AttentionLogits.normalizer`).
extension CPUBackend {
  /// ggml's `ggml_compute_forward_swiglu_oai_f32`, term by term in f32.
  public func swigluOAI(gate: Tensor, up: Tensor, alpha: Float, limit: Float, into out: Tensor) throws {
    let (g, u, o) = (try f32(gate, "swiglu_oai"), try f32(up, "swiglu_oai"), try f32(out, "swiglu_oai"))
    let count = gate.count
    pool.parallelFor(count: count, chunk: pool.chunk(for: count, minimum: 1 << 12, multiple: 16)) { r, _ in
      for i in r {
        let x = min(g[i], limit)
        let y = min(max(u[i], -limit), limit)
        o[i] = x / (1 + expf(alpha * -x)) * (y + 1)
      }
    }
  }

  /// ggml's `add_id`: row `(t, j)` of `x` plus row `ids[t, j]` of `bias`.
  public func addID(_ x: Tensor, bias: Tensor, ids: IndexTensor, into out: Tensor) throws {
    let (pairs, n) = (x.shape[0] * x.shape[1], x.shape[2])
    let experts = bias.shape[0]
    let (xs, b, o) = (try f32(x, "add_id"), try f32(bias, "add_id"), try f32(out, "add_id"))
    let id = try indices(ids, "add_id")
    for p in 0..<pairs where id[p] < 0 || Int(id[p]) >= experts {
      throw QuantaError.indexOutOfRange(
        op: "add_id (expert id of pair \(p))", index: Int(id[p]), bound: experts)
    }
    pool.parallelFor(count: pairs, chunk: pool.chunk(for: pairs)) { r, _ in
      for p in r {
        let row = b + Int(id[p]) * n
        for i in 0..<n { o[p * n + i] = xs[p * n + i] + row[i] }
      }
    }
  }
}
