import Foundation
import Hummingbird
import HummingbirdTesting
import Quanta
import QuantaLM
import QuantaSynth
import QuantaTools
import Synchronization
import Testing

@testable import QuantaServer

/// A tiny Gemma 3 model (2 layers, 256-wide, 1024 tokens, random weights), written once per test
/// process and loaded on the CPU for each test that asks.
enum TestModel {
  static let preset = SynthPreset(
    name: "serve-gemma3", displayName: "serve gemma3", architecture: .gemma3, layerCount: 2,
    embeddingLength: 256, feedForwardLength: 512, headCount: 2, kvHeadCount: 1, headDim: 128,
    vocabularySize: 1024, contextLength: 1024, ropeFreqBase: 1_000_000, rmsEpsilon: 1e-6,
    tiedEmbeddings: true, slidingWindow: 64, tokenizer: .gemma3(vocabularySize: 1024))

  private static let path: Mutex<String?> = Mutex(nil)

  static func file() throws -> String {
    try path.withLock { p in
      if let p { return p }
      let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
        "quanta-serve-tests-\(getpid())", isDirectory: true)
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      let file = dir.appendingPathComponent("m.gguf").path
      _ = try SynthModel.write(
        SynthOptions(preset: preset, target: try SynthTarget(argument: "Q8_0"), seed: 7, outputPath: file))
      p = file
      return file
    }
  }

  static func load(context: Int = 256) async throws -> LanguageModel {
    try await LanguageModel.load(
      path: try file(), device: .cpu, registry: .standard, options: ModelLoadOptions(contextLength: context))
  }
}

/// A server over the test model; `body` gets the router test client. The scheduler is shut down
/// afterwards.
func withServer<R: Sendable>(
  slots: Int = 2, queue: Int = 4, context: Int = 256, startPaused: Bool = false,
  configure: (inout ServerOptions) -> Void = { _ in },
  _ body: @Sendable (any TestClientProtocol, OpenAIServer) async throws -> R
) async throws -> R {
  let model = try await TestModel.load(context: context)
  let scheduler = try Scheduler(
    model: model, slots: slots, queueCapacity: queue, prefillChunk: 16, metrics: ServerMetrics(),
    recordSteps: false, startPaused: startPaused)
  var options = ServerOptions()
  options.modelName = "test-model"
  configure(&options)
  let server = OpenAIServer(scheduler: scheduler, options: options)
  let app = server.makeApplication()
  do {
    let r = try await app.test(.router) { client in try await body(client, server) }
    await scheduler.shutdown()
    return r
  } catch {
    await scheduler.shutdown()
    throw error
  }
}

extension TestClientProtocol {
  /// POSTs `json` (a JSON text) to `uri`.
  func post(_ uri: String, _ json: String, headers: HTTPFields = [:]) async throws -> TestResponse {
    var h = headers
    h[.contentType] = "application/json"
    return try await execute(uri: uri, method: .post, headers: h, body: ByteBuffer(string: json))
  }

  func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
    try await execute(uri: uri, method: .get, headers: headers)
  }
}

extension TestResponse {
  var text: String { String(buffer: body) }

  /// The body as a JSON object.
  func object(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let any = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
    return try #require(any as? [String: Any], "not a JSON object: \(text)", sourceLocation: sourceLocation)
  }

  /// The `data:` payloads of a server-sent event stream, in order.
  var events: [String] {
    text.components(separatedBy: "\n\n").compactMap { block -> String? in
      guard block.hasPrefix("data: ") else { return nil }
      return String(block.dropFirst(6))
    }
  }
}

/// Checks that `response` is an OpenAI error with `status` and `type`; returns its message.
@discardableResult
func expectError(
  _ response: TestResponse, status: Int, type: String, sourceLocation: SourceLocation = #_sourceLocation
) throws -> String {
  #expect(response.status.code == status, "body: \(response.text)", sourceLocation: sourceLocation)
  let error = try #require(
    try response.object()["error"] as? [String: Any], "no error object: \(response.text)",
    sourceLocation: sourceLocation)
  #expect(error["type"] as? String == type, sourceLocation: sourceLocation)
  #expect(error["code"] as? Int == status, sourceLocation: sourceLocation)
  let message = try #require(error["message"] as? String, sourceLocation: sourceLocation)
  #expect(!message.isEmpty, sourceLocation: sourceLocation)
  return message
}

/// The greedy continuation of `prompt` by the library's own generation loop (a fresh session):
/// what the server must reproduce.
func referenceGreedy(_ model: LanguageModel, prompt: [Int32], maxTokens: Int, stops: [String] = [])
  async throws
  -> (text: String, summary: GenerationSummary)
{
  var o = GenerationOptions(maxTokens: maxTokens, sampling: .greedy, stopStrings: stops)
  o.contextShift = false
  var text = ""
  var summary: GenerationSummary?
  for try await event in model.generate(promptTokens: prompt, options: o) {
    switch event {
    case .text(let t): text += t
    case .finished(let s): summary = s
    }
  }
  return (text, try #require(summary))
}

/// Collects a submission's text and result.
func collect(_ submission: SlotSubmission) async throws -> (text: String, result: SlotResult) {
  var text = ""
  var result: SlotResult?
  for try await event in submission.events {
    switch event {
    case .text(let t): text += t
    case .logprobs: break
    case .finished(let r): result = r
    }
  }
  return (text, try #require(result))
}
