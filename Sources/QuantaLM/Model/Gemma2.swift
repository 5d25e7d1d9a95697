extension ArchitectureDeclaration {
  /// Gemma 2 (llama.cpp's `src/models/gemma2.cpp`): embeddings scaled by √d; "sandwich" norms
  /// around both blocks (as gemma3, without QK-norm); NeoX RoPE, the same on every layer; sliding
  /// window on the even layers (every 2nd layer global; 4096 when the file has no
  /// `attention.sliding_window`); q scaled before attention by 1/√head_dim, except the 27B (46
  /// layers: query_pre_attn_scalar = d / heads, as llama.cpp keys it on the layer count); attention
  /// scores soft-capped at `attn_logit_softcapping` (default 50) and the final logits at
  /// `final_logit_softcapping` (default 30): `cap · tanh(x / cap)`; GeGLU; LM head tied to the
  /// embedding.
  ///
  ///     h   = x + norm(attn(norm(x) · attn_norm)) · post_attention_norm
  ///     out = h + norm(ffn(norm(h) · ffn_norm)) · post_ffw_norm
  public static let gemma2 = ArchitectureDeclaration(
    name: "gemma2",
    hyperparameters: HyperparameterDeclaration.decoder + [
      .init(.attentionLogitSoftcap, .value(50)),
      .init(.finalLogitSoftcap, .value(30)),
      .init(.slidingWindow, .value(4096)),
    ],
    tensors: [
      TensorDeclaration("token_embd.weight", .tokenEmbedding, [.embedding, .vocabulary])
    ]
      + TensorDeclaration.attentionInputRows
      + [
        TensorDeclaration(
          "blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
        TensorDeclaration("blk.%d.post_attention_norm.weight", .postAttentionNorm, [.embedding]),
      ]
      + TensorDeclaration.swiGLURows
      + [
        TensorDeclaration("blk.%d.post_ffw_norm.weight", .postFeedForwardNorm, [.embedding])
      ]
      + TensorDeclaration.outputRows,
    recipe: LayerRecipe(
      norms: .sandwich, activation: .gelu, rope: .neox,
      slidingWindow: .init(pattern: 2, ropeFreqBase: nil, disablesFinalSoftcap: false),
      queryScaleByBlockCount: [46: .inverseSqrtEmbeddingPerHead], scalesQueryBeforeAttention: true,
      embeddingScale: .sqrtEmbedding))
}
