extension ArchitectureDeclaration {
  /// Qwen3 (llama.cpp's `src/models/qwen3.cpp`): the llama layer with per-head RMS norms of Q and K
  /// (`attn_q_norm`, `attn_k_norm`) before NeoX-style RoPE, and no biases.
  public static let qwen3 = ArchitectureDeclaration(
    name: "qwen3",
    hyperparameters: HyperparameterDeclaration.decoder + HyperparameterDeclaration.noSoftcap,
    tensors: TensorDeclaration.embeddingRows
      + TensorDeclaration.attentionInputRows
      + TensorDeclaration.qkvBiasRows(.optional)
      + TensorDeclaration.qkNormRows
      + TensorDeclaration.attentionOutputRows
      + TensorDeclaration.swiGLURows
      + TensorDeclaration.outputRows,
    recipe: LayerRecipe(qkNorm: true, rope: .neox))
}
