import ArgumentParser
import Foundation
import QuantaTools

/// `quanta perplexity -m M -f TEXT -c 512`: llama-perplexity's method and output.
struct PerplexityCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "perplexity",
    abstract: "Perplexity of a model on a text file (llama.cpp's method and output).",
    discussion: """
      The text is tokenized whole (BOS first), cut into non-overlapping chunks of -c tokens, each \
      chunk's first token replaced by BOS and evaluated from an empty cache, and the second half of \
      each chunk scored. Prints [1]x,[2]y,... as chunks finish, then Final estimate: PPL = X +/- Y.
      """)

  @Option(name: [.customShort("m"), .long], help: "Model file (GGUF). Default: the default model.")
  var model: String?

  @Option(name: [.customShort("f"), .long], help: "Text file.")
  var file: String

  @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Chunk (context) size in tokens.")
  var ctxSize = 512

  @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Most tokens per forward pass.")
  var batchSize = 2048

  @Option(
    name: .customLong("chunks"), parsing: .unconditional, help: "Score at most this many chunks; -1 = all.")
  var chunks = -1

  func validate() throws {
    if klDivergence, klDivergenceBase == nil {
      throw ValidationError("--kl-divergence compares with a saved run: pass --kl-divergence-base FILE")
    }
    // 0 used to mean "all" silently; only -1 does.
    guard chunks == -1 || chunks >= 1 else {
      throw ValidationError("--chunks must be -1 (all chunks) or at least 1, got \(chunks)")
    }
  }

  @Option(
    name: .customLong("kl-divergence-base"),
    help:
      "Save this run's next-token distributions to FILE (with --kl-divergence: compare with FILE instead).")
  var klDivergenceBase: String?

  @Flag(
    name: .customLong("kl-divergence"),
    help:
      "Compare with the distributions in --kl-divergence-base (same text and -c): KLD, top-1 agreement, PPL ratio."
  )
  var klDivergence = false

  @Option(name: [.customShort("t"), .long], help: "CPU threads (default: all available).")
  var threads: Int?

  @OptionGroup var cacheTypes: CacheTypeOptions

  @Option(help: CommonHelp.device)
  var device = "cpu"

  @Flag(help: CommonHelp.noMatrixCores) var noMatrixCores = false

  func run() async throws {
    guard ctxSize >= 4 else { throw ValidationError("-c must be at least 4") }
    let text: String
    do {
      text = try String(contentsOfFile: file, encoding: .utf8)
    } catch {
      throw ValidationError("cannot read \(file) as UTF-8 text: \(error.localizedDescription)")
    }
    var settings = CLIEnvironment.modelSettings()
    settings.matrixCores = !noMatrixCores
    settings.modelPath = model
    settings.contextSize = ctxSize
    settings.batchSize = min(batchSize, ctxSize)
    try cacheTypes.apply(to: &settings)
    settings.threads = threads
    if let warning = settings.threadWarning() { stderr(warning) }
    settings.device = device
    let (lm, loadSeconds) = try await settings.loadModel()
    guard lm.contextLength >= ctxSize else {
      throw ValidationError("the model's context is \(lm.contextLength) tokens, smaller than -c \(ctxSize)")
    }
    stderr(String(format: "load time: %.2f ms\n", loadSeconds * 1000))
    var tokens = lm.tokenizer.encode(text)
    if chunks > 0 { tokens = Array(tokens.prefix(chunks * ctxSize)) }
    let vocabulary = lm.config.vocabularySize
    let bos = lm.tokenizer.vocabulary.addBOS ? lm.tokenizer.vocabulary.bos : nil
    stderr(
      "perplexity: \(tokens.count) tokens, \(tokens.count / ctxSize) chunks of \(ctxSize), batch \(settings.batchSize)\n"
    )
    let session = try lm.makeSession()
    // --kl-divergence-base alone saves each scored position's distribution; with --kl-divergence,
    // each is compared with the saved one.
    let scored = Array(tokens.prefix(tokens.count / ctxSize * ctxSize))
    var writer: KLDivergence.Writer?
    var comparison: KLDivergence.Comparison?
    if let base = klDivergenceBase {
      if klDivergence {
        comparison = try KLDivergence.Comparison(
          path: base, vocabulary: vocabulary, context: ctxSize, tokens: scored)
      } else {
        writer = try KLDivergence.Writer(path: base, vocabulary: vocabulary, context: ctxSize, tokens: scored)
      }
    }
    let started = Date()
    let result = try Perplexity.run(
      tokens: tokens, context: ctxSize, bos: bos, vocabulary: vocabulary,
      evaluate: { chunk, first, row in
        session.reset()
        // The first half only fills the cache; logits are computed for the scored half alone.
        try session.evaluate(tokens: Array(chunk[..<first]))
        try session.evaluateAll(tokens: Array(chunk[first...])) { i, logits in
          try row(first + i, logits)
          guard first + i < ctxSize - 1 else { return }  // the last row has no next token
          try writer?.add(logits: logits)
          try comparison?.add(logits: logits, next: Int(chunk[first + i + 1]))
        }
      },
      chunkDone: { index, ppl in
        if index == 1 {
          let pass = Date().timeIntervalSince(started)
          stderr(
            String(
              format: "perplexity: %.2f seconds per pass - ETA %.2f minutes\n", pass,
              pass * Double(tokens.count / ctxSize) / 60))
        }
        stdout(String(format: "[%d]%.4f,", index, ppl))
      })
    stdout("\n")
    if let writer, let base = klDivergenceBase {
      try writer.finish()
      stderr("saved the distributions of \(result.scoredTokens) positions to \(base)\n")
    }
    if result.uncertainty != nil {
      stdout(result.finalLine + "\n")
    } else {
      stdout(
        String(
          format: "Final estimate: PPL = %.4f (no uncertainty: the log-probabilities do not vary)\n",
          result.perplexity))
    }
    if let comparison { stdout("\n" + comparison.statistics.report) }
  }
}
