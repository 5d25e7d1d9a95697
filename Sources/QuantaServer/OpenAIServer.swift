import Foundation
import Hummingbird
import Logging
import NIOCore
import QuantaLM
import ServiceLifecycle

/// Settings of `quanta serve` (llama-server's flags where they exist).
public struct ServerOptions: Sendable {
  /// `--host`, `--port` (0: any free port; the one bound is logged and passed to `onListening`).
  public var host = "127.0.0.1"
  public var port = 8080
  /// `--api-key`: when set, every endpoint but `/health` needs `Authorization: Bearer KEY` (or
  /// `X-Api-Key: KEY`).
  public var apiKey: String?
  /// Requests whose body is larger get 413.
  public var maxBodyBytes = 8 << 20
  /// The model's name in `/v1/models` and in responses.
  public var modelName = "model"
  /// `--chat-template NAME`: overrides the model's chat format.
  public var chatTemplate: ChatTemplate?
  /// How long SIGTERM/SIGINT waits for requests in flight before cancelling them.
  public var shutdownTimeout: Duration = .seconds(10)

  public init() {}
}

/// The OpenAI-compatible HTTP API over a `Scheduler`: routes, error mapping, API key, graceful
/// shutdown.
public final class OpenAIServer: Sendable {
  public let scheduler: Scheduler
  public let options: ServerOptions
  /// The chat format chat requests are rendered in.
  public let template: ChatTemplate
  /// Whether `template` is a guess: the model names none and its architecture has no usual one.
  public let templateIsFallback: Bool
  let created = Int(Date().timeIntervalSince1970)
  let logger: Logger

  public var model: LanguageModel { scheduler.model }
  public var metrics: ServerMetrics { scheduler.metrics }

  public init(scheduler: Scheduler, options: ServerOptions, logger: Logger = Logger(label: "quanta.serve")) {
    self.scheduler = scheduler
    self.options = options
    self.logger = logger
    if let t = options.chatTemplate ?? scheduler.model.chatTemplate {
      template = t
      templateIsFallback = false
    } else {
      // llama-server's fallback for models without a template.
      template = .chatml
      templateIsFallback = true
    }
  }

  /// A logger that writes to stderr (the CLI's), at `level`.
  public static func standardErrorLogger(level: Logger.Level = .info) -> Logger {
    var logger = Logger(label: "quanta.serve") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = level
    return logger
  }

  // MARK: Routes

