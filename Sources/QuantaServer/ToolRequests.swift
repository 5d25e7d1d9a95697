import Foundation
import QuantaLM

/// A `tools[]` entry: `{"type": "function", "function": {"name", "description", "parameters"}}`.
struct ToolSpec: Decodable {
  var type: String
  var function: Function

  struct Function: Decodable {
    var name: String
    var description: String?
    var parameters: AnyJSON?
  }
}

/// `tool_choice`: `"none"`, `"auto"`, `"required"` or `{"type": "function", "function": {"name"}}`.
enum ToolChoice: Decodable, Equatable {
  case none, auto, required
  case function(String)

  private struct Named: Decodable {
    var type: String
    var function: Name
    struct Name: Decodable { var name: String }
  }

  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let s = try? c.decode(String.self) {
      switch s {
      case "none": self = .none
      case "auto": self = .auto
      case "required": self = .required
      default:
        throw DecodingError.dataCorruptedError(
          in: c, debugDescription: "expected none, auto, required or a named function, got '\(s)'")
      }
      return
    }
    let named = try c.decode(Named.self)
    guard named.type == "function" else {
      throw DecodingError.dataCorruptedError(
        in: c, debugDescription: "type must be 'function', got '\(named.type)'")
    }
    self = .function(named.function.name)
  }
}

/// An assistant message's `tool_calls[]` entry; `arguments` is JSON text (OpenAI's) or an object.
struct ToolCallField: Decodable {
  var id: String?
  var type: String?
  var function: Function

  struct Function: Decodable {
    var name: String
    var arguments: Arguments?
  }

  /// The arguments: JSON text (OpenAI's), or an object given inline (read again, in order, from
  /// the body).
  enum Arguments: Decodable {
    case text(String)
    case object

    init(from decoder: any Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let s = try? c.decode(String.self) {
        self = .text(s)
      } else {
        _ = try c.decode([String: AnyJSON].self)
        self = .object
      }
    }
  }
}

/// What a chat request's tools make of it: how the template hears of them, the grammar a
/// `required` or named `tool_choice` imposes, and how the reply is read.
struct ToolPlan {
  var format: ToolCallFormat
  var names: Set<String>
  /// The tools list for a template that reads `tools`; nil: the instructions go in a system
  /// message instead.
  var templateTools: JinjaValue?
  var instructions: String?
  /// GBNF that makes the reply exactly one call (`required` or a named function).
  var grammar: String?

  var templateReadsTools: Bool { templateTools != nil }

  /// Whether `template` is a program that reads `tools` (and so, presumably, tool calls and tool
  /// results in its messages).
  static func readsTools(_ template: ChatTemplate) -> Bool {
    if case .jinja(let program) = template.kind { return program.source.contains("tools") }
    return false
  }

