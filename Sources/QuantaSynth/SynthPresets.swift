import GGML
import QuantaLM
import QuantaQuantize

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// An architecture `quanta synth` can write: every registered one (`ArchitectureRegistry`), named as
/// GGUF's `general.architecture`. Its declaration's tensor table and hyperparameter keys are what
/// synth writes.
public typealias SynthArchitecture = ArchitectureDeclaration

/// Llama 3.1+'s RoPE frequency scaling (HF `rope_scaling` with `rope_type: llama3`). GGUF carries
/// it as the `rope_freqs.weight` tensor, one factor per rotated pair, as convert_hf_to_gguf.py does.
public struct Llama3RopeScaling: Sendable, Equatable {
  public var factor: Float
  public var lowFreqFactor: Float
  public var highFreqFactor: Float
  public var originalContextLength: Int

  /// convert_hf_to_gguf.py's `LlamaModel.generate_extra_tensors`, in Double like its Python floats.
  public func factors(headDim: Int, base: Float) -> [Float] {
    let lowWavelength = Double(originalContextLength) / Double(lowFreqFactor)
    let highWavelength = Double(originalContextLength) / Double(highFreqFactor)
    return stride(from: 0, to: headDim, by: 2).map { i in
      let freq = 1 / pow(Double(base), Double(i) / Double(headDim))
      let wavelength = 2 * Double.pi / freq
      if wavelength < highWavelength { return 1 }
      if wavelength > lowWavelength { return factor }
      let smooth =
        (Double(originalContextLength) / wavelength - Double(lowFreqFactor))
        / Double(highFreqFactor - lowFreqFactor)
      return Float(1 / ((1 - smooth) / Double(factor) + smooth))
    }
  }
}

/// YaRN RoPE scaling as GGUF carries it (`rope.scaling.type` yarn, `rope.scaling.factor`,
/// `rope.scaling.original_context_length`): gpt-oss's.
public struct YarnRopeScaling: Sendable, Equatable {
  public var factor: Float
  public var originalContextLength: Int
  public init(factor: Float, originalContextLength: Int) {
    self.factor = factor
    self.originalContextLength = originalContextLength
  }
}

/// The shapes and hyperparameters of one real model (from its config.json), for a file with the
/// same tensors and random weights.
public struct SynthPreset: Sendable {
  public var name: String
  public var aliases: [String]
  /// `general.name` of the written file.
  public var displayName: String
  public var architecture: SynthArchitecture
  public var layerCount: Int
  public var embeddingLength: Int
  public var feedForwardLength: Int
  public var headCount: Int
  public var kvHeadCount: Int
  /// Per-head size of queries, keys and values (`head_dim`).
  public var headDim: Int
  public var vocabularySize: Int
  public var contextLength: Int
  public var ropeFreqBase: Float
  public var rmsEpsilon: Float
  /// No `output.weight`: the output projection reuses `token_embd.weight`.
  public var tiedEmbeddings: Bool
  /// `attention.sliding_window` (gemma2/3, phi3; 0: none).
  public var slidingWindow: Int
  /// gemma2's `attn_logit_softcapping` and `final_logit_softcapping` (0: not written).
  public var attentionSoftcap: Float
  public var finalSoftcap: Float
  public var ropeScaling: Llama3RopeScaling?
  public var yarn: YarnRopeScaling?
  /// Standard deviation of gpt-oss's attention sink logits (`attn_sinks`; one per head).
  public var sinkStd: Float
  /// Standard deviations of particular roles, over `weightStd` (the tiny gpt-oss: larger Q/K so
  /// attention is sharp enough for RoPE and the windows to matter, smaller V/output/experts so the
  /// layers' rounding does not snowball into near-ties).
  public var stdByRole: [TensorRole: Float]
  public var tokenizer: SynthTokenizer
  /// Standard deviation of the layers' matrices: 0.02 (freshly initialized) for the real shapes.
  public var weightStd: Float
  /// The same of the LM head (the token embedding when tied): the small test shapes of phi3/gemma2
  /// use a larger one so their logits are peaked (greedy decoding stable, comparisons with other
  /// runtimes not a sea of near-ties) while the layers stay small (larger layer weights make
  /// the forward pass chaotic: rounding differences then flip tokens).
  public var headStd: Float
  /// Mixture of experts (0: dense): experts per layer, per token, and an expert's FFN width
  /// (written as `expert_feed_forward_length` where the architecture reads it, else the
  /// experts are `feed_forward_length` wide, as Mixtral's).
  public var expertCount: Int
  public var expertUsedCount: Int
  public var expertFeedForwardLength: Int
  /// Standard deviation of the router (`ffn_gate_inp`): the tiny shapes use a larger one so the
  /// router's logits are spread (the picked experts not a near-tie with the next one).
  public var routerStd: Float