  public func makeRouter() -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: APIMiddleware(server: self))
    router.get("health") { _, _ in try self.health() }
    router.get("metrics") { _, _ in
      Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: self.metrics.exposition())))
    }
    for path in ["v1/models", "models"] {
      router.get(RouterPath(path)) { _, _ in try self.models() }
    }
    for path in ["v1/chat/completions", "chat/completions"] {
      router.post(RouterPath(path)) { request, _ in try await self.chatCompletions(request) }
    }
    for path in ["v1/completions", "completions"] {
      router.post(RouterPath(path)) { request, _ in try await self.completions(request) }
    }
    router.post("tokenize") { request, _ in try await self.tokenize(request) }
    router.post("detokenize") { request, _ in try await self.detokenize(request) }
    return router
  }

  /// The application: the router on `options.host:port`. `onListening` gets the bound port.
  public func makeApplication(onListening: @escaping @Sendable (Int) -> Void = { _ in })
    -> some ApplicationProtocol
  {
    Application(
      router: makeRouter(),
      configuration: .init(address: .hostname(options.host, port: options.port), serverName: "quanta"),
      onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
      logger: logger)
  }

  /// Serves until SIGTERM or SIGINT: then stops admitting requests (503), gives those in flight
  /// `shutdownTimeout` to finish, cancels the rest (their streams end with an error event), closes
  /// the listener and the connections, and returns.
  public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
    let app = makeApplication(onListening: onListening)
    let drain = DrainService(scheduler: scheduler, timeout: options.shutdownTimeout, logger: logger)
    // Graceful shutdown reaches services in reverse order: the drain first, then the HTTP server.
    let group = ServiceGroup(
      configuration: .init(
        services: [
          .init(service: app),
          .init(service: drain, successTerminationBehavior: .ignore),
        ],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
    await scheduler.shutdown()
  }

  // MARK: Handlers

  private func health() throws -> Response {
    let s = scheduler.stats
    return try json(
      [
        "status": "ok", "slots_idle": s.slots - s.busySlots, "slots_processing": s.busySlots,
        "queued": s.queued,
      ] as [String: Any])
  }

  private func models() throws -> Response {
    let c = model.config
    let entry: [String: Any] = [
      "id": options.modelName, "object": "model", "created": created, "owned_by": "quanta",
      "meta": [
        "n_vocab": c.vocabularySize, "n_ctx_train": c.contextLength, "n_ctx": model.contextLength,
        "n_embd": c.embeddingLength, "architecture": c.architecture.rawValue,
      ] as [String: Any],
    ]
    return try json(["object": "list", "data": [entry]] as [String: Any])
  }

  private func body(_ request: inout Request) async throws -> Data {
    let buffer: ByteBuffer
    do {
      buffer = try await request.collectBody(upTo: options.maxBodyBytes)
    } catch let e as HTTPError where e.status == .contentTooLarge {
      throw APIError.tooLarge(limit: options.maxBodyBytes)
    } catch is NIOTooManyBytesError {
      // What collecting a body over the limit throws in Hummingbird 2.28.
      throw APIError.tooLarge(limit: options.maxBodyBytes)
    }
    return Data(buffer.readableBytesView)
  }

  private func chatCompletions(_ incoming: Request) async throws -> Response {
    var request = incoming
    let data = try await body(&request)
    let chat = try decodeRequest(ChatCompletionRequest.self, from: data)
    let (text, tools) = try chatPrompt(chat, body: data)
    let topLogprobs = try chat.topLogprobs()
    if tools != nil, topLogprobs != nil, chat.sampling.stream == true {
      // llama-server refuses it too: a streamed reply with tools is held back until it is parsed.
      throw APIError.invalidRequest("'logprobs' is not supported with 'tools' and 'stream'")
    }
    let prompt = model.chatPromptTokens(text, template: template, addSpecial: true)
    let slotRequest = try chat.sampling.resolve(
      prompt: prompt, model: model, extraStops: [template.endOfTurn], topLogprobs: topLogprobs,
      toolGrammar: tools?.grammar)
    return try await respond(request, slotRequest, fields: chat.sampling, kind: .chat, tools: tools)
  }

  /// The prompt text of a chat request (`body` is its JSON, read again for the tools' schemas and
  /// inline arguments in their order), and what its tools make of it.
  func chatPrompt(_ chat: ChatCompletionRequest, body data: Data) throws(APIError) -> (String, ToolPlan?) {
    guard !chat.messages.isEmpty else { throw APIError.invalidRequest("'messages' must not be empty") }
    let tools = try ToolPlan.make(chat, body: data, template: template)
    do {
      if tools == nil && !chat.hasToolMessages {
        let messages = try chat.messages.map { m throws(APIError) in try m.templateMessage() }
        return (try template.apply(messages, addGenerationPrompt: true), nil)
      }
      let messages = try templateMessages(
        chat.messages, plan: tools, toolAware: ToolPlan.readsTools(template), body: data)
      return (
        try template.apply(messages: messages, addGenerationPrompt: true, tools: tools?.templateTools), tools
      )
    } catch let e as APIError {
      throw e
    } catch {
      // A Jinja template's raise_exception (roles that do not alternate, …) or a bound it hit.
      throw APIError.invalidRequest("the chat template refused the messages: \(error)")
    }
  }

  private func completions(_ incoming: Request) async throws -> Response {
    var request = incoming
    let data = try await body(&request)
    let completion = try decodeRequest(CompletionRequest.self, from: data)
    let prompt: [Int32]
    switch completion.prompt {
    case .text(let t): prompt = model.tokenizer.encode(t, addSpecial: true, parseSpecial: true)
    case .tokens(let ids):
      let vocab = model.config.vocabularySize
      if let bad = ids.first(where: { $0 < 0 || Int($0) >= vocab }) {
        throw APIError.invalidRequest("prompt token \(bad) is outside the vocabulary (0..<\(vocab))")
      }
      prompt = ids
    }
    let slotRequest = try completion.sampling.resolve(
      prompt: prompt, model: model, topLogprobs: try completion.topLogprobs())
    return try await respond(request, slotRequest, fields: completion.sampling, kind: .completion)
  }

  enum Kind {
    case chat, completion
    var object: String { self == .chat ? "chat.completion" : "text_completion" }
    var chunkObject: String { self == .chat ? "chat.completion.chunk" : "text_completion" }
    var idPrefix: String { self == .chat ? "chatcmpl-" : "cmpl-" }
  }

  private func submit(_ r: SlotRequest) throws -> SlotSubmission {
    do {
      return try scheduler.submit(r)
    } catch {
      switch error {
      case .queueFull, .shuttingDown, .cancelledByShutdown: throw APIError.unavailable(error.description)
      case .emptyPrompt, .promptTooLong: throw APIError.invalidRequest(error.description)
      case .generationFailed: throw APIError.server(error.description)
      }
    }
  }

  private func respond(
    _ request: Request, _ r: SlotRequest, fields: SamplingFields, kind: Kind, tools: ToolPlan? = nil
  ) async throws -> Response {
    let submission = try submit(r)
    let id = kind.idPrefix + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    let modelName = options.modelName
    let created = Int(Date().timeIntervalSince1970)
    if fields.stream == true {
      let includeUsage = fields.stream_options?.include_usage == true
      // Watching for the client going away consumes the connection's inbound side, so Hummingbird
      // closes it after the response: say so, or a client reuses it for its next request.
      let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache", .connection: "close",
      ]
      return Response(
        status: .ok, headers: headers,
        body: ResponseBody { writer in
          try await request.body.consumeWithInboundCloseHandler { _ in
            var logprobs = LogprobsWriter(kind: kind, enabled: r.topLogprobs != nil)
            var pending: [TokenLogprob] = []
            // With tools: the reply so far, and how many of its UTF-8 bytes were sent as text.
            var reply = ""
            var sent = 0
            let chunk = { (delta: String?, finish: String?, lp: Any) -> [String: Any] in
              var choice: [String: Any] = ["index": 0, "finish_reason": finish ?? NSNull()]
              switch kind {
              case .chat:
                var d: [String: Any] = [:]
                if let delta { d["content"] = delta }
                choice["delta"] = d
              case .completion:
                choice["text"] = delta ?? ""
              }
              choice["logprobs"] = lp
              return [
                "id": id, "object": kind.chunkObject, "created": created, "model": modelName,
                "choices": [choice],
              ]
            }
            if kind == .chat {
              var first = chunk("", nil, NSNull())
              first["choices"] = [
                ["index": 0, "delta": ["role": "assistant", "content": ""], "finish_reason": NSNull()]
              ]
              try await writer.write(sse(first))
            }
            do {
              for try await event in submission.events {
                switch event {
                case .logprobs(let entries): pending += entries
                case .text(let t) where tools != nil:
                  // Text before a possible tool call goes out; the rest waits for the parse.
                  reply += t
                  let end = reply.utf8.distance(from: reply.startIndex, to: streamableToolText(reply))
                  if end > sent {
                    let piece = String(decoding: Array(reply.utf8)[sent..<end], as: UTF8.self)
                    sent = end
                    try await writer.write(sse(chunk(piece, nil, NSNull())))
                  }
                case .text(let t):
                  let lp = logprobs.chunk(pending)
                  pending.removeAll()
                  try await writer.write(sse(chunk(t, nil, lp)))
                case .finished(let result):
                  var finish = result.finishReason.rawValue
                  if let tools {
                    let parsed = ToolCalls.parse(reply, format: tools.format, names: tools.names)
                    let already = String(decoding: Array(reply.utf8)[..<sent], as: UTF8.self)
                    var rest: String
                    if parsed.calls.isEmpty {
                      rest = String(decoding: Array(reply.utf8)[sent...], as: UTF8.self)
                      // The generic format's {"response": …}: its text, when none was sent yet.
                      if sent == 0 { rest = parsed.content }
                    } else {
                      let head = already.trimmingCharacters(in: .whitespacesAndNewlines)
                      rest =
                        parsed.content.hasPrefix(head) ? String(parsed.content.dropFirst(head.count)) : ""
                    }
                    if !rest.isEmpty { try await writer.write(sse(chunk(rest, nil, NSNull()))) }
                    if !parsed.calls.isEmpty {
                      var delta = chunk(nil, nil, NSNull())
                      delta["choices"] = [
                        [
                          "index": 0, "delta": ["tool_calls": toolCallsJSON(parsed.calls, delta: true)],
                          "finish_reason": NSNull(), "logprobs": NSNull(),
                        ] as [String: Any]
                      ]
                      try await writer.write(sse(delta))
                      finish = "tool_calls"
                    }
                  }
                  if !pending.isEmpty {
                    // Tokens whose text was empty.
                    try await writer.write(sse(chunk(kind == .chat ? nil : "", nil, logprobs.chunk(pending))))
                  }
                  try await writer.write(sse(chunk(nil, finish, NSNull())))
                  if includeUsage {
                    var usage = chunk(nil, nil, NSNull())
                    usage["choices"] = [Any]()
                    usage["usage"] = usageObject(result)
                    try await writer.write(sse(usage))
                  }
                  try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                }
              }
            } catch let e as SchedulerError {
              let api: APIError =
                e == .cancelledByShutdown ? .unavailable(e.description) : .server(e.description)
              try await writer.write(
                ByteBuffer(string: "data: " + String(decoding: api.json, as: UTF8.self) + "\n\n"))
            }
          } onInboundClosed: {
            submission.cancel()
          }
          try await writer.finish(nil)
        })
    }
    let (text, result, entries) = try await request.body.consumeWithInboundCloseHandler { _ in
      var text = ""
      var result: SlotResult?
      var entries: [TokenLogprob] = []
      do {
        for try await event in submission.events {
          switch event {
          case .text(let t): text += t
          case .logprobs(let l): entries += l
          case .finished(let r): result = r
          }
        }
      } catch let e as SchedulerError {
        throw e == .cancelledByShutdown ? APIError.unavailable(e.description) : APIError.server(e.description)
      }
      guard let result else { throw APIError.server("the generation ended without a result") }
      return (text, result, entries)
    } onInboundClosed: {
      submission.cancel()
    }
    var logprobs = LogprobsWriter(kind: kind, enabled: r.topLogprobs != nil)
    var choice: [String: Any] = [
      "index": 0, "finish_reason": result.finishReason.rawValue,
      "logprobs": logprobs.chunk(entries),
    ]
    switch kind {
    case .chat:
      if let tools {
        let parsed = ToolCalls.parse(text, format: tools.format, names: tools.names)
        var message: [String: Any] = ["role": "assistant", "content": parsed.content]
        if !parsed.calls.isEmpty {
          message["content"] = parsed.content.isEmpty ? NSNull() : parsed.content
          message["tool_calls"] = toolCallsJSON(parsed.calls, delta: false)
          choice["finish_reason"] = "tool_calls"
        }
        choice["message"] = message
      } else {
        choice["message"] = ["role": "assistant", "content": text]
      }
    case .completion: choice["text"] = text
    }
    var response = try json(
      [
        "id": id, "object": kind.object, "created": created, "model": modelName, "choices": [choice],
        "usage": usageObject(result),
      ] as [String: Any])
    response.headers[.connection] = "close"  // as for streams: the inbound side was consumed
    return response
  }

  private func tokenize(_ incoming: Request) async throws -> Response {
    var request = incoming
    let t = try decodeRequest(TokenizeRequest.self, from: try await body(&request))
    let ids = model.tokenizer.encode(
      t.content, addSpecial: t.add_special ?? false, parseSpecial: t.parse_special ?? true)
    guard t.with_pieces == true else { return try json(["tokens": ids.map(Int.init)] as [String: Any]) }
    let tokens: [[String: Any]] = ids.map { id in
      let bytes = model.tokenizer.piece(id, special: true)
      let piece: Any = String(validating: bytes, as: UTF8.self) ?? bytes.map(Int.init)
      return ["id": Int(id), "piece": piece]
    }
    return try json(["tokens": tokens] as [String: Any])
  }

  private func detokenize(_ incoming: Request) async throws -> Response {
    var request = incoming
    let d = try decodeRequest(DetokenizeRequest.self, from: try await body(&request))
    let vocab = model.tokenizer.vocabulary.tokens.count
    if let bad = d.tokens.first(where: { $0 < 0 || Int($0) >= vocab }) {
      throw APIError.invalidRequest("token \(bad) is outside the vocabulary (0..<\(vocab))")
    }
    return try json(["content": model.tokenizer.decode(d.tokens, special: true)] as [String: Any])
  }
}

