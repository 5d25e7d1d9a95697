extension ArchitectureDeclaration {
  /// Qwen3 (llama.cpp's `src/models/qwen3.cpp`): the llama layer with per-head RMS norms of Q and K
  /// (`attn_q_norm`, `attn_k_norm`) before NeoX-style RoPE, and no biases.
  public static let qwen3 = ArchitectureDeclaration(
    name: "qwen3",
    hyperparameters: HyperparameterDeclaration.decoder + [
      .init(.attentionLogitSoftcap, .value(0)),
      .init(.finalLogitSoftcap, .value(0)),
    ],
    tensors: [
      .init("token_embd.weight", .tokenEmbedding, [.embedding, .vocabulary]),
      .init("rope_freqs.weight", .ropeFrequencyFactors, [.ropePairs], .optional),
      .init("blk.%d.attn_norm.weight", .attentionNorm, [.embedding]),
      .init("blk.%d.attn_q.weight", .query, [.embedding, .queryWidth]),
      .init("blk.%d.attn_k.weight", .key, [.embedding, .keyWidth]),
      .init("blk.%d.attn_v.weight", .value, [.embedding, .valueWidth]),
      .init("blk.%d.attn_q.bias", .queryBias, [.queryWidth], .optional),
      .init("blk.%d.attn_k.bias", .keyBias, [.keyWidth], .optional),
      .init("blk.%d.attn_v.bias", .valueBias, [.valueWidth], .optional),
      .init("blk.%d.attn_q_norm.weight", .queryNorm, [.headDim]),
      .init("blk.%d.attn_k_norm.weight", .keyNorm, [.headDim]),
      .init("blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
      .init("blk.%d.attn_output.bias", .attentionOutputBias, [.embedding], .optional),
      .init("blk.%d.ffn_norm.weight", .feedForwardNorm, [.embedding]),
      .init("blk.%d.ffn_gate.weight", .gate, [.embedding, .feedForward]),
      .init("blk.%d.ffn_up.weight", .up, [.embedding, .feedForward]),
      .init("blk.%d.ffn_down.weight", .down, [.feedForward, .embedding]),
      .init("output_norm.weight", .outputNorm, [.embedding]),
      .init("output.weight", .output, [.embedding, .vocabulary], .tiedTo(.tokenEmbedding)),
    ],
    recipe: LayerRecipe(qkNorm: true, rope: .neox))
}
