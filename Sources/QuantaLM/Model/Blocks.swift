import GGML
import QuantaCore

/// Collects the ops of one forward pass into a `ForwardPlan` (a reference, so the value-typed
/// contexts of the blocks all append to the same plan).
final class PlanRecorder {
  var plan: ForwardPlan
  init(inputs: IndexTensor) { plan = ForwardPlan(inputs: inputs) }
  func append(_ op: PlanOp, _ kind: OpKind) { plan.append(op, tag: kind.rawValue) }
}

/// Records the ops of one forward pass into preallocated tensors: shapes are fixed by construction
/// (`Activations`, `ModelWeights`, both validated against `ModelConfig`), so the plan skips `Ops`'
/// per-call checks and allocations. The backend executes the plan (`ComputeBackend.prepare`).
struct ForwardContext {
  let backend: any ComputeBackend
  let config: ModelConfig
  let matmulOptions: QMatMulOptions
  let recorder: PlanRecorder

  func matmul(_ x: Tensor, _ w: QTensor, into out: Tensor, _ kind: OpKind) {
    recorder.append(.matmul(x: x, weights: w, options: matmulOptions, out: out), kind)
  }
  func rmsNorm(_ x: Tensor, _ w: Tensor?, into out: Tensor) {
    recorder.append(.rmsNorm(x: x, weight: w, eps: config.rmsEpsilon, out: out), .rmsNorm)
  }
  func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
    recorder.append(.add(a: a, b: b, out: out), .add)
  }
  func scale(_ x: Tensor, by factor: Float, into out: Tensor) {
    recorder.append(.scale(x: x, factor: factor, out: out), .scale)
  }
  /// The rotation of `pair.0` (when `block` is set) into `pair.1`, which then becomes current.
  func rotate(_ pair: inout (HeadTensor, HeadTensor), block: Int?) {
    guard let block else { return }
    recorder.append(.hadamard(x: pair.0.flat, block: block, out: pair.1.flat), .hadamard)
    swap(&pair.0, &pair.1)
  }

  /// RoPE parameters of `layer` (gemma3's sliding layers have their own base and no scaling).
  func rope(layer: Int) -> RoPEParameters {
    var p = RoPEParameters(
      mode: config.ropeStyle == .neox ? .neox : .normal, dimensions: config.ropeDimensions,
      freqBase: config.ropeBase(layer: layer), freqScale: config.ropeScale(layer: layer),
      attnFactor: config.ropeAttentionFactor)
    if config.ropeExtFactor != 0 {
      // YaRN's correction range from this layer's base (ggml computes it per rope op).
      p.extFactor = config.ropeExtFactor
      (p.yarnLow, p.yarnHigh) = RoPEParameters.yarnCorrectionDims(
        dimensions: config.ropeDimensions, originalContext: config.ropeOriginalContextLength,
        freqBase: p.freqBase, betaFast: config.yarnBetaFast, betaSlow: config.yarnBetaSlow)
    }
    return p
  }

  /// The recipe's query scaling before attention (llama.cpp's gemma3 graph:
  /// `ggml_scale(Qcur, f_attention_scale)`, then attention with scale 1), else the attention
  /// scales q·k. Where q is rounded to f16 for the dot (the CPU attention does, as ggml), the order
  /// matters.
  var scalesQueryFirst: Bool { config.recipe.scalesQueryBeforeAttention }

  /// Masks of `layer`: causal, plus the sliding window on the recipe's sliding layers.
  func softmaxParameters(layer: Int) -> SoftmaxParameters {
    SoftmaxParameters(
      scale: scalesQueryFirst ? 1 : config.attentionScale,
      softCap: config.attentionSoftcap > 0 ? config.attentionSoftcap : nil,
      causal: true, slidingWindow: config.isSlidingWindowLayer(layer) ? config.slidingWindow : nil)
  }
}

/// Where a batch sits in the sequence: its token ids and positions, on the device (slices of the
/// plan's input block, written before each execution).
struct BatchPositions {
  var ids: IndexTensor
  var positions: IndexTensor
}

/// Shared blocks of the decoder layers (`decoderLayer` arranges them as the recipe says).
extension ForwardContext {
  /// gpt-oss's activation with its constants.
  func swigluOAI(gate: Tensor, up: Tensor, out: Tensor) -> PlanOp {
    .swigluOAI(gate: gate, up: up, alpha: SwigluOAI.alpha, limit: SwigluOAI.limit, out: out)
  }