private func usageObject(_ r: SlotResult) -> [String: Any] {
  [
    "prompt_tokens": r.promptTokens, "completion_tokens": r.completionTokens,
    "total_tokens": r.promptTokens + r.completionTokens,
    "prompt_tokens_details": ["cached_tokens": r.cachedTokens],
  ]
}

/// Log-probabilities in a response's shape: chat's `{"content": [{token, logprob, bytes,
/// top_logprobs}]}`, or the legacy completion's `{tokens, token_logprobs, top_logprobs,
/// text_offset}` (offsets in characters from the start of the completion, counted over the tokens'
/// texts and across the chunks of a stream).
struct LogprobsWriter {
  let kind: OpenAIServer.Kind
  let enabled: Bool
  /// Characters of the token texts before the next chunk's.
  private var offset = 0

  init(kind: OpenAIServer.Kind, enabled: Bool) {
    self.kind = kind
    self.enabled = enabled
  }

  /// The `logprobs` value of a chunk (or a whole response) made by `entries`; `NSNull` when
  /// log-probabilities were not asked for.
  mutating func chunk(_ entries: [TokenLogprob]) -> Any {
    guard enabled else { return NSNull() }
    switch kind {
    case .chat:
      return [
        "content": entries.map { e -> [String: Any] in
          var o = Self.entry(e.token)
          o["top_logprobs"] = e.top.map(Self.entry)
          return o
        },
        "refusal": NSNull(),
      ] as [String: Any]
    case .completion:
      var offsets: [Int] = []
      var at = offset
      for e in entries {
        offsets.append(at)
        at += Self.text(e.token.bytes).unicodeScalars.count
      }
      offset = at
      return [
        "tokens": entries.map { Self.text($0.token.bytes) },
        "token_logprobs": entries.map { Self.number($0.token.logprob) },
        "top_logprobs": entries.map { e -> [String: Any] in
          var o: [String: Any] = [:]
          // Two alternatives with the same text: the more likely one (listed first) is kept.
          for t in e.top where o[Self.text(t.bytes)] == nil { o[Self.text(t.bytes)] = Self.number(t.logprob) }
          return o
        },
        "text_offset": offsets,
      ] as [String: Any]
    }
  }

