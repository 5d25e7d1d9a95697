import GGUF

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The hyperparameters of a decoder-only transformer, read from GGUF metadata (`{arch}.*` keys) as
/// its `ArchitectureDeclaration` lists them, and checked against each other and against the
/// declaration's tensor table (RELIABILITY.md A14).
public struct ModelConfig: Sendable, Equatable {
  /// The architecture's declaration (`ArchitectureRegistry`); `rawValue` is its name.
  public typealias Architecture = ArchitectureDeclaration
  /// How RoPE pairs dimensions: adjacent pairs (llama) or the two halves (NeoX: qwen2/3, gemma3).
  public typealias RopeStyle = LayerRecipe.RopeStyle

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
  /// Dimensions of each head that RoPE rotates (`rope.dimension_count`, else headDim).
  public var ropeDimensions: Int
  public var ropeFreqBase: Float
  /// Linear scaling: position × ropeFreqScale (1 / `rope.scaling.factor` when its type is linear).
  public var ropeFreqScale: Float
  /// RoPE base of sliding-window layers where it differs (gemma3: 10 000).
  public var ropeFreqBaseSWA: Float
  /// Sliding-window layers scale positions as the global ones do (gemma2), else never (gemma3).
  public var slidingLayersScaleRope: Bool
  /// Multiplies RoPE's cos and sin (`rope.scaling.attn_factor`; 1 unless LongRoPE sets it).
  public var ropeAttentionFactor: Float
  /// The context the model was trained at before scaling (`rope.scaling.original_context_length`,
  /// else `context_length`): LongRoPE uses its long factors for sessions longer than this.
  public var ropeOriginalContextLength: Int
  /// YaRN (`rope.scaling.type` yarn): ggml's `ext_factor` (1 with YaRN, 0 without) and its
  /// correction betas (llama.cpp's defaults, 32 and 1); `ropeFreqScale` is 1 / factor then, and
  /// `ropeAttentionFactor` llama.cpp's `yarn_attn_factor`.
  public var ropeExtFactor: Float = 0
  public var yarnBetaFast: Float = 32
  public var yarnBetaSlow: Float = 1
  /// Keys a sliding-window layer sees (0: none).
  public var slidingWindow: Int
  /// Every `slidingWindowPattern`-th layer is global, the others slide (gemma3: 6, gemma2: 2);
  /// 0: every layer slides (phi3). No layer slides when `slidingWindow` is 0.
  public var slidingWindowPattern: Int
  /// Scale applied to queries before attention.
  public var attentionScale: Float
  /// Multiplier of the token embeddings (gemma: √embedding).
  public var embeddingScale: Float
  /// Soft-capping of attention logits / final logits (0: none).
  public var attentionSoftcap: Float
  public var finalLogitSoftcap: Float
  /// Mixture of experts: experts per layer, experts per token, an expert's FFN width (0 in dense
  /// models).
  public var expertCount = 0
  public var expertUsedCount = 0
  public var expertFeedForwardLength = 0

  /// How a layer arranges the shared blocks (the architecture's).
  public var recipe: LayerRecipe { architecture.recipe }
  public var ropeStyle: RopeStyle { recipe.rope }
  public var hasQKNorm: Bool { recipe.qkNorm }
  /// Gemma-style extra norms after attention and after the FFN.
  public var hasPostNorms: Bool { recipe.norms == .sandwich }
  /// The FFN activation: SiLU (SwiGLU) or tanh-GELU (GeGLU).
  public var usesGELU: Bool { recipe.activation == .gelu }

  /// The sizes the tensor table's shapes are written in.
  public var dimensions: ModelDimensions {
    ModelDimensions(
      embedding: embeddingLength, vocabulary: vocabularySize, feedForward: feedForwardLength,
      headCount: headCount, kvHeadCount: kvHeadCount, headDim: headDim, valueDim: valueDim,
      ropeDimensions: ropeDimensions, experts: expertCount, expertFeedForward: expertFeedForwardLength)
  }

