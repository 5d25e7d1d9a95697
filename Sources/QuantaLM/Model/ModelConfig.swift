import GGUF

/// The hyperparameters of a decoder-only transformer, read from GGUF metadata (`{arch}.*` keys) and
/// checked against each other and against the tensors (RELIABILITY.md A14).
public struct ModelConfig: Sendable, Equatable {
  public enum Architecture: String, Sendable, CaseIterable {
    case llama, qwen2, qwen3, gemma3
  }

  /// How RoPE pairs dimensions: adjacent pairs (llama) or the two halves (NeoX: qwen2/3, gemma3).
  public enum RopeStyle: Sendable { case normal, neox }

  public var architecture: Architecture
  public var layerCount: Int
  public var embeddingLength: Int
  public var feedForwardLength: Int
  public var headCount: Int
  public var kvHeadCount: Int
  /// Per-head size of queries/keys (`attention.key_length`, else embedding / heads).
  public var headDim: Int
  /// Per-head size of values (`attention.value_length`, else headDim).
  public var valueDim: Int
  public var vocabularySize: Int
  public var contextLength: Int
  public var rmsEpsilon: Float
  public var ropeStyle: RopeStyle
  /// Dimensions of each head that RoPE rotates (`rope.dimension_count`, else headDim).
  public var ropeDimensions: Int
  public var ropeFreqBase: Float
  /// Linear scaling: position × ropeFreqScale (1 / `rope.scaling.factor` when its type is linear).
  public var ropeFreqScale: Float
  /// RoPE base of sliding-window layers where it differs (gemma3: 10 000).
  public var ropeFreqBaseSWA: Float
  /// Keys a sliding-window layer sees (0: none).
  public var slidingWindow: Int
  /// Every `slidingWindowPattern`-th layer is global, the others slide (gemma3: 6); 0: none slide.
  public var slidingWindowPattern: Int
  /// Scale applied to queries before attention.
  public var attentionScale: Float
  /// Multiplier of the token embeddings (gemma: √embedding).
  public var embeddingScale: Float
  /// Soft-capping of attention logits / final logits (0: none).
  public var attentionSoftcap: Float
  public var finalLogitSoftcap: Float
  public var hasQKNorm: Bool
  /// Gemma-style extra norms after attention and after the FFN.
  public var hasPostNorms: Bool
  /// The FFN activation: SiLU (SwiGLU) or tanh-GELU (GeGLU).
  public var usesGELU: Bool

  public func isSlidingWindowLayer(_ layer: Int) -> Bool {
    guard slidingWindow > 0, slidingWindowPattern > 0 else { return false }
    return layer % slidingWindowPattern < slidingWindowPattern - 1
  }

  public func ropeBase(layer: Int) -> Float {
    isSlidingWindowLayer(layer) ? ropeFreqBaseSWA : ropeFreqBase
  }

  /// Linear RoPE scaling of a layer: sliding-window layers never scale (llama.cpp's
  /// `rope_freq_scale_train_swa = 1` for gemma3), global layers use `ropeFreqScale`.
  public func ropeScale(layer: Int) -> Float {
    isSlidingWindowLayer(layer) ? 1 : ropeFreqScale
  }

