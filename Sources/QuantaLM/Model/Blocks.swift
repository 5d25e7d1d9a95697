import GGML
import QuantaCore

/// What a forward pass spends its time on (`OpProfile`).
public enum OpKind: Int, Sendable, CaseIterable, CustomStringConvertible {
  case embedding, rmsNorm, matmulQKV, matmulAttentionOutput, matmulFeedForward, matmulOutput, rope, writeKV,
    attention, activation, add, scale, logitsCopy

  public var description: String {
    switch self {
    case .embedding: return "get_rows (embedding)"
    case .rmsNorm: return "rms_norm"
    case .matmulQKV: return "matmul q/k/v"
    case .matmulAttentionOutput: return "matmul attn_output"
    case .matmulFeedForward: return "matmul ffn"
    case .matmulOutput: return "matmul output (logits)"
    case .rope: return "rope"
    case .writeKV: return "write kv"
    case .attention: return "attention"
    case .activation: return "glu activation"
    case .add: return "add (residual, bias)"
    case .scale: return "scale"
    case .logitsCopy: return "logits to host"
    }
  }
}

/// Per-op wall time of forward passes, for `quanta bench` style breakdowns. When a session has
/// one, each op is followed by `synchronize()` so GPU time lands on the op that spent it.
public final class OpProfile {
  public private(set) var seconds = [Double](repeating: 0, count: OpKind.allCases.count)
  public private(set) var calls = [Int](repeating: 0, count: OpKind.allCases.count)
  public init() {}
  public func reset() {
    for i in seconds.indices {
      seconds[i] = 0
      calls[i] = 0
    }
  }
  func record(_ kind: OpKind, _ d: Duration) {
    let c = d.components
    seconds[kind.rawValue] += Double(c.seconds) + Double(c.attoseconds) * 1e-18
    calls[kind.rawValue] += 1
  }
  public func seconds(_ kind: OpKind) -> Double { seconds[kind.rawValue] }
  public var total: Double { seconds.reduce(0, +) }
}

/// Issues the ops of one forward pass into preallocated tensors, straight to the backend's
/// "into" entry points: shapes are fixed by construction (`Activations`, `ModelWeights`, both
/// validated against `ModelConfig`), so the hot path skips `Ops`' per-call checks and allocations.
struct ForwardContext {
  let backend: any ComputeBackend
  let config: ModelConfig
  let matmulOptions: QMatMulOptions
  let profile: OpProfile?

  @inline(__always)
  func timed(_ kind: OpKind, _ body: () throws -> Void) throws {
    guard let profile else { return try body() }
    let start = ContinuousClock.now
    try body()
    try backend.synchronize()
    profile.record(kind, ContinuousClock.now - start)
  }

  func matmul(_ x: Tensor, _ w: QTensor, into out: Tensor, _ kind: OpKind) throws {
    try timed(kind) { try backend.matmul(x, weights: w, options: matmulOptions, into: out) }
  }
  func rmsNorm(_ x: Tensor, _ w: Tensor?, into out: Tensor) throws {
    try timed(.rmsNorm) { try backend.rmsNorm(x, weight: w, eps: config.rmsEpsilon, into: out) }
  }
  func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
    try timed(.add) { try backend.add(a, b, into: out) }
  }

  /// RoPE parameters of `layer` (gemma3's sliding layers have their own base and no scaling).
  func rope(layer: Int) -> RoPEParameters {
    RoPEParameters(
      mode: config.ropeStyle == .neox ? .neox : .normal, dimensions: config.ropeDimensions,
      freqBase: config.ropeBase(layer: layer), freqScale: config.ropeScale(layer: layer))
  }

  /// Gemma 3 multiplies q by the attention scale before attention (llama.cpp's gemma3 graph:
  /// `ggml_scale(Qcur, f_attention_scale)`, then attention with scale 1), other families scale q·k.
  /// Where q is rounded to f16 for the dot (the CPU attention does, as ggml), the order matters.
  var scalesQueryFirst: Bool { config.architecture == .gemma3 }

  /// Masks of `layer`: causal, plus the sliding window on gemma3's local layers.
  func attentionParameters(layer: Int, kvLength: Int) -> AttentionParameters {
    AttentionParameters(
      kvLength: kvLength,
      softmax: SoftmaxParameters(
        scale: scalesQueryFirst ? 1 : config.attentionScale,
        softCap: config.attentionSoftcap > 0 ? config.attentionSoftcap : nil,
        causal: true, slidingWindow: config.isSlidingWindowLayer(layer) ? config.slidingWindow : nil))
  }
}

