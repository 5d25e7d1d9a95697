import Foundation
import GGUF
import Quanta
import QuantaDownload
import QuantaLM
import QuantaQuantize

/// The model flags shared by `run`, `perplexity` and `bench model`, with llama.cpp's defaults, and
/// the one place where they become option values (DESIGN.md principle 7).
public struct ModelSettings: Sendable, Equatable {
  /// nil: the default model (Gemma 3 270M Q4_K_M), downloaded into the cache on first use.
  public var modelPath: String?
  /// `-c`: KV cache tokens; 0 means the model's training context.
  public var contextSize = 4096
  /// `-b`: most tokens per forward pass.
  public var batchSize = 512
  /// `-t`: CPU threads; nil = every CPU this process may use.
  public var threads: Int?
  /// `--device`.
  public var device = "cpu"
  /// `--no-fusion` / `--no-graphs` (bench model: comparisons of the GPU execution paths).
  public var fusion = true
  public var deviceGraphs = true
  /// `--no-matrix-cores`: GPU prompt mat-mat on the portable kernel (the one the ROCm path runs).
  public var matrixCores = true
  /// `-ctk` / `-ctv`: the K and V cache element types.
  public var keyCacheType: KVCacheType = .f16
  public var valueCacheType: KVCacheType = .f16
  /// llama.cpp's Hadamard rotation around q8_0/q4_0 caches (`ModelLoadOptions.attentionRotation`);
  /// the CLI turns it off for `LLAMA_ATTN_ROT_DISABLE` set to a non-zero number, as llama.cpp does.
  public var attentionRotation = true
  /// `--dependent-launch` (bench model): GPU kernels as programmatic dependent launches (CUDA sm_90+).
  public var dependentLaunches = false
  /// GPU vendor library paths and kernel cache directory (the CLI fills them from QUANTA_*_LIB and
  /// QUANTA_CACHE); its matrixCores and dependentLaunches are replaced by the two flags above.
  public var gpuPaths = GPUConfiguration()
  /// Where the default model is cached (the CLI fills it from QUANTA_CACHE / XDG_CACHE_HOME); nil:
  /// `~/.cache/quanta`.
  public var modelCache: URL?
  /// `-n`: tokens to generate; −1 = until end of generation (capped by the context).
  public var maxTokens = -1
  /// `-s`: −1 (llama.cpp's LLAMA_DEFAULT_SEED) picks a random seed.
  public var seed: Int64 = -1
  public var temperature: Float = 0.8
  public var topK = 40
  public var topP: Float = 0.95
  public var minP: Float = 0.05
  public var repeatPenalty: Float = 1.0
  public var repeatLastN = 64
  public var presencePenalty: Float = 0
  public var frequencyPenalty: Float = 0
  public var typicalP: Float = 1.0
  public var xtcProbability: Float = 0
  public var xtcThreshold: Float = 0.1
  public var dryMultiplier: Float = 0
  public var dryBase: Float = 1.75
  public var dryAllowedLength = 2
  public var dryPenaltyLastN = -1
  /// nil: llama.cpp's breakers (newline, colon, quote, asterisk).
  public var drySequenceBreakers: [String]?
  /// `-l TOKEN(+|-)BIAS`.
  public var logitBias: [Int32: Float] = [:]
  /// `--ignore-eos`.
  public var ignoreEOS = false
  /// `-r`: generation stops when the text ends with one of these.
  public var reversePrompts: [String] = []
  /// `--keep`, `--no-context-shift`.
  public var keep = 0
  public var contextShift = true
  /// `--special`: control tokens written in the prompt are parsed as such.
  public var parseSpecial = false
  /// `--grammar` / `--grammar-file` / `--json-schema` / `--json-schema-file`.
  public var grammar: GrammarOption?

  /// A constraint on the generated text.
  public enum GrammarOption: Sendable, Equatable {
    /// GBNF text (llama.cpp's grammar syntax).
    case gbnf(String)
    /// A JSON schema (JSON text), converted to GBNF as llama.cpp converts it.
    case jsonSchema(String)
  }

  public init() {}

  /// The grammar's GBNF text (a JSON schema converted), checked for syntax: a bad grammar or
  /// schema fails here, before the model loads. `<text>` tokens are resolved later, against the
  /// model's vocabulary (`grammarConstraint(for:)`).
  public func grammarText() throws -> String? {
    guard let grammar else { return nil }
    let text: String
    switch grammar {
    case .gbnf(let g): text = g
    case .jsonSchema(let s): text = try JSONSchemaGrammar.gbnf(schema: s)
    }
    // Any `<text>` token passes this check; the model's vocabulary decides later.
    _ = try Grammar(text) { _ in 0 }
    return text
  }

  /// The grammar bound to `model`'s vocabulary (nil without one).
  public func grammarConstraint(for model: LanguageModel) throws -> GrammarConstraint? {
    guard let text = try grammarText() else { return nil }
    return try GrammarConstraint(gbnf: text, model: model)
  }

  /// The seed the sampler gets: `seed`, or a random one for −1.
  public func resolvedSeed() -> UInt64 {
    seed < 0 ? UInt64.random(in: 0..<UInt64(UInt32.max)) : UInt64(seed)
  }

