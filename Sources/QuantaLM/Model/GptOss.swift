extension ArchitectureDeclaration {
  /// gpt-oss (gpt-oss-20b, gpt-oss-120b; llama.cpp's `src/models/openai-moe.cpp`, arch `gpt-oss`):
  /// pre-norm layers whose FFN norm is `post_attention_norm`; Q/K/V and the attention output with
  /// biases; NeoX RoPE with YaRN (`rope.scaling.type` yarn, `rope.scaling.factor`,
  /// `rope.scaling.original_context_length`), the same on every layer; a sliding window
  /// (`attention.sliding_window`, 128) on the even layers (every 2nd layer global, llama.cpp's
  /// `set_swa_pattern(2)`); attention with a learned sink logit per head (`attn_sinks`: one more term
  /// of each softmax denominator), scaled by 1/√head_dim; a mixture of experts whose router has a
  /// bias (`ffn_gate_inp.bias`) and picks the `expert_used_count` largest biased logits, weighed by
  /// the softmax of those alone (no normalization after); each expert `down(swiglu_oai(gate(x) +
  /// b_g, up(x) + b_u)) + b_d` with per-expert biases (`ffn_*_exps.bias`, ggml's `add_id`; MXFP4
  /// experts in the released files); a separate LM head.
  ///
  ///     h   = x + attn_sinks(rope(norm(x) · attn_norm · W_qkv + b_qkv)) · W_o + b_o
  ///     out = h + Σ_{k picked} softmax_k(router(h')) · expert_k(h'),  h' = norm(h) · post_attention_norm
  public static let gptOss = ArchitectureDeclaration(
    name: "gpt-oss",
    hyperparameters: HyperparameterDeclaration.decoder + HyperparameterDeclaration.noSoftcap + [
      .init(.slidingWindow),
      .init(.ropeScalingOriginalContextLength, .sameAs(.contextLength)),
      .init(.ropeScalingAttentionFactor, .value(1)),
    ] + HyperparameterDeclaration.experts,
    tensors: [
      .init("token_embd.weight", .tokenEmbedding, [.embedding, .vocabulary]),
      .init("blk.%d.attn_norm.weight", .attentionNorm, [.embedding]),
      .init("blk.%d.attn_q.weight", .query, [.embedding, .queryWidth]),
      .init("blk.%d.attn_q.bias", .queryBias, [.queryWidth]),
      .init("blk.%d.attn_k.weight", .key, [.embedding, .keyWidth]),
      .init("blk.%d.attn_k.bias", .keyBias, [.keyWidth]),
      .init("blk.%d.attn_v.weight", .value, [.embedding, .valueWidth]),
      .init("blk.%d.attn_v.bias", .valueBias, [.valueWidth]),
      .init("blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
      .init("blk.%d.attn_output.bias", .attentionOutputBias, [.embedding]),
      .init("blk.%d.attn_sinks.weight", .attentionSinks, [.heads]),
      .init("blk.%d.post_attention_norm.weight", .feedForwardNorm, [.embedding]),
      .init("blk.%d.ffn_gate_inp.weight", .expertRouter, [.embedding, .experts]),
      .init("blk.%d.ffn_gate_inp.bias", .expertRouterBias, [.experts]),
      .init("blk.%d.ffn_gate_exps.weight", .expertGate, [.embedding, .expertFeedForward, .experts]),
      .init("blk.%d.ffn_gate_exps.bias", .expertGateBias, [.expertFeedForward, .experts]),
      .init("blk.%d.ffn_up_exps.weight", .expertUp, [.embedding, .expertFeedForward, .experts]),
      .init("blk.%d.ffn_up_exps.bias", .expertUpBias, [.expertFeedForward, .experts]),
      .init("blk.%d.ffn_down_exps.weight", .expertDown, [.expertFeedForward, .embedding, .experts]),
      .init("blk.%d.ffn_down_exps.bias", .expertDownBias, [.embedding, .experts]),
      .init("output_norm.weight", .outputNorm, [.embedding]),
      .init("output.weight", .output, [.embedding, .vocabulary]),
    ],
    recipe: LayerRecipe(
      activation: .swigluOAI, rope: .neox,
      slidingWindow: .init(pattern: 2, ropeFreqBase: nil, disablesFinalSoftcap: false),
      experts: ExpertRecipe(gating: .softmaxOfSelected, normalizesWeights: false)))
}
