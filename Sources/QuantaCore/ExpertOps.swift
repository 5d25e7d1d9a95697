import GGML

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Mixture-of-experts ops (llama.cpp's `build_moe_ffn` in src/llama-graph.cpp, ggml's `mul_mat_id`):
// a router picks `used` of `count` experts per token and weighs them, each picked expert's FFN runs
// on the token, and the outputs are summed with the weights.
//
//     logits  = router · x                        // (tokens, experts)
//     ids, w  = routeExperts(logits)              // (tokens, used) each
//     g, u    = matmulID(gate_exps, x, ids), matmulID(up_exps, x, ids)   // (tokens, used, ff)
//     y       = matmulID(down_exps, swiglu(g, u), ids)                   // (tokens, used, d)
//     out     = mixExperts(y, w)                  // (tokens, d): Σ_j w[t, j] · y[t, j]

/// How a mixture-of-experts layer picks and weighs its experts, as llama.cpp's `build_moe_ffn`
/// does for the family.
public struct ExpertRouting: Sendable, Hashable {
  public enum Gating: Sendable, Hashable {
    /// Probabilities = softmax over every expert's logit; the `used` most probable experts are
    /// picked and weighed by their probabilities (ggml's `LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX`:
    /// Mixtral, Qwen3-MoE).
    case softmax
    /// The `used` largest logits are picked and weighed by the softmax of those logits alone
    /// (`LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX_WEIGHT`: gpt-oss).
    case softmaxOfSelected
  }
  public var gating: Gating
  /// Experts per token (`expert_used_count`).
  public var used: Int
  /// Divides the picked weights by their sum (clamped below at 6.103515625e-5, the smallest normal
  /// f16, as llama.cpp does) before any scale.
  public var normalizesWeights: Bool
  /// Multiplies the weights last (`expert_weights_scale`; 1: none).
  public var weightScale: Float

  public init(gating: Gating = .softmax, used: Int, normalizesWeights: Bool, weightScale: Float = 1) {
    self.gating = gating
    self.used = used
    self.normalizesWeights = normalizesWeights
    self.weightScale = weightScale
  }

  /// Picks and weighs the experts of one token from its router `logits` (one per expert): the
  /// indices in order of decreasing score (the lower index first among equal scores, where ggml's
  /// `std::sort` leaves the order open) and their weights. The reference every backend is held to.
  public func route(
    _ logits: UnsafeBufferPointer<Float>, ids: UnsafeMutableBufferPointer<Int32>,
    weights: UnsafeMutableBufferPointer<Float>
  ) {
    let n = logits.count
    // Scores: softmax probabilities (max-subtracted, as ggml's soft_max), or the raw logits.
    var peak = -Float.infinity
    for v in logits { peak = max(peak, v) }
    var sum: Double = 0
    if gating == .softmax {
      for v in logits { sum += Double(expf(v - peak)) }
    }
    func score(_ i: Int) -> Float {
      gating == .softmax ? expf(logits[i] - peak) * Float(1 / sum) : logits[i]
    }
    // Selection of the `used` largest: insertion into a sorted prefix (used is small: 2-8).
    var count = 0
    for i in 0..<n {
      let s = score(i)
      guard count < used || s > weights[count - 1] else { continue }
      var j = min(count, used - 1)
      while j > 0 && weights[j - 1] < s {
        weights[j] = weights[j - 1]
        ids[j] = ids[j - 1]
        j -= 1
      }
      weights[j] = s
      ids[j] = Int32(i)
      count = min(count + 1, used)
    }
    if gating == .softmaxOfSelected {
      let top = weights[0]
      var total: Float = 0
      for j in 0..<used {
        weights[j] = expf(weights[j] - top)
        total += weights[j]
      }
      for j in 0..<used { weights[j] /= total }
    }
    if normalizesWeights {
      var total: Float = 0
      for j in 0..<used { total += weights[j] }
      total = max(total, 6.103515625e-5)
      for j in 0..<used { weights[j] /= total }
    }
    if weightScale != 1 {
      for j in 0..<used { weights[j] *= weightScale }
    }
  }
}

extension IndexTensor {
  /// `values` copied to new memory of `backend` (ids for the one-op `Ops.matmulID`).
  public init(_ values: [Int32], on backend: any ComputeBackend) throws {
    let buffer = try backend.allocate(byteCount: max(4 * values.count, 4))
    if !values.isEmpty { try values.withUnsafeBytes { try backend.copy($0, to: buffer, at: 0) } }
    try self.init(buffer: buffer, count: values.count)
  }

  /// The values, copied to the host.
  public func toArray() throws -> [Int32] {
    var out = [Int32](repeating: 0, count: count)
    if count > 0 {
      try out.withUnsafeMutableBytes { try buffer.backend.copy(buffer, at: byteOffset, to: $0) }
    }
    return out
  }
}

