extension ArchitectureDeclaration {
  /// Mixtral 8x7B / 8x22B: a `llama` file with `llama.expert_count` > 0 (llama.cpp's
  /// `src/models/llama.cpp` takes `build_moe_ffn` when the layer has `ffn_gate_inp`). The llama
  /// layer with a mixture-of-experts FFN: softmax router over `expert_count` experts, the
  /// `expert_used_count` most probable picked and their weights normalized, each expert a SwiGLU
  /// FFN `feed_forward_length` wide (stacked `ffn_*_exps`). `ArchitectureRegistry.named(_:metadata:)`
  /// picks this table for a llama file with experts.
  public static let mixtral = ArchitectureDeclaration(
    name: "llama",
    hyperparameters: HyperparameterDeclaration.decoder + [
      .init(.attentionLogitSoftcap, .value(0)),
      .init(.finalLogitSoftcap, .value(0)),
      .init(.expertCount),
      .init(.expertUsedCount),
    ],
    tensors: [
      .init("token_embd.weight", .tokenEmbedding, [.embedding, .vocabulary]),
      .init("rope_freqs.weight", .ropeFrequencyFactors, [.ropePairs], .optional),
      .init("blk.%d.attn_norm.weight", .attentionNorm, [.embedding]),
      .init("blk.%d.attn_q.weight", .query, [.embedding, .queryWidth]),
      .init("blk.%d.attn_k.weight", .key, [.embedding, .keyWidth]),
      .init("blk.%d.attn_v.weight", .value, [.embedding, .valueWidth]),
      .init("blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
      .init("blk.%d.ffn_norm.weight", .feedForwardNorm, [.embedding]),
      .init("blk.%d.ffn_gate_inp.weight", .expertRouter, [.embedding, .experts]),
      .init("blk.%d.ffn_gate_exps.weight", .expertGate, [.embedding, .feedForward, .experts]),
      .init("blk.%d.ffn_down_exps.weight", .expertDown, [.feedForward, .embedding, .experts]),
      .init("blk.%d.ffn_up_exps.weight", .expertUp, [.embedding, .feedForward, .experts]),
      .init("output_norm.weight", .outputNorm, [.embedding]),
      .init("output.weight", .output, [.embedding, .vocabulary], .tiedTo(.tokenEmbedding)),
    ],
    recipe: LayerRecipe(rope: .normal, experts: ExpertRecipe(gating: .softmax, normalizesWeights: true)))
}
