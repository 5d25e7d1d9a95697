// The ops gpt-oss adds (llama.cpp's `llm_build_openai_moe_iswa` in src/models/openai-moe.cpp):
// attention with a learned sink logit per head, ggml's `swiglu_oai` activation of its experts, and
// `add_id`, which adds each picked expert's bias to that expert's output rows.
//
//     scores  = scale · q·Kᵀ (masked)                 // (heads, keys)
//     out     = Σ_j exp(s_j − m) · v_j / (Σ_j exp(s_j − m) + exp(sink_h − m)),  m = max(s, sink_h)
//     act     = min(g, L) · σ(α · min(g, L)) · (clamp(u, −L, L) + 1)            // α 1.702, L 7
//     y[t, j] = y[t, j] + bias[ids[t, j]]

/// gpt-oss's `swiglu_oai` constants (llama.cpp's `build_moe_ffn`, `LLM_FFN_SWIGLU_OAI_MOE`).
public enum SwigluOAI {
  public static let alpha: Float = 1.702
  public static let limit: Float = 7.0
}

// Defaults: a backend without the op says so (a typed error, never a silent fallback).
extension ComputeBackend {
  public func attention(
    query: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor,
    parameters: AttentionParameters, sinks: Tensor?, into out: Tensor
  ) throws {
    guard sinks != nil else {
      return try attention(
        query: query, positions: positions, keyCache: keyCache, valueCache: valueCache,
        parameters: parameters,
        into: out)
    }
    throw unsupported("attention with sinks", keyCache.type.name)
  }
  public func swigluOAI(gate: Tensor, up: Tensor, alpha: Float, limit: Float, into out: Tensor) throws {
    throw unsupported("swiglu_oai", gate.dtype.rawValue)
  }
  public func addID(_ x: Tensor, bias: Tensor, ids: IndexTensor, into out: Tensor) throws {
    throw unsupported("add_id", x.dtype.rawValue)
  }
}

extension Ops {
  /// `swiglu_oai(gate, up)` element-wise (see `ComputeBackend.swigluOAI`); same shapes.
  public static func swigluOAI(
    gate: Tensor, up: Tensor, alpha: Float = SwigluOAI.alpha, limit: Float = SwigluOAI.limit
  ) throws -> Tensor {
    try Validate.f32Input("swiglu_oai", gate.backend, gate, up)
    try Validate.shape("swiglu_oai", up, gate.shape)
    guard limit > 0 else { throw QuantaError.invalidArgument(op: "swiglu_oai", reason: "limit \(limit) ≤ 0") }
    let out = try like(gate)
    try gate.backend.swigluOAI(gate: gate, up: up, alpha: alpha, limit: limit, into: out)
    return out
  }

  /// `x[t, j] + bias[ids[t, j]]` of `x` `[tokens, used, n]`, `bias` `[experts, n]`, ids
  /// `tokens · used` (ggml's `add_id`).
  public static func addID(_ x: Tensor, bias: Tensor, ids: IndexTensor) throws -> Tensor {
    try Validate.f32Input("add_id", x.backend, x, bias)
    try Validate.rank("add_id", x, 3, "[tokens, used, n]")
    try Validate.rank("add_id", bias, 2, "[experts, n]")
    guard bias.shape[1] == x.shape[2] else {
      throw QuantaError.shapeMismatch(op: "add_id", expected: "[experts, \(x.shape[2])]", actual: bias.shape)
    }
    guard ids.count == x.shape[0] * x.shape[1] else {
      throw QuantaError.invalidArgument(
        op: "add_id", reason: "\(ids.count) ids for \(x.shape[0]) tokens × \(x.shape[1])")
    }
    guard ids.buffer.backend === x.backend else {
      throw QuantaError.deviceMismatch(op: "add_id", expected: x.device, actual: ids.buffer.device)
    }
    let out = try like(x)
    try x.backend.addID(x, bias: bias, ids: ids, into: out)
    return out
  }
}