/// Where a batch sits in the sequence.
struct BatchPositions {
  /// Position of each token (a host array the backend reads).
  var positions: [Int32]
  /// Cache rows valid once this batch is written: the last position + 1.
  var kvLength: Int
}

/// Shared blocks of the decoder layers (each architecture's file arranges them).
extension ForwardContext {
  /// Projects `input` (normed, `[n, d]`) to Q/K/V (+ biases, + per-head QK-norm), applies RoPE,
  /// writes K/V at the batch's positions of `cache`, and attends. Returns the heads' outputs
  /// `[n, heads · headDim]` (before the output projection).
  func selfAttention(
    layer: Int, input: Tensor, weights w: AttentionWeights, ropeFactors: Tensor?, cache: KVCache.Layer,
    batch: BatchPositions, a: Activations
  ) throws -> Tensor {
    var q = (a.q, a.qAlt)
    var k = (a.k, a.kAlt)
    var v = (a.v, a.vAlt)
    try matmul(input, w.query, into: q.0.flat, .matmulQKV)
    try matmul(input, w.key, into: k.0.flat, .matmulQKV)
    try matmul(input, w.value, into: v.0.flat, .matmulQKV)
    // Each step writes the spare buffer of its pair, which then becomes current (no aliasing).
    if let b = w.queryBias {
      try add(q.0.flat, b, into: q.1.flat)
      swap(&q.0, &q.1)
    }
    if let b = w.keyBias {
      try add(k.0.flat, b, into: k.1.flat)
      swap(&k.0, &k.1)
    }
    if let b = w.valueBias {
      try add(v.0.flat, b, into: v.1.flat)
      swap(&v.0, &v.1)
    }
    if let n = w.queryNorm {
      try rmsNorm(q.0.heads, n, into: q.1.heads)
      swap(&q.0, &q.1)
    }
    if let n = w.keyNorm {
      try rmsNorm(k.0.heads, n, into: k.1.heads)
      swap(&k.0, &k.1)
    }
    let r = rope(layer: layer)
    try timed(.rope) {
      try backend.rope(
        q.0.heads, positions: batch.positions, parameters: r, freqFactors: ropeFactors, into: q.1.heads)
      try backend.rope(
        k.0.heads, positions: batch.positions, parameters: r, freqFactors: ropeFactors, into: k.1.heads)
    }
    swap(&q.0, &q.1)
    swap(&k.0, &k.1)
    if scalesQueryFirst {
      try timed(.scale) { try backend.scale(q.0.flat, by: config.attentionScale, into: q.1.flat) }
      swap(&q.0, &q.1)
    }
    try timed(.writeKV) {
      try backend.writeKV(
        keys: k.0.heads, values: v.0.heads, positions: batch.positions, keyCache: cache.keys,
        valueCache: cache.values)
    }
    let p = attentionParameters(layer: layer, kvLength: batch.kvLength)
    try timed(.attention) {
      try backend.attention(
        query: q.0.heads, positions: batch.positions, keyCache: cache.keys, valueCache: cache.values,
        parameters: p, into: a.attention.heads)
    }
    return a.attention.flat
  }

  /// The output projection of the attention heads (+ bias) → `a.proj` (or `a.normed` with a bias).
  func attentionOutput(_ heads: Tensor, weights w: AttentionWeights, a: Activations) throws -> Tensor {
    try matmul(heads, w.output, into: a.proj, .matmulAttentionOutput)
    guard let b = w.outputBias else { return a.proj }
    try add(a.proj, b, into: a.normed)
    return a.normed
  }

  enum GatedActivation { case silu, gelu }