  public init(
    name: String, aliases: [String] = [], displayName: String, architecture: SynthArchitecture,
    layerCount: Int, embeddingLength: Int, feedForwardLength: Int, headCount: Int, kvHeadCount: Int,
    headDim: Int, vocabularySize: Int, contextLength: Int, ropeFreqBase: Float, rmsEpsilon: Float,
    tiedEmbeddings: Bool, slidingWindow: Int = 0, attentionSoftcap: Float = 0, finalSoftcap: Float = 0,
    ropeScaling: Llama3RopeScaling? = nil, tokenizer: SynthTokenizer, weightStd: Float = 0.02,
    headStd: Float? = nil, expertCount: Int = 0, expertUsedCount: Int = 0,
    expertFeedForwardLength: Int? = nil,
    routerStd: Float? = nil, yarn: YarnRopeScaling? = nil, sinkStd: Float = 1,
    stdByRole: [TensorRole: Float] = [:]
  ) {
    self.yarn = yarn
    self.sinkStd = sinkStd
    self.stdByRole = stdByRole
    self.expertCount = expertCount
    self.expertUsedCount = expertUsedCount
    self.expertFeedForwardLength = expertFeedForwardLength ?? feedForwardLength
    self.routerStd = routerStd ?? weightStd
    self.name = name
    self.aliases = aliases
    self.displayName = displayName
    self.architecture = architecture
    self.layerCount = layerCount
    self.embeddingLength = embeddingLength
    self.feedForwardLength = feedForwardLength
    self.headCount = headCount
    self.kvHeadCount = kvHeadCount
    self.headDim = headDim
    self.vocabularySize = vocabularySize
    self.contextLength = contextLength
    self.ropeFreqBase = ropeFreqBase
    self.rmsEpsilon = rmsEpsilon
    self.tiedEmbeddings = tiedEmbeddings
    self.slidingWindow = slidingWindow
    self.attentionSoftcap = attentionSoftcap
    self.finalSoftcap = finalSoftcap
    self.ropeScaling = ropeScaling
    self.tokenizer = tokenizer
    self.weightStd = weightStd
    self.headStd = headStd ?? weightStd
  }

  /// The sizes the architecture's tensor shapes are written in (values and keys as wide as
  /// queries; RoPE rotates the whole head).
  public var dimensions: ModelDimensions {
    ModelDimensions(
      embedding: embeddingLength, vocabulary: vocabularySize, feedForward: feedForwardLength,
      headCount: headCount, kvHeadCount: kvHeadCount, headDim: headDim, valueDim: headDim,
      ropeDimensions: headDim, experts: expertCount, expertFeedForward: expertFeedForwardLength)
  }

  /// Parameters (elements of every tensor), as llama-bench's `params` column counts them.
  public var parameterCount: Int { SynthModel.tensors(for: self).reduce(0) { $0 + $1.elementCount } }
}

