/// A decoder family as data (DESIGN.md "Architectures are data"): the GGUF hyperparameters it
/// reads, its tensor table and its layer recipe. One file per architecture declares one of these
/// (`Llama.swift`, `Qwen2.swift`, …) and `ArchitectureRegistry.all` lists them. `ModelConfig`
/// reads and validates a file against the declaration, `ModelWeights` loads its table, the shared
/// decoder layer (`Blocks.swift`) runs its recipe, and `quanta synth` writes files from the same
/// declaration.
///
/// Named by GGUF's `general.architecture`; two declarations are equal when their names are.
public struct ArchitectureDeclaration: Sendable, Hashable, RawRepresentable, CaseIterable,
  CustomStringConvertible
{
  /// `general.architecture`, and the prefix of the hyperparameter keys (`{name}.block_count`).
  public let rawValue: String
  /// The hyperparameters read, in reading order (a default may name a key read before it).
  public let hyperparameters: [HyperparameterDeclaration]
  /// Every tensor the loader knows, in llama.cpp's file order: entries named `blk.%d.…` are
  /// per layer, and a run of them is written once per layer where it stands.
  public let tensors: [TensorDeclaration]
  public let recipe: LayerRecipe

  public init(
    name: String, hyperparameters: [HyperparameterDeclaration], tensors: [TensorDeclaration],
    recipe: LayerRecipe
  ) {
    rawValue = name
    self.hyperparameters = hyperparameters
    self.tensors = tensors
    self.recipe = recipe
  }

  /// The registered architecture called `rawValue`.
  public init?(rawValue: String) {
    guard let a = ArchitectureRegistry.named(rawValue) else { return nil }
    self = a
  }

  public static var allCases: [ArchitectureDeclaration] { ArchitectureRegistry.all }
  public var description: String { rawValue }
  /// Mixtral is `llama` with experts: the two declarations share a name, not a table.
  public static func == (a: Self, b: Self) -> Bool {
    a.rawValue == b.rawValue && a.hasExperts == b.hasExperts
  }
  public func hash(into h: inout Hasher) {
    h.combine(rawValue)
    h.combine(hasExperts)
  }

  /// A mixture-of-experts table: the layers route each token to experts (`Experts.swift`).
  public var hasExperts: Bool { tensor(.expertRouter) != nil }

  /// The GGUF key of `key` for this architecture.
  public func key(_ key: Hyperparameter) -> String { "\(rawValue).\(key.rawValue)" }

  /// The declaration of `key`, nil when this architecture does not read it.
  public func declaration(of key: Hyperparameter) -> HyperparameterDeclaration? {
    hyperparameters.first { $0.key == key }
  }

  /// The declaration of the tensor with `role`, nil when the architecture has none.
  public func tensor(_ role: TensorRole) -> TensorDeclaration? { tensors.first { $0.role == role } }

  /// The tensors of a file with `layerCount` layers, in file order (per-layer runs expanded).
  public func fileOrder(layerCount: Int) -> [(name: String, declaration: TensorDeclaration)] {
    var out: [(String, TensorDeclaration)] = []
    var i = 0
    while i < tensors.count {
      guard tensors[i].isPerLayer else {
        out.append((tensors[i].name, tensors[i]))
        i += 1
        continue
      }
      var end = i
      while end < tensors.count && tensors[end].isPerLayer { end += 1 }
      for layer in 0..<layerCount {
        for t in tensors[i..<end] { out.append((t.name(layer: layer), t)) }
      }
      i = end
    }
    return out
  }
}

