import GGML

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Memory owned by one backend. A `Tensor` or `QTensor` is a typed view (offset, shape) into one.
///
/// Contents are mutable and not synchronized by the buffer: the ops of a backend run in the order
/// they are called (the CPU backend synchronously, GPU backends on one stream), and callers must not
/// write a buffer from two tasks at once — the same rule as a GPU stream. The buffer object itself
/// (its address, size, owner) never changes after creation, which is what makes it `Sendable`.
public protocol DeviceBuffer: AnyObject, Sendable {
  /// The backend that allocated (or wrapped) this buffer; ops dispatch through it.
  var backend: any ComputeBackend { get }
  /// Usable bytes.
  var byteCount: Int { get }
  /// The host address of byte 0 when the host can read and write the memory directly (CPU buffers,
  /// unified memory); nil otherwise.
  var hostAddress: UnsafeMutableRawPointer? { get }
  /// True for memory that must not be written (a CPU view of a read-only file map).
  var isReadOnly: Bool { get }
}

extension DeviceBuffer {
  public var device: Device { backend.device }
}

/// What a new backend must implement.
///
/// A backend serves one `Device`. QuantaCore does every shape, type and device check ONCE before
/// calling in (see `Ops`, `QTensor`, `QMatMul`), so a backend may assume:
/// - every tensor it receives lives in one of its own buffers (a foreign buffer is a bug in core);
/// - shapes agree as each method's documentation states, and `out` is allocated, contiguous and
///   of the documented shape and type;
/// - inputs are contiguous unless a method says otherwise;
/// - quantized row lengths are multiples of the type's block size.
///
/// Required: `device`, `info`, the memory section, `synchronize()`. Every op has a default that
/// throws `QuantaError.unsupported`, so a new backend can start with memory only and add ops one at a
/// time; an op it lacks is a typed error at the call, never a trap and never a silent CPU fallback.
///
/// Shapes are numpy order (outermost first, last dimension contiguous): a weight matrix of `n`
/// output rows of `k` values is `[n, k]`. Dense compute is f32; KV caches are `KVCacheType`s.
public protocol ComputeBackend: AnyObject, Sendable {
  var device: Device { get }
  var info: DeviceInfo { get }

  // MARK: Memory

  /// New zero-filled memory. Throws `.outOfMemory` with the bytes requested (and free, if known).
  func allocate(byteCount: Int) throws -> any DeviceBuffer
  /// Memory for host bytes that `owner` keeps alive (e.g. a memory-mapped GGUF file). A backend that
  /// can address host memory wraps it without copying (the CPU's zero-copy path) and holds `owner`;
  /// a GPU uploads the bytes into new device memory and need not keep `owner`.
  func makeBuffer(wrapping bytes: UnsafeRawBufferPointer, owner: any Sendable) throws -> any DeviceBuffer
  /// Host → device: `source.count` bytes into `buffer` at `offset` (range already checked).
  func copy(_ source: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, at offset: Int) throws
  /// Device → host: `destination.count` bytes from `buffer` at `offset` (waits for pending work).
  func copy(_ buffer: any DeviceBuffer, at offset: Int, to destination: UnsafeMutableRawBufferPointer) throws
  /// Waits until every op issued so far has finished (a no-op for synchronous backends).
  func synchronize() throws
  /// Bytes new allocations may still take, as well as the backend can tell (a CPU: available RAM
  /// within the cgroup and address-space limits; a GPU: the driver's free memory); nil when unknown.
  /// Loading a model checks its memory estimate against this before allocating anything.
  var availableMemory: Int? { get }

  // MARK: Quantized tensors

  /// `x` f32 (same element count as `q`, rows of `q.rowLength`) quantized into `q` with the type's
  /// quantizer (results equal the reference quantizer's on the CPU).
  func quantize(_ x: Tensor, into q: QTensor) throws
  /// `q` dequantized into `out` (f32 or f16, same element count); exact vs the reference.
  func dequantize(_ q: QTensor, into out: Tensor) throws
  /// `out[i, r] = Σ_j x[i, j] · w[r, j]`: `x` f32 `[m, k]`, `weights` `[n, k]` of any type (quantized
  /// or f32/f16/bf16), `out` f32 `[m, n]`.
  func matmul(_ x: Tensor, weights: QTensor, options: QMatMulOptions, into out: Tensor) throws

