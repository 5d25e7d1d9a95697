import Foundation

/// How a model's chat prompt is written: the GGUF's own `tokenizer.chat_template` run by Quanta's
/// Jinja interpreter (`JinjaTemplate`, restricted and bounded as RELIABILITY.md A16 asks), or, for
/// a file without one, one of four built-in family formats (gemma, chatml, llama3, llama2).
///
///     let t = try ChatTemplate(jinja: source, bosToken: "<bos>", eosToken: "<eos>")
///     let text = try t.apply([.init(.user, "Hi")], addGenerationPrompt: true)
public struct ChatTemplate: Sendable, Equatable {
  public struct Message: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(_ role: Role, _ content: String) {
      self.role = role
      self.content = content
    }
  }

  public enum Kind: Sendable, Equatable {
    /// A built-in format.
    case family(Family)
    /// A Jinja program (the GGUF's template or a `--chat-template` file).
    case jinja(JinjaTemplate)
  }

  public let kind: Kind
  /// `bos_token` and `eos_token` as the program sees them (the vocabulary's texts).
  public let bosToken: String
  public let eosToken: String
  /// The family whose markers the program writes (`Family.detect`), if any: its end-of-turn text
  /// is a stop string, and its format is what the non-throwing `render` falls back to.
  public let markerFamily: Family?

  public init(_ family: Family) {
    kind = .family(family)
    bosToken = ""
    eosToken = ""
    markerFamily = family
  }

  /// Parses a Jinja chat template (a syntax error or a statement outside the subset throws
  /// `JinjaError` with the line and column).
  public init(jinja source: String, bosToken: String = "", eosToken: String = "") throws {
    kind = .jinja(try JinjaTemplate(source))
    self.bosToken = bosToken
    self.eosToken = eosToken
    markerFamily = Family.detect(template: source)
  }

  public static let gemma = ChatTemplate(.gemma)
  public static let chatml = ChatTemplate(.chatml)
  public static let llama3 = ChatTemplate(.llama3)
  public static let llama2 = ChatTemplate(.llama2)
  /// The built-in formats.
  public static var allCases: [ChatTemplate] { Family.allCases.map(ChatTemplate.init) }

  /// The family name, or "jinja" for a program.
  public var rawValue: String {
    switch kind {
    case .family(let f): return f.rawValue
    case .jinja: return "jinja"
    }
  }

  /// Whether this is a Jinja program (not a built-in format).
  public var isJinja: Bool {
    if case .jinja = kind { return true }
    return false
  }

  /// The family a template text names by its marker strings (see `Family.detect`).
  public static func detect(template: String) -> ChatTemplate? {
    Family.detect(template: template).map(ChatTemplate.init)
  }

  /// The usual format of an architecture, for GGUFs without a chat template.
  public static func fallback(architecture: String) -> ChatTemplate? {
    Family.fallback(architecture: architecture).map(ChatTemplate.init)
  }

  /// The prompt text for `messages`, as the template writes it (a program's `raise_exception`, or
  /// anything outside the interpreter's subset, throws `JinjaError`). With `addGenerationPrompt`
  /// it ends with the assistant's turn opened. Control tokens are written as text; tokenize with
  /// `parseSpecial: true`. A program may start with `bos_token`'s text (built-in formats never do).
  /// `tools` (a list of tool schemas) and `extra` (more variables, e.g. `enable_thinking`) are
  /// passed to a program; a built-in format ignores them.
  public func apply(
    _ messages: [Message], addGenerationPrompt: Bool = true, tools: JinjaValue? = nil,
    extra: JinjaObject = .init()
  ) throws -> String {
    let list = JinjaValue.array(
      messages.map {
        .object(JinjaObject([("role", .string($0.role.rawValue)), ("content", .string($0.content))]))
      })
    return try apply(messages: list, addGenerationPrompt: addGenerationPrompt, tools: tools, extra: extra)
  }

  /// `apply` with the messages as template values (content parts, tool calls, tool results: any
  /// shape the program reads).
  public func apply(
    messages: JinjaValue, addGenerationPrompt: Bool = true, tools: JinjaValue? = nil,
    extra: JinjaObject = .init(),
    limits: JinjaLimits = .init(), now: Date = Date()
  ) throws -> String {
    switch kind {
    case .family(let f):
      guard case .array(let items) = messages else { throw JinjaError(.type, "messages must be a list") }
      let plain = try items.map { item -> Message in
        guard case .object(let o) = item, case .string(let r)? = o["role"],
          let role = Message.Role(rawValue: r)
        else {
          throw JinjaError(.unsupported, "the \(f.rawValue) format takes system, user and assistant messages")
        }
        return Message(role, o["content"]?.pyStr ?? "")
      }
      return f.render(plain, addGenerationPrompt: addGenerationPrompt)
    case .jinja(let program):
      var context = JinjaObject([
        ("messages", messages), ("tools", tools ?? .none),
        ("add_generation_prompt", .bool(addGenerationPrompt)),
        ("bos_token", .string(bosToken)), ("eos_token", .string(eosToken)),
      ])
      for k in extra.keys { context[k] = extra[k] }
      return try program.render(context, limits: limits, now: now)
    }
  }

  /// `apply` that cannot fail: a program that throws (e.g. `raise_exception` on a conversation
  /// it refuses) gives the format of `markerFamily` (else ChatML) instead. Prefer `apply`, which
  /// reports the template's error.
  public func render(_ messages: [Message], addGenerationPrompt: Bool = true) -> String {
    if let text = try? apply(messages, addGenerationPrompt: addGenerationPrompt) { return text }
    return (markerFamily ?? .chatml).render(messages, addGenerationPrompt: addGenerationPrompt)
  }

  /// Text that ends an assistant turn (a stop string besides the EOS/EOT ids); empty for a program
  /// whose markers name no known family.
  public var endOfTurn: String { markerFamily?.endOfTurn ?? "" }

  /// Built-in formats: what a new user turn adds to the rendered `history` (see
  /// `Family.renderTurn`). A program: the difference of the two renders, or the whole render when
  /// the earlier one is not its prefix.
  public func renderTurn(_ user: Message, after history: [Message]) -> String {
    if case .family(let f) = kind { return f.renderTurn(user, after: history) }
    let whole = render(history + [user])
    let before = render(history, addGenerationPrompt: false)
    return whole.hasPrefix(before) ? String(whole.dropFirst(before.count)) : whole
  }

  /// Built-in formats only (empty for a program): see `Family.generationPrompt`.
  public var generationPrompt: String {
    if case .family(let f) = kind { return f.generationPrompt }
    return ""
  }

  /// Built-in formats only (empty for a program): see `Family.assistantClosing`.
  public var assistantClosing: String {
    if case .family(let f) = kind { return f.assistantClosing }
    return ""
  }
}

