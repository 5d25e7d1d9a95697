import Foundation
import GGUF
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// `ChatSession`: a conversation keeps its KV cache between turns, evaluates only each turn's new
/// tokens, and replies exactly as a from-scratch evaluation of the same tokens would.
@Suite struct ChatSessionTests {
  /// The tiny gemma3 model (no chat_template: the gemma format) with a context of `context`.
  static func model(context: Int, arch: TinySpec.Arch = .gemma3) async throws -> (LanguageModel, String) {
    var spec = TinySpec.make(arch)
    spec.context = context
    let path = try TinyModel.write(spec, seed: 21)
    let model = try await LanguageModel.load(
      path: path, device: .cpu, registry: .standard, options: ModelLoadOptions(contextLength: context))
    return (model, path)
  }

  /// Tokens of chat-format text written out by hand (control tokens parsed, as the chat does).
  static func tokens(_ model: LanguageModel, _ text: String, bos: Bool = false) -> [Int32] {
    model.tokenizer.encode(text, addSpecial: bos, parseSpecial: true)
  }

  static let greedy = GenerationOptions(maxTokens: 6, sampling: .greedy)

  /// The cache holds everything but the last sampled token of a reply that did not end with an
  /// end-of-generation id (that token is evaluated with the next turn).
  static func pending(_ s: GenerationSummary) -> Int {
    if case .endOfGeneration = s.stopReason { return 0 }
    return s.tokenIDs.isEmpty ? 0 : 1
  }

  @Test func laterTurnsEvaluateOnlyTheirOwnTokens() async throws {
    let (model, path) = try await Self.model(context: 512)
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(model.chatTemplate == .gemma)
    let chat = try ChatSession(model: model)
    let s1 = try chat.respond(to: "hi", options: Self.greedy) { _ in }
    let turn1 = Self.tokens(model, "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n", bos: true)
    #expect(s1.promptTokens == turn1.count)
    #expect(!s1.tokenIDs.isEmpty)
    // Decode steps: every generated token but a last one that no end-of-generation id followed.
    #expect(s1.decodeSteps == s1.tokenIDs.count - Self.pending(s1))
    #expect(chat.cachedTokenCount == turn1.count + s1.decodeSteps)

    let s2 = try chat.respond(to: "tell me more", options: Self.greedy) { _ in }
    let turn2 = Self.tokens(
      model, "<end_of_turn>\n<start_of_turn>user\ntell me more<end_of_turn>\n<start_of_turn>model\n")
    #expect(s2.promptTokens == turn2.count + Self.pending(s1))
    // Far fewer than the whole conversation, which a fresh evaluation would take.
    #expect(s2.promptTokens < turn1.count + s1.tokenIDs.count + turn2.count)

    let s3 = try chat.respond(to: "ok", options: Self.greedy) { _ in }
    let turn3 = Self.tokens(
      model, "<end_of_turn>\n<start_of_turn>user\nok<end_of_turn>\n<start_of_turn>model\n")
    #expect(s3.promptTokens == turn3.count + Self.pending(s2))

    // The reply tokens stay as generated; the next turn's tokens start with the closing of the last.
    #expect(chat.transcript == turn1 + s1.tokenIDs + turn2 + s2.tokenIDs + turn3 + s3.tokenIDs)
    #expect(chat.pendingText == "<end_of_turn>\n")
    #expect(chat.cachedTokenCount == chat.transcript.count - Self.pending(s3))
    #expect(chat.messages.map(\.role) == [.user, .assistant, .user, .assistant, .user, .assistant])
    #expect(chat.messages[1].content == model.tokenizer.decode(s1.tokenIDs))
  }