  /// Reads and validates the configuration of `file`.
  public init(file: GGUFFile) throws {
    let m = file.metadata
    let archName = try m.string("general.architecture")
    guard let arch = Architecture(rawValue: archName) else {
      throw ModelError.unsupportedArchitecture(archName)
    }
    architecture = arch
    func key(_ k: String) -> String { "\(archName).\(k)" }
    func positive(_ k: String, max limit: Int) throws -> Int {
      let v = try m.int(key(k))
      guard v > 0, v <= limit else {
        throw ModelError.invalidHyperparameter(key: key(k), value: "\(v)", reason: "must be in 1...\(limit)")
      }
      return v
    }
    layerCount = try positive("block_count", max: 4096)
    embeddingLength = try positive("embedding_length", max: 1 << 20)
    feedForwardLength = try positive("feed_forward_length", max: 1 << 22)
    headCount = try positive("attention.head_count", max: 4096)
    kvHeadCount =
      try m.contains(key("attention.head_count_kv"))
      ? positive("attention.head_count_kv", max: 4096) : headCount
    guard headCount % kvHeadCount == 0 else {
      throw ModelError.invalidHyperparameter(
        key: key("attention.head_count"), value: "\(headCount)",
        reason: "not a multiple of head_count_kv \(kvHeadCount)")
    }
    headDim =
      try m.contains(key("attention.key_length"))
      ? positive("attention.key_length", max: 1 << 16) : embeddingLength / headCount
    valueDim =
      try m.contains(key("attention.value_length"))
      ? positive("attention.value_length", max: 1 << 16) : headDim
    contextLength = try positive("context_length", max: 1 << 24)
    let eps = try m.float(key("attention.layer_norm_rms_epsilon"))
    guard eps > 0, eps < 1 else {
      throw ModelError.invalidHyperparameter(
        key: key("attention.layer_norm_rms_epsilon"), value: "\(eps)", reason: "must be in (0, 1)")
    }
    rmsEpsilon = eps
    ropeDimensions =
      try m.contains(key("rope.dimension_count"))
      ? positive("rope.dimension_count", max: 1 << 16) : headDim
    guard ropeDimensions <= headDim, ropeDimensions % 2 == 0 else {
      throw ModelError.invalidHyperparameter(
        key: key("rope.dimension_count"), value: "\(ropeDimensions)",
        reason: "must be even and ≤ head dim \(headDim)")
    }
    ropeFreqBase = try m.optionalFloat(key("rope.freq_base")) ?? 10_000
    var scale: Float = 1
    if let factor = try m.optionalFloat(key("rope.scaling.factor")), factor > 0 {
      let type = try m.optionalString(key("rope.scaling.type")) ?? "linear"
      if type == "linear" {
        scale = 1 / factor
      } else if type == "llama3" && file.tensor(named: "rope_freqs.weight") != nil {
        // Llama 3.1's per-frequency scaling is carried by the `rope_freqs.weight` tensor.
      } else if type != "none" {
        // Other types (yarn, longrope) need more than a linear factor.
        throw ModelError.unsupportedRopeScaling(type)
      }
    }
    ropeFreqScale = scale
    attentionSoftcap = try m.optionalFloat(key("attn_logit_softcapping")) ?? 0
    finalLogitSoftcap = try m.optionalFloat(key("final_logit_softcapping")) ?? 0

    let tokens = file.tensor(named: "token_embd.weight")
    guard let tokens, tokens.shape.count == 2 else {
      throw ModelError.missingTensor("token_embd.weight")
    }
    vocabularySize = tokens.shape[1]

    switch arch {
    case .llama:
      ropeStyle = .normal
      hasQKNorm = false
      hasPostNorms = false
      usesGELU = false
      embeddingScale = 1
      slidingWindow = 0
      slidingWindowPattern = 0
      ropeFreqBaseSWA = ropeFreqBase
    case .qwen2, .qwen3:
      ropeStyle = .neox
      hasQKNorm = arch == .qwen3
      hasPostNorms = false
      usesGELU = false
      embeddingScale = 1
      slidingWindow = 0
      slidingWindowPattern = 0
      ropeFreqBaseSWA = ropeFreqBase
    case .gemma3:
      // llama.cpp's gemma3 loader: sliding window on 5 of every 6 layers, local RoPE base 10 000,
      // embeddings scaled by √n_embd, no final soft-cap with sliding windows.
      ropeStyle = .neox
      hasQKNorm = true
      hasPostNorms = true
      usesGELU = true
      embeddingScale = Float(embeddingLength).squareRoot()
      slidingWindow = try m.optionalInt(key("attention.sliding_window")) ?? 0
      slidingWindowPattern = slidingWindow > 0 ? 6 : 0
      ropeFreqBaseSWA = 10_000
      if slidingWindow > 0 { finalLogitSoftcap = 0 }
    }
    // Queries are scaled by 1/√head_dim (gemma3 27B uses n_embd / n_head; its shapes say so).
    if arch == .gemma3 && layerCount == 62 {
      attentionScale = 1 / Float(embeddingLength / headCount).squareRoot()
    } else {
      attentionScale = 1 / Float(headDim).squareRoot()
    }
    try validateTensors(file)
  }

