import GGML
import GGUF
import QuantaCore

/// The projections of one attention block. Biases and QK-norm weights exist only where the
/// architecture has them (qwen2 biases; qwen3 / gemma3 QK-norm).
struct AttentionWeights: Sendable {
  var query: QTensor  // [heads · headDim, d]
  var key: QTensor  // [kvHeads · headDim, d]
  var value: QTensor  // [kvHeads · headDim, d]
  var output: QTensor  // [d, heads · headDim]
  var queryBias: Tensor?  // [heads · headDim]
  var keyBias: Tensor?  // [kvHeads · headDim]
  var valueBias: Tensor?  // [kvHeads · headDim]
  var outputBias: Tensor?  // [d]
  var queryNorm: Tensor?  // [headDim], applied per head
  var keyNorm: Tensor?  // [headDim]
}

/// A gated feed-forward block: `down(act(gate(x)) · up(x))`.
struct FeedForwardWeights: Sendable {
  var gate: QTensor  // [ff, d]
  var up: QTensor  // [ff, d]
  var down: QTensor  // [d, ff]
}

struct LayerWeights: Sendable {
  var attentionNorm: Tensor  // [d]
  var attention: AttentionWeights
  /// Gemma's norm of the attention output before the residual add.
  var postAttentionNorm: Tensor?
  var feedForwardNorm: Tensor  // [d]
  var feedForward: FeedForwardWeights
  /// Gemma's norm of the FFN output before the residual add.
  var postFeedForwardNorm: Tensor?
}

/// Every weight of a model, on one device, loaded once. On the CPU the quantized tensors are views
/// of the memory-mapped file (no copy); a GPU backend uploads them from the map.
struct ModelWeights: Sendable {
  var tokenEmbedding: QTensor  // [vocab, d]
  var outputNorm: Tensor  // [d]
  /// The LM head; the token embedding itself when the file has no `output.weight` (tied).
  var output: QTensor  // [vocab, d]
  /// Llama 3's RoPE frequency factors (`rope_freqs.weight`), [ropeDimensions / 2].
  var ropeFactors: Tensor?
  var layers: [LayerWeights]

  /// Loads the tensors `config` (already validated against the file) names.
  init(file: GGUFFile, config: ModelConfig, backend: any ComputeBackend) throws {
    func q(_ name: String) throws -> QTensor {
      guard let info = file.tensor(named: name) else { throw ModelError.missingTensor(name) }
      return try QTensor.load(info, from: file, on: backend)
    }
    func dense(_ name: String) throws -> Tensor? {
      guard let info = file.tensor(named: name) else { return nil }
      let t = try QTensor.load(info, from: file, on: backend)
      // 1-D weights are f32 in every converter's output; f16/bf16 ones are widened once here.
      if t.type == .f32 {
        return try Tensor(buffer: t.buffer, byteOffset: t.byteOffset, dtype: .f32, shape: [t.count])
      }
      guard DType(t.type) != nil || t.type.dequantizer != nil else {
        throw ModelError.tensorType(name: name, type: t.type.name)
      }
      return try t.dequantize().reshaped([t.count])
    }
    func required(_ name: String) throws -> Tensor {
      guard let t = try dense(name) else { throw ModelError.missingTensor(name) }
      return t
    }

    tokenEmbedding = try q("token_embd.weight")
    outputNorm = try required("output_norm.weight")
    output = file.tensor(named: "output.weight") != nil ? try q("output.weight") : tokenEmbedding
    ropeFactors = try dense("rope_freqs.weight")
    layers = []
    layers.reserveCapacity(config.layerCount)
    for i in 0..<config.layerCount {
      let p = "blk.\(i)."
      let attention = AttentionWeights(
        query: try q(p + "attn_q.weight"), key: try q(p + "attn_k.weight"), value: try q(p + "attn_v.weight"),
        output: try q(p + "attn_output.weight"),
        queryBias: try dense(p + "attn_q.bias"), keyBias: try dense(p + "attn_k.bias"),
        valueBias: try dense(p + "attn_v.bias"), outputBias: try dense(p + "attn_output.bias"),
        queryNorm: config.hasQKNorm ? try required(p + "attn_q_norm.weight") : nil,
        keyNorm: config.hasQKNorm ? try required(p + "attn_k_norm.weight") : nil)
      let ffn = FeedForwardWeights(
        gate: try q(p + "ffn_gate.weight"), up: try q(p + "ffn_up.weight"), down: try q(p + "ffn_down.weight")
      )
      layers.append(
        LayerWeights(
          attentionNorm: try required(p + "attn_norm.weight"), attention: attention,
          postAttentionNorm: config.hasPostNorms ? try required(p + "post_attention_norm.weight") : nil,
          feedForwardNorm: try required(p + "ffn_norm.weight"), feedForward: ffn,
          postFeedForwardNorm: config.hasPostNorms ? try required(p + "post_ffw_norm.weight") : nil))
    }
  }
}