  public func samplingOptions(seed: UInt64) -> SamplingOptions {
    var o = SamplingOptions()
    o.temperature = temperature
    o.topK = topK
    o.topP = topP
    o.minP = minP
    o.repeatPenalty = repeatPenalty
    o.repeatLastN = repeatLastN
    o.presencePenalty = presencePenalty
    o.frequencyPenalty = frequencyPenalty
    o.typicalP = typicalP
    o.xtcProbability = xtcProbability
    o.xtcThreshold = xtcThreshold
    o.dryMultiplier = dryMultiplier
    o.dryBase = dryBase
    o.dryAllowedLength = dryAllowedLength
    o.dryPenaltyLastN = dryPenaltyLastN
    if let drySequenceBreakers { o.drySequenceBreakers = drySequenceBreakers }
    o.logitBias = logitBias
    o.seed = seed
    return o
  }

  public func generationOptions(seed: UInt64) -> GenerationOptions {
    var o = GenerationOptions(
      maxTokens: maxTokens, sampling: samplingOptions(seed: seed), stopStrings: reversePrompts,
      parseSpecial: parseSpecial)
    o.ignoreEndOfGeneration = ignoreEOS
    o.keep = keep
    o.contextShift = contextShift
    return o
  }

  public func loadOptions() -> ModelLoadOptions {
    // 0 asks for the training context; the loader caps any request at it.
    var o = ModelLoadOptions(
      contextLength: contextSize <= 0 ? 1 << 30 : contextSize, batchSize: max(1, batchSize))
    o.fusion = fusion
    o.deviceGraphs = deviceGraphs
    o.keyCacheType = keyCacheType
    o.valueCacheType = valueCacheType
    o.attentionRotation = attentionRotation
    return o
  }

  public func validate() throws {
    if let t = threads, t < 1 { throw QuantaToolError.invalidThreadCount(t) }
    if batchSize < 1 {
      throw QuantaToolError.invalidArgument("batch size must be at least 1, got \(batchSize)")
    }
    if topK < 0 { throw QuantaToolError.invalidArgument("--top-k must be ≥ 0, got \(topK)") }
    let values = [
      temperature, topP, minP, repeatPenalty, presencePenalty, frequencyPenalty, typicalP, xtcProbability,
      xtcThreshold, dryMultiplier, dryBase,
    ]
    if !values.allSatisfy(\.isFinite) {
      throw QuantaToolError.invalidArgument("sampling values must be finite numbers")
    }
    if maxTokens < -2 { throw QuantaToolError.invalidArgument("-n must be ≥ -2, got \(maxTokens)") }
  }

  /// A warning for `-t` above the CPUs this process may use (the CPU backend caps its pool there).
  public func threadWarning() -> String? {
    let usable = CPUBackend.availableCPUs  // reads sysfs / cgroup files: once
    guard let t = threads, t > usable else { return nil }
    return "warning: -t \(t) is more than the \(usable) CPUs this process may use; using \(usable)\n"
  }

  /// A warning for `-c` above the model's training context, as llama.cpp gives; the loader caps the
  /// cache there, so the warning says what is used.
  public func contextWarning(trainedContext: Int, used: Int) -> String? {
    guard contextSize > trainedContext else { return nil }
    return
      "warning: -c \(contextSize) is more than the model's training context of \(trainedContext) tokens; "
      + "using \(used)\n"
  }

  /// The backend registry for these settings (threads for the CPU backend, matrix cores, library
  /// paths and kernel cache for GPUs).
  public func registry() -> BackendRegistry {
    var gpu = gpuPaths
    gpu.matrixCores = matrixCores
    gpu.dependentLaunches = dependentLaunches
    guard threads != nil || gpu != GPUConfiguration() else { return .standard }
    return BackendRegistry.makeStandard(cpu: .init(threadCount: threads), gpu: gpu)
  }

  /// The model file: `modelPath`, or the default model from the cache (downloaded when missing).
  public func resolveModelPath() async throws -> String {
    if let modelPath { return modelPath }
    return try await DefaultModel.path(cache: modelCache ?? ModelCache.directory(environment: [:]))
  }

  /// Resolves, opens and loads the model; returns it with the seconds the load took.
  public func loadModel() async throws -> (model: LanguageModel, seconds: Double) {
    try validate()
    let path = try await resolveModelPath()
    let device = try Device(parsing: device)
    let start = Date()
    let model = try await LanguageModel.load(
      path: path, device: device, registry: registry(), options: loadOptions())
    return (model, Date().timeIntervalSince(start))
  }
}

/// Lines of timing that `quanta run` prints at the end (stderr), in llama.cpp's terms.
public enum RunStats {
  public static func lines(
    loadSeconds: Double, prompt: (tokens: Int, seconds: Double), eval: (tokens: Int, seconds: Double)
  )
    -> String
  {
    func rate(_ n: Int, _ s: Double) -> String { s > 0 ? String(format: "%.2f", Double(n) / s) : "-" }
    return String(format: "load time:   %10.2f ms\n", loadSeconds * 1000)
      + String(format: "prompt eval: %10.2f ms / %5d tokens, ", prompt.seconds * 1000, prompt.tokens)
      + "\(rate(prompt.tokens, prompt.seconds)) t/s\n"
      + String(format: "eval:        %10.2f ms / %5d runs,   ", eval.seconds * 1000, eval.tokens)
      + "\(rate(eval.tokens, eval.seconds)) t/s\n"
  }
}