  // MARK: Dense ops of a transformer (f32 unless stated)

  /// Rows `ids` of `table` (`[rows, dim]`, quantized or dense) → `out` f32 `[ids.count, dim]`.
  /// Ids are already checked to be in range.
  func getRows(_ table: QTensor, ids: [Int32], into out: Tensor) throws
  /// Same for a dense (f32/f16/bf16) table.
  func getRows(_ table: Tensor, ids: [Int32], into out: Tensor) throws
  /// Each row of `x` `[..., d]`: `x / sqrt(mean(x²) + eps) · weight` (`weight` `[d]` or nil).
  func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, into out: Tensor) throws
  /// Each row: `(x − mean) / sqrt(var + eps) · weight + bias`.
  func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, into out: Tensor) throws
  /// Rotary embedding of `x` `[tokens, heads, headDim]`, token `t` at `positions[t]`; `freqFactors`
  /// `[dimensions / 2]` divides each pair's angle (llama 3's `rope_freqs.weight`) when given.
  func rope(
    _ x: Tensor, positions: [Int32], parameters: RoPEParameters, freqFactors: Tensor?, into out: Tensor
  ) throws
  /// Softmax along the last dimension of `x` `[tokens, ..., keys]` after scale, soft-cap and masks;
  /// key column `j` is position `j`, every row under token `t` is a query at `positions[t]`
  /// (`positions` is empty when no mask is asked for).
  func softmax(_ x: Tensor, positions: [Int32], parameters: SoftmaxParameters, into out: Tensor) throws
  /// Writes `keys`/`values` f32 `[tokens, kvHeads, headDim]` into rows `positions[t]` of the caches
  /// (`[capacity, kvHeads, headDim]`, each of a `KVCacheType`: f16/bf16 rounded to nearest even,
  /// q8_0/q4_0 quantized per 32-value block as ggml's `quantize_row_*`). Positions are already
  /// checked against capacity. A backend throws `QuantaError.unsupported` for a type it lacks.
  func writeKV(keys: Tensor, values: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor)
    throws
  /// Attention of `query` `[tokens, heads, headDim]` (token `t` at `positions[t]`) over rows
  /// `0 ..< parameters.kvLength` of the caches `[capacity, kvHeads, headDim]` (read in their own
  /// type, K and V each a `KVCacheType`), query head `h`
  /// reading kv head `h / (heads / kvHeads)`; `out` `[tokens, heads, headDim]` f32. A query that
  /// sees no key gets zeros.
  func attention(
    query: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor,
    parameters: AttentionParameters,
    into out: Tensor
  ) throws
  /// Several independent `attention` calls (each its own query rows, positions, caches and
  /// output; no call writes what another reads), as one op: batched decode attends each sequence
  /// to its own cache, and a backend may spread all of them over its threads at once. The default
  /// runs them one after another.
  func attention(_ calls: [AttentionCall]) throws
  func silu(_ x: Tensor, into out: Tensor) throws
  /// GELU, tanh approximation.
  func gelu(_ x: Tensor, into out: Tensor) throws
  /// `silu(gate) · up`.
  func swiglu(gate: Tensor, up: Tensor, into out: Tensor) throws
  /// `gelu(gate) · up`.
  func geglu(gate: Tensor, up: Tensor, into out: Tensor) throws
  /// `a + b`; `b` has `a`'s shape or a suffix of it (broadcast over the leading dimensions).
  func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws
  /// `a · b`, broadcast as `add`.
  func mul(_ a: Tensor, _ b: Tensor, into out: Tensor) throws
  func scale(_ x: Tensor, by factor: Float, into out: Tensor) throws
  /// `cap · tanh(x / cap)` element-wise (`out` may be `x`).
  func softcap(_ x: Tensor, cap: Float, into out: Tensor) throws
  /// Each run of `block` consecutive values of `x` (a power of two ≥ 2 dividing the last
  /// dimension) times the orthonormal Walsh–Hadamard matrix of that size, Sylvester order
  /// (`H[i][j] = (−1)^popcount(i & j) / √block`, its own inverse): the values scaled by
  /// `1/√block` first, then log2(block) butterfly passes `(u, v) → (u + v, u − v)` over strides
  /// 1, 2, 4, … (ggml's `fwht`, llama.cpp's attention rotation; `AttentionRotation`). `out` may be `x`.
  func hadamard(_ x: Tensor, block: Int, into out: Tensor) throws

  // MARK: Mixture of experts (ExpertOps.swift)

  /// Router `logits` f32 `[tokens, experts]` → the picked experts of each token, `ids`
  /// (`tokens · used` Int32, decreasing weight) and their f32 `weights` `[tokens, used]`, as
  /// `ExpertRouting.route` does.
  func routeExperts(_ logits: Tensor, routing: ExpertRouting, ids: IndexTensor, weights: Tensor) throws
  /// `out[t, j] = weights[ids[t, j]] · x[t, j mod xRows]` (ggml's `mul_mat_id`): `x` f32
  /// `[tokens, xRows, k]`, `weights` `[experts, n, k]`, `out` f32 `[tokens, used, n]`. An id outside
  /// the experts is an error, not a read out of bounds.
  func matmulID(_ x: Tensor, weights: QTensor, ids: IndexTensor, options: QMatMulOptions, into out: Tensor)
    throws
  /// `out[t] = Σ_j weights[t, j] · x[t, j]` summed in `j` order: `x` `[tokens, used, d]`.
  func mixExperts(_ x: Tensor, weights: Tensor, into out: Tensor) throws

  // MARK: gpt-oss (SinkOps.swift)

  /// `attention` with a learned sink logit per query head (`sinks` f32 `[heads]`): each softmax
  /// denominator also holds `exp(sinks[h] − max)`, the sink contributing no value (ggml's
  /// `flash_attn_ext` with `sinks`, gpt-oss). nil `sinks` is plain `attention`.
  func attention(
    query: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor,
    parameters: AttentionParameters, sinks: Tensor?, into out: Tensor
  ) throws
  /// ggml's `swiglu_oai`: `x = min(gate, limit)`, `y = clamp(up, −limit, limit)`,
  /// `out = x · σ(alpha · x) · (y + 1)` element-wise.
  func swigluOAI(gate: Tensor, up: Tensor, alpha: Float, limit: Float, into out: Tensor) throws
  /// ggml's `add_id`: `out[t, j] = x[t, j] + bias[ids[t, j]]`: `x` f32 `[tokens, used, n]`, `bias`
  /// f32 `[experts, n]` (a stacked per-expert bias), ids `tokens · used` (an id outside the experts
  /// is an error).
  func addID(_ x: Tensor, bias: Tensor, ids: IndexTensor, into out: Tensor) throws

  // MARK: Forward plans

  /// Makes `plan` ready to execute on this backend (a requirement, so calls through
  /// `any ComputeBackend` reach a backend's own implementation; the default runs each op through
  /// the one-op entry points, see ForwardPlan.swift).
  func prepare(_ plan: ForwardPlan, options: PlanOptions) throws -> any PreparedPlan

  /// Whether plans on this backend run `.sample` (sampling where the logits are: a GPU); the CPU
  /// samples on the host from its logits.
  var samplesOnDevice: Bool { get }
}

