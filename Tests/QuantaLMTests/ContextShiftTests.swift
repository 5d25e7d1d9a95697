import Foundation
import Quanta
import Testing

@testable import QuantaLM

/// llama.cpp's context shift: generation goes on past `-c`, and the cache after a shift is what a
/// fresh evaluation of the shifted tokens gives.
@Suite struct ContextShiftTests {
  static func model(_ arch: TinySpec.Arch, context: Int) async throws -> (LanguageModel, String) {
    let path = try TinyModel.write(TinySpec.make(arch), seed: 5)
    let model = try await LanguageModel.load(
      path: path, device: .cpu, registry: .standard, options: ModelLoadOptions(contextLength: context))
    return (model, path)
  }

  @Test(arguments: [TinySpec.Arch.llama, .gemma3])
  func generationGoesOnPastTheContext(_ arch: TinySpec.Arch) async throws {
    let (model, path) = try await Self.model(arch, context: 16)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let prompt: [Int32] = [1, 260, 270, 280, 290]
    var o = GenerationOptions(maxTokens: 40, sampling: .greedy)
    o.ignoreEndOfGeneration = true
    o.keep = 2
    let session = try model.makeSession()
    let summary = try session.generate(promptTokens: prompt, options: o) { _ in }
    #expect(summary.generatedTokens == 40)
    #expect(summary.stopReason == .maxTokens)
    // The kept prompt tokens (BOS + 2) still open the context.
    #expect(Array(session.tokens.prefix(3)) == [1, 260, 270])
    #expect(session.position <= 16)

    o.contextShift = false
    let stopped = try model.makeSession().generate(promptTokens: prompt, options: o) { _ in }
    #expect(stopped.stopReason == .contextFull)
    #expect(stopped.generatedTokens == 16 - prompt.count + 1)
    // −2: until the context is full, even with the shift on.
    o.contextShift = true
    o.maxTokens = -2
    let full = try model.makeSession().generate(promptTokens: prompt, options: o) { _ in }
    #expect(full.stopReason == .contextFull && full.generatedTokens == stopped.generatedTokens)
  }

  @Test(arguments: [TinySpec.Arch.llama, .qwen3, .gemma3])
  func logitsAfterAShiftMatchAFreshEvaluation(_ arch: TinySpec.Arch) async throws {
    let (model, path) = try await Self.model(arch, context: 24)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let sequence: [Int32] = (0..<24).map { 1 + Int32(($0 * 37) % 300) }
    let session = try model.makeSession()
    try session.evaluate(tokens: sequence)
    #expect(try session.shiftContext(keep: 4))
    // 4 kept, half of the other 20 dropped, the last 10 moved down.
    let shifted = Array(sequence.prefix(4) + sequence.suffix(10))
    #expect(session.tokens == shifted)
    try session.evaluate(token: 77)
    let afterShift = session.withLastLogits { Array($0) }
    let fresh = try model.makeSession()
    try fresh.evaluate(tokens: shifted)
    try fresh.evaluate(token: 77)
    let reference = fresh.withLastLogits { Array($0) }
    let num = zip(afterShift, reference).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
    let den = reference.reduce(0.0) { $0 + Double($1 * $1) }
    #expect(num / den < 1e-7, "normalized MSE \(num / den)")
    // Nothing to drop: no shift.
    let small = try model.makeSession()
    try small.evaluate(tokens: [1, 2])
    #expect(try !small.shiftContext(keep: 1))
  }
}