  /// The plan for `chat` (nil: no tools, or `tool_choice: "none"`). The tools are read in order from
  /// `body` so that their schemas keep their member order.
  static func make(_ chat: ChatCompletionRequest, body: Data, template: ChatTemplate) throws(APIError)
    -> ToolPlan?
  {
    let tools = chat.tools ?? []
    let choice = chat.tool_choice ?? (tools.isEmpty ? ToolChoice.none : .auto)
    guard !tools.isEmpty else {
      if choice != .none && choice != .auto {
        throw .invalidRequest("'tool_choice' \(choice.label) needs a non-empty 'tools' list")
      }
      return nil
    }
    var names: [String] = []
    for (i, t) in tools.enumerated() {
      guard t.type == "function" else {
        throw .invalidRequest("'tools[\(i)].type' must be 'function', got '\(t.type)'")
      }
      let name = t.function.name
      guard (1...64).contains(name.utf8.count),
        name.unicodeScalars.allSatisfy({ Self.nameCharacters.contains($0) })
      else {
        throw .invalidRequest("'tools[\(i)].function.name' must match ^[a-zA-Z0-9_-]{1,64}$, got '\(name)'")
      }
      guard !names.contains(name) else { throw .invalidRequest("tool '\(name)' is given twice") }
      names.append(name)
    }
    if case .function(let name) = choice, !names.contains(name) {
      throw .invalidRequest("'tool_choice' names function '\(name)', which is not in 'tools'")
    }
    if choice == .none { return nil }

    let text = String(decoding: body, as: UTF8.self)
    guard let ordered = try? OrderedJSON(parsing: text), case .array(let orderedTools)? = ordered["tools"],
      case .object(let object)? = try? JinjaValue.parseJSON(text), let jinjaTools = object["tools"]
    else { throw .invalidRequest("the request body is not valid JSON") }

    var plan = ToolPlan(format: .generic, names: Set(names))
    if case .jinja(let program) = template.kind, readsTools(template) {
      plan.format = ToolCallFormat.detect(template: program.source)
      plan.templateTools = jinjaTools
    } else {
      plan.instructions = ToolCalls.genericInstructions(
        toolsJSON: OrderedJSON.array(orderedTools).compactText)
    }
    let wanted: [Int]
    switch choice {
    case .required: wanted = Array(names.indices)
    case .function(let name): wanted = names.indices.filter { names[$0] == name }
    case .none, .auto: wanted = []
    }
    if !wanted.isEmpty {
      let specs = wanted.map { i in
        ToolCalls.Tool(
          name: names[i],
          parameters: orderedTools[i]["function"]?["parameters"] ?? .object([("type", .string("object"))]))
      }
      do {
        plan.grammar = try ToolCalls.grammar(tools: specs, format: plan.format)
      } catch {
        throw .invalidRequest("'tools' parameters: \(error)")
      }
    }
    return plan
  }

  private init(format: ToolCallFormat, names: Set<String>) {
    self.format = format
    self.names = names
  }

