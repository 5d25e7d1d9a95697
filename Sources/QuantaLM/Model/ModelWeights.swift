import GGML
import GGUF
import QuantaCore

/// The projections of one attention block. Biases and QK-norm weights exist only where the
/// architecture's table has them and the file carries them (qwen2 biases; qwen3 / gemma3 QK-norm).
/// A fused Q/K/V matrix (phi3) is three row views of it here: the blocks see separate projections.
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
  /// gpt-oss's sink logit per query head.
  var sinks: Tensor?  // [heads]
}

/// A gated feed-forward block: `down(act(gate(x)) · up(x))`. A fused gate/up matrix (phi3) is two
/// row views of it here.
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
  /// The dense FFN; nil in a mixture-of-experts layer, which has `experts` instead.
  var feedForward: FeedForwardWeights?
  var experts: ExpertWeights?
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
  /// RoPE frequency factors, [ropeDimensions / 2]: Llama 3's (`rope_freqs.weight`), or Phi-3's
  /// LongRoPE long or short ones as the session's context asks.
  var ropeFactors: Tensor?
  var layers: [LayerWeights]

  /// Loads the tensors of the architecture's table (already validated against the file by
  /// `config`): each by its role; an optional one absent from the file is nil, a tied one is the
  /// tensor it is tied to. `contextLength`: the sessions' context, which picks LongRoPE's long
  /// factors when it exceeds the original context (llama.cpp's `get_rope_factors`).
  init(file: GGUFFile, config: ModelConfig, contextLength: Int, backend: any ComputeBackend) throws {
    let table = config.architecture
    func name(_ role: TensorRole, _ layer: Int?) -> String? {
      guard let t = table.tensor(role) else { return nil }
      return layer.map { t.name(layer: $0) } ?? t.name
    }
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
    /// A matrix the blocks need (the table of every architecture has it).
    func matrix(_ role: TensorRole, layer: Int? = nil) throws -> QTensor {
      guard let n = name(role, layer) else {
        throw ModelError.missingTensor("\(role) (\(table) has none)")
      }
      return try q(n)
    }
    /// A dense weight: nil when the architecture has none or an optional one is absent.
    func optional(_ role: TensorRole, layer: Int? = nil) throws -> Tensor? {
      guard let n = name(role, layer) else { return nil }
      guard let t = try dense(n) else {
        if table.tensor(role)?.presence == .required { throw ModelError.missingTensor(n) }
        return nil
      }
      return t
    }
    func required(_ role: TensorRole, layer: Int? = nil) throws -> Tensor {
      guard let t = try optional(role, layer: layer) else {
        throw ModelError.missingTensor(name(role, layer) ?? "\(role) (\(table) has none)")
      }
      return t
    }

    tokenEmbedding = try matrix(.tokenEmbedding)
    outputNorm = try required(.outputNorm)
    // A tied LM head absent from the file is the token embedding (the one tie the blocks know).
    if let out = table.tensor(.output), out.presence == .tiedTo(.tokenEmbedding),
      file.tensor(named: out.name) == nil
    {
      output = tokenEmbedding
    } else {
      output = try matrix(.output)
    }
    ropeFactors =
      try optional(.ropeFrequencyFactors)
      ?? optional(contextLength > config.ropeOriginalContextLength ? .ropeFactorsLong : .ropeFactorsShort)
    let dims = config.dimensions
    /// Q, K, V: three row views of the fused matrix when the table has one, else three matrices.
    func queryKeyValue(layer: Int) throws -> (QTensor, QTensor, QTensor) {
      guard table.tensor(.queryKeyValue) != nil else {
        return (
          try matrix(.query, layer: layer), try matrix(.key, layer: layer), try matrix(.value, layer: layer)
        )
      }
      let parts = try matrix(.queryKeyValue, layer: layer).splitRows(
        [dims.size(.queryWidth), dims.size(.keyWidth), dims.size(.valueWidth)])
      return (parts[0], parts[1], parts[2])
    }
    /// Gate and up: the two halves of the fused matrix when the table has one.
    func gateUp(layer: Int) throws -> (QTensor, QTensor) {
      guard table.tensor(.gateUp) != nil else {
        return (try matrix(.gate, layer: layer), try matrix(.up, layer: layer))
      }
      let parts = try matrix(.gateUp, layer: layer).splitRows([
        config.feedForwardLength, config.feedForwardLength,
      ])
      return (parts[0], parts[1])
    }
    layers = []
    layers.reserveCapacity(config.layerCount)
    for i in 0..<config.layerCount {
      let (query, key, value) = try queryKeyValue(layer: i)
      let attention = AttentionWeights(
        query: query, key: key, value: value, output: try matrix(.attentionOutput, layer: i),
        queryBias: try optional(.queryBias, layer: i), keyBias: try optional(.keyBias, layer: i),
        valueBias: try optional(.valueBias, layer: i),
        outputBias: try optional(.attentionOutputBias, layer: i),
        queryNorm: try optional(.queryNorm, layer: i), keyNorm: try optional(.keyNorm, layer: i),
        sinks: try optional(.attentionSinks, layer: i))
      var ffn: FeedForwardWeights?
      var experts: ExpertWeights?
      if table.hasExperts {
        /// A stacked per-expert bias as `[experts, rows]`.
        func expertBias(_ role: TensorRole) throws -> Tensor? {
          guard let t = try optional(role, layer: i) else { return nil }
          return try t.reshaped([config.expertCount, t.count / config.expertCount])
        }
        experts = ExpertWeights(
          router: try matrix(.expertRouter, layer: i), gate: try matrix(.expertGate, layer: i),
          up: try matrix(.expertUp, layer: i), down: try matrix(.expertDown, layer: i),
          routerBias: try optional(.expertRouterBias, layer: i), gateBias: try expertBias(.expertGateBias),
          upBias: try expertBias(.expertUpBias), downBias: try expertBias(.expertDownBias))
      } else {
        let (gate, up) = try gateUp(layer: i)
        ffn = FeedForwardWeights(gate: gate, up: up, down: try matrix(.down, layer: i))
      }
      layers.append(
        LayerWeights(
          attentionNorm: try required(.attentionNorm, layer: i), attention: attention,
          postAttentionNorm: try optional(.postAttentionNorm, layer: i),
          feedForwardNorm: try required(.feedForwardNorm, layer: i), feedForward: ffn, experts: experts,
          postFeedForwardNorm: try optional(.postFeedForwardNorm, layer: i)))
    }
  }
}

extension QTensor {
  /// Consecutive row ranges of `counts` rows each, as views of the same memory (no copy): the
  /// parts of a fused projection. The counts must add up to the rows.
  func splitRows(_ counts: [Int]) throws -> [QTensor] {
    guard shape.count == 2, counts.reduce(0, +) == shape[0], counts.allSatisfy({ $0 > 0 }) else {
      throw QuantaError.shapeMismatch(
        op: "splitRows", expected: "\(counts.reduce(0, +)) rows in parts \(counts)", actual: shape)
    }
    var start = 0
    return try counts.map { n in
      defer { start += n }
      return try QTensor(
        buffer: buffer, byteOffset: byteOffset + start * rowByteCount, type: type, shape: [n, shape[1]])
    }
  }
}
