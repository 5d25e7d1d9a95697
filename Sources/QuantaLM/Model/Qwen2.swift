import QuantaCore

/// Qwen2 / Qwen2.5 (llama.cpp's `src/models/qwen2.cpp`): the llama layer with biases on the
/// q/k/v projections (required; `ModelConfig` checks them) and NeoX-style RoPE.
struct Qwen2Architecture: DecoderArchitecture {
  func layer(
    _ index: Int, weights: LayerWeights, model: ModelWeights, input: LayerInput, cache: KVCache.Layer,
    batch: BatchPositions, context: ForwardContext
  ) throws -> Tensor {
    // The biases travel in `weights.attention` and are added right after each projection.
    try preNormLayer(
      index, weights: weights, model: model, input: input, cache: cache, batch: batch, context: context)
  }
}