  /// Projects `input` (normed, `[n, d]`) to Q/K/V (+ biases, + per-head QK-norm), applies RoPE,
  /// writes K/V at the batch's positions of the cache, and attends. `caches` is one cache for all
  /// rows, or one per row (batched decode: each row its own sequence). Returns the heads' outputs
  /// `[n, heads · headDim]` (before the output projection).
  func selfAttention(
    layer: Int, input: Tensor, weights w: AttentionWeights, ropeFactors: Tensor?, caches: [KVCache.Layer],
    batch: BatchPositions, a: Activations
  ) throws -> Tensor {
    var q = (a.q, a.qAlt)
    var k = (a.k, a.kAlt)
    var v = (a.v, a.vAlt)
    matmul(input, w.query, into: q.0.flat, .matmulQKV)
    matmul(input, w.key, into: k.0.flat, .matmulQKV)
    matmul(input, w.value, into: v.0.flat, .matmulQKV)
    // Each step writes the spare buffer of its pair, which then becomes current (no aliasing).
    if let b = w.queryBias {
      add(q.0.flat, b, into: q.1.flat)
      swap(&q.0, &q.1)
    }
    if let b = w.keyBias {
      add(k.0.flat, b, into: k.1.flat)
      swap(&k.0, &k.1)
    }
    if let b = w.valueBias {
      add(v.0.flat, b, into: v.1.flat)
      swap(&v.0, &v.1)
    }
    // Per-head norm, rope and scale of q, then of k (the GPU fuses each chain into one kernel).
    let r = rope(layer: layer)
    let pos = batch.positions
    if let n = w.queryNorm {
      rmsNorm(q.0.heads, n, into: q.1.heads)
      swap(&q.0, &q.1)
    }
    recorder.append(
      .rope(x: q.0.heads, positions: pos, parameters: r, freqFactors: ropeFactors, out: q.1.heads), .rope)
    swap(&q.0, &q.1)
    if scalesQueryFirst {
      scale(q.0.flat, by: config.attentionScale, into: q.1.flat)
      swap(&q.0, &q.1)
    }
    if let n = w.keyNorm {
      rmsNorm(k.0.heads, n, into: k.1.heads)
      swap(&k.0, &k.1)
    }
    recorder.append(
      .rope(x: k.0.heads, positions: pos, parameters: r, freqFactors: ropeFactors, out: k.1.heads), .rope)
    swap(&k.0, &k.1)
    // Quantized caches: q and k (after rope and scale), and v, rotated as llama.cpp does
    // (`AttentionRotation`); the attention output is rotated back below.
    let rotation = caches[0].rotation
    rotate(&q, block: rotation.keyBlock)
    rotate(&k, block: rotation.keyBlock)
    rotate(&v, block: rotation.valueBlock)
    let softmax = softmaxParameters(layer: layer)
    if caches.count == 1 {
      let cache = caches[0]
      recorder.append(
        .writeKV(
          keys: k.0.heads, values: v.0.heads, positions: pos, keyCache: cache.keys, valueCache: cache.values),
        .writeKV)
      recorder.append(
        attention(
          query: q.0.heads, positions: pos, cache: cache, softmax: softmax, sinks: w.sinks,
          out: a.attention.heads), .attention)
    } else {
      // Row i belongs to the sequence in caches[i] (consecutive rows of one sequence: a prompt
      // chunk): each run of rows sharing a cache writes it and attends to it. Every write comes
      // before every attention, so the attentions of a pass are consecutive ops that a backend may
      // run as one (`ComputeBackend.attention(_:)`): a query reads only its own sequence's cache,
      // up to its own position.
      var runs: [(rows: Range<Int>, cache: KVCache.Layer)] = []
      for (i, cache) in caches.enumerated() {
        if let last = runs.last, last.cache.keys.buffer === cache.keys.buffer,
          last.cache.keys.byteOffset == cache.keys.byteOffset
        {
          runs[runs.count - 1].rows = last.rows.lowerBound..<(i + 1)
        } else {
          runs.append((i..<(i + 1), cache))
        }
      }
      for (rows, cache) in runs {
        recorder.append(
          .writeKV(
            keys: try k.0.heads.rows(rows), values: try v.0.heads.rows(rows), positions: try pos.slice(rows),
            keyCache: cache.keys, valueCache: cache.values), .writeKV)
      }
      for (rows, cache) in runs {
        recorder.append(
          attention(
            query: try q.0.heads.rows(rows), positions: try pos.slice(rows), cache: cache, softmax: softmax,
            sinks: w.sinks, out: try a.attention.heads.rows(rows)), .attention)
      }
    }
    guard let block = rotation.valueBlock else { return a.attention.flat }
    // The V rotation is its own inverse; q's spare buffer is free once attention has run.
    recorder.append(.hadamard(x: a.attention.flat, block: block, out: q.1.flat), .hadamard)
    return q.1.flat
  }

  /// The attention op over `cache`: with the layer's sink logits where it has them (gpt-oss).
  func attention(
    query: Tensor, positions: IndexTensor, cache: KVCache.Layer, softmax: SoftmaxParameters, sinks: Tensor?,
    out: Tensor
  ) -> PlanOp {
    guard let sinks else {
      return .attention(
        query: query, positions: positions, keyCache: cache.keys, valueCache: cache.values, softmax: softmax,
        out: out)
    }
    return .attentionSinks(
      query: query, positions: positions, keyCache: cache.keys, valueCache: cache.values, softmax: softmax,
      sinks: sinks, out: out)
  }