  /// Turn 2 with the cache reused gives the same greedy tokens as the one-shot generation over
  /// the same conversation tokens from an empty cache (one batch, no reuse).
  @Test func cachedTurnMatchesTheWholeConversationFromScratch() async throws {
    let (model, path) = try await Self.model(context: 512)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let chat = try ChatSession(model: model, system: "be kind")
    let options = GenerationOptions(maxTokens: 10, sampling: .greedy)
    let s1 = try chat.respond(to: "hi", options: options) { _ in }
    // The streaming API: the same events as the one-shot stream.
    var text = ""
    var s2: GenerationSummary?
    for try await event in chat.send("what now", options: options) {
      switch event {
      case .text(let piece): text += piece
      case .finished(let s): s2 = s
      }
    }
    let turn2Summary = try #require(s2)
    #expect(text == model.tokenizer.decode(turn2Summary.tokenIDs))
    #expect(!turn2Summary.tokenIDs.isEmpty)

    let conversation =
      Self.tokens(
        model, "<start_of_turn>user\nbe kind\n\nhi<end_of_turn>\n<start_of_turn>model\n", bos: true)
      + s1.tokenIDs
      + Self.tokens(
        model, "<end_of_turn>\n<start_of_turn>user\nwhat now<end_of_turn>\n<start_of_turn>model\n")
    var o = options
    o.stopStrings = ["<end_of_turn>"]
    var scratch: GenerationSummary?
    for try await event in model.generate(promptTokens: conversation, options: o) {
      if case .finished(let s) = event { scratch = s }
    }
    let fromScratch = try #require(scratch)
    #expect(fromScratch.promptTokens == conversation.count)
    #expect(turn2Summary.promptTokens < fromScratch.promptTokens)
    #expect(turn2Summary.tokenIDs == fromScratch.tokenIDs)
    #expect(turn2Summary.stopReason == fromScratch.stopReason)
  }

  /// A turn that does not fit is refused before anything is evaluated, with the facts, and the
  /// conversation goes on unchanged.
  @Test func overflowingTurnThrowsAndLeavesTheConversation() async throws {
    let (model, path) = try await Self.model(context: 160)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let chat = try ChatSession(model: model)
    #expect(chat.contextLength == 160)
    let options = GenerationOptions(maxTokens: 4, sampling: .greedy)
    let s1 = try chat.respond(to: "hi", options: options) { _ in }
    let before = chat.transcript
    let cached = chat.cachedTokenCount

    let long = String(repeating: "a long message ", count: 10)
    let needed =
      Self.tokens(model, "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n", bos: true).count
      + s1.tokenIDs.count
      + Self.tokens(model, "<end_of_turn>\n<start_of_turn>user\n\(long)<end_of_turn>\n<start_of_turn>model\n")
      .count
    #expect(needed > 160)
    var printed = false
    #expect(throws: GenerationError.contextOverflow(needed: needed, contextLength: 160)) {
      try chat.respond(to: long, options: options) { _ in printed = true }
    }
    #expect(!printed)
    #expect(chat.transcript == before)
    #expect(chat.cachedTokenCount == cached)
    #expect(chat.messages.count == 2)

    // A turn that fits still reuses the cache.
    let s2 = try chat.respond(to: "ok", options: options) { _ in }
    let turn2 = Self.tokens(
      model, "<end_of_turn>\n<start_of_turn>user\nok<end_of_turn>\n<start_of_turn>model\n")
    #expect(s2.promptTokens == turn2.count + Self.pending(s1))
    #expect(chat.messages.count == 4)

