import Synchronization

/// A conversation of many turns that keeps its KV cache between them, as llama-cli's
/// conversation mode does. Each turn renders the whole conversation with the chat template (the
/// GGUF's own Jinja program, or a built-in format) and feeds only the difference: when the text
/// the cache holds (the previous prompt and the reply as generated) is a prefix of the new render,
/// only the rest is tokenized and evaluated after the tokens already in the cache; otherwise (a
/// template that rewrites earlier turns, e.g. trims a reply or drops its reasoning) the whole
/// render is tokenized again and `Session.generate` reuses the longest common token prefix.
/// The reply's tokens stay in the cache as they were generated; the text that closes the reply
/// (e.g. Gemma's `<end_of_turn>\n`) is tokenized and evaluated together with the next turn's
/// text (one piece of text, so an SPM vocabulary adds its space prefix once, as llama-cli does).
///
///     let chat = try ChatSession(model: model, system: "Be brief.")
///     for try await event in chat.send("Hi!", options: .init(sampling: .greedy)) { … }
///     for try await event in chat.send("And then?") { … }  // evaluates only the new turn
///
/// The prompt of turn N is `transcript` (every earlier turn's tokens) followed by the new turn's
/// tokens, so its greedy reply is the same as the one-shot `LanguageModel.generate` over that
/// token sequence from an empty cache. A template that writes `bos_token` gets it dropped from its
/// text when the tokenizer adds BOS itself (as llama.cpp does), so BOS is not doubled.
///
/// A turn whose prompt does not fit the context throws `GenerationError.contextOverflow` (tokens
/// needed and context size) before anything is evaluated, and leaves the conversation as it was;
/// so does a template that refuses the conversation (`JinjaError`, e.g. its `raise_exception`).
/// A reply that fills the context ends with `StopReason.contextFull`; the next turn then overflows.
///
/// One turn runs at a time: another `send`/`respond` while one is generating throws
/// `GenerationError.turnInProgress`.
public final class ChatSession: Sendable {
  public let model: LanguageModel
  public let template: ChatTemplate

  private struct State {
    var messages: [ChatTemplate.Message] = []
    /// The conversation's tokens: what the cache holds, then the last sampled token of the
    /// previous reply (not evaluated yet).
    var transcript: [Int32] = []
    /// Text that closes the previous reply, tokenized with the next turn.
    var pendingText = ""
    /// The text `transcript` stands for: the last prompt's render and the reply's kept tokens.
    var text = ""
    /// Tokens in the cache after the last turn.
    var cached = 0
  }

  private let state: Mutex<State>
  /// Set while a turn runs; only the turn that set it touches `session`.
  private let busy = Atomic<Bool>(false)
  /// Guarded by `busy` (not `Sendable` itself): used by one turn at a time, on that turn's thread.
  private nonisolated(unsafe) let session: Session

  /// A conversation in `template` (by default the model's chat format), opened by `system`.
  public init(model: LanguageModel, system: String? = nil, template: ChatTemplate? = nil) throws {
    guard let format = template ?? model.chatTemplate else {
      throw GenerationError.noChatTemplate(model.config.architecture.rawValue)
    }
    self.model = model
    self.template = format
    session = try model.makeSession()
    contextLength = session.contextLength
    var s = State()
    if let system, !system.isEmpty { s.messages.append(.init(.system, system)) }
    state = Mutex(s)
  }

  /// The messages so far (the system message, then user and assistant turns).
  public var messages: [ChatTemplate.Message] { state.withLock { $0.messages } }
  /// The token ids of the conversation so far, in the order the model sees them, up to the end of
  /// the last reply.
  public var transcript: [Int32] { state.withLock { $0.transcript } }
  /// The text that closes the last reply in the chat format (its `assistantClosing`, after a stop
  /// string also printed text its kept tokens do not cover); the next turn's tokens start with it.
  public var pendingText: String { state.withLock { $0.pendingText } }
  /// Tokens whose keys and values are in the cache after the last turn.
  public var cachedTokenCount: Int { state.withLock { $0.cached } }
  /// Tokens the cache holds (the model's `contextLength`).
  public let contextLength: Int

