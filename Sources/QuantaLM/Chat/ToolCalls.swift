import Foundation

/// A function call a model wrote in its reply.
public struct ToolCall: Sendable, Equatable {
  /// The function's name.
  public var name: String
  /// The arguments as compact JSON text (an object), as OpenAI's `function.arguments` carries them.
  public var arguments: String
  /// The call's id when the model wrote one (Mistral's format does), else nil.
  public var id: String?

  public init(name: String, arguments: String, id: String? = nil) {
    self.name = name
    self.arguments = arguments
    self.id = id
  }
}

/// How a model writes tool calls: the formats llama.cpp's chat parser reads.
public enum ToolCallFormat: String, Sendable, CaseIterable {
  /// Hermes 2 Pro, Qwen 2.5 / 3: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, one
  /// block per call, text may come before.
  case hermes
  /// Llama 3.x: the reply is `{"name": …, "parameters": {…}}` (`arguments` accepted too),
  /// optionally after `<|python_tag|>`.
  case llama3
  /// Mistral Nemo / Small: `[TOOL_CALLS][{"name": …, "arguments": {…}, "id": …}, …]`.
  case mistral
  /// Any other template (llama.cpp's generic format): the reply is a JSON object,
  /// `{"tool_call": {"name": …, "arguments": {…}}}`, `{"tool_calls": [ … ]}` or
  /// `{"response": "text"}`.
  case generic

  /// The format a chat template's text writes tool calls in, by its markers; `generic` when it
  /// names none (or does not read `tools` at all).
  public static func detect(template: String) -> ToolCallFormat {
    if template.contains("<tool_call>") { return .hermes }
    if template.contains("[TOOL_CALLS]") { return .mistral }
    if template.contains("<|python_tag|>") || template.contains("<|start_header_id|>ipython") {
      return .llama3
    }
    if template.contains("<|start_header_id|>") && template.contains("\"parameters\"") { return .llama3 }
    return .generic
  }

  /// The key a call object holds its arguments under, in this format's grammar.
  var argumentsKey: String { self == .llama3 ? "parameters" : "arguments" }
}

/// A reply split into its text and its tool calls.
public struct ParsedReply: Sendable, Equatable {
  /// The text outside the calls (trimmed); the whole reply when it has no call.
  public var content: String
  public var calls: [ToolCall]
}

/// Reads tool calls out of a model's reply, and writes the grammar that makes a reply one call.
public enum ToolCalls {
  /// Splits `text` into content and calls. `format`'s own syntax is tried first, then the others
  /// (a model does not always use its template's); a call whose name is not in `names` (when
  /// given), or whose arguments are not a JSON object, makes the text plain content.
  public static func parse(_ text: String, format: ToolCallFormat, names: Set<String>? = nil) -> ParsedReply {
    let order = [format] + ToolCallFormat.allCases.filter { $0 != format }
    for f in order {
      if let r = parse(text, as: f, names: names), !r.calls.isEmpty { return r }
    }
    // `{"response": "…"}` (the generic format's plain answer): its text.
    if format == .generic, case .object(let members)? = try? OrderedJSON(parsing: trimmed(text)),
      members.count == 1, members[0].0 == "response", case .string(let s) = members[0].1
    {
      return ParsedReply(content: s, calls: [])
    }
    return ParsedReply(content: text, calls: [])
  }

  private static func parse(_ text: String, as format: ToolCallFormat, names: Set<String>?) -> ParsedReply? {
    switch format {
    case .hermes:
      var content = ""
      var calls: [ToolCall] = []
      var rest = Substring(text)
      while let open = rest.range(of: "<tool_call>") {
        content += rest[..<open.lowerBound]
        let after = rest[open.upperBound...]
        // The closing tag may be missing when generation stopped right after the object.
        let close = after.range(of: "</tool_call>")
        let inner = close.map { after[..<$0.lowerBound] } ?? after
        guard let call = call(String(inner), names: names) else { return nil }
        calls.append(call)
        rest = close.map { after[$0.upperBound...] } ?? ""
      }
      content += rest
      return ParsedReply(content: trimmed(content), calls: calls)
    case .mistral:
      let t = trimmed(text)
      guard let marker = t.range(of: "[TOOL_CALLS]") else {
        return t.hasPrefix("[") ? list(t, content: "", names: names) : nil
      }
      return list(
        String(t[marker.upperBound...]), content: trimmed(String(t[..<marker.lowerBound])), names: names)
    case .llama3:
      var t = trimmed(text)
      if t.hasPrefix("<|python_tag|>") { t = trimmed(String(t.dropFirst("<|python_tag|>".count))) }
      guard t.hasPrefix("{") else { return nil }
      return call(t, names: names).map { ParsedReply(content: "", calls: [$0]) }
    case .generic:
      let t = trimmed(text)
      guard t.hasPrefix("{") || t.hasPrefix("["), let value = try? OrderedJSON(parsing: t) else { return nil }
      if let one = value["tool_call"] {
        return call(one, names: names).map { ParsedReply(content: "", calls: [$0]) }
      }
      if case .array(let items)? = value["tool_calls"] { return list(items, content: "", names: names) }
      if case .array(let items) = value { return list(items, content: "", names: names) }
      return call(value, names: names).map { ParsedReply(content: "", calls: [$0]) }
    }
  }