    // The one-shot API reports the same facts.
    let prompt = [Int32](repeating: 300, count: 161)
    await #expect(throws: GenerationError.contextOverflow(needed: 161, contextLength: 160)) {
      for try await _ in model.generate(promptTokens: prompt, options: options) {}
    }
  }

  /// A reply cut by a stop string keeps only the tokens whose text was printed; the next turn
  /// still matches a from-scratch evaluation of the transcript.
  @Test func stopStringReplyKeepsThePrintedTokens() async throws {
    // The tiny llama (in the gemma format) samples varied text; the tiny gemma3 prefers newlines.
    let (model, path) = try await Self.model(context: 512, arch: .llama)
    defer { try? FileManager.default.removeItem(atPath: path) }
    // Seeded sampling (greedy repeats one token here): the same draws with and without the stop.
    var sampling = SamplingOptions()
    sampling.temperature = 1
    sampling.seed = 42
    let options = GenerationOptions(maxTokens: 12, sampling: sampling)
    let free = try ChatSession(model: model, template: .gemma).respond(to: "hi", options: options) { _ in }
    let ids = free.tokenIDs
    // A stop string that first appears as the whole text of token k (k ≥ 1).
    var pick: (k: Int, stop: String)?
    for k in 1..<ids.count {
      let bytes = model.tokenizer.piece(ids[k])
      guard !bytes.isEmpty, let stop = String(validating: bytes, as: UTF8.self) else { continue }
      let before = model.tokenizer.decode(Array(ids[..<k]))
      if !(before + stop.dropLast()).contains(stop) {
        pick = (k, stop)
        break
      }
    }
    let (k, stop) = try #require(pick, "no usable stop string in \(ids)")
    let chat = try ChatSession(model: model, template: .gemma)
    var o = options
    o.stopStrings = [stop]
    var text = ""
    let s1 = try chat.respond(to: "hi", options: o) { text += $0 }
    #expect(s1.stopReason == .stopString(stop))
    #expect(text == model.tokenizer.decode(Array(ids[..<k])))
    let turn1 = Self.tokens(model, "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n", bos: true)
    #expect(chat.transcript == turn1 + ids[..<k])
    #expect(chat.pendingText == "<end_of_turn>\n")

    let s2 = try chat.respond(to: "go on", options: Self.greedy) { _ in }
    let conversation =
      turn1 + ids[..<k]
      + Self.tokens(model, "<end_of_turn>\n<start_of_turn>user\ngo on<end_of_turn>\n<start_of_turn>model\n")
    var o2 = Self.greedy
    o2.stopStrings = ["<end_of_turn>"]
    let scratch = try model.makeSession().generate(promptTokens: conversation, options: o2) { _ in }
    #expect(s2.tokenIDs == scratch.tokenIDs)
    // The cache held turn 1 and the printed reply tokens (the stop string's token was sampled,
    // never evaluated, and is not in the transcript).
    #expect(s2.promptTokens == conversation.count - turn1.count - k)
  }

  @Test func oneTurnAtATime() async throws {
    let (model, path) = try await Self.model(context: 512)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let chat = try ChatSession(model: model)
    var checked = false
    _ = try chat.respond(to: "hi", options: Self.greedy) { _ in
      guard !checked else { return }
      checked = true
      #expect(throws: GenerationError.turnInProgress) { try chat.respond(to: "again") { _ in } }
    }
    #expect(checked)
    #expect(chat.messages.count == 2)
  }

  @Test func noTemplateIsATypedError() async throws {
    let path = try TinyModel.write(TinySpec.make(.llama), seed: 21)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await LanguageModel.load(path: path, device: .cpu, registry: .standard)
    #expect(model.chatTemplate == nil)
    #expect(throws: GenerationError.noChatTemplate("llama")) { try ChatSession(model: model) }
    // An explicit format works for any model.
    let chat = try ChatSession(model: model, template: .chatml)
    let s = try chat.respond(to: "hi", options: Self.greedy) { _ in }
    #expect(
      s.promptTokens
        == Self.tokens(model, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", bos: true).count)
  }
}

/// The incremental rendering `ChatSession` relies on.
@Suite struct ChatTemplateTurnTests {
  static let history: [ChatTemplate.Message] = [
    .init(.system, "S"), .init(.user, "U1"), .init(.assistant, "A1"),
  ]

  @Test(arguments: ChatTemplate.allCases)
  func turnIsWhatTheWholeRenderAppends(_ t: ChatTemplate) {
    for h in [[], [ChatTemplate.Message(.system, "S")], Self.history] {
      let whole = t.render(h + [.init(.user, "U2")], addGenerationPrompt: true)
      let before = t.render(h, addGenerationPrompt: false)
      #expect(whole == before + t.renderTurn(.init(.user, "U2"), after: h), "\(t) after \(h.count)")
    }
  }

  @Test(arguments: ChatTemplate.allCases)
  func assistantTurnIsPromptContentClosing(_ t: ChatTemplate) {
    let h = Array(Self.history.prefix(2))
    let closed = t.render(h + [.init(.assistant, "A1")], addGenerationPrompt: false)
    // Llama 2 writes a space before the content (its generation prompt is empty).
    let content = t == .llama2 ? " A1" : "A1"
    #expect(closed == t.render(h, addGenerationPrompt: true) + content + t.assistantClosing)
  }

  @Test func gemmaTurnText() {
    #expect(
      ChatTemplate.gemma.renderTurn(.init(.user, "U2"), after: ChatTemplateTurnTests.history)
        == "<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\n")
    #expect(ChatTemplate.gemma.assistantClosing == "<end_of_turn>\n")
    #expect(
      ChatTemplate.llama2.render(ChatTemplateTurnTests.history + [.init(.user, "U2")])
        == "[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]")
  }
}