/// The hyperparameters a decoder may read from GGUF metadata, as `{arch}.{rawValue}`. Their order
/// is the order `quanta synth` writes them (llama.cpp's converter's). How each is read and checked
/// is the same for every architecture (`ModelConfig`); a declaration says which it reads and what
/// an absent one defaults to.
public enum Hyperparameter: String, Sendable, CaseIterable {
  case contextLength = "context_length"
  case embeddingLength = "embedding_length"
  case blockCount = "block_count"
  case feedForwardLength = "feed_forward_length"
  case ropeDimensionCount = "rope.dimension_count"
  case headCount = "attention.head_count"
  case headCountKV = "attention.head_count_kv"
  case keyLength = "attention.key_length"
  case valueLength = "attention.value_length"
  case rmsEpsilon = "attention.layer_norm_rms_epsilon"
  case ropeFreqBase = "rope.freq_base"
  /// With `rope.scaling.type` (linear, llama3 with `rope_freqs.weight`, none).
  case ropeScalingFactor = "rope.scaling.factor"
  case slidingWindow = "attention.sliding_window"
  case attentionLogitSoftcap = "attn_logit_softcapping"
  case finalLogitSoftcap = "final_logit_softcapping"
  /// The context the model was trained at before RoPE scaling (LongRoPE picks its long factors
  /// beyond it).
  case ropeScalingOriginalContextLength = "rope.scaling.original_context_length"
  /// Multiplies RoPE's cos and sin (ggml's `attn_factor`; Phi-3's LongRoPE writes it).
  case ropeScalingAttentionFactor = "rope.scaling.attn_factor"
  /// Mixture of experts: experts per layer, experts per token, and an expert's FFN width (absent:
  /// `feed_forward_length`, as Mixtral's files have it).
  case expertCount = "expert_count"
  case expertUsedCount = "expert_used_count"
  case expertFeedForwardLength = "expert_feed_forward_length"

  /// How the value is stored and checked.
  public enum Kind: Sendable {
    /// An integer in 1...max.
    case count(max: Int)
    /// Any integer (0: none).
    case integer
    /// A float in (0, 1).
    case epsilon
    case float
  }

  public var kind: Kind {
    switch self {
    case .blockCount, .headCount, .headCountKV: .count(max: 4096)
    case .embeddingLength: .count(max: 1 << 20)
    case .feedForwardLength: .count(max: 1 << 22)
    case .keyLength, .valueLength, .ropeDimensionCount: .count(max: 1 << 16)
    case .contextLength, .ropeScalingOriginalContextLength: .count(max: 1 << 24)
    case .expertCount, .expertUsedCount: .count(max: 4096)
    case .expertFeedForwardLength: .count(max: 1 << 22)
    case .slidingWindow: .integer
    case .rmsEpsilon: .epsilon
    case .ropeFreqBase, .ropeScalingFactor, .attentionLogitSoftcap, .finalLogitSoftcap,
      .ropeScalingAttentionFactor:
      .float
    }
  }
}

/// One hyperparameter an architecture reads: required, or its value when the file has none.
public struct HyperparameterDeclaration: Sendable {
  public enum Default: Sendable {
    /// The file must have the key.
    case required
    /// Absent means no value (the field's neutral value: 0, no scaling).
    case unset
    case value(Double)
    /// The value of another (earlier) key.
    case sameAs(Hyperparameter)
    /// One earlier key's value divided by another's (head size: embedding_length / head_count).
    case quotient(Hyperparameter, Hyperparameter)
  }
  public var key: Hyperparameter
  public var absent: Default

  public init(_ key: Hyperparameter, _ absent: Default = .required) {
    self.key = key
    self.absent = absent
  }
}

extension HyperparameterDeclaration {
  /// The keys every decoder family reads first, with llama.cpp's defaults: the sizes (KV heads as
  /// many as query heads, head size embedding / heads, RoPE over the whole head), context, norm
  /// epsilon, RoPE base 10 000 and linear scaling. A declaration appends its own.
  public static let decoder: [HyperparameterDeclaration] = [
    .init(.blockCount), .init(.embeddingLength), .init(.feedForwardLength), .init(.headCount),
    .init(.headCountKV, .sameAs(.headCount)), .init(.keyLength, .quotient(.embeddingLength, .headCount)),
    .init(.valueLength, .sameAs(.keyLength)), .init(.contextLength), .init(.rmsEpsilon),
    .init(.ropeDimensionCount, .sameAs(.keyLength)), .init(.ropeFreqBase, .value(10_000)),
    .init(.ropeScalingFactor, .unset),
  ]

  /// No soft-capping of the attention logits or the final logits (every family but Gemma 2's).
  public static let noSoftcap: [HyperparameterDeclaration] = [
    .init(.attentionLogitSoftcap, .value(0)), .init(.finalLogitSoftcap, .value(0)),
  ]

  /// A mixture of experts: experts per layer and per token, and an expert's FFN width (as wide as
  /// `feed_forward_length` when the file has no `expert_feed_forward_length`).
  public static let experts: [HyperparameterDeclaration] = [
    .init(.expertCount), .init(.expertUsedCount),
    .init(.expertFeedForwardLength, .sameAs(.feedForwardLength)),
  ]
}

