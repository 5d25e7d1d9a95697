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
    var out = ""
    switch self {
    case .gemma:
      // Gemma has no system role: the system text is prefixed to the first user turn.
      var pendingSystem: String?
      for m in messages {
        switch m.role {
        case .system: pendingSystem = m.content
        case .user:
          let text = pendingSystem.map { $0 + "\n\n" + m.content } ?? m.content
          pendingSystem = nil
          out += "<start_of_turn>user\n\(text)<end_of_turn>\n"
        case .assistant: out += "<start_of_turn>model\n\(m.content)<end_of_turn>\n"
        }
      }
      if addGenerationPrompt { out += "<start_of_turn>model\n" }
    case .chatml:
      for m in messages { out += "<|im_start|>\(m.role.rawValue)\n\(m.content)<|im_end|>\n" }
      if addGenerationPrompt { out += "<|im_start|>assistant\n" }
    case .llama3:
      for m in messages {
        out += "<|start_header_id|>\(m.role.rawValue)<|end_header_id|>\n\n\(m.content)<|eot_id|>"
      }
      if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
    case .llama2:
      var system: String?
      var first = true
      for m in messages {
        switch m.role {
        case .system: system = m.content
        case .user:
          let sys = system.map { "<<SYS>>\n\($0)\n<</SYS>>\n\n" } ?? ""
          system = nil
          out += (first ? "" : "<s>") + "[INST] \(sys)\(m.content) [/INST]"
          first = false
        case .assistant: out += " \(m.content) </s>"
        }
      }
    }
    return out
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