extension ChatTemplate {
  /// The built-in formats of the known model families, for GGUFs without a chat template (and
  /// to recognize which family a template's text writes, by marker strings).
  public enum Family: String, Sendable, CaseIterable {
    case gemma
    case chatml
    case llama3
    case llama2

    /// The family a template text belongs to, or nil when it matches none (the caller then falls
    /// back to the architecture's usual format or plain completion).
    public static func detect(template: String) -> Family? {
      if template.contains("<start_of_turn>") { return .gemma }
      if template.contains("<|im_start|>") { return .chatml }
      if template.contains("<|start_header_id|>") { return .llama3 }
      if template.contains("[INST]") { return .llama2 }
      return nil
    }

    /// The usual format of an architecture, for GGUFs without a chat template.
    public static func fallback(architecture: String) -> Family? {
      switch architecture {
      case "gemma", "gemma2", "gemma3": return .gemma
      case "qwen2", "qwen3": return .chatml
      default: return nil
      }
    }

    /// The prompt text for `messages`, ending with the assistant's turn opened when
    /// `addGenerationPrompt` is set. Control tokens are written as text; tokenize with
    /// `parseSpecial: true`. BOS is not included (the tokenizer adds it).
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true) -> String {
      var renderer = Renderer(self)
      var out = messages.map { renderer.append($0) }.joined()
      if addGenerationPrompt { out += generationPrompt }
      return out
    }