// Defaults: every op is "unsupported" until a backend implements it.
extension ComputeBackend {
  public var availableMemory: Int? { nil }
  public var samplesOnDevice: Bool { false }
  func unsupported(_ op: String, _ type: String) -> QuantaError {
    .unsupported(op: op, type: type, device: device)
  }
  public func quantize(_ x: Tensor, into q: QTensor) throws { throw unsupported("quantize", q.type.name) }
  public func dequantize(_ q: QTensor, into out: Tensor) throws {
    throw unsupported("dequantize", q.type.name)
  }
  public func matmul(_ x: Tensor, weights: QTensor, options: QMatMulOptions, into out: Tensor) throws {
    throw unsupported("matmul", weights.type.name)
  }
  public func getRows(_ table: QTensor, ids: [Int32], into out: Tensor) throws {
    throw unsupported("getRows", table.type.name)
  }
  public func getRows(_ table: Tensor, ids: [Int32], into out: Tensor) throws {
    throw unsupported("getRows", table.dtype.rawValue)
  }
  public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, into out: Tensor) throws {
    throw unsupported("rmsNorm", x.dtype.rawValue)
  }
  public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, into out: Tensor) throws {
    throw unsupported("layerNorm", x.dtype.rawValue)
  }
  public func rope(
    _ x: Tensor, positions: [Int32], parameters: RoPEParameters, freqFactors: Tensor?, into out: Tensor
  ) throws {
    throw unsupported("rope", x.dtype.rawValue)
  }
  public func softmax(_ x: Tensor, positions: [Int32], parameters: SoftmaxParameters, into out: Tensor) throws
  {
    throw unsupported("softmax", x.dtype.rawValue)
  }
  public func writeKV(
    keys: Tensor, values: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor
  )
    throws
  {
    throw unsupported("writeKV", keyCache.type.name)
  }
  public func attention(
    query: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor,
    parameters: AttentionParameters,
    into out: Tensor
  ) throws {
    throw unsupported("attention", keyCache.type.name)
  }
  public func attention(_ calls: [AttentionCall]) throws {
    for c in calls {
      try attention(
        query: c.query, positions: c.positions, keyCache: c.keyCache, valueCache: c.valueCache,
        parameters: c.parameters, into: c.out)
    }
  }
  public func silu(_ x: Tensor, into out: Tensor) throws { throw unsupported("silu", x.dtype.rawValue) }
  public func gelu(_ x: Tensor, into out: Tensor) throws { throw unsupported("gelu", x.dtype.rawValue) }
  public func swiglu(gate: Tensor, up: Tensor, into out: Tensor) throws {
    throw unsupported("swiglu", gate.dtype.rawValue)
  }
  public func geglu(gate: Tensor, up: Tensor, into out: Tensor) throws {
    throw unsupported("geglu", gate.dtype.rawValue)
  }
  public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
    throw unsupported("add", a.dtype.rawValue)
  }
  public func mul(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
    throw unsupported("mul", a.dtype.rawValue)
  }
  public func scale(_ x: Tensor, by factor: Float, into out: Tensor) throws {
    throw unsupported("scale", x.dtype.rawValue)
  }
  public func softcap(_ x: Tensor, cap: Float, into out: Tensor) throws {
    throw unsupported("softcap", x.dtype.rawValue)
  }
  public func hadamard(_ x: Tensor, block: Int, into out: Tensor) throws {
    throw unsupported("hadamard", x.dtype.rawValue)
  }
}

