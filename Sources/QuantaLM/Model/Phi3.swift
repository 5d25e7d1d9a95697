extension ArchitectureDeclaration {
  /// Phi-3 (llama.cpp's `src/models/phi3.cpp`): the llama layer with Q, K and V in one matrix
  /// (`attn_qkv`, split by row views) and gate and up in one (`ffn_up`, 2·ff rows, the gate's first:
  /// SwiGLU of its two halves); NeoX RoPE with LongRoPE's `rope_factors_long`/`_short` and
  /// `rope.scaling.attn_factor` where the file has them (Phi-3 128k); q scaled by 1/√head_dim
  /// before attention; a separate LM head. A file's `attention.sliding_window` slides every layer
  /// (Phi-3-mini-4k: 2047; llama.cpp 0.25.3 turns Phi's window off, so the two differ beyond it).
  public static let phi3 = ArchitectureDeclaration(
    name: "phi3",
    hyperparameters: HyperparameterDeclaration.decoder + HyperparameterDeclaration.noSoftcap + [
      .init(.slidingWindow, .value(0)),
      .init(.ropeScalingOriginalContextLength, .sameAs(.contextLength)),
      .init(.ropeScalingAttentionFactor, .value(1)),
    ],
    tensors: [
      .init("token_embd.weight", .tokenEmbedding, [.embedding, .vocabulary]),
      .init("rope_factors_long.weight", .ropeFactorsLong, [.ropePairs], .optional),
      .init("rope_factors_short.weight", .ropeFactorsShort, [.ropePairs], .optional),
      .init("blk.%d.attn_norm.weight", .attentionNorm, [.embedding]),
      .init("blk.%d.attn_qkv.weight", .queryKeyValue, [.embedding, .queryKeyValueWidth]),
      .init("blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
      .init("blk.%d.ffn_norm.weight", .feedForwardNorm, [.embedding]),
      .init("blk.%d.ffn_up.weight", .gateUp, [.embedding, .gateUpWidth]),
      .init("blk.%d.ffn_down.weight", .down, [.feedForward, .embedding]),
      .init("output_norm.weight", .outputNorm, [.embedding]),
      .init("output.weight", .output, [.embedding, .vocabulary], .tiedTo(.tokenEmbedding)),
    ],
    recipe: LayerRecipe(
      rope: .neox, slidingWindow: .init(pattern: 0, ropeFreqBase: nil, disablesFinalSoftcap: false),
      scalesQueryBeforeAttention: true))
}