extension SynthPreset {
  /// Every preset `--preset` accepts. Shapes are the models' config.json values.
  public static let all: [SynthPreset] = [
    // meta-llama/Llama-2-7b-hf: 32 layers, hidden 4096, intermediate 11008, 32 heads (MHA),
    // vocab 32000 SentencePiece, max_position_embeddings 4096, rope_theta 10000, rms_norm_eps 1e-5.
    SynthPreset(
      name: "llama2-7b", aliases: ["7b"], displayName: "Llama-2-7B (synthetic)", architecture: .llama,
      layerCount: 32, embeddingLength: 4096, feedForwardLength: 11008, headCount: 32, kvHeadCount: 32,
      headDim: 128, vocabularySize: 32000, contextLength: 4096, ropeFreqBase: 10_000, rmsEpsilon: 1e-5,
      tiedEmbeddings: false, tokenizer: .llama2(vocabularySize: 32000)),
    // meta-llama/Meta-Llama-3-8B: 32 layers, hidden 4096, intermediate 14336, 32 heads / 8 KV heads,
    // vocab 128256 tiktoken BPE (llama-bpe), max_position_embeddings 8192, rope_theta 500000.
    SynthPreset(
      name: "llama3-8b", aliases: ["8b"], displayName: "Meta-Llama-3-8B (synthetic)", architecture: .llama,
      layerCount: 32, embeddingLength: 4096, feedForwardLength: 14336, headCount: 32, kvHeadCount: 8,
      headDim: 128, vocabularySize: 128_256, contextLength: 8192, ropeFreqBase: 500_000, rmsEpsilon: 1e-5,
      tiedEmbeddings: false, tokenizer: .llama3(vocabularySize: 128_256, version31: false)),
    // meta-llama/Llama-3.2-1B: 16 layers, hidden 2048, intermediate 8192, 32 heads / 8 KV heads,
    // head_dim 64, vocab 128256, tie_word_embeddings, rope_theta 500000, max_position_embeddings
    // 131072, rope_scaling llama3 (factor 32, low 1, high 4, original 8192).
    SynthPreset(
      name: "llama3.2-1b", aliases: ["1b"], displayName: "Llama-3.2-1B (synthetic)", architecture: .llama,
      layerCount: 16, embeddingLength: 2048, feedForwardLength: 8192, headCount: 32, kvHeadCount: 8,
      headDim: 64, vocabularySize: 128_256, contextLength: 131_072, ropeFreqBase: 500_000,
      rmsEpsilon: 1e-5, tiedEmbeddings: true,
      ropeScaling: Llama3RopeScaling(
        factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192),
      tokenizer: .llama3(vocabularySize: 128_256, version31: true)),
    // For tests: llama-shaped, a few small layers; ffn 640 is not a multiple of 256, so the
    // k-quant mixes exercise llama.cpp's block-size fallback on ffn_down.
    SynthPreset(
      name: "tiny", displayName: "tiny llama (synthetic)", architecture: .llama,
      layerCount: 3, embeddingLength: 256, feedForwardLength: 640, headCount: 4, kvHeadCount: 2,
      headDim: 64, vocabularySize: 512, contextLength: 512, ropeFreqBase: 10_000, rmsEpsilon: 1e-5,
      tiedEmbeddings: false, tokenizer: .llama2(vocabularySize: 512)),
    // google/gemma-3-270m: 18 layers, hidden 640, intermediate 2048, 4 heads × 256 / 1 KV head,
    // vocab 262144 SentencePiece, max_position_embeddings 32768, rope_theta 1e6, sliding_window 512,
    // rms_norm_eps 1e-6, tied embeddings.
    SynthPreset(
      name: "gemma3-270m", aliases: ["270m"], displayName: "Gemma-3-270M (synthetic)", architecture: .gemma3,
      layerCount: 18, embeddingLength: 640, feedForwardLength: 2048, headCount: 4, kvHeadCount: 1,
      headDim: 256, vocabularySize: 262_144, contextLength: 32768, ropeFreqBase: 1_000_000,
      rmsEpsilon: 1e-6, tiedEmbeddings: true, slidingWindow: 512,
      tokenizer: .gemma3(vocabularySize: 262_144)),
    // Qwen/Qwen2.5-0.5B: 24 layers, hidden 896, intermediate 4864, 14 heads / 2 KV heads (64 each),
    // vocab 151936 BPE (151643 regular tokens), q/k/v biases, rope_theta 1e6, ctx 32768, tied.
    SynthPreset(
      name: "qwen2.5-0.5b", aliases: ["0.5b"], displayName: "Qwen2.5-0.5B (synthetic)", architecture: .qwen2,
      layerCount: 24, embeddingLength: 896, feedForwardLength: 4864, headCount: 14, kvHeadCount: 2,
      headDim: 64, vocabularySize: 151_936, contextLength: 32768, ropeFreqBase: 1_000_000,
      rmsEpsilon: 1e-6, tiedEmbeddings: true,
      tokenizer: .qwen(vocabularySize: 151_936, regularCount: 151_643, qwen3: false)),
    // Qwen/Qwen3-0.6B: 28 layers, hidden 1024, intermediate 3072, 16 heads / 8 KV heads, head_dim
    // 128 (queries are 2048 wide), q/k norms, vocab 151936, rope_theta 1e6, ctx 40960, tied.
    SynthPreset(
      name: "qwen3-0.6b", aliases: ["0.6b"], displayName: "Qwen3-0.6B (synthetic)", architecture: .qwen3,
      layerCount: 28, embeddingLength: 1024, feedForwardLength: 3072, headCount: 16, kvHeadCount: 8,
      headDim: 128, vocabularySize: 151_936, contextLength: 40960, ropeFreqBase: 1_000_000,
      rmsEpsilon: 1e-6, tiedEmbeddings: true,
      tokenizer: .qwen(vocabularySize: 151_936, regularCount: 151_643, qwen3: true)),
    // microsoft/Phi-3-mini-4k-instruct: 32 layers, hidden 3072, intermediate 8192, 32 heads (MHA,
    // head_dim 96), vocab 32064 SentencePiece, max_position_embeddings 4096, rope_theta 10000,
    // rms_norm_eps 1e-5, sliding_window 2047, untied LM head; fused qkv_proj and gate_up_proj.
    SynthPreset(
      name: "phi3-mini", aliases: ["3.8b"], displayName: "Phi-3-mini-4k (synthetic)", architecture: .phi3,
      layerCount: 32, embeddingLength: 3072, feedForwardLength: 8192, headCount: 32, kvHeadCount: 32,
      headDim: 96, vocabularySize: 32064, contextLength: 4096, ropeFreqBase: 10_000, rmsEpsilon: 1e-5,
      tiedEmbeddings: false, slidingWindow: 2047,
      tokenizer: .phi3(vocabularySize: 32064, addedStart: 32000)),
    // google/gemma-2-2b: 26 layers, hidden 2304, intermediate 9216, 8 heads × 256 / 4 KV heads,
    // vocab 256000 SentencePiece, max_position_embeddings 8192, rope_theta 10000, rms_norm_eps
    // 1e-6, sliding_window 4096, attn_logit_softcapping 50, final_logit_softcapping 30,
    // query_pre_attn_scalar 256 (= head_dim), tied embeddings.
    SynthPreset(
      name: "gemma2-2b", aliases: ["2b"], displayName: "Gemma-2-2B (synthetic)", architecture: .gemma2,
      layerCount: 26, embeddingLength: 2304, feedForwardLength: 9216, headCount: 8, kvHeadCount: 4,
      headDim: 256, vocabularySize: 256_000, contextLength: 8192, ropeFreqBase: 10_000, rmsEpsilon: 1e-6,
      tiedEmbeddings: true, slidingWindow: 4096, attentionSoftcap: 50, finalSoftcap: 30,
      tokenizer: .gemma3(vocabularySize: 256_000)),
    // Test shapes of the fused and soft-capped families (`--arch phi3|gemma2 --preset tiny`):
    // the tiny llama's sizes, a larger LM head (peaked logits). gemma2's window (32) is shorter
    // than a 128-token comparison, so its sliding layers are exercised; phi3's has none (llama.cpp
    // runs Phi without one).
    SynthPreset(
      name: "tiny", displayName: "tiny phi3 (synthetic)", architecture: .phi3,
      layerCount: 3, embeddingLength: 256, feedForwardLength: 640, headCount: 4, kvHeadCount: 4,
      headDim: 64, vocabularySize: 512, contextLength: 512, ropeFreqBase: 10_000, rmsEpsilon: 1e-5,
      tiedEmbeddings: false, tokenizer: .phi3(vocabularySize: 512, addedStart: 501), weightStd: 0.05,
      headStd: 0.15),
    SynthPreset(
      name: "tiny", displayName: "tiny gemma2 (synthetic)", architecture: .gemma2,
      layerCount: 4, embeddingLength: 256, feedForwardLength: 640, headCount: 4, kvHeadCount: 2,
      headDim: 64, vocabularySize: 512, contextLength: 512, ropeFreqBase: 10_000, rmsEpsilon: 1e-6,
      tiedEmbeddings: true, slidingWindow: 32, attentionSoftcap: 50, finalSoftcap: 30,
      tokenizer: .gemma3(vocabularySize: 512), weightStd: 0.05, headStd: 0.15),
    // Qwen/Qwen3-30B-A3B: 48 layers, hidden 2048, intermediate 6144, moe_intermediate_size 768,
    // 128 experts, 8 per token (norm_topk_prob), 32 heads / 4 KV heads, head_dim 128, q/k norms,
    // vocab 151936, max_position_embeddings 40960, rope_theta 1e6, rms_norm_eps 1e-6, untied.
    SynthPreset(
      name: "qwen3-30b-a3b", aliases: ["30b-a3b"], displayName: "Qwen3-30B-A3B (synthetic)",
      architecture: .qwen3moe, layerCount: 48, embeddingLength: 2048, feedForwardLength: 6144, headCount: 32,
      kvHeadCount: 4, headDim: 128, vocabularySize: 151_936, contextLength: 40960, ropeFreqBase: 1_000_000,
      rmsEpsilon: 1e-6, tiedEmbeddings: false,
      tokenizer: .qwen(vocabularySize: 151_936, regularCount: 151_643, qwen3: true), expertCount: 128,
      expertUsedCount: 8, expertFeedForwardLength: 768),
    // mistralai/Mixtral-8x7B-v0.1: 32 layers, hidden 4096, intermediate 14336 (each expert), 8
    // experts, 2 per token, 32 heads / 8 KV heads, vocab 32000 SentencePiece,
    // max_position_embeddings 32768, rope_theta 1e6, rms_norm_eps 1e-5, untied.
    SynthPreset(
      name: "mixtral-8x7b", aliases: ["8x7b"], displayName: "Mixtral-8x7B (synthetic)",
      architecture: .mixtral,
      layerCount: 32, embeddingLength: 4096, feedForwardLength: 14336, headCount: 32, kvHeadCount: 8,
      headDim: 128, vocabularySize: 32000, contextLength: 32768, ropeFreqBase: 1_000_000, rmsEpsilon: 1e-5,
      tiedEmbeddings: false, tokenizer: .llama2(vocabularySize: 32000), expertCount: 8, expertUsedCount: 2),
    // Test shapes of the mixture-of-experts families (`--arch qwen3moe --preset tiny`, `--arch llama
    // --experts 8 --preset tiny`): the tiny llama's sizes, 16 experts of 256 (4 per token) or 8 of
    // 640 (2 per token), a larger LM head and router (peaked logits, decisive routing).
    SynthPreset(
      name: "tiny", displayName: "tiny qwen3moe (synthetic)", architecture: .qwen3moe,
      layerCount: 3, embeddingLength: 256, feedForwardLength: 640, headCount: 4, kvHeadCount: 2,
      headDim: 64, vocabularySize: 512, contextLength: 512, ropeFreqBase: 1_000_000, rmsEpsilon: 1e-6,
      tiedEmbeddings: false, tokenizer: .qwen(vocabularySize: 512, regularCount: 480, qwen3: true),
      weightStd: 0.02, headStd: 0.15, expertCount: 16, expertUsedCount: 4, expertFeedForwardLength: 256,
      routerStd: 0.25),
    SynthPreset(
      name: "tiny", displayName: "tiny mixtral (synthetic)", architecture: .mixtral,
      layerCount: 3, embeddingLength: 256, feedForwardLength: 640, headCount: 4, kvHeadCount: 2,
      headDim: 64, vocabularySize: 512, contextLength: 512, ropeFreqBase: 10_000, rmsEpsilon: 1e-5,
      tiedEmbeddings: false, tokenizer: .llama2(vocabularySize: 512), weightStd: 0.02, headStd: 0.15,
      expertCount: 8, expertUsedCount: 2, routerStd: 0.25),
    // openai/gpt-oss-20b: 24 layers, hidden 2880, 32 experts of intermediate 2880, 4 per token,
    // 64 heads / 8 KV heads, head_dim 64, sliding_window 128 (even layers), rope_theta 150000 with
    // YaRN (factor 32, original_max_position_embeddings 4096), max_position_embeddings 131072,
    // rms_norm_eps 1e-5, vocab 201088, untied. The synthetic tokenizer has Qwen's BPE layout (not
    // o200k_harmony): the shapes are the model's, the vocabulary's text is not.
    SynthPreset(
      name: "gpt-oss-20b", aliases: ["20b"], displayName: "gpt-oss-20b (synthetic)", architecture: .gptOss,
      layerCount: 24, embeddingLength: 2880, feedForwardLength: 2880, headCount: 64, kvHeadCount: 8,
      headDim: 64, vocabularySize: 201_088, contextLength: 131_072, ropeFreqBase: 150_000, rmsEpsilon: 1e-5,
      tiedEmbeddings: false, slidingWindow: 128,
      tokenizer: .qwen(vocabularySize: 201_088, regularCount: 199_998, qwen3: false), expertCount: 32,
      expertUsedCount: 4, expertFeedForwardLength: 2880,
      yarn: YarnRopeScaling(factor: 32, originalContextLength: 4096)),
    // The test shape of gpt-oss (`--arch gpt-oss --preset tiny`): 4 layers (2 sliding, window 32,
    // so 128-token comparisons cross it), 16 experts of 256 (4 per token), YaRN as the real one, a
    // larger LM head and router (peaked logits, decisive routing), sink logits of std 1. Layer
    // weights std 0.005 (V, output, experts; swiglu_oai's `up + 1` passes the gate through
    // unshrunk, so at 0.02 these layers dominate the residual and rounding snowballs: llama.cpp
    // against itself, ubatch 1 vs 512, flipped 2.4-4.8 % of the top tokens, mean KLD 6-10e-4; at
    // 0.005 with Q/K at 0.05, 1.6 %, KLD 7.7e-5), Q/K 0.05 (sharp enough attention for RoPE,
    // YaRN and the windows to matter), the token embedding 0.02.
    SynthPreset(
      name: "tiny", displayName: "tiny gpt-oss (synthetic)", architecture: .gptOss,
      layerCount: 4, embeddingLength: 256, feedForwardLength: 256, headCount: 4, kvHeadCount: 2,
      headDim: 64, vocabularySize: 512, contextLength: 4096, ropeFreqBase: 150_000, rmsEpsilon: 1e-5,
      tiedEmbeddings: false, slidingWindow: 32,
      tokenizer: .qwen(vocabularySize: 512, regularCount: 480, qwen3: false), weightStd: 0.005, headStd: 0.15,
      expertCount: 16, expertUsedCount: 4, expertFeedForwardLength: 256, routerStd: 0.25,
      yarn: YarnRopeScaling(factor: 32, originalContextLength: 4096),
      stdByRole: [.query: 0.05, .key: 0.05, .tokenEmbedding: 0.02]),
  ]

