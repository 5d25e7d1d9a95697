import ArgumentParser
import Foundation
import QuantaTools

/// `quanta bench model`: llama-bench's pp/tg table for one model.
struct BenchModel: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "model",
    abstract: "Prompt processing and generation speed of a model (llama-bench's table).")

  @Option(name: [.customShort("m"), .long], help: "Model file (GGUF). Default: the default model.")
  var model: String?

  @Option(
    name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens of the pp test (0 = skip).")
  var nPrompt = 512

  @Option(
    name: [.customShort("n"), .customLong("n-gen")], help: "Generated tokens of the tg test (0 = skip).")
  var nGen = 128

  @Option(
    name: [.customShort("r"), .customLong("repetitions")], help: "Repetitions of each test (after a warm-up)."
  )
  var repetitions = 5

  @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Most tokens per forward pass.")
  var batchSize = 2048

  @Option(name: [.customShort("t"), .long], help: "CPU threads (default: all available).")
  var threads: Int?

  @Option(
    name: [.customLong("parallel"), .customLong("npl")],
    help:
      "Comma-separated sequence counts: for each B > 1, a tgNxB test decodes B sequences together (one forward pass per step) and reports their aggregate t/s (llama-batched-bench's -npl).",
    transform: { s in
      try s.split(separator: ",").map {
        guard let v = Int($0.trimmingCharacters(in: .whitespaces)), v >= 1, v <= 64 else {
          throw ValidationError("--parallel takes counts from 1 to 64, got '\($0)'")
        }
        return v
      }
    })
  var parallel: [Int] = []

  @OptionGroup var cacheTypes: CacheTypeOptions

  @Option(help: CommonHelp.device)
  var device = "cpu"

  @Flag(help: CommonHelp.noMatrixCores) var noMatrixCores = false

  @Flag(
    help:
      "Also print where a decode step's (each --parallel count's too) and the prompt's device time goes, per op kind (ops run one by one, not as a graph)."
  )
  var profile = false

  @Flag(
    help:
      "Also decode with llama.cpp's default sampling chain: sampled on the device (GPUs) and on the host from the copied logits, one row each."
  )
  var sampled = false

  @Flag(help: "Run each op of a plan by itself (no fused kernels), for comparisons.")
  var noFusion = false

  @Flag(help: "Launch a decode step's kernels one by one instead of replaying a device graph.")
  var noGraphs = false

  @Flag(
    help:
      "Launch GPU kernels as programmatic dependents of the one before (CUDA sm_90+; each waits for its predecessor inside), for comparisons."
  )
  var dependentLaunch = false

  func run() async throws {
    var settings = CLIEnvironment.modelSettings()
    settings.matrixCores = !noMatrixCores
    settings.dependentLaunches = dependentLaunch
    settings.modelPath = model
    // llama-bench sizes the context for the longest test.
    settings.contextSize = max(nPrompt, nGen + 1, 16)
    settings.batchSize = max(1, min(batchSize, max(nPrompt, 1)))
    try cacheTypes.apply(to: &settings)
    settings.threads = threads
    if let warning = settings.threadWarning() { stderr(warning) }
    settings.device = device
    settings.fusion = !noFusion
    settings.deviceGraphs = !noGraphs
    let (lm, _) = try await settings.loadModel()
    let rows = try ModelBench.run(
      model: lm, promptTokens: nPrompt, generatedTokens: nGen, repetitions: repetitions, parallel: parallel,
      sampled: sampled, progress: { test, rate in stderr("\(test): " + String(format: "%.2f t/s\n", rate)) })
    stdout(ModelBench.table(rows))
    if profile {
      let steps = max(nGen, 1)
      stdout(ModelBench.profileTable(try ModelBench.profileDecode(model: lm, steps: steps), steps: steps))
      for b in parallel where b > 1 {
        stdout("\ndecode of \(b) sequences together (one step = a token of each):\n")
        let p = try ModelBench.profileBatchedDecode(model: lm, sequences: b, steps: steps)
        stdout(ModelBench.profileTable(p, steps: steps))
      }
      if nPrompt > 0 {
        stdout("\nprompt of \(nPrompt) tokens (one step = the whole prompt):\n")
        stdout(ModelBench.profileTable(try ModelBench.profilePrompt(model: lm, tokens: nPrompt), steps: 1))
      }
    }
  }
}
