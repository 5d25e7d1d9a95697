import Foundation
import QuantaLM

/// An error as the OpenAI API (and llama-server) sends it: `{"error": {"message", "type", "code"}}`
/// with `code` the HTTP status.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
  public var status: Int
  public var type: String
  public var message: String

  public init(status: Int, type: String, message: String) {
    self.status = status
    self.type = type
    self.message = message
  }

  public static func invalidRequest(_ message: String) -> APIError {
    APIError(status: 400, type: "invalid_request_error", message: message)
  }
  public static func unauthorized(_ message: String) -> APIError {
    APIError(status: 401, type: "authentication_error", message: message)
  }
  public static func notFound(_ message: String) -> APIError {
    APIError(status: 404, type: "not_found_error", message: message)
  }
  public static func tooLarge(limit: Int) -> APIError {
    APIError(
      status: 413, type: "invalid_request_error", message: "the request body is larger than \(limit) bytes")
  }
  public static func unavailable(_ message: String) -> APIError {
    APIError(status: 503, type: "unavailable_error", message: message)
  }
  public static func server(_ message: String) -> APIError {
    APIError(status: 500, type: "server_error", message: message)
  }

  public var description: String { "\(status) \(type): \(message)" }

  struct Body: Encodable {
    struct Inner: Encodable {
      var message: String
      var type: String
      var code: Int
    }
    var error: Inner
  }

  /// The JSON body.
  public var json: Data {
    // Encoding three plain fields cannot fail.
    (try? JSONEncoder().encode(Body(error: .init(message: message, type: type, code: status)))) ?? Data()
  }
}

/// `stop`: a string or an array of strings.
struct StopField: Decodable {
  var values: [String]
  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() {
      values = []
    } else if let s = try? c.decode(String.self) {
      values = [s]
    } else {
      values = try c.decode([String].self)
    }
  }
}

/// An integer field that refuses fractions by name (JSONDecoder reports `1.5` for an `Int` without
/// the field's path).
struct IntegerField: Decodable {
  var value: Int
  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    let d = try c.decode(Double.self)
    guard d.rounded() == d, abs(d) < 1e15 else {
      throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected an integer, got \(d)")
    }
    value = Int(d)
  }
}

/// The sampling fields both completion endpoints take (OpenAI's, plus llama-server's `top_k`,
/// `min_p`, `repeat_penalty`, `n_predict`, `ignore_eos`).
struct SamplingFields: Decodable {
  var temperature: Double?
  var top_p: Double?
  var top_k: IntegerField?
  var min_p: Double?
  var max_tokens: IntegerField?
  var max_completion_tokens: IntegerField?
  var n_predict: IntegerField?
  var stop: StopField?
  var seed: IntegerField?
  var presence_penalty: Double?
  var frequency_penalty: Double?
  var repeat_penalty: Double?
  var ignore_eos: Bool?
  /// OpenAI's: token id (as a string key) → bias in −100...100 added to its logit; −100 bans it.
  var logit_bias: [String: Double]?
  var n: IntegerField?
  var stream: Bool?
  var stream_options: StreamOptions?
  var model: String?
  /// OpenAI's `{"type": "text" | "json_object" | "json_schema", "json_schema": {"schema": …}}`
  /// (llama-server also takes `schema` beside `json_object`).
  var response_format: ResponseFormat?
  /// llama-server's: a GBNF grammar, or a JSON schema.
  var grammar: String?
  var json_schema: AnyJSON?
  /// The request body, in order: schemas are read from it so that their properties keep their
  /// order (the order the grammar writes them in). Set by `decodeRequest`.
  var body: Data?

  struct StreamOptions: Decodable {
    var include_usage: Bool?
  }

  struct ResponseFormat: Decodable {
    var type: String
    var json_schema: JSONSchemaField?
    var schema: AnyJSON?
  }

  struct JSONSchemaField: Decodable {
    var schema: AnyJSON?
  }

  enum CodingKeys: String, CodingKey {
    case temperature, top_p, top_k, min_p, max_tokens, max_completion_tokens, n_predict, stop, seed,
      presence_penalty, frequency_penalty, repeat_penalty, ignore_eos, logit_bias, n, stream, stream_options,
      model, response_format, grammar, json_schema
  }