/// The checked one-op entry points of the expert ops (see `ComputeBackend.routeExperts`,
/// `matmulID`, `mixExperts` for the semantics).
extension Ops {
  /// The experts of each token from router logits `[tokens, experts]`: ids `tokens · used` (row-major
  /// `[tokens, used]`) and f32 weights `[tokens, used]`.
  public static func routeExperts(_ logits: Tensor, routing: ExpertRouting) throws -> (
    ids: IndexTensor, weights: Tensor
  ) {
    try Validate.f32Input("routeExperts", logits.backend, logits)
    try Validate.rank("routeExperts", logits, 2, "[tokens, experts]")
    try checkRouting(routing, experts: logits.shape[1])
    let tokens = logits.shape[0]
    let ids = try IndexTensor([Int32](repeating: 0, count: tokens * routing.used), on: logits.backend)
    let weights = try Tensor.zeros(shape: [tokens, routing.used], on: logits.backend)
    try logits.backend.routeExperts(logits, routing: routing, ids: ids, weights: weights)
    return (ids, weights)
  }

  static func checkRouting(_ routing: ExpertRouting, experts: Int) throws(QuantaError) {
    guard routing.used >= 1, routing.used <= experts else {
      throw .invalidArgument(op: "routeExperts", reason: "\(routing.used) experts used of \(experts)")
    }
  }

  /// Expert-routed matmul (ggml's `mul_mat_id`): `out[t, j] = weights[ids[t, j]] · x[t, j mod xRows]`.
  /// `x` f32 `[tokens, xRows, k]` with `xRows` 1 (every picked expert reads the token's row) or
  /// `used`; `weights` `[experts, n, k]` (a stacked `ffn_*_exps` tensor); ids `tokens · used`
  /// (each checked against the experts by the backend when it reads them); `out` f32
  /// `[tokens, used, n]`.
  public static func matmulID(
    _ x: Tensor, weights: QTensor, ids: IndexTensor, used: Int, options: QMatMulOptions = .init()
  ) throws -> Tensor {
    try Validate.f32Input("matmulID", weights.backend, x)
    try checkMatmulID(x: x, weights: weights, idCount: ids.count, used: used)
    guard ids.buffer.backend === weights.backend else {
      throw QuantaError.deviceMismatch(op: "matmulID", expected: weights.device, actual: ids.buffer.device)
    }
    let out = try Tensor.zeros(shape: [x.shape[0], used, weights.shape[1]], on: weights.backend)
    try weights.backend.matmulID(x, weights: weights, ids: ids, options: options, into: out)
    return out
  }

  static func checkMatmulID(x: Tensor, weights: QTensor, idCount: Int, used: Int) throws(QuantaError) {
    guard weights.shape.count == 3 else {
      throw .shapeMismatch(op: "matmulID", expected: "[experts, n, k]", actual: weights.shape)
    }
    guard x.rank == 3, x.shape[1] == 1 || x.shape[1] == used, x.shape[2] == weights.shape[2] else {
      throw .shapeMismatch(
        op: "matmulID", expected: "[tokens, 1 or \(used), \(weights.shape[2])]", actual: x.shape)
    }
    guard idCount == x.shape[0] * used, used >= 1 else {
      throw .invalidArgument(op: "matmulID", reason: "\(idCount) ids for \(x.shape[0]) tokens × \(used)")
    }
    guard weights.rowLength % weights.blockSize == 0 else {
      throw .notBlockMultiple(op: "matmulID", type: weights.type, count: weights.rowLength)
    }
  }

  /// `Σ_j weights[t, j] · x[t, j]` of `x` `[tokens, used, d]` → `[tokens, d]`, summed in `j` order
  /// (llama.cpp adds the weighted experts' views one after the other).
  public static func mixExperts(_ x: Tensor, weights: Tensor) throws -> Tensor {
    try Validate.f32Input("mixExperts", x.backend, x, weights)
    try Validate.rank("mixExperts", x, 3, "[tokens, used, d]")
    try Validate.shape("mixExperts", weights, [x.shape[0], x.shape[1]])
    let out = try Tensor.zeros(shape: [x.shape[0], x.shape[2]], on: x.backend)
    try x.backend.mixExperts(x, weights: weights, into: out)
    return out
  }
}

// Defaults: "unsupported" until a backend implements them.
extension ComputeBackend {
  public func routeExperts(_ logits: Tensor, routing: ExpertRouting, ids: IndexTensor, weights: Tensor) throws
  {
    throw unsupported("routeExperts", logits.dtype.rawValue)
  }
  public func matmulID(
    _ x: Tensor, weights: QTensor, ids: IndexTensor, options: QMatMulOptions, into out: Tensor
  ) throws {
    throw unsupported("matmulID", weights.type.name)
  }
  public func mixExperts(_ x: Tensor, weights: Tensor, into out: Tensor) throws {
    throw unsupported("mixExperts", x.dtype.rawValue)
  }
}
