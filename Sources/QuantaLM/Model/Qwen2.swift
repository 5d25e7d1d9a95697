extension ArchitectureDeclaration {
  /// Qwen2 / Qwen2.5 (llama.cpp's `src/models/qwen2.cpp`): the llama layer with biases on the
  /// q/k/v projections (required) and NeoX-style RoPE.
  public static let qwen2 = ArchitectureDeclaration(
    name: "qwen2",
    hyperparameters: HyperparameterDeclaration.decoder + HyperparameterDeclaration.noSoftcap,
    tensors: TensorDeclaration.embeddingRows
      + TensorDeclaration.attentionInputRows
      + TensorDeclaration.qkvBiasRows(.required)
      + TensorDeclaration.attentionOutputRows
      + TensorDeclaration.swiGLURows
      + TensorDeclaration.outputRows,
    recipe: LayerRecipe(rope: .neox))
}
