import QuantaCore

/// Qwen3 (llama.cpp's `src/models/qwen3.cpp`): the llama layer with per-head RMS norms of Q and K
/// (`attn_q_norm`, `attn_k_norm`) before NeoX-style RoPE, and no biases.
struct Qwen3Architecture: DecoderArchitecture {
  func layer(
    _ index: Int, weights: LayerWeights, model: ModelWeights, input: LayerInput, cache: KVCache.Layer,
    batch: BatchPositions, context: ForwardContext
  ) throws -> Tensor {
    // QK-norm travels in `weights.attention` (queryNorm/keyNorm) and runs before RoPE.
    try preNormLayer(
      index, weights: weights, model: model, input: input, cache: cache, batch: batch, context: context)
  }
}
