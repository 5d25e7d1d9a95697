import Foundation
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// A model whose GGUF has its own `tokenizer.chat_template`: `ChatSession` runs it through the
/// Jinja interpreter, feeds only the new text each turn when the earlier render is its prefix,
/// and re-tokenizes the whole conversation (reusing the cached prefix) when the template rewrites
/// earlier turns.
@Suite struct JinjaChatSessionTests {
  /// Writes `bos_token` and closes each message with `eos_token`, as many real templates do.
  static let appending =
    "{{ bos_token }}{% for m in messages %}{{ '[' + m.role + ']' + m.content + eos_token }}{% endfor %}"
    + "{% if add_generation_prompt %}{{ '[assistant]' }}{% endif %}"
  /// Writes assistant turns in parentheses: the previous prompt + reply is no longer a prefix.
  static let rewriting =
    "{% for m in messages %}{{ '[' + m.role + ']' }}{{ '(' ~ m.content ~ ')' if m.role == 'assistant' else m.content }}"
    + "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}{{ '[assistant]' }}{% endif %}"

  static func model(_ template: String) async throws -> (LanguageModel, String) {
    var spec = TinySpec.make(.gemma3)
    spec.context = 512
    spec.chatTemplate = template
    let path = try TinyModel.write(spec, seed: 5)
    let model = try await LanguageModel.load(
      path: path, device: .cpu, registry: .standard, options: ModelLoadOptions(contextLength: 512))
    return (model, path)
  }

  static let greedy = GenerationOptions(maxTokens: 6, sampling: .greedy)

  static func pending(_ s: GenerationSummary) -> Int {
    if case .endOfGeneration = s.stopReason { return 0 }
    return s.tokenIDs.isEmpty ? 0 : 1
  }

  @Test func theFilesTemplateRunsAndLaterTurnsFeedOnlyTheirText() async throws {
    let (model, path) = try await Self.model(Self.appending)
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(model.chatTemplateFromFile)
    #expect(model.chatTemplate?.isJinja == true)
    #expect(model.chatTemplate?.bosToken == "<s>")
    let tok = model.tokenizer
    let chat = try ChatSession(model: model)
    let s1 = try chat.respond(to: "hi", options: Self.greedy) { _ in }
    // bos_token's text is dropped: the tokenizer adds BOS once.
    let turn1 = tok.encode("[user]hi</s>[assistant]", addSpecial: true, parseSpecial: true)
    #expect(turn1.first == tok.vocabulary.bos && turn1[1] != tok.vocabulary.bos)
    #expect(s1.promptTokens == turn1.count)
    #expect(chat.pendingText == "</s>")

    let s2 = try chat.respond(to: "more", options: Self.greedy) { _ in }
    let turn2 = tok.encode("</s>[user]more</s>[assistant]", addSpecial: false, parseSpecial: true)
    #expect(s2.promptTokens == turn2.count + Self.pending(s1))
    #expect(chat.transcript == turn1 + s1.tokenIDs + turn2 + s2.tokenIDs)
  }

  @Test func aTemplateThatRewritesEarlierTurnsIsRenderedWhole() async throws {
    let (model, path) = try await Self.model(Self.rewriting)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let chat = try ChatSession(model: model)
    let s1 = try chat.respond(to: "hi", options: Self.greedy) { _ in }
    let reply = chat.messages[1].content
    #expect(!s1.tokenIDs.isEmpty)
    let s2 = try chat.respond(to: "more", options: Self.greedy) { _ in }
    let whole = "[user]hi</s>[assistant](\(reply))</s>[user]more</s>[assistant]"
    let tokens = model.tokenizer.encode(whole, addSpecial: true, parseSpecial: true)
    #expect(chat.transcript == tokens + s2.tokenIDs)
    // The session still skipped the cached tokens the two renders share (the first turn's prompt).
    #expect(s2.promptTokens < tokens.count)
  }

  @Test func aTemplateThatRefusesTheConversationThrowsAndLeavesIt() async throws {
    let (model, path) = try await Self.model(
      "{% if messages[0].role != 'system' %}{{ raise_exception('a system message is required') }}{% endif %}x"
    )
    defer { try? FileManager.default.removeItem(atPath: path) }
    let chat = try ChatSession(model: model)
    #expect(throws: JinjaError(.raised, "a system message is required", line: 1, column: 41)) {
      try chat.respond(to: "hi", options: Self.greedy) { _ in }
    }
    #expect(chat.messages.isEmpty && chat.transcript.isEmpty)
  }

  @Test func aTemplateOutsideTheSubsetFallsBackToABuiltInFormat() async throws {
    let (model, path) = try await Self.model("{% include 'x' %}<start_of_turn>")
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(!model.chatTemplateFromFile)
    #expect(model.chatTemplate == .gemma)
    #expect(model.chatTemplateError?.kind == .unsupported)
  }
}
