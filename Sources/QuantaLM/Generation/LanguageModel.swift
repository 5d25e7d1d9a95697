import GGUF
import QuantaCore

/// How a model is put on its device.
public struct ModelLoadOptions: Sendable, Hashable {
  /// Tokens the KV cache holds (llama.cpp's `-c`); capped by the model's training context.
  public var contextLength: Int = 4096
  /// Most prompt tokens per forward pass (llama.cpp's micro-batch); longer prompts go in chunks.
  public var batchSize: Int = 512
  /// Rows of logits computed per matmul when every token's logits are asked for (perplexity).
  public var logitsChunk: Int = 16
  /// How quantized matmuls run (the fastest path by default).
  public var matmul: QMatMulOptions = .init()
  /// Lets the backend fuse known chains of a forward plan's ops into one kernel (GPUs; results
  /// within the cross-backend tolerance, not bit for bit). Off: every op by itself.
  public var fusion = true
  /// Records the decode step once and replays it as a device graph (CUDA/HIP graphs). Off: the
  /// step's kernels are launched one by one (for comparisons).
  public var deviceGraphs = true
  /// Element type of the K cache (llama.cpp's `-ctk`): f16, bf16, q8_0 or q4_0.
  public var keyCacheType: KVCacheType = .f16
  /// Element type of the V cache (llama.cpp's `-ctv`).
  public var valueCacheType: KVCacheType = .f16

  public init(contextLength: Int = 4096, batchSize: Int = 512) {
    self.contextLength = contextLength
    self.batchSize = batchSize
  }
}

/// A GGUF language model on a device: tokenizer, configuration and weights, loaded once and shared
/// by any number of `Session`s.
///
///     let model = try await LanguageModel.load(path: "gemma-3-270m.gguf", device: .cpu, registry: .standard)
///     for try await event in model.generate(prompt: "The capital of France is", options: .init(maxTokens: 32)) {
///       if case .text(let piece) = event { print(piece, terminator: "") }
///     }
public final class LanguageModel: Sendable {
  public let config: ModelConfig
  public let tokenizer: Tokenizer
  public let options: ModelLoadOptions
  /// Tokens the sessions' caches hold: `options.contextLength` capped by the model's.
  public let contextLength: Int
  /// Ids that end generation: EOS, EOT, and the end-of-turn control tokens of the known chat
  /// formats that the vocabulary has (as llama.cpp's vocabulary loader collects them).
  public let endOfGenerationTokens: Set<Int32>
  /// The file's `tokenizer.chat_template` as a Jinja program (run by Quanta's interpreter), else
  /// (no template, or one outside the interpreter's subset: `chatTemplateError`) the built-in
  /// format its markers name or the architecture's usual one.
  public let chatTemplate: ChatTemplate?
  /// Whether `chatTemplate` is the file's own template (false: a built-in format, a guess).
  public let chatTemplateFromFile: Bool
  /// Why the file's template could not be used (it does not parse in the interpreter's subset).
  public let chatTemplateError: JinjaError?
  public let file: GGUFFile
  /// What one session needs on the device, checked against its free memory at load.
  public let memoryEstimate: MemoryEstimate
  let transformer: Transformer

  public var device: Device { transformer.backend.device }
  public var backend: any ComputeBackend { transformer.backend }

  /// Opens `path` (memory-mapped) and loads it onto `device`, whose backend `registry` opens.
  ///
  /// - Parameters:
  ///   - path: A GGUF file.
  ///   - device: Where the weights and the KV caches go.
  ///   - registry: Opens the backend of `device` (e.g. `BackendRegistry.standard`).
  ///   - options: Context length, batch size and matmul settings.
  /// - Returns: The loaded model.
  /// - Throws: `GGUFError` for a file that cannot be read, `ModelError` for an unsupported or
  ///   inconsistent model, `QuantaError.deviceUnavailable` when the device cannot be opened, or the
  ///   `ModelError.insufficientMemory` when the weights and one session do not fit the device.
  public static func load(
    path: String, device: Device = .cpu, registry: BackendRegistry, options: ModelLoadOptions = .init()
  ) async throws -> LanguageModel {
    try LanguageModel(
      file: try GGUFFile(path: path), backend: try registry.backend(for: device), options: options)
  }

