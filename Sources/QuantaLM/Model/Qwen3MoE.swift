extension ArchitectureDeclaration {
  /// Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B; llama.cpp's `src/models/qwen3moe.cpp`): the qwen3
  /// attention (per-head RMS norms of Q and K, NeoX RoPE) and a mixture-of-experts FFN: the router
  /// `ffn_gate_inp` picks `expert_used_count` of `expert_count` experts by softmax, their weights
  /// normalized to sum to 1, each a SwiGLU FFN `expert_feed_forward_length` wide (`ffn_*_exps`).
  public static let qwen3moe = ArchitectureDeclaration(
    name: "qwen3moe",
    hyperparameters: HyperparameterDeclaration.decoder + [
      .init(.attentionLogitSoftcap, .value(0)),
      .init(.finalLogitSoftcap, .value(0)),
    ] + HyperparameterDeclaration.experts,
    tensors: [
      .init("token_embd.weight", .tokenEmbedding, [.embedding, .vocabulary]),
      .init("blk.%d.attn_norm.weight", .attentionNorm, [.embedding]),
      .init("blk.%d.attn_q.weight", .query, [.embedding, .queryWidth]),
      .init("blk.%d.attn_k.weight", .key, [.embedding, .keyWidth]),
      .init("blk.%d.attn_v.weight", .value, [.embedding, .valueWidth]),
      .init("blk.%d.attn_q_norm.weight", .queryNorm, [.headDim]),
      .init("blk.%d.attn_k_norm.weight", .keyNorm, [.headDim]),
      .init("blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
      .init("blk.%d.ffn_norm.weight", .feedForwardNorm, [.embedding]),
      .init("blk.%d.ffn_gate_inp.weight", .expertRouter, [.embedding, .experts]),
      .init("blk.%d.ffn_gate_exps.weight", .expertGate, [.embedding, .expertFeedForward, .experts]),
      .init("blk.%d.ffn_down_exps.weight", .expertDown, [.expertFeedForward, .embedding, .experts]),
      .init("blk.%d.ffn_up_exps.weight", .expertUp, [.embedding, .expertFeedForward, .experts]),
      .init("output_norm.weight", .outputNorm, [.embedding]),
      .init("output.weight", .output, [.embedding, .vocabulary], .tiedTo(.tokenEmbedding)),
    ],
    recipe: LayerRecipe(
      qkNorm: true, rope: .neox, experts: ExpertRecipe(gating: .softmax, normalizesWeights: true)))
}
