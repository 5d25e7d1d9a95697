extension ArchitectureDeclaration {
  /// Llama 2/3, Mistral, SmolLM, TinyLlama (llama.cpp's `src/models/llama.cpp`): pre-norm layers,
  /// grouped-query attention, adjacent-pair RoPE (with Llama 3's `rope_freqs.weight` frequency
  /// factors when the file has them), SwiGLU, optional attention biases, separate or tied LM head.
  public static let llama = ArchitectureDeclaration(
    name: "llama",
    hyperparameters: HyperparameterDeclaration.decoder + HyperparameterDeclaration.noSoftcap,
    tensors: TensorDeclaration.embeddingRows
      + TensorDeclaration.attentionInputRows
      + TensorDeclaration.qkvBiasRows(.optional)
      + TensorDeclaration.attentionOutputRows
      + TensorDeclaration.swiGLURows
      + TensorDeclaration.outputRows,
    recipe: LayerRecipe(rope: .normal))
}
