import Synchronization

/// A conversation of many turns that keeps its KV cache between them, as llama-cli's
/// conversation mode does: each user turn tokenizes and evaluates only what the chat format adds
/// for it (`ChatTemplate.renderTurn`: the user's turn and the opened assistant turn), after the
/// tokens already in the cache. The reply's tokens stay in the cache as they were generated; the
/// format's `assistantClosing` (e.g. Gemma's `<end_of_turn>\n`) follows them, tokenized and
/// evaluated together with the next turn's text (one piece of text, so an SPM vocabulary adds its
/// space prefix once, as llama-cli does).
///
///     let chat = try ChatSession(model: model, system: "Be brief.")
///     for try await event in chat.send("Hi!", options: .init(sampling: .greedy)) { … }
///     for try await event in chat.send("And then?") { … }  // evaluates only the new turn
///
/// The prompt of turn N is `transcript` (every earlier turn's tokens) followed by the new turn's
/// tokens, so its greedy reply is the same as the one-shot `LanguageModel.generate` over that
/// token sequence from an empty cache. For formats whose turns start with a control token (all
/// the real Gemma, ChatML and Llama 3 vocabularies) that sequence is also the tokenization of the
/// whole rendered conversation; an SPM vocabulary with `add_space_prefix` and no such control
/// tokens gets a space at the start of each turn's text, as in llama-cli.
///
/// A turn whose prompt does not fit the context throws `GenerationError.contextOverflow` (tokens
/// needed and context size) before anything is evaluated, and leaves the conversation as it was.
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
    let (history, transcript, pending) = state.withLock { ($0.messages, $0.transcript, $0.pendingText) }
    let user = ChatTemplate.Message(.user, text)
    var o = options
    o.parseSpecial = true
    // The transcript's bookkeeping assumes the cache keeps every turn: a full context ends the reply.
    o.contextShift = false
    if !o.stopStrings.contains(template.endOfTurn) { o.stopStrings.append(template.endOfTurn) }
    // BOS (when the vocabulary adds one) opens the conversation only.
    let turn = model.tokenizer.encode(
      pending + template.renderTurn(user, after: history), addSpecial: transcript.isEmpty && o.addSpecial,
      parseSpecial: true)
    let prompt = transcript + turn
    if prompt.count > contextLength {
      throw GenerationError.contextOverflow(needed: prompt.count, contextLength: contextLength)
    }
    var reply = ""
    // Evaluates only what the cache does not hold (Session.generate reuses the common prefix).
    let summary = try session.generate(promptTokens: prompt, options: o, isCancelled: isCancelled) {
      reply += $0
      try onText($0)
    }
    let (replyIDs, tail) = keptReply(summary, text: reply)
    let cached = session.position
    state.withLock {
      $0.messages += [user, .init(.assistant, reply)]
      $0.transcript = prompt + replyIDs
      $0.pendingText = tail + template.assistantClosing
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
