extension ArchitectureDeclaration {
  /// Mixtral 8x7B / 8x22B: a `llama` file with `llama.expert_count` > 0 (llama.cpp's
  /// `src/models/llama.cpp` takes `build_moe_ffn` when the layer has `ffn_gate_inp`). The llama
  /// layer with a mixture-of-experts FFN: softmax router over `expert_count` experts, the
  /// `expert_used_count` most probable picked and their weights normalized, each expert a SwiGLU
  /// FFN `feed_forward_length` wide (stacked `ffn_*_exps`). `ArchitectureRegistry.named(_:metadata:)`
  /// picks this table for a llama file with experts.
  public static let mixtral = ArchitectureDeclaration(
    name: "llama",
    hyperparameters: HyperparameterDeclaration.decoder + HyperparameterDeclaration.noSoftcap + [
      .init(.expertCount),
      .init(.expertUsedCount),
    ],
    tensors: TensorDeclaration.embeddingRows
      + TensorDeclaration.attentionInputRows
      + [
        TensorDeclaration(
          "blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
        TensorDeclaration("blk.%d.ffn_norm.weight", .feedForwardNorm, [.embedding]),
        TensorDeclaration("blk.%d.ffn_gate_inp.weight", .expertRouter, [.embedding, .experts]),
        TensorDeclaration("blk.%d.ffn_gate_exps.weight", .expertGate, [.embedding, .feedForward, .experts]),
        TensorDeclaration("blk.%d.ffn_down_exps.weight", .expertDown, [.feedForward, .embedding, .experts]),
        TensorDeclaration("blk.%d.ffn_up_exps.weight", .expertUp, [.embedding, .feedForward, .experts]),
      ]
      + TensorDeclaration.outputRows,
    recipe: LayerRecipe(rope: .normal, experts: ExpertRecipe(gating: .softmax, normalizesWeights: true)))
}
