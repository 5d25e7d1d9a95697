import GGML

/// The dense ops of a transformer, on the device of their inputs. Each entry point checks shapes,
/// types and devices once, allocates the result on the same device and calls the backend (see
/// `ComputeBackend` for the exact semantics). Compute is f32; KV caches are f16, bf16, q8_0 or q4_0 (`KVCacheType`).
public enum Ops {
  /// Rows `ids` of a quantized or dense table `[rows, dim]` → f32 `[ids.count, dim]` (embeddings).
  public static func getRows(_ table: QTensor, ids: [Int32]) throws -> Tensor {
    guard table.shape.count == 2 else {
      throw QuantaError.shapeMismatch(op: "getRows", expected: "[rows, dim]", actual: table.shape)
    }
    try checkIds(ids, rows: table.shape[0])
    let out = try Tensor.zeros(shape: [ids.count, table.shape[1]], on: table.backend)
    if let dtype = DType(table.type) {
      // Dense tables stored as a QTensor (an f16 embedding in a GGUF) take the dense path.
      let dense = try Tensor(
        buffer: table.buffer, byteOffset: table.byteOffset, dtype: dtype, shape: table.shape)
      try table.backend.getRows(dense, ids: ids, into: out)
    } else {
      try table.backend.getRows(table, ids: ids, into: out)
    }
    return out
  }

  public static func getRows(_ table: Tensor, ids: [Int32]) throws -> Tensor {
    try Validate.rank("getRows", table, 2, "[rows, dim]")
    try Validate.contiguous("getRows", table)
    try checkIds(ids, rows: table.shape[0])
    let out = try Tensor.zeros(shape: [ids.count, table.shape[1]], on: table.backend)
    try table.backend.getRows(table, ids: ids, into: out)
    return out
  }

  private static func checkIds(_ ids: [Int32], rows: Int) throws {
    for id in ids where id < 0 || Int(id) >= rows {
      throw QuantaError.indexOutOfRange(op: "getRows", index: Int(id), bound: rows)
    }
  }