/// What a tensor is to the shared blocks (`ModelWeights` fills its fields by role).
public enum TensorRole: String, Sendable, CaseIterable {
  case tokenEmbedding, ropeFrequencyFactors, outputNorm, output
  /// Phi-3's LongRoPE frequency factors: the long ones when the context exceeds
  /// `rope.scaling.original_context_length`, else the short ones (llama.cpp's `get_rope_factors`).
  case ropeFactorsLong, ropeFactorsShort
  case attentionNorm, query, key, value, queryBias, keyBias, valueBias, queryNorm, keyNorm
  /// Q, K and V in one matrix (rows: the queries, then the keys, then the values), split by row
  /// views when loaded (Phi-3's `attn_qkv`).
  case queryKeyValue
  case attentionOutput, attentionOutputBias, postAttentionNorm
  case feedForwardNorm, gate, up, down, postFeedForwardNorm
  /// Gate and up in one matrix of 2·ff rows (the gate's first: ggml's `swiglu` of the fused
  /// output activates its first half), split by row views when loaded (Phi-3's `ffn_up`).
  case gateUp
  /// Mixture of experts: the router (`ffn_gate_inp`, one row per expert) and the experts' stacked
  /// gate, up and down matrices (`ffn_*_exps`, `[experts, rows, k]`).
  case expertRouter, expertGate, expertUp, expertDown
  /// gpt-oss: a learned sink logit per head in each attention softmax (`attn_sinks`), the router's
  /// bias, and the experts' stacked biases (`ffn_*_exps.bias`, `[experts, rows]`).
  case attentionSinks, expertRouterBias, expertGateBias, expertUpBias, expertDownBias

  /// Matrices are loaded as quantized tensors; the rest (norms, biases, factors) as dense f32.
  public var isMatrix: Bool {
    switch self {
    case .tokenEmbedding, .output, .query, .key, .value, .queryKeyValue, .attentionOutput, .gate, .up,
      .gateUp, .down, .expertRouter, .expertGate, .expertUp, .expertDown:
      true
    default: false
    }
  }
  public var isNorm: Bool {
    switch self {
    case .outputNorm, .attentionNorm, .queryNorm, .keyNorm, .postAttentionNorm, .feedForwardNorm,
      .postFeedForwardNorm:
      true
    default: false
    }
  }
  public var isBias: Bool {
    switch self {
    case .queryBias, .keyBias, .valueBias, .attentionOutputBias, .expertRouterBias, .expertGateBias,
      .expertUpBias, .expertDownBias:
      true
    default: false
    }
  }
}

/// A tensor dimension in terms of the hyperparameters (GGUF order: ne0, the row length, first).
public enum Dimension: Sendable {
  case embedding, vocabulary, feedForward
  /// head_count · key_length
  case queryWidth
  /// head_count_kv · key_length
  case keyWidth
  /// head_count_kv · value_length
  case valueWidth
  /// head_count · value_length (the attention output's input)
  case attentionOutputWidth
  /// key_length (a per-head norm)
  case headDim
  /// rope.dimension_count / 2 (one RoPE frequency factor per rotated pair)
  case ropePairs
  /// queryWidth + keyWidth + valueWidth (a fused Q/K/V projection)
  case queryKeyValueWidth
  /// 2 · feed_forward_length (a fused gate/up projection)
  case gateUpWidth
  /// expert_count, and an expert's FFN width (expert_feed_forward_length)
  case experts, expertFeedForward
  /// head_count (one value per query head: attention sinks)
  case heads
}

/// The sizes `Dimension` stands for, from a file's hyperparameters or a synth preset.
public struct ModelDimensions: Sendable, Equatable {
  public var embedding, vocabulary, feedForward, headCount, kvHeadCount, headDim, valueDim,
    ropeDimensions: Int
  /// Experts per layer and an expert's FFN width (0 in dense models).
  public var experts, expertFeedForward: Int

  public init(
    embedding: Int, vocabulary: Int, feedForward: Int, headCount: Int, kvHeadCount: Int, headDim: Int,
    valueDim: Int, ropeDimensions: Int, experts: Int = 0, expertFeedForward: Int = 0
  ) {
    self.experts = experts
    self.expertFeedForward = expertFeedForward
    self.embedding = embedding
    self.vocabulary = vocabulary
    self.feedForward = feedForward
    self.headCount = headCount
    self.kvHeadCount = kvHeadCount
    self.headDim = headDim
    self.valueDim = valueDim
    self.ropeDimensions = ropeDimensions
  }