  /// The preset called `name` (or an alias), checked against `architecture`. `experts`: that many
  /// experts per layer (`--experts`: a llama preset then means its Mixtral-style shape).
  public static func named(_ name: String, architecture: String, experts: Int? = nil) throws -> SynthPreset {
    guard
      let arch = ArchitectureRegistry.named(architecture.lowercased(), experts: (experts ?? 0) > 0)
        ?? SynthArchitecture(rawValue: architecture.lowercased())
    else {
      throw SynthError.unknownArchitecture(architecture)
    }
    if let experts, experts > 0 {
      var preset = try named(name, architecture: arch)
      guard preset.expertCount > 0 else {
        throw SynthError.noExperts(preset: preset.name, architecture: arch.rawValue)
      }
      preset.expertCount = experts
      preset.expertUsedCount = min(preset.expertUsedCount, experts)
      return preset
    }
    return try named(name, architecture: arch)
  }

  private static func named(_ name: String, architecture arch: SynthArchitecture) throws -> SynthPreset {
    let key = name.lowercased()
    let named = all.filter { $0.name == key || $0.aliases.contains(key) }
    // A name several architectures share (tiny) picks the requested one's.
    guard let preset = named.first(where: { $0.architecture == arch }) ?? named.first else {
      throw SynthError.unknownPreset(name)
    }
    guard preset.architecture == arch else {
      throw SynthError.architectureMismatch(
        preset: preset.name, presetArchitecture: preset.architecture.rawValue, requested: arch.rawValue)
    }
    return preset
  }

