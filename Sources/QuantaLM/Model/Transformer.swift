import GGUF
import QuantaCore

/// A decoder-only transformer on one device: configuration, weights (loaded once) and the
/// architecture that arranges the shared blocks. Stateless: the KV cache and activations belong
/// to a `Session`.
final class Transformer: Sendable {
  let config: ModelConfig
  let weights: ModelWeights
  let architecture: any DecoderArchitecture
  let backend: any ComputeBackend

  init(file: GGUFFile, config: ModelConfig, backend: any ComputeBackend) throws {
    self.config = config
    self.backend = backend
    weights = try ModelWeights(file: file, config: config, backend: backend)
    switch config.architecture {
    case .llama: architecture = LlamaArchitecture()
    case .qwen2: architecture = Qwen2Architecture()
    case .qwen3: architecture = Qwen3Architecture()
    case .gemma3: architecture = Gemma3Architecture()
    }
  }

  /// Runs `ids` (at `batch.positions`, already checked against the cache) through every layer and
  /// the final norm. Returns the normed hidden states: every row, or only the last one when
  /// `lastRowOnly` views are given.
  func forward(
    ids: [Int32], batch: BatchPositions, activations a: Activations, lastRowOnly: Activations?,
    cache: KVCache,
    context c: ForwardContext
  ) throws -> Tensor {
    var x = try architecture.embed(ids: ids, model: weights, into: a.x, scratch: a.normed, context: c)
    for i in 0..<config.layerCount {
      let input = LayerInput(
        x: x, activations: a, lastRowOnly: i == config.layerCount - 1 ? lastRowOnly : nil)
      x = try architecture.layer(
        i, weights: weights.layers[i], model: weights, input: input, cache: cache.layers[i], batch: batch,
        context: c)
    }
    // The final norm goes to `normed` of the activations the last layer used.
    let out = x.shape[0] == a.rows ? a.normed : (lastRowOnly ?? a).normed
    try c.rmsNorm(x, weights.outputNorm, into: out)
    return out
  }

  /// Logits of `hidden` rows `[m, d]` into `out` `[m, vocab]` (final soft-cap: gemma 2 style models).
  func logits(_ hidden: Tensor, into out: Tensor, context c: ForwardContext) throws {
    try c.matmul(hidden, weights.output, into: out, .matmulOutput)
    if config.finalLogitSoftcap > 0 {
      // No tanh op in the contract: the families supported here never set it with a sliding window.
      throw QuantaError.unsupported(op: "final logit soft-capping", type: "f32", device: backend.device)
    }
  }
}