  public func isSlidingWindowLayer(_ layer: Int) -> Bool {
    guard slidingWindow > 0 else { return false }
    guard slidingWindowPattern > 0 else { return true }
    return layer % slidingWindowPattern < slidingWindowPattern - 1
  }

  public func ropeBase(layer: Int) -> Float {
    isSlidingWindowLayer(layer) ? ropeFreqBaseSWA : ropeFreqBase
  }

  /// Linear RoPE scaling of a layer: gemma3's sliding-window layers never scale (llama.cpp's
  /// `rope_freq_scale_train_swa = 1`), gemma2's and global layers use `ropeFreqScale`.
  public func ropeScale(layer: Int) -> Float {
    isSlidingWindowLayer(layer) && !slidingLayersScaleRope ? 1 : ropeFreqScale
  }

  /// Reads and validates the configuration of `file`.
  public init(file: GGUFFile) throws {
    let m = file.metadata
    // Legacy containers carry no RMS-norm epsilon; llama.cpp's converter asked for one (its
    // historical default 5e-6 was a guess per model), so a guess here would run silently wrong.
    if case .gguf = file.format {
    } else if !m.contains("llama.attention.layer_norm_rms_epsilon") {
      throw ModelError.unsupportedFormat(
        format: file.format.description,
        reason:
          "the format has no layer_norm_rms_epsilon; convert it to GGUF with llama.cpp's "
          + "convert_llama_ggml_to_gguf.py (--eps) and load that")
    }
    // The checks every model must pass, whatever its architecture (RELIABILITY.md A14).
    try file.validateModelMetadata()
    let archName = try m.string("general.architecture")
    guard let arch = try ArchitectureRegistry.named(archName, metadata: m) else {
      throw ModelError.unsupportedArchitecture(archName)
    }
    architecture = arch

    // The declared hyperparameters, in the declaration's order, each checked as it is read.
    var values: [Hyperparameter: Double] = [:]
    var scale: Float = 1
    var yarn = false
    for h in arch.hyperparameters {
      let k = arch.key(h.key)
      func fallback() -> Double? {
        switch h.absent {
        case .required, .unset: nil
        case .value(let v): v
        case .sameAs(let other): values[other]
        case .quotient(let a, let b): Double(Int(values[a] ?? 0) / max(Int(values[b] ?? 1), 1))
        }
      }
      var required = false
      if case .required = h.absent { required = true }
      var value: Double?
      switch h.key.kind {
      case .count(let limit):
        if required || m.contains(k) {
          let v = try m.int(k)
          guard v > 0, v <= limit else {
            throw ModelError.invalidHyperparameter(key: k, value: "\(v)", reason: "must be in 1...\(limit)")
          }
          value = Double(v)
        } else {
          value = fallback()
        }
      case .integer:
        value = try required ? Double(m.int(k)) : m.optionalInt(k).map(Double.init) ?? fallback()
      case .epsilon:
        let v = try required ? m.float(k) : m.optionalFloat(k) ?? fallback().map(Float.init)
        if let v {
          guard v > 0, v < 1 else {
            throw ModelError.invalidHyperparameter(key: k, value: "\(v)", reason: "must be in (0, 1)")
          }
          value = Double(v)
        }
      case .float:
        value = try required ? Double(m.float(k)) : m.optionalFloat(k).map(Double.init) ?? fallback()
      }
      values[h.key] = value
      // Checks between keys, as soon as both are known.
      switch h.key {
      case .headCountKV:
        let (heads, kv) = (Int(values[.headCount] ?? 0), Int(value ?? 0))
        guard kv > 0, heads % kv == 0 else {
          throw ModelError.invalidHyperparameter(
            key: arch.key(.headCount), value: "\(heads)", reason: "not a multiple of head_count_kv \(kv)")
        }
      case .ropeDimensionCount:
        let (dims, head) = (Int(value ?? 0), Int(values[.keyLength] ?? 0))
        guard dims <= head, dims % 2 == 0 else {
          throw ModelError.invalidHyperparameter(
            key: k, value: "\(dims)", reason: "must be even and ≤ head dim \(head)")
        }
      case .ropeScalingFactor:
        if let factor = value.map(Float.init), factor > 0 {
          let type = try m.optionalString("\(arch.rawValue).rope.scaling.type") ?? "linear"
          if type == "linear" {
            scale = 1 / factor
          } else if type == "yarn" {
            scale = 1 / factor
            yarn = true
          } else if type == "llama3" && file.tensor(named: "rope_freqs.weight") != nil {
            // Llama 3.1's per-frequency scaling is carried by the `rope_freqs.weight` tensor.
          } else if type != "none" {
            // Other types (yarn, longrope) need more than a linear factor.
            throw ModelError.unsupportedRopeScaling(type)
          }
        }
      default: break
      }
    }
    func int(_ k: Hyperparameter) -> Int { Int(values[k] ?? 0) }
    func float(_ k: Hyperparameter) -> Float { Float(values[k] ?? 0) }
    layerCount = int(.blockCount)
    embeddingLength = int(.embeddingLength)
    feedForwardLength = int(.feedForwardLength)
    headCount = int(.headCount)
    kvHeadCount = int(.headCountKV)
    headDim = int(.keyLength)
    valueDim = int(.valueLength)
    contextLength = int(.contextLength)
    rmsEpsilon = float(.rmsEpsilon)
    ropeDimensions = int(.ropeDimensionCount)
    ropeFreqBase = float(.ropeFreqBase)
    ropeFreqScale = scale
    attentionSoftcap = float(.attentionLogitSoftcap)
    finalLogitSoftcap = float(.finalLogitSoftcap)
    slidingWindow = int(.slidingWindow)
    ropeAttentionFactor = values[.ropeScalingAttentionFactor].map(Float.init) ?? 1
    ropeOriginalContextLength = values[.ropeScalingOriginalContextLength].map(Int.init) ?? contextLength
    if yarn {
      // llama.cpp's llama_context: ext_factor 1, and yarn_attn_factor = get_mscale(factor, 1),
      // cancelled by the 1 / (1 + 0.1·ln factor) that ggml's rope_yarn multiplies back, times
      // rope.scaling.attn_factor; in f32 as there.
      let factor = 1 / scale
      ropeExtFactor = 1
      let mscale: Float = factor <= 1 ? 1 : 0.1 * 1 * logf(factor) + 1
      ropeAttentionFactor = mscale * (1 / (1 + 0.1 * logf(factor))) * ropeAttentionFactor
    }
    if arch.hasExperts {
      expertCount = int(.expertCount)
      expertUsedCount = int(.expertUsedCount)
      expertFeedForwardLength = values[.expertFeedForwardLength].map(Int.init) ?? feedForwardLength
      guard expertUsedCount <= expertCount else {
        throw ModelError.invalidHyperparameter(
          key: arch.key(.expertUsedCount), value: "\(expertUsedCount)",
          reason: "more than expert_count \(expertCount)")
      }
    }

    let embeddingName = arch.tensor(.tokenEmbedding)?.name ?? "token_embd.weight"
    guard let tokens = file.tensor(named: embeddingName), tokens.shape.count == 2 else {
      throw ModelError.missingTensor(embeddingName)
    }
    vocabularySize = tokens.shape[1]

    // The recipe's constants.
    let r = arch.recipe
    embeddingScale = r.embeddingScale == .sqrtEmbedding ? Float(embeddingLength).squareRoot() : 1
    ropeFreqBaseSWA = r.slidingWindow?.ropeFreqBase ?? ropeFreqBase
    slidingLayersScaleRope = r.slidingWindow?.ropeFreqBase == nil
    if let window = r.slidingWindow, slidingWindow > 0 {
      slidingWindowPattern = window.pattern
      if window.disablesFinalSoftcap { finalLogitSoftcap = 0 }
    } else {
      slidingWindow = 0
      slidingWindowPattern = 0
    }
    switch r.queryScaleByBlockCount[layerCount] ?? r.queryScale {
    case .inverseSqrtHeadDim: attentionScale = 1 / Float(headDim).squareRoot()
    case .inverseSqrtEmbeddingPerHead: attentionScale = 1 / Float(embeddingLength / headCount).squareRoot()
    }
    try validateTensors(file)
  }