  /// The architectures `--arch` accepts (every registered one), for `--help` and errors.
  public static var architectureNames: String {
    SynthArchitecture.allCases.map(\.rawValue).joined(separator: ", ")
  }

  /// One line per preset, for `--help`.
  public static var helpTable: String {
    all.map { p in
      let names = ([p.name] + p.aliases).joined(separator: ", ")
      let gqa =
        p.kvHeadCount == p.headCount ? "\(p.headCount) heads" : "\(p.headCount)/\(p.kvHeadCount) heads"
      return
        "\(names) (\(p.architecture.rawValue)): \(p.layerCount) layers, d \(p.embeddingLength), "
        + "ffn \(p.feedForwardLength), \(gqa) × \(p.headDim), vocab \(p.vocabularySize)"
        + (p.tiedEmbeddings ? ", tied" : "")
        + (p.expertCount > 0
          ? ", \(p.expertCount) experts of \(p.expertFeedForwardLength) (\(p.expertUsedCount) per token)"
          : "")
    }.joined(separator: "\n")
  }
}

/// Typed failures of `quanta synth`.
public enum SynthError: Error, Equatable, Sendable, CustomStringConvertible {
  case unknownArchitecture(String)
  case unknownPreset(String)
  case architectureMismatch(preset: String, presetArchitecture: String, requested: String)
  case unknownType(String)
  case noBlockLayout(GGMLType)
  case mixNeedsImportanceMatrix(mix: String, type: GGMLType)
  case noExperts(preset: String, architecture: String)

