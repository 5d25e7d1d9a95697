extension ArchitectureDeclaration {
  /// Qwen2 / Qwen2.5 (llama.cpp's `src/models/qwen2.cpp`): the llama layer with biases on the
  /// q/k/v projections (required) and NeoX-style RoPE.
  public static let qwen2 = ArchitectureDeclaration(
    name: "qwen2",
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
      .init("blk.%d.attn_q.bias", .queryBias, [.queryWidth]),
      .init("blk.%d.attn_k.bias", .keyBias, [.keyWidth]),
      .init("blk.%d.attn_v.bias", .valueBias, [.valueWidth]),
      .init("blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
      .init("blk.%d.attn_output.bias", .attentionOutputBias, [.embedding], .optional),
      .init("blk.%d.ffn_norm.weight", .feedForwardNorm, [.embedding]),
      .init("blk.%d.ffn_gate.weight", .gate, [.embedding, .feedForward]),
      .init("blk.%d.ffn_up.weight", .up, [.embedding, .feedForward]),
      .init("blk.%d.ffn_down.weight", .down, [.feedForward, .embedding]),
      .init("output_norm.weight", .outputNorm, [.embedding]),
      .init("output.weight", .output, [.embedding, .vocabulary], .tiedTo(.tokenEmbedding)),
    ],
    recipe: LayerRecipe(rope: .neox))
}
