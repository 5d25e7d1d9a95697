import Foundation
import QuantaLM
import Testing

@testable import QuantaTools

/// `quanta run --chat` on the real Gemma 3 model: the conversation keeps its KV cache between
/// turns, the totals count only evaluated tokens, and a turn that does not fit is refused.
@Suite struct ChatRunTests {
  func loadGemma(context: Int) async throws -> LanguageModel {
    var s = ModelSettings()
    s.modelPath = try RunTestModels.gemma3()
    s.contextSize = context
    return try await s.loadModel().model
  }

  static let options = GenerationOptions(maxTokens: 8, sampling: .greedy)

  /// The cache holds all of a reply but its last token unless an end-of-generation id followed it.
  static func pending(_ s: GenerationSummary) -> Int {
    if case .endOfGeneration = s.stopReason { return 0 }
    return s.tokenIDs.isEmpty ? 0 : 1
  }

  @Test func secondTurnReusesTheCacheAndMatchesTheOneShotChat() async throws {
    let model = try await loadGemma(context: 512)
    let tokenizer = model.tokenizer
    let chat = try ChatSession(model: model)
    var reply1 = ""
    let s1 = try chat.respond(to: "Say hello.", options: Self.options) { reply1 += $0 }
    let turn1 = tokenizer.encode(
      "<start_of_turn>user\nSay hello.<end_of_turn>\n<start_of_turn>model\n", addSpecial: true,
      parseSpecial: true)
    #expect(s1.promptTokens == turn1.count)
    var reply2 = ""
    let s2 = try chat.respond(to: "Now say goodbye.", options: Self.options) { reply2 += $0 }
    let turn2 = tokenizer.encode(
      "<end_of_turn>\n<start_of_turn>user\nNow say goodbye.<end_of_turn>\n<start_of_turn>model\n",
      addSpecial: false, parseSpecial: true)
    #expect(s2.promptTokens == turn2.count + Self.pending(s1))

    // The whole conversation rendered again and evaluated from scratch (the one-shot API): the
    // same prompt tokens (Gemma's turns start with control tokens) and the same greedy reply.
    let whole =
      "<start_of_turn>user\nSay hello.<end_of_turn>\n<start_of_turn>model\n\(reply1)<end_of_turn>\n"
      + "<start_of_turn>user\nNow say goodbye.<end_of_turn>\n<start_of_turn>model\n"
    #expect(tokenizer.encode(whole, addSpecial: true, parseSpecial: true) == turn1 + s1.tokenIDs + turn2)
    var oneShot: GenerationSummary?
    for try await event in try model.chat(
      [.init(.user, "Say hello."), .init(.assistant, reply1), .init(.user, "Now say goodbye.")],
      options: Self.options)
    {
      if case .finished(let s) = event { oneShot = s }
    }
    let scratch = try #require(oneShot)
    #expect(scratch.promptTokens == turn1.count + s1.tokenIDs.count + turn2.count)
    #expect(s2.tokenIDs == scratch.tokenIDs)
    #expect(!s2.tokenIDs.isEmpty)

    // `ModelRun.chat` goes through the same conversation: its totals are the evaluated tokens.
    var lines = ["Say hello.", "Now say goodbye.", "/exit"]
    var out = ""
    let totals = try await ModelRun.chat(
      model: model, system: nil, options: Self.options,
      readLine: { lines.isEmpty ? nil : lines.removeFirst() }, output: { out += $0 })
    #expect(totals.promptTokens == s1.promptTokens + s2.promptTokens)
    #expect(totals.evalTokens == s1.decodeSteps + s2.decodeSteps)
    #expect(out == reply1 + "\n" + reply2 + "\n")
  }

  /// Policy: a turn that does not fit is reported on the prompt channel with the facts, the
  /// conversation goes on unchanged, and a shorter turn still works.
  @Test func overflowingTurnIsReportedAndTheChatGoesOn() async throws {
    let model = try await loadGemma(context: 64)
    let long = String(repeating: "Tell me a long story about a cat. ", count: 12)
    var lines = ["Hi.", long, "Bye.", "/exit"]
    var out = ""
    var notes = ""
    let totals = try await ModelRun.chat(
      model: model, system: nil, options: .init(maxTokens: 4, sampling: .greedy),
      readLine: { lines.isEmpty ? nil : lines.removeFirst() }, output: { out += $0 },
      prompt: { notes += $0 })
    #expect(lines.isEmpty)
    #expect(notes.contains("but the context holds 64"), "\(notes)")
    #expect(notes.components(separatedBy: "error:").count == 2)
    // Two replies, each closed by a newline.
    #expect(out.filter { $0 == "\n" }.count >= 2)
    // Only "Hi." and "Bye." were evaluated: far fewer than the long turn alone.
    let longTokens = model.tokenizer.encode(long, addSpecial: false)
    #expect(totals.promptTokens > 0 && totals.promptTokens < longTokens.count)
  }
}
