/// Chat prompt formats of the known model families. A GGUF's `tokenizer.chat_template` is a Jinja
/// program; Quanta never evaluates it (RELIABILITY.md A16) — it only recognizes which family's
/// format the template writes, by marker strings, and renders that format itself.
public enum ChatTemplate: String, Sendable, CaseIterable {
  case gemma
  case chatml
  case llama3
  case llama2

  public struct Message: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(_ role: Role, _ content: String) {
      self.role = role
      self.content = content
    }
  }

  /// The family a template text belongs to, or nil when it matches none (the caller then falls
  /// back to the architecture's usual format or plain completion).
  public static func detect(template: String) -> ChatTemplate? {
    if template.contains("<start_of_turn>") { return .gemma }
    if template.contains("<|im_start|>") { return .chatml }
    if template.contains("<|start_header_id|>") { return .llama3 }
    if template.contains("[INST]") { return .llama2 }
    return nil
  }

  /// The usual format of an architecture, for GGUFs without a chat template.
  public static func fallback(architecture: String) -> ChatTemplate? {
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
    let format: ChatTemplate
    private var pendingSystem: String?
    private var first = true

    init(_ format: ChatTemplate) { self.format = format }

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