  private static let nameCharacters = Set(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-".unicodeScalars)
}

extension ToolChoice {
  var label: String {
    switch self {
    case .none: return "none"
    case .auto: return "auto"
    case .required: return "required"
    case .function(let n): return "function '\(n)'"
    }
  }
}

/// The conversation as template values: tool calls and tool results for a template that reads
/// them; for one that does not, calls written as the generic format's JSON in the assistant's
/// text and results as user messages, with the tool instructions in the system message.
func templateMessages(_ messages: [ChatMessage], plan: ToolPlan?, toolAware: Bool, body: Data)
  throws(APIError)
  -> JinjaValue
{
  // Arguments given inline as objects: read in order from the body.
  let ordered = try? OrderedJSON(parsing: String(decoding: body, as: UTF8.self))
  var out: [JinjaValue] = []
  for (i, m) in messages.enumerated() {
    var o = JinjaObject()
    let role: String
    switch m.role {
    case "system", "developer": role = "system"
    case "user", "assistant", "tool": role = m.role
    default:
      throw .invalidRequest(
        "message role '\(m.role)' is not supported (system, developer, user, assistant, tool)")
    }
    var calls: [(id: String?, name: String, arguments: OrderedJSON)] = []
    for (k, c) in (m.tool_calls ?? []).enumerated() {
      guard role == "assistant" else {
        throw .invalidRequest("'messages[\(i)]': only assistant messages carry tool_calls")
      }
      if let type = c.type, type != "function" {
        throw .invalidRequest("'messages[\(i)].tool_calls[\(k)].type' must be 'function', got '\(type)'")
      }
      var arguments = OrderedJSON.object([])
      switch c.function.arguments {
      case .object:
        arguments =
          ordered?["messages"]?.element(i)?["tool_calls"]?.element(k)?["function"]?["arguments"]
          ?? .object([])
      case .text(let text) where !text.isEmpty:
        guard let parsed = try? OrderedJSON(parsing: text) else {
          throw .invalidRequest("'messages[\(i)].tool_calls[\(k)].function.arguments' is not JSON text")
        }
        arguments = parsed
      case .text, nil: break
      }
      calls.append((c.id, c.function.name, arguments))
    }
    if toolAware || (role != "tool" && calls.isEmpty) {
      o["role"] = .string(role)
      o["content"] = m.content.map { .string($0) } ?? (calls.isEmpty ? .string("") : .none)
      if !calls.isEmpty {
        o["tool_calls"] = .array(
          try calls.map { c throws(APIError) in
            var call = JinjaObject()
            if let id = c.id { call["id"] = .string(id) }
            call["type"] = .string("function")
            call["function"] = .object(
              JinjaObject([("name", .string(c.name)), ("arguments", try jinjaValue(c.arguments))]))
            return .object(call)
          })
      }
      if let id = m.tool_call_id { o["tool_call_id"] = .string(id) }
      if let name = m.name { o["name"] = .string(name) }
    } else if role == "tool" {
      var result: [(String, OrderedJSON)] = []
      if let id = m.tool_call_id { result.append(("tool_call_id", .string(id))) }
      if let name = m.name { result.append(("name", .string(name))) }
      result.append(("content", .string(m.content ?? "")))
      o["role"] = .string("user")
      o["content"] = .string(OrderedJSON.object([("tool_response", .object(result))]).compactText)
    } else {
      let json = calls.map { c in
        OrderedJSON.object([("tool_call", .object([("name", .string(c.name)), ("arguments", c.arguments)]))])
          .compactText
      }
      o["role"] = .string(role)
      o["content"] = .string(([m.content ?? ""].filter { !$0.isEmpty } + json).joined(separator: "\n"))
    }
    out.append(.object(o))
  }
  if let instructions = plan?.instructions {
    if case .object(var first)? = out.first, first["role"] == .string("system") {
      var text = ""
      if case .string(let s)? = first["content"] { text = s + "\n\n" }
      first["content"] = .string(text + instructions)
      out[0] = .object(first)
    } else {
      out.insert(
        .object(JinjaObject([("role", .string("system")), ("content", .string(instructions))])), at: 0)
    }
  }
  return .array(out)
}

private func jinjaValue(_ v: OrderedJSON) throws(APIError) -> JinjaValue {
  do {
    return try JinjaValue.parseJSON(v.compactText)
  } catch {
    throw .invalidRequest("tool call arguments: \(error)")
  }
}

extension OrderedJSON {
  fileprivate func element(_ i: Int) -> OrderedJSON? {
    guard case .array(let a) = self, a.indices.contains(i) else { return nil }
    return a[i]
  }
}

/// A tool call's id: OpenAI's `call_` and 24 letters and digits.
func newToolCallID() -> String {
  let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
  return "call_" + String((0..<24).map { _ in alphabet.randomElement()! })
}

/// The `tool_calls` array of a message or a delta.
func toolCallsJSON(_ calls: [ToolCall], delta: Bool) -> [[String: Any]] {
  calls.enumerated().map { i, c in
    var o: [String: Any] = [
      "id": c.id ?? newToolCallID(), "type": "function",
      "function": ["name": c.name, "arguments": c.arguments],
    ]
    if delta { o["index"] = i }
    return o
  }
}

/// How much of a streamed reply can be sent as text while a tool call may still be coming: the
/// text before the first call marker (`<tool_call>`, `[TOOL_CALLS]`, `<|python_tag|>`), less a
/// tail that could be the start of one; nothing when the reply starts (after spaces) with `{` or
/// `[` (a JSON call, or a generic-format reply).
func streamableToolText(_ text: String) -> String.Index {
  let markers = ["<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"]
  guard let first = text.firstIndex(where: { !$0.isWhitespace }) else { return text.startIndex }
  if text[first] == "{" || text[first] == "[" { return text.startIndex }
  var end = text.endIndex
  for m in markers {
    if let r = text.range(of: m), r.lowerBound < end { end = r.lowerBound }
  }
  if end != text.endIndex { return end }
  // A tail that a marker starts with.
  for m in markers {
    for n in stride(from: min(m.count - 1, text.count), through: 1, by: -1) {
      let tail = text.index(text.endIndex, offsetBy: -n)
      if text[tail...] == m.prefix(n), tail < end {
        end = tail
        break
      }
    }
  }
  return end
}