  /// Loads onto an already opened backend.
  ///
  /// - Parameters:
  ///   - path: A GGUF file.
  ///   - backend: The opened backend the weights go to.
  ///   - options: Context length, batch size and matmul settings.
  /// - Returns: The loaded model.
  /// - Throws: As `load(path:device:registry:options:)`, without the device error.
  public static func load(path: String, backend: any ComputeBackend, options: ModelLoadOptions = .init())
    async throws
    -> LanguageModel
  {
    try LanguageModel(file: try GGUFFile(path: path), backend: backend, options: options)
  }

  /// Builds the model from an opened file (synchronous; `load` is the usual entry point).
  ///
  /// - Parameters:
  ///   - file: The opened GGUF file.
  ///   - backend: The backend the weights go to.
  ///   - options: Context length, batch size, KV cache types and matmul settings (each positive).
  /// - Throws: `QuantaError.invalidArgument` for a non-positive option or a KV cache type whose block
  ///   does not divide the head dimension, `ModelError` for an
  ///   unsupported or inconsistent model, or `ModelError.insufficientMemory`.
  public init(file: GGUFFile, backend: any ComputeBackend, options: ModelLoadOptions = .init()) throws {
    guard options.contextLength > 0, options.batchSize > 0, options.logitsChunk > 0 else {
      throw QuantaError.invalidArgument(
        op: "LanguageModel.load",
        reason: "contextLength \(options.contextLength), batchSize \(options.batchSize) and logitsChunk "
          + "\(options.logitsChunk) must be positive")
    }
    let config = try ModelConfig(file: file)
    self.config = config
    self.file = file
    self.options = options
    contextLength = min(options.contextLength, config.contextLength)
    try KVCache.checkCacheTypes(
      config: config, keyType: options.keyCacheType, valueType: options.valueCacheType)
    // Before any weight or cache is allocated: a run that cannot fit is refused with the sizes.
    memoryEstimate = MemoryEstimate(
      config: config, file: file, contextLength: contextLength, batchSize: options.batchSize,
      logitsChunk: options.logitsChunk, copiesWeights: backend.device.kind != .cpu,
      keyCacheType: options.keyCacheType, valueCacheType: options.valueCacheType)
    try LanguageModel.checkMemory(memoryEstimate, backend: backend)
    let vocabulary = try Vocabulary(metadata: file.metadata)
    tokenizer = try Tokenizer(vocabulary)
    var eog = Set<Int32>()
    if let e = vocabulary.eos { eog.insert(e) }
    if let e = vocabulary.eot { eog.insert(e) }
    let endTexts: Set<String> = [
      "<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|endoftext|>",
      "<|end|>",
    ]
    for (id, text) in vocabulary.tokens.enumerated()
    where endTexts.contains(text)
      && (vocabulary.types[id] == .control || vocabulary.types[id] == .userDefined)
    {
      eog.insert(Int32(id))
    }
    endOfGenerationTokens = eog
    let source = try file.metadata.optionalString("tokenizer.chat_template")
    let fallback =
      source.flatMap { ChatTemplate.detect(template: $0) }
      ?? ChatTemplate.fallback(architecture: config.architecture.rawValue)
    var program: ChatTemplate? = nil
    var templateError: JinjaError? = nil
    if let source {
      do {
        program = try ChatTemplate(
          jinja: source, bosToken: vocabulary.bos.map { vocabulary.tokens[Int($0)] } ?? "",
          eosToken: vocabulary.eos.map { vocabulary.tokens[Int($0)] } ?? "")
      } catch let e as JinjaError {
        templateError = e
      }
    }
    chatTemplate = program ?? fallback
    chatTemplateFromFile = program != nil
    chatTemplateError = templateError
    transformer = try Transformer(file: file, config: config, contextLength: contextLength, backend: backend)
  }

  /// A new conversation state (KV cache of `contextLength` tokens on the device).
  ///
  /// - Returns: An empty session.
  /// - Throws: The backend's allocation error (e.g. out of device memory).
  public func makeSession() throws -> Session { try Session(model: self) }

  /// Bytes of one session's KV cache.
  public var kvCacheBytes: Int {
    KVCache.byteCount(
      config: config, capacity: contextLength, keyType: options.keyCacheType,
      valueType: options.valueCacheType)
  }
}