  /// The grammar the request asks for (`grammar`, `json_schema`, `response_format`), as GBNF.
  func grammarText() throws(APIError) -> String? {
    var schemaPath: [String]? = nil
    var anyObject = false
    if json_schema != nil { schemaPath = ["json_schema"] }
    if let f = response_format {
      switch f.type {
      case "text": break
      case "json_object":
        if f.schema != nil { schemaPath = ["response_format", "schema"] } else { anyObject = true }
      case "json_schema":
        guard f.json_schema?.schema != nil else {
          throw .invalidRequest("'response_format' of type json_schema needs 'json_schema.schema'")
        }
        schemaPath = ["response_format", "json_schema", "schema"]
      default:
        throw .invalidRequest(
          "'response_format.type' must be text, json_object or json_schema, got '\(f.type)'")
      }
    }
    let constraints = [grammar != nil, schemaPath != nil || anyObject].filter { $0 }.count
    guard constraints <= 1, !(json_schema != nil && response_format.map { $0.type != "text" } == true) else {
      throw .invalidRequest("give one of 'grammar', 'json_schema' and 'response_format', not several")
    }
    if let grammar { return grammar }
    if anyObject { return JSONSchemaGrammar.anyObject }
    guard let schemaPath else { return nil }
    // The schema as written (member order kept), from the body.
    guard let body, var schema = try? OrderedJSON(parsing: String(decoding: body, as: UTF8.self)) else {
      throw .invalidRequest("the request body is not valid JSON")
    }
    for key in schemaPath {
      guard let next = schema[key] else {
        throw .invalidRequest("missing field '\(schemaPath.joined(separator: "."))'")
      }
      schema = next
    }
    do {
      return try JSONSchemaGrammar.gbnf(schema: schema)
    } catch {
      throw .invalidRequest("'\(schemaPath.joined(separator: "."))': \(error)")
    }
  }

  /// The scheduler's settings, validated: llama-server's defaults where a field is absent.
  func resolve(
    prompt: [Int32], model: LanguageModel, extraStops: [String] = [], topLogprobs: Int? = nil,
    toolGrammar: String? = nil
  ) throws(APIError) -> SlotRequest {
    let n = self.n?.value
    let top_k = self.top_k?.value
    let seed = self.seed?.value
    let max_completion_tokens = self.max_completion_tokens?.value
    let max_tokens = self.max_tokens?.value
    let n_predict = self.n_predict?.value
    if let n, n != 1 { throw .invalidRequest("'n' must be 1 (only one choice is generated), got \(n)") }
    var o = SamplingOptions()
    func finite(_ name: String, _ v: Double?, _ range: ClosedRange<Double>) throws(APIError) -> Float? {
      guard let v else { return nil }
      guard v.isFinite, range.contains(v) else {
        throw .invalidRequest(
          "'\(name)' must be a number in \(range.lowerBound)...\(range.upperBound), got \(v)")
      }
      return Float(v)
    }
    if let t = try finite("temperature", temperature, 0...100) { o.temperature = t }
    if let p = try finite("top_p", top_p, 0...1) { o.topP = p }
    if let p = try finite("min_p", min_p, 0...1) { o.minP = p }
    if let p = try finite("presence_penalty", presence_penalty, -2...2) { o.presencePenalty = p }
    if let p = try finite("frequency_penalty", frequency_penalty, -2...2) { o.frequencyPenalty = p }
    if let p = try finite("repeat_penalty", repeat_penalty, 0...100) { o.repeatPenalty = p }
    if let k = top_k {
      guard k >= 0 else { throw .invalidRequest("'top_k' must be ≥ 0, got \(k)") }
      o.topK = k
    }
    // OpenAI's seed; absent or negative: a random one (llama-server's −1).
    o.seed =
      seed.flatMap { $0 >= 0 ? UInt64(truncatingIfNeeded: $0) : nil }
      ?? UInt64.random(in: 0..<UInt64(UInt32.max))
    // max_completion_tokens is the newer name; n_predict is llama-server's; −1 means no limit.
    var limit: Int?
    for (name, value) in [
      ("max_completion_tokens", max_completion_tokens), ("max_tokens", max_tokens), ("n_predict", n_predict),
    ] {
      guard let value, limit == nil else { continue }
      guard value >= 1 || value == -1 else {
        throw .invalidRequest("'\(name)' must be at least 1 (or -1 for no limit), got \(value)")
      }
      limit = value == -1 ? nil : value
    }
    for (key, bias) in logit_bias ?? [:] {
      guard let id = Int32(key), id >= 0, Int(id) < model.config.vocabularySize else {
        throw .invalidRequest("'logit_bias' key '\(key)' is not a token id of the vocabulary")
      }
      guard bias.isFinite, (-100...100).contains(bias) else {
        throw .invalidRequest("'logit_bias' values must be in -100...100, got \(bias)")
      }
      // OpenAI: -100 bans the token, 100 makes it all but certain.
      o.logitBias[id] = bias <= -100 ? -.infinity : Float(bias)
    }
    // llama-server's extension: end-of-generation ids are never sampled.
    if ignore_eos == true { for t in model.endOfGenerationTokens { o.logitBias[t] = -.infinity } }
    var stops = stop?.values ?? []
    guard stops.count <= 16 else {
      throw .invalidRequest("'stop' takes at most 16 strings, got \(stops.count)")
    }
    stops.removeAll { $0.isEmpty }
    for s in extraStops where !s.isEmpty && !stops.contains(s) { stops.append(s) }
    guard !prompt.isEmpty else { throw .invalidRequest("the prompt is empty") }
    guard prompt.count <= model.contextLength else {
      throw .invalidRequest(
        "the prompt has \(prompt.count) tokens but the context holds \(model.contextLength) "
          + "(start the server with a larger -c)")
    }
    if let text = try grammarText() {
      guard toolGrammar == nil else {
        throw .invalidRequest(
          "'tool_choice' required or a named function constrains the reply: give no 'grammar', 'json_schema' or 'response_format' with it"
        )
      }
      do {
        o.grammar = try GrammarConstraint(gbnf: text, model: model)
      } catch {
        throw .invalidRequest("\(grammar != nil ? "'grammar'" : "the JSON schema's grammar"): \(error)")
      }
    } else if let toolGrammar {
      do {
        o.grammar = try GrammarConstraint(gbnf: toolGrammar, model: model)
      } catch {
        throw .server("the tool call grammar did not compile: \(error)")
      }
    }
    return SlotRequest(
      promptTokens: prompt, maxTokens: limit, sampling: o, stopStrings: stops, topLogprobs: topLogprobs)
  }
}

/// Any JSON value (a schema's type is checked when it is read from the body, in order).
struct AnyJSON: Decodable {
  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() || (try? c.decode(Bool.self)) != nil || (try? c.decode(Double.self)) != nil
      || (try? c.decode(String.self)) != nil || (try? c.decode([AnyJSON].self)) != nil
      || (try? c.decode([String: AnyJSON].self)) != nil
    {
      return
    }
    throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a JSON value")
  }
}