  /// `x / sqrt(mean(x²) + eps) · weight` over the last dimension.
  public static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) throws -> Tensor {
    try Validate.f32Input("rmsNorm", x.backend, x, weight)
    try normWeight("rmsNorm", x, weight)
    let out = try like(x)
    try x.backend.rmsNorm(x, weight: weight, eps: eps, into: out)
    return out
  }

  /// `(x − mean) / sqrt(var + eps) · weight + bias` over the last dimension.
  public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor {
    try Validate.f32Input("layerNorm", x.backend, x, weight, bias)
    try normWeight("layerNorm", x, weight)
    try normWeight("layerNorm", x, bias)
    let out = try like(x)
    try x.backend.layerNorm(x, weight: weight, bias: bias, eps: eps, into: out)
    return out
  }

  private static func normWeight(_ op: String, _ x: Tensor, _ w: Tensor?) throws {
    guard x.rank >= 1 else { throw QuantaError.shapeMismatch(op: op, expected: "[..., d]", actual: x.shape) }
    if let w { try Validate.shape(op, w, [x.shape[x.rank - 1]]) }
  }

  /// Rotary embedding of `x` `[tokens, heads, headDim]`.
  public static func rope(
    _ x: Tensor, positions: [Int32], parameters: RoPEParameters, freqFactors: Tensor? = nil
  ) throws -> Tensor {
    try Validate.f32Input("rope", x.backend, x, freqFactors)
    try Validate.rank("rope", x, 3, "[tokens, heads, headDim]")
    try Validate.positions("rope", positions, count: x.shape[0])
    let d = parameters.dimensions
    guard d > 0, d % 2 == 0, d <= x.shape[2] else {
      throw QuantaError.invalidArgument(
        op: "rope", reason: "rotated dimensions \(d) must be even and ≤ headDim \(x.shape[2])")
    }
    guard parameters.freqBase > 0 else {
      throw QuantaError.invalidArgument(
        op: "rope", reason: "freqBase \(parameters.freqBase) must be positive")
    }
    if let freqFactors { try Validate.shape("rope", freqFactors, [d / 2]) }
    let out = try like(x)
    try x.backend.rope(x, positions: positions, parameters: parameters, freqFactors: freqFactors, into: out)
    return out
  }

  /// Softmax over the last dimension of `x` `[tokens, ..., keys]`; with a mask, `positions` gives each
  /// token's position (key column `j` is position `j`).
  public static func softmax(_ x: Tensor, positions: [Int32] = [], parameters: SoftmaxParameters = .init())
    throws
    -> Tensor
  {
    try Validate.f32Input("softmax", x.backend, x)
    guard x.rank >= 1 else {
      throw QuantaError.shapeMismatch(op: "softmax", expected: "[..., keys]", actual: x.shape)
    }
    try checkSoftmax("softmax", parameters)
    if parameters.isMasked {
      guard x.rank >= 2 else {
        throw QuantaError.shapeMismatch(
          op: "softmax", expected: "[tokens, ..., keys] with a mask", actual: x.shape)
      }
      try Validate.positions("softmax", positions, count: x.shape[0])
    }
    let out = try like(x)
    try x.backend.softmax(
      x, positions: parameters.isMasked ? positions : [], parameters: parameters, into: out)
    return out
  }

  private static func checkSoftmax(_ op: String, _ p: SoftmaxParameters) throws {
    if let cap = p.softCap, !(cap > 0) {
      throw QuantaError.invalidArgument(op: op, reason: "softCap \(cap) must be positive")
    }
    if let w = p.slidingWindow, w <= 0 {
      throw QuantaError.invalidArgument(op: op, reason: "slidingWindow \(w) must be positive")
    }
  }

  /// Writes new K/V rows (f32 `[tokens, kvHeads, headDim]`) at `positions` of the caches
  /// `[capacity, kvHeads, headDim]` (each of a `KVCacheType`: f16, bf16, q8_0 or q4_0; K and V may
  /// differ), converted or quantized row by row.
  public static func writeKV(
    keys: Tensor, values: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor
  ) throws {
    let b = keyCache.backend
    try Validate.f32Input("writeKV", b, keys, values)
    try kvCaches("writeKV", b, keyCache, valueCache)
    try Validate.rank("writeKV", keys, 3, "[tokens, kvHeads, headDim]")
    try Validate.shape("writeKV", values, keys.shape)
    guard Array(keys.shape.dropFirst()) == Array(keyCache.shape.dropFirst()) else {
      throw QuantaError.shapeMismatch(
        op: "writeKV", expected: "[tokens, \(keyCache.shape[1]), \(keyCache.shape[2])]", actual: keys.shape)
    }
    try Validate.positions("writeKV", positions, count: keys.shape[0])
    for p in positions where Int(p) >= keyCache.shape[0] {
      throw QuantaError.indexOutOfRange(op: "writeKV", index: Int(p), bound: keyCache.shape[0])
    }
    try b.writeKV(
      keys: keys, values: values, positions: positions, keyCache: keyCache, valueCache: valueCache)
  }

  /// `writeKV` into f16 caches held as dense tensors.
  public static func writeKV(
    keys: Tensor, values: Tensor, positions: [Int32], keyCache: Tensor, valueCache: Tensor
  ) throws {
    try writeKV(
      keys: keys, values: values, positions: positions, keyCache: try cacheView("writeKV", keyCache),
      valueCache: try cacheView("writeKV", valueCache))
  }

  /// An f16 `Tensor` cache as the `QTensor` the cache ops take (same memory).
  static func cacheView(_ op: String, _ t: Tensor) throws -> QTensor {
    try Validate.dtype(op, t, .f16)
    try Validate.contiguous(op, t)
    return try QTensor(buffer: t.buffer, byteOffset: t.byteOffset, type: .f16, shape: t.shape)
  }

  private static func kvCaches(_ op: String, _ b: any ComputeBackend, _ k: QTensor, _ v: QTensor) throws {
    for c in [k, v] {
      guard c.backend === b else {
        throw QuantaError.deviceMismatch(op: op, expected: b.device, actual: c.device)
      }
      guard KVCacheType(c.type) != nil else {
        throw QuantaError.typeMismatch(
          op: op, expected: "a KV cache type (\(KVCacheType.allowedNames))", actual: c.type.name)
      }
      if op == "writeKV" { try Validate.writable(op, c.buffer) }
    }
    guard k.shape.count == 3 else {
      throw QuantaError.shapeMismatch(op: op, expected: "[capacity, kvHeads, headDim]", actual: k.shape)
    }
    guard v.shape == k.shape else {
      throw QuantaError.shapeMismatch(op: op, expected: "\(k.shape)", actual: v.shape)
    }
  }

  /// Grouped-query attention of `query` `[tokens, heads, headDim]` over the first
  /// `parameters.kvLength` rows of the caches (each of a `KVCacheType`) → `[tokens, heads, headDim]` f32.
  public static func attention(
    query: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor,
    parameters: AttentionParameters,
    sinks: Tensor? = nil
  ) throws -> Tensor {
    let b = query.backend
    try Validate.f32Input("attention", b, query, sinks)
    try kvCaches("attention", b, keyCache, valueCache)
    try Validate.rank("attention", query, 3, "[tokens, heads, headDim]")
    let (heads, headDim) = (query.shape[1], query.shape[2])
    let (kvHeads, cacheDim) = (keyCache.shape[1], keyCache.shape[2])
    guard headDim == cacheDim, kvHeads > 0, heads % kvHeads == 0 else {
      throw QuantaError.shapeMismatch(
        op: "attention", expected: "[tokens, a multiple of \(kvHeads) heads, \(cacheDim)]",
        actual: query.shape)
    }
    guard parameters.kvLength >= 0, parameters.kvLength <= keyCache.shape[0] else {
      throw QuantaError.indexOutOfRange(
        op: "attention", index: parameters.kvLength, bound: keyCache.shape[0] + 1)
    }
    try checkSoftmax("attention", parameters.softmax)
    try Validate.positions("attention", positions, count: query.shape[0])
    let out = try like(query)
    if let sinks {
      try Validate.shape("attention sinks", sinks, [heads])
      try b.attention(
        query: query, positions: positions, keyCache: keyCache, valueCache: valueCache,
        parameters: parameters,
        sinks: sinks, into: out)
      return out
    }
    try b.attention(
      query: query, positions: positions, keyCache: keyCache, valueCache: valueCache, parameters: parameters,
      into: out)
    return out
  }

  /// `attention` over f16 caches held as dense tensors.
  public static func attention(
    query: Tensor, positions: [Int32], keyCache: Tensor, valueCache: Tensor, parameters: AttentionParameters,
    sinks: Tensor? = nil
  ) throws -> Tensor {
    try attention(
      query: query, positions: positions, keyCache: try cacheView("attention", keyCache),
      valueCache: try cacheView("attention", valueCache), parameters: parameters, sinks: sinks)
  }

  public static func silu(_ x: Tensor) throws -> Tensor {
    try Validate.f32Input("silu", x.backend, x)
    let out = try like(x)
    try x.backend.silu(x, into: out)
    return out
  }

  public static func gelu(_ x: Tensor) throws -> Tensor {
    try Validate.f32Input("gelu", x.backend, x)
    let out = try like(x)
    try x.backend.gelu(x, into: out)
    return out
  }

  public static func swiglu(gate: Tensor, up: Tensor) throws -> Tensor {
    try gated("swiglu", gate: gate, up: up) { try gate.backend.swiglu(gate: gate, up: up, into: $0) }
  }

  public static func geglu(gate: Tensor, up: Tensor) throws -> Tensor {
    try gated("geglu", gate: gate, up: up) { try gate.backend.geglu(gate: gate, up: up, into: $0) }
  }

  /// A gated activation of two f32 tensors of one shape: validated, then `run` into a new tensor.
  private static func gated(_ op: String, gate: Tensor, up: Tensor, _ run: (Tensor) throws -> Void) throws
    -> Tensor
  {
    try Validate.f32Input(op, gate.backend, gate, up)
    try Validate.shape(op, up, gate.shape)
    let out = try like(gate)
    try run(out)
    return out
  }

  /// `a + b`, `b` of `a`'s shape or a suffix of it.
  public static func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try broadcast("add", a, b) { try a.backend.add(a, b, into: $0) }
  }

  /// `a · b`, `b` of `a`'s shape or a suffix of it.
  public static func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try broadcast("mul", a, b) { try a.backend.mul(a, b, into: $0) }
  }

  /// A binary op with `b` broadcast over `a`: validated, then `run` into a new tensor of `a`'s shape.
  private static func broadcast(_ op: String, _ a: Tensor, _ b: Tensor, _ run: (Tensor) throws -> Void) throws
    -> Tensor
  {
    try Validate.f32Input(op, a.backend, a, b)
    try Validate.broadcastable(op, a, b)
    let out = try like(a)
    try run(out)
    return out
  }

  public static func scale(_ x: Tensor, by factor: Float) throws -> Tensor {
    try Validate.f32Input("scale", x.backend, x)
    let out = try like(x)
    try x.backend.scale(x, by: factor, into: out)
    return out
  }

  /// `cap · tanh(x / cap)` element-wise (gemma 2's final logit soft-capping); `cap` > 0.
  public static func softcap(_ x: Tensor, cap: Float) throws -> Tensor {
    try Validate.f32Input("softcap", x.backend, x)
    guard cap > 0, cap.isFinite else {
      throw QuantaError.invalidArgument(op: "softcap", reason: "cap \(cap) must be positive and finite")
    }
    let out = try like(x)
    try x.backend.softcap(x, cap: cap, into: out)
    return out
  }

  /// Each `block` consecutive values of `x` times the orthonormal Walsh–Hadamard matrix of that size
  /// (`ComputeBackend.hadamard`); `block` a power of two ≥ 2 that divides the last dimension.
  public static func hadamard(_ x: Tensor, block: Int) throws -> Tensor {
    try Validate.f32Input("hadamard", x.backend, x)
    try checkHadamard(x, block: block)
    let out = try like(x)
    try x.backend.hadamard(x, block: block, into: out)
    return out
  }

  static func checkHadamard(_ x: Tensor, block: Int) throws {
    guard block >= 2, block & (block - 1) == 0 else {
      throw QuantaError.invalidArgument(op: "hadamard", reason: "block \(block) is not a power of two ≥ 2")
    }
    guard x.rank >= 1, x.shape[x.rank - 1] % block == 0 else {
      throw QuantaError.shapeMismatch(
        op: "hadamard", expected: "[..., a multiple of \(block)]", actual: x.shape)
    }
  }

  /// A new f32 tensor of `x`'s shape on its device.
  static func like(_ x: Tensor) throws -> Tensor { try Tensor.zeros(shape: x.shape, on: x.backend) }
}