  /// `down(act(gate(x)) · up(x))` of `input` `[n, d]` → `a.proj`. `input` may be `a.normed`.
  func feedForward(
    _ input: Tensor, weights w: FeedForwardWeights, activation: GatedActivation, a: Activations
  )
    throws -> Tensor
  {
    try matmul(input, w.gate, into: a.gate, .matmulFeedForward)
    try matmul(input, w.up, into: a.up, .matmulFeedForward)
    try timed(.activation) {
      switch activation {
      case .silu: try backend.swiglu(gate: a.gate, up: a.up, into: a.act)
      case .gelu: try backend.geglu(gate: a.gate, up: a.up, into: a.act)
      }
    }
    try matmul(a.act, w.down, into: a.proj, .matmulFeedForward)
    return a.proj
  }
}

/// The input of one layer: the residual stream and the activation views it may use.
struct LayerInput {
  /// The residual stream `[n, d]`; the layer writes its output back into it (or into its last
  /// row, when `lastRowOnly` is set).
  var x: Tensor
  var activations: Activations
  /// One-row views of the same buffers, used from the attention output on when only the last
  /// token's output is needed (the last layer of a prompt: llama.cpp's `inp_out_ids`).
  var lastRowOnly: Activations?

  /// After the attention output projection: its output, the residual and the activations narrowed to
  /// the last row when asked (the rest of the layer is per-row, so other rows need not be computed).
  /// The projection itself runs on every row, as in llama.cpp, whose CPU kernels sum a row
  /// differently depending on the batch around it.
  func narrowed(attention: Tensor) throws -> (attention: Tensor, x: Tensor, a: Activations) {
    guard let one = lastRowOnly, activations.rows > 1 else { return (attention, x, activations) }
    let last = activations.rows - 1
    return (try attention.rows(last..<(last + 1)), try x.rows(last..<(last + 1)), one)
  }
}

/// What distinguishes a decoder family: how one layer arranges the shared blocks.
protocol DecoderArchitecture: Sendable {
  /// Runs layer `index` over `input.x`; returns the tensor holding its output (input.x, or its last
  /// row when narrowed).
  func layer(
    _ index: Int, weights: LayerWeights, model: ModelWeights, input: LayerInput, cache: KVCache.Layer,
    batch: BatchPositions, context: ForwardContext
  ) throws -> Tensor

  /// Token rows → residual stream (gemma scales by √d).
  func embed(ids: [Int32], model: ModelWeights, into x: Tensor, scratch: Tensor, context: ForwardContext)
    throws
    -> Tensor
}

extension DecoderArchitecture {
  func embed(ids: [Int32], model: ModelWeights, into x: Tensor, scratch: Tensor, context c: ForwardContext)
    throws
    -> Tensor
  {
    try c.getRows(model.tokenEmbedding, ids: ids, into: x)
    return x
  }
}

extension ForwardContext {
  /// Embedding rows (a quantized table, or a dense f32/f16/bf16 one stored in the GGUF).
  func getRows(_ table: QTensor, ids: [Int32], into out: Tensor) throws {
    try timed(.embedding) {
      if let dtype = DType(table.type) {
        let dense = try Tensor(
          buffer: table.buffer, byteOffset: table.byteOffset, dtype: dtype, shape: table.shape)
        try backend.getRows(dense, ids: ids, into: out)
      } else {
        try backend.getRows(table, ids: ids, into: out)
      }
    }
  }
}

/// The pre-norm decoder layer of llama, qwen2 and qwen3 (they differ only in the attention
/// block's biases and QK-norm, which `AttentionWeights` carries):
/// `h = x + attn(norm(x)); out = h + ffn(norm(h))`.
func preNormLayer(
  _ index: Int, weights w: LayerWeights, model: ModelWeights, input: LayerInput, cache: KVCache.Layer,
  batch: BatchPositions, context c: ForwardContext
) throws -> Tensor {
  let a0 = input.activations
  try c.rmsNorm(input.x, w.attentionNorm, into: a0.normed)
  let heads = try c.selfAttention(
    layer: index, input: a0.normed, weights: w.attention, ropeFactors: model.ropeFactors, cache: cache,
    batch: batch,
    a: a0)
  let (attn, x, a) = try input.narrowed(
    attention: try c.attentionOutput(heads, weights: w.attention, a: a0))
  try c.add(x, attn, into: a.mid)
  try c.rmsNorm(a.mid, w.feedForwardNorm, into: a.normed)
  let ffn = try c.feedForward(a.normed, weights: w.feedForward, activation: .silu, a: a)
  try c.add(a.mid, ffn, into: x)
  return x
}