  /// Every tensor the architecture needs is present with the shape the hyperparameters imply.
  private func validateTensors(_ file: GGUFFile) throws {
    let d = embeddingLength
    let q = headCount * headDim
    let kv = kvHeadCount * headDim
    let v = kvHeadCount * valueDim
    func check(_ name: String, _ shape: [Int], optional: Bool = false) throws {
      guard let t = file.tensor(named: name) else {
        if optional { return }
        throw ModelError.missingTensor(name)
      }
      guard t.shape == shape else {
        throw ModelError.tensorShape(name: name, expected: shape, actual: t.shape)
      }
    }
    // The KV caches hold keys and values in one shape (the attention op's contract).
    guard valueDim == headDim else {
      throw ModelError.invalidHyperparameter(
        key: "\(architecture.rawValue).attention.value_length", value: "\(valueDim)",
        reason: "differs from key_length \(headDim); not supported")
    }
    try check("token_embd.weight", [d, vocabularySize])
    // Llama 3's RoPE frequency factors (one shared tensor), one per rotated pair.
    try check("rope_freqs.weight", [ropeDimensions / 2], optional: true)
    try check("output_norm.weight", [d])
    try check("output.weight", [d, vocabularySize], optional: true)
    for i in 0..<layerCount {
      let p = "blk.\(i)."
      try check(p + "attn_norm.weight", [d])
      try check(p + "attn_q.weight", [d, q])
      try check(p + "attn_k.weight", [d, kv])
      try check(p + "attn_v.weight", [d, v])
      try check(p + "attn_output.weight", [headCount * valueDim, d])
      try check(p + "ffn_norm.weight", [d])
      try check(p + "ffn_gate.weight", [d, feedForwardLength])
      try check(p + "ffn_up.weight", [d, feedForwardLength])
      try check(p + "ffn_down.weight", [feedForwardLength, d])
      if hasQKNorm {
        try check(p + "attn_q_norm.weight", [headDim])
        try check(p + "attn_k_norm.weight", [headDim])
      }
      if hasPostNorms {
        try check(p + "post_attention_norm.weight", [d])
        try check(p + "post_ffw_norm.weight", [d])
      }
      // qwen2 requires q/k/v biases; llama-family files may carry them (and an output bias).
      let biasOptional = architecture != .qwen2
      try check(p + "attn_q.bias", [q], optional: biasOptional)
      try check(p + "attn_k.bias", [kv], optional: biasOptional)
      try check(p + "attn_v.bias", [v], optional: biasOptional)
      try check(p + "attn_output.bias", [d], optional: true)
    }
    // A layer index at or past block_count means the metadata and tensors disagree.
    for t in file.tensors where t.name.hasPrefix("blk.") {
      let index = t.name.dropFirst(4).prefix { $0.isNumber }
      if let i = Int(index), i >= layerCount {
        throw ModelError.invalidHyperparameter(
          key: "\(architecture.rawValue).block_count", value: "\(layerCount)",
          reason: "tensor \(t.name) names layer \(i)")
      }
    }
  }
}

public enum ModelError: Error, Sendable, Equatable, CustomStringConvertible {
  case unsupportedArchitecture(String)
  case invalidHyperparameter(key: String, value: String, reason: String)
  case unsupportedRopeScaling(String)
  case missingTensor(String)
  case tensorShape(name: String, expected: [Int], actual: [Int])
  case tensorType(name: String, type: String)
  case contextFull(limit: Int)
  case invalidToken(id: Int32, vocabularySize: Int)
  case emptyInput

  public var description: String {
    switch self {
    case .unsupportedArchitecture(let a):
      return "architecture '\(a)' is not supported (llama, qwen2, qwen3, gemma3 are)"
    case .invalidHyperparameter(let k, let v, let why): return "\(k) = \(v): \(why)"
    case .unsupportedRopeScaling(let t): return "RoPE scaling type '\(t)' is not supported"
    case .missingTensor(let n): return "tensor \(n) is missing"
    case .tensorShape(let n, let e, let a):
      return "tensor \(n) has shape \(a), the hyperparameters imply \(e)"
    case .tensorType(let n, let t): return "tensor \(n) has type \(t), which this model cannot use there"
    case .contextFull(let limit): return "the context of \(limit) tokens is full"
    case .invalidToken(let id, let n): return "token id \(id) is outside the vocabulary of \(n) tokens"
    case .emptyInput: return "no tokens to evaluate"
    }
  }
}