  /// The output projection of the attention heads (+ bias) → `a.proj` (or `a.normed` with a bias).
  func attentionOutput(_ heads: Tensor, weights w: AttentionWeights, a: Activations) throws -> Tensor {
    matmul(heads, w.output, into: a.proj, .matmulAttentionOutput)
    guard let b = w.outputBias else { return a.proj }
    add(a.proj, b, into: a.normed)
    return a.normed
  }

  /// `down(act(gate(x)) · up(x))` of `input` `[n, d]` → `a.proj`. `input` may be `a.normed`.
  func feedForward(
    _ input: Tensor, weights w: FeedForwardWeights, activation: LayerRecipe.GatedActivation, a: Activations
  )
    throws -> Tensor
  {
    matmul(input, w.gate, into: a.gate, .matmulFeedForward)
    matmul(input, w.up, into: a.up, .matmulFeedForward)
    switch activation {
    case .silu: recorder.append(.swiglu(gate: a.gate, up: a.up, out: a.act), .activation)
    case .gelu: recorder.append(.geglu(gate: a.gate, up: a.up, out: a.act), .activation)
    case .swigluOAI: recorder.append(swigluOAI(gate: a.gate, up: a.up, out: a.act), .activation)
    }
    matmul(a.act, w.down, into: a.proj, .matmulFeedForward)
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

extension ForwardContext {
  /// Embedding rows (a quantized table, or a dense f32/f16/bf16 one stored in the GGUF).
  func getRows(_ table: QTensor, ids: IndexTensor, into out: Tensor) throws {
    if let dtype = DType(table.type) {
      let dense = try Tensor(
        buffer: table.buffer, byteOffset: table.byteOffset, dtype: dtype, shape: table.shape)
      recorder.append(.getRowsDense(table: dense, ids: ids, out: out), .embedding)
    } else {
      recorder.append(.getRows(table: table, ids: ids, out: out), .embedding)
    }
  }
}

extension ForwardContext {
  /// Token rows → residual stream `x` (times the recipe's embedding scale, through `scratch`).
  func embed(ids: IndexTensor, model: ModelWeights, into x: Tensor, scratch: Tensor) throws -> Tensor {
    switch config.recipe.embeddingScale {
    case .none:
      try getRows(model.tokenEmbedding, ids: ids, into: x)
    case .sqrtEmbedding:
      try getRows(model.tokenEmbedding, ids: ids, into: scratch)
      scale(scratch, by: config.embeddingScale, into: x)
    }
    return x
  }

  /// Layer `index` of every architecture, as its recipe arranges the shared blocks. Pre-norm
  /// (llama, qwen2, qwen3): `h = x + attn(norm(x)); out = h + ffn(norm(h))`. Sandwich (gemma3):
  /// the attention and FFN outputs are normed again before each residual add:
  ///
  ///     h   = x + norm(attn(norm(x) · attn_norm)) · post_attention_norm
  ///     out = h + norm(ffn(norm(h) · ffn_norm)) · post_ffw_norm
  ///
  /// Biases, q/k norms and RoPE factors run where the weights have them. Returns the tensor holding
  /// the layer's output (input.x, or its last row when narrowed).
  func decoderLayer(
    _ index: Int, weights w: LayerWeights, model: ModelWeights, input: LayerInput, caches: [KVCache.Layer],
    batch: BatchPositions
  ) throws -> Tensor {
    let recipe = config.recipe
    let a0 = input.activations
    rmsNorm(input.x, w.attentionNorm, into: a0.normed)
    let heads = try selfAttention(
      layer: index, input: a0.normed, weights: w.attention, ropeFactors: model.ropeFactors, caches: caches,
      batch: batch, a: a0)
    let (attn, x, a) = try input.narrowed(attention: try attentionOutput(heads, weights: w.attention, a: a0))
    var attended = attn
    if recipe.norms == .sandwich {
      // attentionOutput wrote a.proj (or a.normed with a bias): norm into the other one.
      let post = attn.buffer === a.proj.buffer ? a.normed : a.proj
      rmsNorm(attn, w.postAttentionNorm, into: post)
      attended = post
    }
    add(x, attended, into: a.mid)
    rmsNorm(a.mid, w.feedForwardNorm, into: a.normed)
    // The FFN (dense, or the mixture of experts) writes a.proj.
    var ffn: Tensor
    if let experts = w.experts {
      ffn = try expertFeedForward(a.normed, weights: experts, activation: recipe.activation, a: a)
    } else if let dense = w.feedForward {
      ffn = try feedForward(a.normed, weights: dense, activation: recipe.activation, a: a)
    } else {
      throw ModelError.missingTensor("the FFN of layer \(index)")
    }
    if recipe.norms == .sandwich {
      rmsNorm(ffn, w.postFeedForwardNorm, into: a.normed)
      ffn = a.normed
    }
    add(a.mid, ffn, into: x)
    return x
  }
}
