import QuantaCore

/// Gemma 3 (llama.cpp's `src/models/gemma3.cpp`): embeddings scaled by √d; "sandwich" norms
/// around both blocks; per-head QK-norm; NeoX RoPE with base 10 000 on sliding-window layers (5 of
/// every 6) and the global base elsewhere; the query scale folded into the attention scale;
/// GeGLU (tanh GELU); LM head tied to the embedding.
///
///     h   = x + norm(attn(norm(x) · attn_norm)) · post_attention_norm
///     out = h + norm(ffn(norm(h) · ffn_norm)) · post_ffw_norm
struct Gemma3Architecture: DecoderArchitecture {
  func embed(
    ids: IndexTensor, model: ModelWeights, into x: Tensor, scratch: Tensor, context c: ForwardContext
  )
    throws
    -> Tensor
  {
    try c.getRows(model.tokenEmbedding, ids: ids, into: scratch)
    c.scale(scratch, by: c.config.embeddingScale, into: x)
    return x
  }

  func layer(
    _ index: Int, weights w: LayerWeights, model: ModelWeights, input: LayerInput, cache: KVCache.Layer,
    batch: BatchPositions, context c: ForwardContext
  ) throws -> Tensor {
    let a0 = input.activations
    c.rmsNorm(input.x, w.attentionNorm, into: a0.normed)
    let heads = try c.selfAttention(
      layer: index, input: a0.normed, weights: w.attention, ropeFactors: nil, cache: cache, batch: batch,
      a: a0)
    let (attn, x, a) = try input.narrowed(
      attention: try c.attentionOutput(heads, weights: w.attention, a: a0))
    // attentionOutput wrote a.proj (or a.normed with a bias): norm into the other one.
    let postAttn = attn.buffer === a.proj.buffer ? a.normed : a.proj
    c.rmsNorm(attn, w.postAttentionNorm, into: postAttn)
    c.add(x, postAttn, into: a.mid)
    c.rmsNorm(a.mid, w.feedForwardNorm, into: a.normed)
    let ffn = try c.feedForward(a.normed, weights: w.feedForward, activation: .gelu, a: a)  // a.proj
    c.rmsNorm(ffn, w.postFeedForwardNorm, into: a.normed)
    c.add(a.mid, a.normed, into: x)
    return x
  }
}