/// A request whose sampling fields read their schema from the body.
protocol SamplingRequest {
  var sampling: SamplingFields { get set }
}

/// `POST /v1/chat/completions`.
struct ChatCompletionRequest: Decodable, SamplingRequest {
  var messages: [ChatMessage]
  var sampling: SamplingFields
  var logprobs: Bool?
  var top_logprobs: IntegerField?
  var tools: [ToolSpec]?
  var tool_choice: ToolChoice?
  var parallel_tool_calls: Bool?

  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: Keys.self)
    messages = try c.decode([ChatMessage].self, forKey: .messages)
    logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
    top_logprobs = try c.decodeIfPresent(IntegerField.self, forKey: .top_logprobs)
    tools = try c.decodeIfPresent([ToolSpec].self, forKey: .tools)
    tool_choice = try c.decodeIfPresent(ToolChoice.self, forKey: .tool_choice)
    parallel_tool_calls = try c.decodeIfPresent(Bool.self, forKey: .parallel_tool_calls)
    sampling = try SamplingFields(from: decoder)
  }
  enum Keys: String, CodingKey {
    case messages, logprobs, top_logprobs, tools, tool_choice, parallel_tool_calls
  }

  /// Whether any message carries tool calls or is a tool result.
  var hasToolMessages: Bool { messages.contains { $0.role == "tool" || !($0.tool_calls ?? []).isEmpty } }

  /// OpenAI's `logprobs: true` with `top_logprobs` 0…20 (0 when absent); nil: no log-probabilities.
  func topLogprobs() throws(APIError) -> Int? {
    let top = top_logprobs?.value
    guard logprobs == true else {
      if top != nil { throw .invalidRequest("'top_logprobs' needs 'logprobs': true") }
      return nil
    }
    return try checkedLogprobCount(top ?? 0, field: "top_logprobs")
  }
}

/// Most alternatives per token the log-probability fields take (OpenAI's limit).
let maxTopLogprobs = 20

func checkedLogprobCount(_ n: Int, field: String) throws(APIError) -> Int {
  guard (0...maxTopLogprobs).contains(n) else {
    throw .invalidRequest("'\(field)' must be an integer in 0...\(maxTopLogprobs), got \(n)")
  }
  return n
}

struct ChatMessage: Decodable {
  var role: String
  /// nil when absent or null (an assistant message that only calls tools).
  var content: String?
  var tool_calls: [ToolCallField]?
  var tool_call_id: String?
  var name: String?

