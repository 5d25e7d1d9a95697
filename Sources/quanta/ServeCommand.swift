import ArgumentParser
import Foundation
import QuantaLM
import QuantaServer
import QuantaTools

/// `quanta serve`: an OpenAI-compatible HTTP server (llama-server's flags where they exist).
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Serve a GGUF model over an OpenAI-compatible HTTP API (llama-server's flags).",
    discussion: """
      Endpoints: POST /v1/chat/completions, POST /v1/completions (stream: server-sent events), \
      GET /v1/models, GET /health, GET /metrics (Prometheus), POST /tokenize, POST /detokenize. \
      -np slots each hold their own KV cache of -c / -np tokens (as llama-server divides -c); \
      requests beyond them wait in a queue of --queue-size (then 503). One worker steps the busy \
      slots in turn, a token (or a prompt chunk of -b tokens) each: interleaved, not yet batched \
      into one forward pass. SIGTERM/SIGINT: new requests get 503, those in flight get \
      --shutdown-timeout seconds, then are cancelled; exit 0.
      Without -m, the default model (Gemma 3 270M Q4_K_M) is used (downloaded on first use).
      """)

  @Option(name: [.customShort("m"), .long], help: "Model file (GGUF). Default: the default model.")
  var model: String?

  @Option(help: "Address to listen on.")
  var host = "127.0.0.1"

  @Option(help: "Port to listen on (0: any free port, printed).")
  var port = 8080

  @Option(
    name: [.customShort("c"), .customLong("ctx-size")],
    help: "Context size in tokens, shared by the slots (each gets c / np); 0 = the model's.")
  var ctxSize = 4096

  @Option(
    name: [.customLong("np", withSingleDash: true), .customLong("parallel")],
    help: "Slots (parallel requests).")
  var parallel = 1

  @Option(help: "Requests that may wait for a slot; more get 503.")
  var queueSize = 64

  @Option(
    name: [.customShort("b"), .customLong("batch-size")],
    help: "Prompt tokens a slot evaluates per turn (prompts are prefilled in chunks of this).")
  var batchSize = 512

  @Option(name: [.customShort("t"), .long], help: "CPU threads (default: all available).")
  var threads: Int?

  @OptionGroup var cacheTypes: CacheTypeOptions

  @Option(help: CommonHelp.device)
  var device = "cpu"

  @Option(
    name: .customLong("api-key"),
    help: "Require this key (Authorization: Bearer KEY) on every endpoint but /health.")
  var apiKey: String?

  @Option(
    name: [.customShort("a"), .customLong("alias")],
    help: "Model name in /v1/models and responses (default: the file name).")
  var alias: String?

  @Option(
    name: .customLong("chat-template"),
    help:
      "Chat format: a Jinja template file, or a built-in \(ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")) (default: the model's)."
  )
  var chatTemplate: String?

  @Option(name: .customLong("shutdown-timeout"), help: "Seconds requests in flight get at SIGTERM/SIGINT.")
  var shutdownTimeout = 10.0

  func validate() throws {
    if parallel < 1 { throw ValidationError("-np must be at least 1, got \(parallel)") }
    if queueSize < 0 { throw ValidationError("--queue-size must be ≥ 0, got \(queueSize)") }
    if !(0...65535).contains(port) { throw ValidationError("--port must be in 0...65535, got \(port)") }
    if !(shutdownTimeout >= 0 && shutdownTimeout.isFinite) {
      throw ValidationError("--shutdown-timeout must be ≥ 0 seconds")
    }
  }

  /// A built-in chat format by name (`gemma`, `chatml`, `llama3`, `llama2`).
  static func template(named name: String) -> ChatTemplate? {
    ChatTemplate.allCases.first { $0.rawValue == name }
  }

  func run() async throws {
    var settings = CLIEnvironment.modelSettings()
    settings.modelPath = model
    settings.batchSize = batchSize
    try cacheTypes.apply(to: &settings)
    settings.threads = threads
    settings.device = device
    if let warning = settings.threadWarning() { stderr(warning) }
    // llama-server divides -c among the slots; 0 asks for the model's training context.
    settings.contextSize = ctxSize <= 0 ? 0 : max(1, ctxSize / parallel)
    let path = try await settings.resolveModelPath()
    settings.modelPath = path
    let (lm, loadSeconds) = try await settings.loadModel()
    if settings.contextSize > lm.config.contextLength {
      stderr(
        "warning: -c \(ctxSize) over \(parallel) slot(s) asks \(settings.contextSize) tokens per slot, more than "
          + "the model's training context of \(lm.config.contextLength); using \(lm.contextLength)\n")
    }
    let scheduler = try Scheduler(
      model: lm, slots: parallel, queueCapacity: queueSize, prefillChunk: max(1, batchSize))
    var options = ServerOptions()
    options.host = host
    options.port = port
    options.apiKey = apiKey
    options.modelName = alias ?? URL(fileURLWithPath: path).lastPathComponent
    // A built-in format by name, else a Jinja template file (as `run --chat-template`).
    options.chatTemplate = try chatTemplate.map {
      try Self.template(named: $0) ?? ModelRun.chatTemplate(file: $0, for: lm)
    }
    options.shutdownTimeout = .milliseconds(Int64(shutdownTimeout * 1000))
    let server = OpenAIServer(
      scheduler: scheduler, options: options, logger: OpenAIServer.standardErrorLogger())
    stderr(
      "model: \(ModelBench.describe(lm)), device \(lm.device), \(parallel) slot(s) of \(lm.contextLength) tokens, "
        + String(format: "loaded in %.2f s\n", loadSeconds))
    if server.templateIsFallback {
      stderr("warning: the model has no chat template Quanta can run; chat requests use chatml\n")
    } else if chatTemplate == nil, let warning = ModelRun.chatTemplateWarning(lm) {
      stderr(warning)
    }
    let host = self.host
    try await server.run(onListening: { port in
      stdout("quanta serve: listening on http://\(host):\(port)\n")
    })
    stderr("quanta serve: stopped\n")
  }
}
