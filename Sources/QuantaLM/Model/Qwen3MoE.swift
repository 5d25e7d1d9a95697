extension ArchitectureDeclaration {
  /// Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B; llama.cpp's `src/models/qwen3moe.cpp`): the qwen3
  /// attention (per-head RMS norms of Q and K, NeoX RoPE) and a mixture-of-experts FFN: the router
  /// `ffn_gate_inp` picks `expert_used_count` of `expert_count` experts by softmax, their weights
  /// normalized to sum to 1, each a SwiGLU FFN `expert_feed_forward_length` wide (`ffn_*_exps`).
  public static let qwen3moe = ArchitectureDeclaration(
    name: "qwen3moe",
    hyperparameters: HyperparameterDeclaration.decoder + HyperparameterDeclaration.noSoftcap
      + HyperparameterDeclaration.experts,
    tensors: [
      TensorDeclaration("token_embd.weight", .tokenEmbedding, [.embedding, .vocabulary])
    ]
      + TensorDeclaration.attentionInputRows
      + TensorDeclaration.qkNormRows
      + [
        TensorDeclaration(
          "blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
        TensorDeclaration("blk.%d.ffn_norm.weight", .feedForwardNorm, [.embedding]),
        TensorDeclaration("blk.%d.ffn_gate_inp.weight", .expertRouter, [.embedding, .experts]),
        TensorDeclaration(
          "blk.%d.ffn_gate_exps.weight", .expertGate, [.embedding, .expertFeedForward, .experts]),
        TensorDeclaration(
          "blk.%d.ffn_down_exps.weight", .expertDown, [.expertFeedForward, .embedding, .experts]),
        TensorDeclaration(
          "blk.%d.ffn_up_exps.weight", .expertUp, [.embedding, .expertFeedForward, .experts]),
      ]
      + TensorDeclaration.outputRows,
    recipe: LayerRecipe(
      qkNorm: true, rope: .neox, experts: ExpertRecipe(gating: .softmax, normalizesWeights: true)))
}