  public var description: String {
    switch self {
    case .unknownArchitecture(let a):
      return "unknown architecture '\(a)' (\(SynthPreset.architectureNames))"
    case .unknownPreset(let p):
      return "unknown preset '\(p)'; presets: "
        + SynthPreset.all.map { ([$0.name] + $0.aliases).joined(separator: "/") }.joined(separator: ", ")
    case .architectureMismatch(let p, let pa, let r):
      return "preset \(p) is a \(pa) model, not \(r) (use --arch \(pa))"
    case .unknownType(let t):
      return
        "unknown type '\(t)': use a llama.cpp file type (\(LlamaFileType.acceptedNames.joined(separator: ", "))) "
        + "or a tensor type (\(SynthWeights.supportedTypes.map(\.name).joined(separator: ", ")))"
    case .noBlockLayout(let t):
      return "type \(t) has no block layout in Quanta, so no random blocks can be made for it"
    case .noExperts(let p, let a):
      return
        "--experts: \(a) has no mixture-of-experts preset \(p) (tiny and mixtral-8x7b have one for llama)"
    case .mixNeedsImportanceMatrix(let mix, let t):
      return "the \(mix) mix asks for \(t), which llama.cpp only makes with an importance matrix; "
        + "pass --pure to put every weight in \(t) anyway"
    }
  }
}