  public func size(_ d: Dimension) -> Int {
    switch d {
    case .embedding: embedding
    case .vocabulary: vocabulary
    case .feedForward: feedForward
    case .queryWidth: headCount * headDim
    case .keyWidth: kvHeadCount * headDim
    case .valueWidth: kvHeadCount * valueDim
    case .attentionOutputWidth: headCount * valueDim
    case .headDim: headDim
    case .ropePairs: ropeDimensions / 2
    case .queryKeyValueWidth: (headCount + kvHeadCount) * headDim + kvHeadCount * valueDim
    case .gateUpWidth: 2 * feedForward
    case .experts: experts
    case .expertFeedForward: expertFeedForward
    case .heads: headCount
    }
  }

  public func shape(_ dims: [Dimension]) -> [Int] { dims.map(size) }
}

/// One row of an architecture's tensor table.
public struct TensorDeclaration: Sendable {
  public enum Presence: Sendable, Equatable {
    case required
    /// Used when the file has it (checked against its shape then).
    case optional
    /// Absent: the tensor of that role stands in (a tied LM head reuses the token embedding).
    case tiedTo(TensorRole)
  }
  /// llama.cpp's name; in per-layer tensors (`blk.%d.…`) `%d` stands for the layer index.
  public var name: String
  public var role: TensorRole
  public var shape: [Dimension]
  public var presence: Presence

  public init(_ name: String, _ role: TensorRole, _ shape: [Dimension], _ presence: Presence = .required) {
    self.name = name
    self.role = role
    self.shape = shape
    self.presence = presence
  }

  /// Per-layer names begin `blk.%d.`.
  public var isPerLayer: Bool { name.hasPrefix("blk.%d.") }
  public func name(layer: Int) -> String { isPerLayer ? "blk.\(layer)." + name.dropFirst(7) : name }
}

extension TensorDeclaration {
  // Runs of rows several tables share, each in llama.cpp's file order; a table concatenates them with
  // its own rows in the order its files list tensors.

  /// The token embedding, then Llama 3's RoPE frequency factors when the file has them.
  public static let embeddingRows: [TensorDeclaration] = [
    .init("token_embd.weight", .tokenEmbedding, [.embedding, .vocabulary]),
    .init("rope_freqs.weight", .ropeFrequencyFactors, [.ropePairs], .optional),
  ]
  /// The attention's input norm and its separate q, k and v projections.
  public static let attentionInputRows: [TensorDeclaration] = [
    .init("blk.%d.attn_norm.weight", .attentionNorm, [.embedding]),
    .init("blk.%d.attn_q.weight", .query, [.embedding, .queryWidth]),
    .init("blk.%d.attn_k.weight", .key, [.embedding, .keyWidth]),
    .init("blk.%d.attn_v.weight", .value, [.embedding, .valueWidth]),
  ]
  /// Biases of the q, k and v projections (required by Qwen2, optional elsewhere).
  public static func qkvBiasRows(_ presence: Presence) -> [TensorDeclaration] {
    [
      .init("blk.%d.attn_q.bias", .queryBias, [.queryWidth], presence),
      .init("blk.%d.attn_k.bias", .keyBias, [.keyWidth], presence),
      .init("blk.%d.attn_v.bias", .valueBias, [.valueWidth], presence),
    ]
  }
  /// Per-head RMS norms of the queries and keys (Qwen3, Gemma 3).
  public static let qkNormRows: [TensorDeclaration] = [
    .init("blk.%d.attn_q_norm.weight", .queryNorm, [.headDim]),
    .init("blk.%d.attn_k_norm.weight", .keyNorm, [.headDim]),
  ]
  /// The attention's output projection and its optional bias.
  public static let attentionOutputRows: [TensorDeclaration] = [
    .init("blk.%d.attn_output.weight", .attentionOutput, [.attentionOutputWidth, .embedding]),
    .init("blk.%d.attn_output.bias", .attentionOutputBias, [.embedding], .optional),
  ]
  /// The FFN's input norm and its gate, up and down projections (SwiGLU / GeGLU).
  public static let swiGLURows: [TensorDeclaration] = [
    .init("blk.%d.ffn_norm.weight", .feedForwardNorm, [.embedding]),
    .init("blk.%d.ffn_gate.weight", .gate, [.embedding, .feedForward]),
    .init("blk.%d.ffn_up.weight", .up, [.embedding, .feedForward]),
    .init("blk.%d.ffn_down.weight", .down, [.feedForward, .embedding]),
  ]
  /// The final norm and the LM head (the token embedding stands in when the file has none).
  public static let outputRows: [TensorDeclaration] = [
    .init("output_norm.weight", .outputNorm, [.embedding]),
    .init("output.weight", .output, [.embedding, .vocabulary], .tiedTo(.tokenEmbedding)),
  ]
}