  /// Every tensor of the architecture's table is present (or optional) with the shape the
  /// hyperparameters imply: the model-wide ones first, then layer by layer.
  private func validateTensors(_ file: GGUFFile) throws {
    // The KV caches hold keys and values in one shape (the attention op's contract).
    guard valueDim == headDim else {
      throw ModelError.invalidHyperparameter(
        key: architecture.key(.valueLength), value: "\(valueDim)",
        reason: "differs from key_length \(headDim); not supported")
    }
    let dims = dimensions
    func check(_ name: String, _ t: TensorDeclaration) throws {
      guard let info = file.tensor(named: name) else {
        if t.presence != .required { return }
        throw ModelError.missingTensor(name)
      }
      let shape = dims.shape(t.shape)
      guard info.shape == shape else {
        throw ModelError.tensorShape(name: name, expected: shape, actual: info.shape)
      }
    }
    let table = architecture.tensors
    for t in table where !t.isPerLayer { try check(t.name, t) }
    for i in 0..<layerCount {
      for t in table where t.isPerLayer { try check(t.name(layer: i), t) }
    }
    // A layer index at or past block_count means the metadata and tensors disagree.
    for t in file.tensors where t.name.hasPrefix("blk.") {
      let index = t.name.dropFirst(4).prefix { $0.isNumber }
      if let i = Int(index), i >= layerCount {
        throw ModelError.invalidHyperparameter(
          key: architecture.key(.blockCount), value: "\(layerCount)",
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
  /// A container this loader cannot run models from (legacy GGML/GGMF/GGJT), and why.
  case unsupportedFormat(format: String, reason: String)
  /// The model's estimated memory exceeds what the device has available (`MemoryEstimate`);
  /// `largestContext`: the most tokens of context that would fit (nil: not even the weights).
  case insufficientMemory(device: String, needed: MemoryEstimate, available: Int, largestContext: Int?)

  public var description: String {
    switch self {
    case .unsupportedArchitecture(let a):
      let names = ArchitectureRegistry.all.map(\.rawValue).joined(separator: ", ")
      return "architecture '\(a)' is not supported (\(names) are)"
    case .invalidHyperparameter(let k, let v, let why): return "\(k) = \(v): \(why)"
    case .unsupportedRopeScaling(let t): return "RoPE scaling type '\(t)' is not supported"
    case .missingTensor(let n): return "tensor \(n) is missing"
    case .tensorShape(let n, let e, let a):
      return "tensor \(n) has shape \(a), the hyperparameters imply \(e)"
    case .tensorType(let n, let t): return "tensor \(n) has type \(t), which this model cannot use there"
    case .contextFull(let limit): return "the context of \(limit) tokens is full"
    case .invalidToken(let id, let n): return "token id \(id) is outside the vocabulary of \(n) tokens"
    case .emptyInput: return "no tokens to evaluate"
    case .unsupportedFormat(let f, let why): return "\(f) models cannot be run: \(why)"
    case .insufficientMemory(let device, let needed, let available, let largest):
      let fix =
        largest.map { n in
          // 90%, in whole 256-token steps: the estimate leaves out small allocations (allocator
          // arenas, plan tensors) that an exact fit would have no room for.
          let margin = n / 10 * 9
          let suggestion = margin >= 256 ? margin / 256 * 256 : max(1, margin)
          return "a context of at most \(n) tokens fits: lower it with -c (e.g. -c \(suggestion))"
        } ?? "the weights and compute buffers alone do not fit: use a smaller model or a smaller quantization"
      return "not enough memory on \(device): this model needs \(needed), "
        + "\(MemoryEstimate.format(available)) is available; \(fix)"
    }
  }
}
