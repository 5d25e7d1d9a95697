extension ArchitectureDeclaration {
  /// Gemma 3 (llama.cpp's `src/models/gemma3.cpp`): embeddings scaled by √d; "sandwich" norms
  /// around both blocks; per-head QK-norm; NeoX RoPE with base 10 000 on sliding-window layers (5 of
  /// every 6) and the global base elsewhere; q scaled before attention; GeGLU (tanh GELU); LM head
  /// tied to the embedding. No RoPE frequency factors.
  ///
  ///     h   = x + norm(attn(norm(x) · attn_norm)) · post_attention_norm
  ///     out = h + norm(ffn(norm(h) · ffn_norm)) · post_ffw_norm
  public static let gemma3 = ArchitectureDeclaration(
    name: "gemma3",
    hyperparameters: HyperparameterDeclaration.decoder + HyperparameterDeclaration.noSoftcap + [
      .init(.slidingWindow, .value(0))
    ],
    tensors: [
      TensorDeclaration("token_embd.weight", .tokenEmbedding, [.embedding, .vocabulary])
    ]
      + TensorDeclaration.attentionInputRows
      + TensorDeclaration.qkvBiasRows(.optional)
      + TensorDeclaration.qkNormRows
      + TensorDeclaration.attentionOutputRows
      + [
        TensorDeclaration("blk.%d.post_attention_norm.weight", .postAttentionNorm, [.embedding])
      ]
      + TensorDeclaration.swiGLURows
      + [
        TensorDeclaration("blk.%d.post_ffw_norm.weight", .postFeedForwardNorm, [.embedding])
      ]
      + TensorDeclaration.outputRows,
    // llama.cpp's gemma3 loader: sliding window on 5 of every 6 layers, local RoPE base 10 000,
    // embeddings scaled by √n_embd, no final soft-cap with sliding windows; queries scaled by
    // 1/√head_dim, except the 27B (62 layers: query_pre_attn_scalar = n_embd / n_head).
    recipe: LayerRecipe(
      norms: .sandwich, qkNorm: true, activation: .gelu, rope: .neox,
      slidingWindow: .init(pattern: 6, ropeFreqBase: 10_000, disablesFinalSoftcap: true),
      queryScaleByBlockCount: [62: .inverseSqrtEmbeddingPerHead], scalesQueryBeforeAttention: true,
      embeddingScale: .sqrtEmbedding))
}
