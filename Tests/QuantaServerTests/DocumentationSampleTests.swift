import Foundation
import HummingbirdTesting
import Quanta
import QuantaServer
import QuantaTools
import Testing

/// The code samples of Sources/Quanta/Quanta.docc/GettingStarted.md, as written there (only the
/// model path differs), run on the tiny synthetic model, so the article cannot rot. Two samples are
/// compiled but not run, as the article says: the default-model download (network) and
/// `server.run()` (the request goes through the same server's router instead of a port).
@Suite struct DocumentationSampleTests {
  @Test func loadGenerateAndStream() async throws {
    let path = try TestModel.file()
    // Load a model
    let model = try await LanguageModel.load(
      path: path, device: .cpu,
      options: ModelLoadOptions(contextLength: 2048))
    print(model.config.architecture, model.contextLength)
    #expect(model.device == .cpu)
    #expect(model.contextLength == 1024)  // capped by the synthetic model's training context

    // Generate text
    var options = GenerationOptions(maxTokens: 32)
    options.sampling.temperature = 0  // greedy
    let (text, summary) = try await model.complete(prompt: "Once upon a time", options: options)
    print(text)
    print(summary.generatedTokens, summary.stopReason)
    #expect(summary.generatedTokens > 0 && summary.generatedTokens <= 32)
    #expect(summary.promptTokens > 0)

    // Stream tokens
    var pieces = 0
    var finished: GenerationSummary?
    for try await event in model.generate(
      prompt: "Once upon a time", options: GenerationOptions(maxTokens: 32))
    {
      switch event {
      case .text(let piece):
        print(piece, terminator: "")
        pieces += 1
      case .finished(let summary):
        print("\n\(summary.generationTokensPerSecond) tokens/s")
        finished = summary
      }
    }
    let streamed = try #require(finished)
    #expect(streamed.generatedTokens > 0 && streamed.generatedTokens <= 32)
  }

  @Test func chooseADevice() async throws {
    let path = try TestModel.file()
    let device = try Device(parsing: "cuda:0")  // or .cpu, .cuda(0), .rocm(1)
    #expect(device == .cuda(0))
    var outcome = ""
    do {
      let gpuModel = try await LanguageModel.load(path: path, device: device)
      print("loaded on", gpuModel.device)
      outcome = "loaded"
    } catch QuantaError.deviceUnavailable(let device, let reason) {
      print("\(device) is unavailable: \(reason)")
      outcome = "unavailable"
    }
    // On a machine without a CUDA GPU the sample takes its catch branch; with one, it loads.
    #expect(outcome == "loaded" || outcome == "unavailable")

    var gpu = GPUConfiguration()
    gpu.kernelCacheDirectory = URL(fileURLWithPath: "/var/cache/myapp/kernels")
    let registry = BackendRegistry.makeStandard(cpu: .init(threadCount: 2), gpu: gpu)
    let onTwoThreads = try await LanguageModel.load(path: path, device: .cpu, registry: registry)
    #expect(onTwoThreads.backend.info.computeUnits == 2)
  }

  @Test func chatWithATemplate() async throws {
    let model = try await LanguageModel.load(path: try TestModel.file(), device: .cpu)
    let chat = try ChatSession(model: model, system: "You are terse.")
    var finished: GenerationSummary?
    for try await event in chat.send("Name a prime number.", options: GenerationOptions(maxTokens: 24)) {
      if case .text(let piece) = event { print(piece, terminator: "") }
      if case .finished(let s) = event { finished = s }
    }
    #expect(try #require(finished).generatedTokens > 0)
    let chatml = try ChatSession(model: model, template: .chatml)
    #expect(chatml.template.markerFamily == .chatml)
  }

  /// The article's server sample, up to `run()`; the test then asks `/v1/models` through the router.
  @Test func runTheServer() async throws {
    let model = try await LanguageModel.load(path: try TestModel.file(), device: .cpu)
    let server = try Self.makeServer(model: model)
    let app = server.makeApplication()
    try await app.test(.router) { client in
      try await client.execute(uri: "/v1/models", method: .get) { response in
        #expect(response.status == .ok)
        #expect(String(buffer: response.body).contains("gemma-3-270m"))
      }
    }
    await server.scheduler.shutdown()
  }

  static func makeServer(model: LanguageModel) throws -> OpenAIServer {
    let scheduler = try Scheduler(model: model, slots: 4, queueCapacity: 16)
    var serverOptions = ServerOptions()
    serverOptions.port = 8080
    serverOptions.modelName = "gemma-3-270m"
    let server = OpenAIServer(scheduler: scheduler, options: serverOptions)
    return server
  }

  /// Compiled, not run (they need the network or a port): the default-model sample and `run()`.
  static func notRun() async throws {
    let cache = ModelCache.directory(environment: ProcessInfo.processInfo.environment)
    let model = try await LanguageModel.loadDefault(cache: cache, device: .cpu)
    let server = try makeServer(model: model)
    try await server.run()
  }
}