// MARK: Op parameters (values, passed at the call: DESIGN.md principle 7)

/// Rotary position embedding, as ggml's `rope` modes 0 (normal) and 2 (NeoX).
public struct RoPEParameters: Sendable, Hashable {
  public enum Mode: Sendable, Hashable {
    /// Rotates adjacent pairs `(x[2i], x[2i+1])` (llama, ggml mode 0).
    case normal
    /// Rotates the halves `(x[i], x[i + d/2])` (gpt-neox, qwen, gemma; ggml mode 2).
    case neox
  }
  public var mode: Mode
  /// Leading dimensions of each head that rotate (ggml's `n_dims`; even, ≤ headDim); the rest pass.
  public var dimensions: Int
  /// θ base (10000 for llama 2, 500000 for llama 3, 1e6 for gemma 3 global layers).
  public var freqBase: Float
  /// Linear position scaling: angle = position · freqScale · base^(−2i/dimensions).
  public var freqScale: Float
  /// Multiplies cos and sin (ggml's `attn_factor`; 1 except for YaRN-style models).
  public var attnFactor: Float
  /// YaRN (ggml's `ext_factor`, 0: none): pair `i` mixes the interpolated angle (× freqScale) with
  /// the extrapolated one by `ramp(i) · extFactor`, and cos and sin are multiplied by
  /// `1 + 0.1 · ln(1 / freqScale)` besides `attnFactor` (ggml's `rope_yarn`).
  public var extFactor: Float
  /// YaRN's correction range in pairs (ggml's `corr_dims`, from `yarnCorrectionDims`): pairs below
  /// `low` extrapolate, above `high` interpolate, linear between.
  public var yarnLow: Float
  public var yarnHigh: Float