    /// The text that a new user turn adds to the rendered `history`: `render(history + [user])`
    /// minus `render(history, addGenerationPrompt: false)`, i.e. the user's turn and the opened
    /// assistant turn. `history` is rendered as closed (its last assistant turn ends with
    /// `assistantClosing`). Built by appending, so it is exactly that difference (ChatSession).
    public func renderTurn(_ user: Message, after history: [Message]) -> String {
      var renderer = Renderer(self)
      for m in history { _ = renderer.append(m) }
      return renderer.append(user) + generationPrompt
    }

    /// What opens the assistant's turn (the end of a prompt rendered with `addGenerationPrompt`).
    public var generationPrompt: String {
      switch self {
      case .gemma: return "<start_of_turn>model\n"
      case .chatml: return "<|im_start|>assistant\n"
      case .llama3: return "<|start_header_id|>assistant<|end_header_id|>\n\n"
      // Llama 2 has no assistant header: the reply follows "[/INST]".
      case .llama2: return ""
      }
    }

    /// What closes an assistant turn after its content. For gemma, chatml and llama3 an assistant
    /// message renders as `generationPrompt + content + assistantClosing`; llama 2 writes
    /// `" " + content + " </s>"` (the model generates the leading space itself).
    public var assistantClosing: String {
      switch self {
      case .gemma: return "<end_of_turn>\n"
      case .chatml: return "<|im_end|>\n"
      case .llama3: return "<|eot_id|>"
      case .llama2: return " </s>"
      }
    }

    /// Renders messages one at a time, carrying what a format keeps between them (Gemma's pending
    /// system text, Llama 2's first turn), so a conversation's prompt grows by appending only.
    struct Renderer {
      let format: Family
      private var pendingSystem: String?
      private var first = true

      init(_ format: Family) { self.format = format }

      mutating func append(_ m: Message) -> String {
        switch format {
        case .gemma:
          // Gemma has no system role: the system text is prefixed to the next user turn.
          switch m.role {
          case .system:
            pendingSystem = m.content
            return ""
          case .user:
            let text = pendingSystem.map { $0 + "\n\n" + m.content } ?? m.content
            pendingSystem = nil
            return "<start_of_turn>user\n\(text)<end_of_turn>\n"
          case .assistant: return format.generationPrompt + m.content + format.assistantClosing
          }
        case .chatml:
          return "<|im_start|>\(m.role.rawValue)\n\(m.content)<|im_end|>\n"
        case .llama3:
          return "<|start_header_id|>\(m.role.rawValue)<|end_header_id|>\n\n\(m.content)<|eot_id|>"
        case .llama2:
          switch m.role {
          case .system:
            pendingSystem = m.content
            return ""
          case .user:
            let sys = pendingSystem.map { "<<SYS>>\n\($0)\n<</SYS>>\n\n" } ?? ""
            pendingSystem = nil
            defer { first = false }
            return (first ? "" : "<s>") + "[INST] \(sys)\(m.content) [/INST]"
          case .assistant: return " \(m.content)" + format.assistantClosing
          }
        }
      }
    }

    /// Text that ends an assistant turn in this format (besides the EOS/EOT ids).
    public var endOfTurn: String {
      switch self {
      case .gemma: return "<end_of_turn>"
      case .chatml: return "<|im_end|>"
      case .llama3: return "<|eot_id|>"
      case .llama2: return "</s>"
      }
    }
  }
}