  enum Keys: String, CodingKey { case role, content, tool_calls, tool_call_id, name }
  struct Part: Decodable {
    var type: String
    var text: String?
  }

  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: Keys.self)
    role = try c.decode(String.self, forKey: .role)
    tool_calls = try c.decodeIfPresent([ToolCallField].self, forKey: .tool_calls)
    tool_call_id = try c.decodeIfPresent(String.self, forKey: .tool_call_id)
    name = try c.decodeIfPresent(String.self, forKey: .name)
    if try !c.contains(.content) || c.decodeNil(forKey: .content) {
      content = nil
    } else if let s = try? c.decode(String.self, forKey: .content) {
      content = s
    } else {
      // Content parts: only text parts can be given to a text model.
      let parts = try c.decode([Part].self, forKey: .content)
      var text = ""
      for p in parts {
        guard p.type == "text", let t = p.text else {
          throw DecodingError.dataCorruptedError(
            forKey: .content, in: c,
            debugDescription: "content part of type '\(p.type)' is not supported (text only)")
        }
        text += t
      }
      content = text
    }
  }

  /// The template's message; OpenAI's `developer` role is a system message.
  func templateMessage() throws(APIError) -> ChatTemplate.Message {
    let content = self.content ?? ""
    switch role {
    case "system", "developer": return .init(.system, content)
    case "user": return .init(.user, content)
    case "assistant": return .init(.assistant, content)
    default:
      throw .invalidRequest(
        "message role '\(role)' is not supported (system, developer, user, assistant; tool with 'tools')")
    }
  }
}

/// `POST /v1/completions`: `prompt` is a string, an array of one string, or an array of token ids.
struct CompletionRequest: Decodable, SamplingRequest {
  enum Prompt {
    case text(String)
    case tokens([Int32])
  }
  var prompt: Prompt
  var sampling: SamplingFields
  /// The legacy API's `logprobs: N`: log-probabilities with N alternatives per token.
  var logprobs: IntegerField?

  enum Keys: String, CodingKey { case prompt, logprobs }

  /// `logprobs` checked (0…20); nil: none asked.
  func topLogprobs() throws(APIError) -> Int? {
    guard let n = logprobs?.value else { return nil }
    return try checkedLogprobCount(n, field: "logprobs")
  }

  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: Keys.self)
    if let s = try? c.decode(String.self, forKey: .prompt) {
      prompt = .text(s)
    } else if let ids = try? c.decode([Int32].self, forKey: .prompt) {
      prompt = .tokens(ids)
    } else if let list = try? c.decode([String].self, forKey: .prompt) {
      guard list.count == 1 else {
        throw DecodingError.dataCorruptedError(
          forKey: .prompt, in: c,
          debugDescription: "only one prompt per request is supported, got \(list.count)")
      }
      prompt = .text(list[0])
    } else {
      throw DecodingError.dataCorruptedError(
        forKey: .prompt, in: c, debugDescription: "expected a string, an array of one string or of token ids")
    }
    logprobs = try c.decodeIfPresent(IntegerField.self, forKey: .logprobs)
    sampling = try SamplingFields(from: decoder)
  }
}

/// `POST /tokenize` (llama-server's): `content`, `add_special` (false), `parse_special` (true),
/// `with_pieces` (false).
struct TokenizeRequest: Decodable {
  var content: String
  var add_special: Bool?
  var parse_special: Bool?
  var with_pieces: Bool?
}

/// `POST /detokenize`: `tokens`.
struct DetokenizeRequest: Decodable {
  var tokens: [Int32]
}

/// Decodes a request body; every failure is a 400 naming the field.
func decodeRequest<T: Decodable>(_ type: T.Type, from data: Data) throws(APIError) -> T {
  do {
    let value = try JSONDecoder().decode(T.self, from: data)
    if var r = value as? any SamplingRequest {
      r.sampling.body = data
      // The same type: `r` is `value` with its body set.
      return r as! T
    }
    return value
  } catch let error as DecodingError {
    throw .invalidRequest(describe(error))
  } catch {
    throw .invalidRequest("invalid JSON: \(error)")
  }
}

private func describe(_ error: DecodingError) -> String {
  func path(_ c: DecodingError.Context) -> String {
    c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
      .trimmingCharacters(in: CharacterSet(charactersIn: "."))
  }
  switch error {
  case .keyNotFound(let key, let c):
    let parent = path(c)
    return "missing field '\(parent.isEmpty ? "" : parent + ".")\(key.stringValue)'"
  case .typeMismatch(let t, let c):
    return "invalid field '\(path(c))': expected \(describe(t))"
  case .valueNotFound(let t, let c):
    return "invalid field '\(path(c))': expected \(describe(t)), got null"
  case .dataCorrupted(let c):
    if c.codingPath.isEmpty { return "the body is not valid JSON" }
    return "invalid field '\(path(c))': \(c.debugDescription)"
  @unknown default:
    return "invalid request"
  }
}

private func describe(_ t: Any.Type) -> String {
  switch t {
  case is String.Type: return "a string"
  case is Bool.Type: return "a boolean"
  case is Int.Type, is Int32.Type, is Int64.Type: return "an integer"
  case is Double.Type, is Float.Type: return "a number"
  default:
    let name = "\(t)"
    if name.hasPrefix("Array") { return "an array" }
    if name.hasPrefix("Dictionary") { return "an object" }
    return "an object"
  }
}