  /// Generates the reply to the user message `text` on the calling thread (it blocks), calling
  /// `onText` with each printable piece; returns the turn's summary, whose `promptTokens` counts
  /// only the tokens evaluated for this turn. Stop strings and end-of-generation ids work as in
  /// `LanguageModel.chat` (the format's end-of-turn text is added as a stop string).
  /// A cancelled reply is kept as far as it got; a turn that throws (an overflow, a backend
  /// error, `onText`) leaves the conversation as it was before it.
  public func respond(
    to text: String, options: GenerationOptions = .init(), isCancelled: () -> Bool = { false },
    onText: (String) throws -> Void
  ) throws -> GenerationSummary {
    guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
      throw GenerationError.turnInProgress
    }
    defer { busy.store(false, ordering: .releasing) }
    let (history, transcript, previous) = state.withLock { ($0.messages, $0.transcript, $0.text) }
    let user = ChatTemplate.Message(.user, text)
    var o = options
    o.parseSpecial = true
    // The transcript's bookkeeping assumes the cache keeps every turn: a full context ends the reply.
    o.contextShift = false
    if !template.endOfTurn.isEmpty && !o.stopStrings.contains(template.endOfTurn) {
      o.stopStrings.append(template.endOfTurn)
    }
    let rendered = try template.apply(history + [user], addGenerationPrompt: true)
    let prompt: [Int32]
    if !transcript.isEmpty && rendered.utf8.starts(with: previous.utf8) {
      // Only the new text: the closing of the last reply, the user's turn, the opened reply.
      let added = String(decoding: rendered.utf8.dropFirst(previous.utf8.count), as: UTF8.self)
      prompt = transcript + model.tokenizer.encode(added, addSpecial: false, parseSpecial: true)
    } else {
      // The first turn, or a template that rewrote earlier text: the whole conversation (the
      // session still skips the tokens its cache already holds).
      prompt = model.chatPromptTokens(rendered, template: template, addSpecial: o.addSpecial)
    }
    if prompt.count > contextLength {
      throw GenerationError.contextOverflow(needed: prompt.count, contextLength: contextLength)
    }
    var reply = ""
    // Evaluates only what the cache does not hold (Session.generate reuses the common prefix).
    let summary = try session.generate(promptTokens: prompt, options: o, isCancelled: isCancelled) {
      reply += $0
      try onText($0)
    }
    let (replyIDs, _) = keptReply(summary, text: reply)
    let cached = session.position
    let messages = history + [user, .init(.assistant, reply)]
    let kept = rendered + model.tokenizer.decode(replyIDs)
    // What the next render adds after the kept reply before the next user turn (the closing).
    let closed = (try? template.apply(messages, addGenerationPrompt: false)) ?? ""
    let pending =
      closed.utf8.starts(with: kept.utf8)
      ? String(decoding: closed.utf8.dropFirst(kept.utf8.count), as: UTF8.self) : ""
    state.withLock {
      $0.messages = messages
      $0.transcript = prompt + replyIDs
      $0.text = kept
      $0.pendingText = pending
      $0.cached = cached
    }
    return summary
  }

  /// Streams the reply to the user message `text`: `.text` pieces, then `.finished`. Runs on its
  /// own thread; ending the iteration early cancels the reply (what was generated is kept).
  public func send(_ text: String, options: GenerationOptions = .init()) -> AsyncThrowingStream<
    GenerationEvent, any Error
  > {
    generationStream { [self] isCancelled, onText in
      try respond(to: text, options: options, isCancelled: isCancelled, onText: onText)
    }
  }

  /// The reply's tokens as the conversation keeps them: the generated ids. After a stop string,
  /// only the ids whose text was printed are kept (not the stop string's), and `tail` is any
  /// printed text they do not cover (tokenized with the next turn).
  private func keptReply(_ summary: GenerationSummary, text: String) -> (ids: [Int32], tail: String) {
    guard case .stopString = summary.stopReason else { return (summary.tokenIDs, "") }
    // Most ids whose text is a prefix of the printed text (as bytes: the stream repairs broken
    // UTF-8 with U+FFFD as `decode` does, and a split character only matches once complete). The
    // stop string is at the end, so the search ends after a token or two.
    let printed = Array(text.utf8)
    for count in stride(from: summary.tokenIDs.count, through: 0, by: -1) {
      let kept = Array(summary.tokenIDs[..<count])
      let bytes = Array(model.tokenizer.decode(kept).utf8)
      if bytes.count <= printed.count, printed[..<bytes.count].elementsEqual(bytes) {
        return (kept, String(decoding: printed[bytes.count...], as: UTF8.self))
      }
    }
    return ([], text)
  }
}