/// How one decoder layer arranges the shared blocks (`Blocks.swift`), with the architecture's
/// variations. Biases and q/k norms run when the tensor table gives the layer those weights.
public struct LayerRecipe: Sendable, Equatable {
  /// Pre-norm: `h = x + attn(norm(x)); out = h + ffn(norm(h))`. Sandwich (gemma): the attention and
  /// FFN outputs are normed again (`post_attention_norm`, `post_ffw_norm`) before each residual add.
  public enum Norms: Sendable, Equatable { case preNorm, sandwich }
  /// The gated FFN's activation: SiLU (SwiGLU), tanh-GELU (GeGLU), or gpt-oss's clamped
  /// `swiglu_oai` (`SwigluOAI`: α 1.702, limit 7).
  public enum GatedActivation: Sendable, Equatable { case silu, gelu, swigluOAI }
  /// How RoPE pairs dimensions: adjacent pairs (llama) or the two halves (NeoX).
  public enum RopeStyle: Sendable, Equatable { case normal, neox }
  /// The factor queries are scaled by: 1/√key_length, or 1/√(embedding_length / head_count).
  public enum QueryScale: Sendable, Equatable { case inverseSqrtHeadDim, inverseSqrtEmbeddingPerHead }
  public enum EmbeddingScale: Sendable, Equatable {
    case none
    /// Token rows × √embedding_length (gemma).
    case sqrtEmbedding
  }
  /// Sliding-window attention on some layers (size from `attention.sliding_window`; none when 0).
  public struct SlidingWindow: Sendable, Equatable {
    /// Every `pattern`-th layer is global, the others slide; 0: every layer slides (llama.cpp's
    /// `set_swa_pattern`).
    public var pattern: Int
    /// RoPE base of the sliding layers, which then never scale positions (gemma3); nil: the
    /// global layers' RoPE, base and scaling (gemma2).
    public var ropeFreqBase: Float?
    /// A model with sliding windows has no final logit soft-capping (gemma3).
    public var disablesFinalSoftcap: Bool
    public init(pattern: Int, ropeFreqBase: Float?, disablesFinalSoftcap: Bool) {
      self.pattern = pattern
      self.ropeFreqBase = ropeFreqBase
      self.disablesFinalSoftcap = disablesFinalSoftcap
    }
  }

  public var norms: Norms
  /// Per-head RMS norm of q and k before RoPE (the table must require `queryNorm`/`keyNorm`).
  public var qkNorm: Bool
  public var activation: GatedActivation
  public var rope: RopeStyle
  public var slidingWindow: SlidingWindow?
  public var queryScale: QueryScale
  /// Sizes of a family whose query scale differs, by `block_count` (llama.cpp keys the model size
  /// on it too: gemma3 27B has 62 layers).
  public var queryScaleByBlockCount: [Int: QueryScale]
  /// q × scale before attention (which then scales by 1), as llama.cpp's gemma3 graph; else the
  /// attention scales q·k. Where q is rounded to f16 for the dot, the order matters.
  public var scalesQueryBeforeAttention: Bool
  public var embeddingScale: EmbeddingScale
  /// How a mixture-of-experts layer routes (used where the table has `expertRouter`).
  public var experts: ExpertRecipe

  public init(
    norms: Norms = .preNorm, qkNorm: Bool = false, activation: GatedActivation = .silu, rope: RopeStyle,
    slidingWindow: SlidingWindow? = nil, queryScale: QueryScale = .inverseSqrtHeadDim,
    queryScaleByBlockCount: [Int: QueryScale] = [:], scalesQueryBeforeAttention: Bool = false,
    embeddingScale: EmbeddingScale = .none, experts: ExpertRecipe = .init()
  ) {
    self.experts = experts
    self.norms = norms
    self.qkNorm = qkNorm
    self.activation = activation
    self.rope = rope
    self.slidingWindow = slidingWindow
    self.queryScale = queryScale
    self.queryScaleByBlockCount = queryScaleByBlockCount
    self.scalesQueryBeforeAttention = scalesQueryBeforeAttention
    self.embeddingScale = embeddingScale
  }
}