  static func entry(_ t: TokenProbability) -> [String: Any] {
    ["token": text(t.bytes), "logprob": number(t.logprob), "bytes": t.bytes.map(Int.init)]
  }

  /// A token's text: its bytes up to the first incomplete or invalid UTF-8 sequence (a token that
  /// is part of a character has its bytes in `bytes`), as llama-server writes it.
  static func text(_ bytes: [UInt8]) -> String {
    if let s = String(validating: bytes, as: UTF8.self) { return s }
    var n = bytes.count
    while n > 0 {
      n -= 1
      if let s = String(validating: bytes[..<n], as: UTF8.self) { return s }
    }
    return ""
  }

  /// JSON has no infinities: a token the model rules out (−∞) gets OpenAI's floor, −9999.
  static func number(_ x: Float) -> Double { x.isFinite ? Double(x) : -9999 }
}

private func sse(_ object: [String: Any]) throws -> ByteBuffer {
  let data = try JSONSerialization.data(withJSONObject: object)
  var b = ByteBuffer(string: "data: ")
  b.writeBytes(data)
  b.writeString("\n\n")
  return b
}

func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) throws -> Response {
  let data = try JSONSerialization.data(withJSONObject: object)
  return Response(
    status: status, headers: [.contentType: "application/json"],
    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

extension APIError {
  var response: Response {
    Response(
      status: .init(code: status), headers: [.contentType: "application/json"],
      body: .init(byteBuffer: ByteBuffer(bytes: json)))
  }
}

/// Every response goes through here: the API key, errors in OpenAI's shape (nothing escapes as a
/// bare 500), and the response counter.
struct APIMiddleware: RouterMiddleware {
  typealias Context = BasicRequestContext
  let server: OpenAIServer

  static let knownPaths: Set<String> = [
    "/health", "/metrics", "/v1/models", "/models", "/v1/chat/completions", "/chat/completions",
    "/v1/completions", "/completions", "/tokenize", "/detokenize",
  ]

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
    async throws -> Response
  {
    let path = request.uri.path
    var response: Response
    do {
      if let key = server.options.apiKey, path != "/health" {
        let bearer = request.headers[.authorization].flatMap { h -> String? in
          h.lowercased().hasPrefix("bearer ") ? String(h.dropFirst(7)) : nil
        }
        let given = bearer ?? request.headers.first { $0.name.canonicalName == "x-api-key" }?.value
        guard let given else { throw APIError.unauthorized("missing API key (Authorization: Bearer KEY)") }
        guard given == key else { throw APIError.unauthorized("invalid API key") }
      }
      response = try await next(request, context)
    } catch let e as APIError {
      response = e.response
    } catch let e as HTTPError {
      switch e.status {
      case .notFound:
        response = APIError.notFound("no endpoint \(request.method) \(path)").response
      case .methodNotAllowed:
        response =
          APIError(
            status: 405, type: "invalid_request_error",
            message: "method \(request.method) not allowed on \(path)"
          ).response
      case .contentTooLarge:
        response = APIError.tooLarge(limit: server.options.maxBodyBytes).response
      default:
        response =
          APIError(
            status: e.status.code, type: e.status.code < 500 ? "invalid_request_error" : "server_error",
            message: e.body ?? e.status.reasonPhrase
          ).response
      }
    } catch {
      server.logger.error("request \(request.method) \(path) failed: \(error)")
      response = APIError.server("\(error)").response
    }
    server.metrics.recordResponse(
      path: Self.knownPaths.contains(path) ? path : "other", status: response.status.code)
    return response
  }
}

/// On graceful shutdown: stops admitting requests, waits up to `timeout` for those in flight, then
/// cancels what is left. Runs before the HTTP server's own shutdown, which then finds every
/// response ended.
struct DrainService: Service {
  let scheduler: Scheduler
  let timeout: Duration
  let logger: Logger

  func run() async throws {
    do {
      try await gracefulShutdown()
    } catch {
      return  // cancelled: the group is going down without a graceful phase
    }
    scheduler.beginDrain()
    logger.info("shutting down: waiting up to \(timeout) for requests in flight")
    if await !scheduler.waitUntilIdle(timeout: timeout) {
      let s = scheduler.stats
      logger.info("shutting down: cancelling \(s.busySlots) running and \(s.queued) waiting requests")
      scheduler.cancelAll()
      _ = await scheduler.waitUntilIdle(timeout: .seconds(5))
    }
  }
}
