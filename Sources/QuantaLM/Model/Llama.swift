import QuantaCore

/// Llama 2/3, Mistral, SmolLM, TinyLlama (llama.cpp's `src/models/llama.cpp`): pre-norm layers,
/// grouped-query attention, adjacent-pair RoPE (with Llama 3's `rope_freqs.weight` frequency
/// factors when the file has them), SwiGLU, optional attention biases, separate or tied LM head.
struct LlamaArchitecture: DecoderArchitecture {
  func layer(
    _ index: Int, weights: LayerWeights, model: ModelWeights, input: LayerInput, cache: KVCache.Layer,
    batch: BatchPositions, context: ForwardContext
  ) throws -> Tensor {
    try preNormLayer(
      index, weights: weights, model: model, input: input, cache: cache, batch: batch, context: context)
  }
}
