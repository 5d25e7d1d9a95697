import GGUF
import QuantaCore

/// A decoder-only transformer on one device: configuration (with the architecture's recipe, which
/// arranges the shared blocks) and weights (loaded once). Stateless: the KV cache and activations belong
/// to a `Session`.
final class Transformer: Sendable {
  let config: ModelConfig
  let weights: ModelWeights
  let backend: any ComputeBackend

  /// `contextLength`: the sessions' context (LongRoPE picks its factors by it).
  init(file: GGUFFile, config: ModelConfig, contextLength: Int, backend: any ComputeBackend) throws {
    self.config = config
    self.backend = backend
    weights = try ModelWeights(file: file, config: config, contextLength: contextLength, backend: backend)
  }

  /// Records the forward pass of `batch.ids` (at `batch.positions`, checked against the cache when
  /// the plan runs) through every layer and the final norm. `caches` holds one cache for every row
  /// (the rows are one sequence) or one per row (row `i` is the next token of the sequence in
  /// `caches[i]`: batched decode). Returns the tensor that will hold the normed hidden states: every
  /// row, or only the last one when `lastRowOnly` views are given.
  func forward(
    batch: BatchPositions, activations a: Activations, lastRowOnly: Activations?, caches: [KVCache],
    context c: ForwardContext
  ) throws -> Tensor {
    guard caches.count == 1 || caches.count == a.rows else {
      throw QuantaError.shapeMismatch(
        op: "forward caches", expected: "1 or \(a.rows) caches", actual: [caches.count])
    }
    var x = try c.embed(ids: batch.ids, model: weights, into: a.x, scratch: a.normed)
    for i in 0..<config.layerCount {
      let input = LayerInput(
        x: x, activations: a, lastRowOnly: i == config.layerCount - 1 ? lastRowOnly : nil)
      x = try c.decoderLayer(
        i, weights: weights.layers[i], model: weights, input: input, caches: caches.map { $0.layers[i] },
        batch: batch)
    }
    // The final norm goes to `normed` of the activations the last layer used.
    let out = x.shape[0] == a.rows ? a.normed : (lastRowOnly ?? a).normed
    c.rmsNorm(x, weights.outputNorm, into: out)
    return out
  }

  /// Records the logits of `hidden` rows `[m, d]` into `out` `[m, vocab]`, soft-capped in place
  /// where the model caps them (gemma2: `cap · tanh(logit / cap)`).
  func logits(_ hidden: Tensor, into out: Tensor, context c: ForwardContext) throws {
    c.matmul(hidden, weights.output, into: out, .matmulOutput)
    if let cap = finalSoftcap { c.recorder.append(.softcap(x: out, cap: cap, out: out), .softcap) }
  }

  /// The same, run now (perplexity's chunks of logits rows, outside any plan).
  func logits(_ hidden: Tensor, into out: Tensor, options: QMatMulOptions) throws {
    try backend.matmul(hidden, weights: weights.output, options: options, into: out)
    if let cap = finalSoftcap { try backend.softcap(out, cap: cap, into: out) }
  }

  /// The final logit soft-cap, nil when the model has none.
  private var finalSoftcap: Float? { config.finalLogitSoftcap > 0 ? config.finalLogitSoftcap : nil }
}