  public init(
    mode: Mode, dimensions: Int, freqBase: Float = 10000, freqScale: Float = 1, attnFactor: Float = 1,
    extFactor: Float = 0, yarnLow: Float = 0, yarnHigh: Float = 0
  ) {
    self.mode = mode
    self.dimensions = dimensions
    self.freqBase = freqBase
    self.freqScale = freqScale
    self.attnFactor = attnFactor
    self.extFactor = extFactor
    self.yarnLow = yarnLow
    self.yarnHigh = yarnHigh
  }

  /// ggml's `ggml_rope_yarn_corr_dims`: the pairs whose wavelength spans `betaFast` (low) and
  /// `betaSlow` (high) rotations over `originalContext` positions, floored / ceiled and clamped
  /// to `0 ... dimensions − 1`.
  public static func yarnCorrectionDims(
    dimensions: Int, originalContext: Int, freqBase: Float, betaFast: Float, betaSlow: Float
  ) -> (low: Float, high: Float) {
    func dim(_ rotations: Float) -> Float {
      Float(dimensions) * logf(Float(originalContext) / (rotations * 2 * Float.pi)) / (2 * logf(freqBase))
    }
    return (max(0, floorf(dim(betaFast))), min(Float(dimensions - 1), ceilf(dim(betaSlow))))
  }
}

/// Scaling, soft-capping and masks of attention scores. Key column `j` sits at position `j`; each
/// query's position comes with the call.
public struct SoftmaxParameters: Sendable, Hashable {
  /// Multiplies the scores first (1/sqrt(headDim) in attention).
  public var scale: Float
  /// When set, scores become `cap · tanh(score / cap)` after scaling (gemma 2 logit soft-capping).
  public var softCap: Float?
  /// Masks keys after the query's position.
  public var causal: Bool
  /// When set, masks keys at or more than `window` positions behind the query (gemma sliding
  /// layers: a query sees itself and the `window − 1` keys before it).
  public var slidingWindow: Int?

  public init(scale: Float = 1, softCap: Float? = nil, causal: Bool = false, slidingWindow: Int? = nil) {
    self.scale = scale
    self.softCap = softCap
    self.causal = causal
    self.slidingWindow = slidingWindow
  }

  /// True when a position-dependent mask applies.
  public var isMasked: Bool { causal || slidingWindow != nil }
}

/// Grouped-query attention over a KV cache. Heads come from the tensors' shapes.
/// The arguments of one `ComputeBackend.attention` call (`attention(_:)` takes several).
public struct AttentionCall: Sendable {
  public var query: Tensor
  public var positions: [Int32]
  public var keyCache: QTensor
  public var valueCache: QTensor
  public var parameters: AttentionParameters
  public var out: Tensor

  public init(
    query: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor,
    parameters: AttentionParameters,
    out: Tensor
  ) {
    self.query = query
    self.positions = positions
    self.keyCache = keyCache
    self.valueCache = valueCache
    self.parameters = parameters
    self.out = out
  }
}

public struct AttentionParameters: Sendable, Hashable {
  /// Valid cache rows (positions `0 ..< kvLength`).
  public var kvLength: Int
  /// Scale, soft-cap and masks.
  public var softmax: SoftmaxParameters

  public init(kvLength: Int, softmax: SoftmaxParameters) {
    self.kvLength = kvLength
    self.softmax = softmax
  }
}