  private static func list(_ text: String, content: String, names: Set<String>?) -> ParsedReply? {
    guard case .array(let items)? = try? OrderedJSON(parsing: trimmed(text)) else { return nil }
    return list(items, content: content, names: names)
  }

  private static func list(_ items: [OrderedJSON], content: String, names: Set<String>?) -> ParsedReply? {
    var calls: [ToolCall] = []
    for item in items {
      guard let c = call(item, names: names) else { return nil }
      calls.append(c)
    }
    return calls.isEmpty ? nil : ParsedReply(content: content, calls: calls)
  }

  private static func call(_ text: String, names: Set<String>?) -> ToolCall? {
    (try? OrderedJSON(parsing: trimmed(text))).flatMap { call($0, names: names) }
  }

  /// `{"name": …, "arguments" | "parameters": {…}}`, or OpenAI's own
  /// `{"type": "function", "function": {…}}`; arguments given as JSON text are read too.
  private static func call(_ value: OrderedJSON, names: Set<String>?) -> ToolCall? {
    if let f = value["function"], case .object = f { return call(f, names: names) }
    guard case .string(let name)? = value["name"], !name.isEmpty else { return nil }
    if let names, !names.contains(name) { return nil }
    var arguments = value["arguments"] ?? value["parameters"] ?? .object([])
    if case .string(let s) = arguments, let parsed = try? OrderedJSON(parsing: s) { arguments = parsed }
    guard case .object = arguments else { return nil }
    var id: String? = nil
    if case .string(let s)? = value["id"] { id = s }
    return ToolCall(name: name, arguments: arguments.compactText, id: id)
  }

  private static func trimmed(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines) }

  /// A tool the model may call: its name and the JSON schema of its arguments.
  public struct Tool: Sendable, Equatable {
    public var name: String
    public var parameters: OrderedJSON
    public init(name: String, parameters: OrderedJSON) {
      self.name = name
      self.parameters = parameters
    }
  }

  /// GBNF for a reply that is exactly one call of one of `tools`, in `format`'s syntax (Mistral's
  /// `[TOOL_CALLS]` is a control token a grammar cannot write: its grammar is the bare list, which
  /// `parse` reads too). An argument schema the converter refuses throws `JSONSchemaError`.
  public static func grammar(tools: [Tool], format: ToolCallFormat) throws(JSONSchemaError) -> String {
    let calls: [OrderedJSON] = tools.map { t in
      .object([
        ("type", .string("object")),
        (
          "properties",
          .object([("name", .object([("const", .string(t.name))])), (format.argumentsKey, t.parameters)])
        ),
        ("required", .array([.string("name"), .string(format.argumentsKey)])),
      ])
    }
    let one: OrderedJSON = calls.count == 1 ? calls[0] : .object([("anyOf", .array(calls))])
    switch format {
    case .llama3:
      return try JSONSchemaGrammar.gbnf(schema: one)
    case .generic:
      return try JSONSchemaGrammar.gbnf(
        schema: .object([
          ("type", .string("object")), ("properties", .object([("tool_call", one)])),
          ("required", .array([.string("tool_call")])),
        ]))
    case .mistral:
      return try JSONSchemaGrammar.gbnf(
        schema: .object([
          ("type", .string("array")), ("items", one), ("minItems", .number("1", 1)),
          ("maxItems", .number("1", 1)),
        ]))
    case .hermes:
      // The call object's grammar under another root, wrapped in the tags.
      let inner = try JSONSchemaGrammar.gbnf(schema: one)
      var name = "tool-call-object"
      while inner.contains("\n\(name) ::=") || inner.hasPrefix("\(name) ::=") { name += "-x" }
      let lines = inner.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        line.hasPrefix("root ::= ") ? name + " ::= " + line.dropFirst("root ::= ".count) : String(line)
      }
      return (lines + ["root ::= \"<tool_call>\\n\" \(name) \"\\n</tool_call>\""]).joined(separator: "\n")
    }
  }

  /// The system-prompt text that tells a model whose template does not read `tools` which tools
  /// it has and how to call one (the generic format), as llama.cpp's generic handler does.
  /// `toolsJSON` is the request's `tools` list as JSON text.
  public static func genericInstructions(toolsJSON: String) -> String {
    """
    Tools: \(toolsJSON)
    To call one, reply only with {"tool_call": {"name": NAME, "arguments": {…}}}; else reply with {"response": TEXT}.
    """
  }
}

extension OrderedJSON {
  /// Compact JSON text (no spaces, members in order, numbers as written, non-ASCII kept).
  public var compactText: String {
    var out = ""
    write(into: &out)
    return out
  }

  private func write(into out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .number(let text, _): out += text
    case .string(let s): JinjaRenderer.jsonString(s, ascii: false, into: &out)
    case .array(let a):
      out += "["
      for (i, x) in a.enumerated() {
        if i > 0 { out += "," }
        x.write(into: &out)
      }
      out += "]"
    case .object(let m):
      out += "{"
      for (i, (k, v)) in m.enumerated() {
        if i > 0 { out += "," }
        JinjaRenderer.jsonString(k, ascii: false, into: &out)
        out += ":"
        v.write(into: &out)
      }
      out += "}"
    }
  }
}
