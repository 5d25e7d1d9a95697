import Foundation
import GGUF
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

@Suite struct GenerationTests {
  static func model(_ arch: TinySpec.Arch, seed: UInt64 = 21) async throws -> (LanguageModel, String) {
    let path = try TinyModel.write(TinySpec.make(arch), seed: seed)
    let model = try await LanguageModel.load(
      path: path, device: .cpu, registry: .standard, options: ModelLoadOptions(contextLength: 64))
    return (model, path)
  }

  @Test func sameSeedSameText() async throws {
    let (model, path) = try await Self.model(.llama)
    defer { try? FileManager.default.removeItem(atPath: path) }
    var sampling = SamplingOptions()
    sampling.temperature = 1.0
    sampling.seed = 42
    let options = GenerationOptions(maxTokens: 24, sampling: sampling)
    let a = try await model.complete(prompt: "hello", options: options)
    let b = try await model.complete(prompt: "hello", options: options)
    #expect(a.text == b.text)
    #expect(a.summary.tokenIDs == b.summary.tokenIDs)
    #expect(!a.summary.tokenIDs.isEmpty)
    // The stream's text is the detokenized ids.
    #expect(a.text == model.tokenizer.decode(a.summary.tokenIDs))
    // Another seed draws another sequence (24 draws from ~300 tokens at temperature 1).
    sampling.seed = 43
    let c = try await model.complete(
      prompt: "hello", options: GenerationOptions(maxTokens: 24, sampling: sampling))
    #expect(c.summary.tokenIDs != a.summary.tokenIDs)
  }

  /// Greedy generation picks the reference forward pass's argmax at every step.
  @Test(arguments: [TinySpec.Arch.qwen3, .gemma3])
  func greedyFollowsTheReferenceArgmax(_ arch: TinySpec.Arch) async throws {
    let (model, path) = try await Self.model(arch)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let prompt: [Int32] = [1, 260, 270, 280, 290]
    let (_, summary) = try await collect(
      model.generate(promptTokens: prompt, options: .init(maxTokens: 6, sampling: .greedy)))
    let ids = summary.tokenIDs
    #expect(summary.promptTokens == prompt.count)
    let reference = try TinyReference(spec: TinySpec.make(arch), path: path).logits(prompt + ids)
    for (i, id) in ids.enumerated() {
      let row = reference[prompt.count - 1 + i]
      let best = row.indices.max { row[$0] < row[$1] }!
      // Ties within float noise would be ambiguous; random weights make them vanishingly rare.
      #expect(Int(id) == best, "step \(i)")
    }
    if summary.stopReason == .maxTokens { #expect(ids.count == 6) }
  }

  @Test func streamEndsWithASummaryAndHonoursMaxTokens() async throws {
    let (model, path) = try await Self.model(.qwen2)
    defer { try? FileManager.default.removeItem(atPath: path) }
    var events: [GenerationEvent] = []
    for try await e in model.generate(prompt: "abc", options: .init(maxTokens: 5, sampling: .greedy)) {
      events.append(e)
    }
    guard case .finished(let summary) = events.last else {
      Issue.record("no summary")
      return
    }
    #expect(events.dropLast().allSatisfy { if case .text = $0 { true } else { false } })
    #expect(summary.promptTokens == model.tokenizer.encode("abc").count)
    if summary.stopReason == .maxTokens { #expect(summary.generatedTokens == 5) }
    #expect(summary.generatedTokens <= 5)
  }

  @Test func sessionReusesTheCachedPrefix() async throws {
    let (model, path) = try await Self.model(.llama)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let session = try model.makeSession()
    let prompt: [Int32] = [1, 300, 301, 302]
    let first = try session.generate(promptTokens: prompt, options: .init(maxTokens: 3, sampling: .greedy)) {
      _ in
    }
    #expect(first.promptTokens == 4)
    // Same prompt again: only its last token is re-evaluated, and the result is the same.
    let second = try session.generate(promptTokens: prompt, options: .init(maxTokens: 3, sampling: .greedy)) {
      _ in
    }
    #expect(second.promptTokens == 1)
    #expect(second.tokenIDs == first.tokenIDs)
  }

  @Test func stopStringsAreHeldBackAndNeverPrinted() {
    var f = StopStringFilter(["END", "xyz"])
    #expect(f.push("hello E") == ("hello ", nil))
    #expect(f.push("N") == ("", nil))
    #expect(f.push("Dless") == ("", "END"))
    var g = StopStringFilter(["END"])
    #expect(g.push("EN") == ("", nil))
    #expect(g.push("X") == ("ENX", nil))
    #expect(g.push("tail E") == ("tail ", nil))
    #expect(g.flush() == "E")
    var none = StopStringFilter([])
    #expect(none.push("END") == ("END", nil))
  }

  @Test func chatUsesTheArchitecturesFormat() async throws {
    let (model, path) = try await Self.model(.gemma3)
    defer { try? FileManager.default.removeItem(atPath: path) }
    // No chat_template in the tiny file: gemma3 falls back to the gemma format.
    #expect(model.chatTemplate == .gemma)
    let (_, summary) = try await collect(
      try model.chat([.init(.user, "hi")], options: .init(maxTokens: 2, sampling: .greedy)))
    #expect(summary.generatedTokens <= 2)
  }

  func collect(_ stream: AsyncThrowingStream<GenerationEvent, any Error>) async throws -> (
    String, GenerationSummary
  ) {
    var text = ""
    for try await e in stream {
      switch e {
      case .text(let t): text += t
      case .finished(let s): return (text, s)
      }
    }
    throw GenerationError.endedWithoutSummary
  }
}
