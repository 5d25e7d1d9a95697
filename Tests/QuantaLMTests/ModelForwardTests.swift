import Foundation
import GGUF
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// Each architecture's forward pass against `TinyReference` (plain Double loops over the
/// dequantized weights): the prompt as one batch (every row, and the last-row-only path), prompts
/// split into chunks, then token-by-token decoding through the KV cache.
@Suite struct ModelForwardTests {
  static let tolerance = 5e-4

  /// BOS, then ids spread over the vocabulary.
  static func sequence(_ n: Int) -> [Int32] {
    var ids: [Int32] = [1]
    for i in 1..<n { ids.append(Int32(3 + (i * 37 + 11) % 317)) }
    return ids
  }

  static func load(_ path: String, batchSize: Int = 512) async throws -> LanguageModel {
    try await LanguageModel.load(
      path: path, device: .cpu, registry: .standard,
      options: ModelLoadOptions(contextLength: 32, batchSize: batchSize))
  }

  @Test(arguments: TinySpec.Arch.allCases)
  func logitsMatchReference(_ arch: TinySpec.Arch) async throws {
    let spec = TinySpec.make(arch)
    let path = try TinyModel.write(spec, seed: 7)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let sequence = Self.sequence(14)
    let promptLength = 10
    let prompt = Array(sequence[..<promptLength])
    let reference = try TinyReference(spec: spec, path: path).logits(sequence)
    let model = try await Self.load(path)
    #expect(model.config.architecture.rawValue == arch.rawValue)

    // The prompt as one batch, every row's logits; then decode steps through the cache.
    let session = try model.makeSession()
    let rows = try session.evaluateAll(tokens: prompt)
    #expect(rows.count == promptLength)
    for (i, row) in rows.enumerated() {
      #expect(
        nmse(row, reference[i]) <= Self.tolerance, "\(arch) batch row \(i): NMSE \(nmse(row, reference[i]))")
    }
    for i in promptLength..<sequence.count {
      let logits = try session.evaluate(tokens: [sequence[i]])
      #expect(
        nmse(logits, reference[i]) <= Self.tolerance,
        "\(arch) decode \(i): NMSE \(nmse(logits, reference[i]))")
    }
    #expect(session.position == sequence.count)

    // The usual prompt path: only the last row is computed past the last layer's attention.
    let fresh = try model.makeSession()
    let last = try fresh.evaluate(tokens: prompt)
    #expect(nmse(last, reference[promptLength - 1]) <= Self.tolerance, "\(arch) last-row prompt")

    // Every token alone through the cache from position 0.
    fresh.reset()
    for (i, t) in sequence.enumerated() {
      try fresh.evaluate(token: t)
      let e = fresh.withLastLogits { nmse(Array($0), reference[i]) }
      #expect(e <= Self.tolerance, "\(arch) token-by-token \(i): NMSE \(e)")
    }
  }

  @Test(arguments: [TinySpec.Arch.llama, .gemma3])
  func promptsLongerThanTheBatchGoInChunks(_ arch: TinySpec.Arch) async throws {
    let spec = TinySpec.make(arch)
    let path = try TinyModel.write(spec, seed: 11)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let sequence = Self.sequence(11)
    let reference = try TinyReference(spec: spec, path: path).logits(sequence)
    let model = try await Self.load(path, batchSize: 4)
    let session = try model.makeSession()
    let last = try session.evaluate(tokens: sequence)
    #expect(nmse(last, reference[sequence.count - 1]) <= Self.tolerance)
    session.reset()
    let rows = try session.evaluateAll(tokens: sequence)
    for (i, row) in rows.enumerated() { #expect(nmse(row, reference[i]) <= Self.tolerance, "row \(i)") }
  }

  @Test func badInputIsATypedError() async throws {
    let path = try TinyModel.write(TinySpec.make(.qwen2), seed: 3)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await LanguageModel.load(
      path: path, device: .cpu, registry: .standard, options: ModelLoadOptions(contextLength: 8))
    #expect(model.contextLength == 8)
    let session = try model.makeSession()
    #expect(throws: ModelError.invalidToken(id: 320, vocabularySize: 320)) {
      try session.evaluate(tokens: [1, 320])
    }
    #expect(throws: ModelError.emptyInput) { try session.evaluate(tokens: []) }
    #expect(throws: ModelError.contextFull(limit: 8)) { try session.evaluate(tokens: Self.sequence(9)) }
    try session.evaluate(tokens: Self.sequence(8))
    #expect(throws: ModelError.contextFull(limit: 8)) { try session.evaluate(token: 5) }
    // Nothing was appended by the failed calls.
    #expect(session.position == 8)
  }

  @Test func contextIsCappedByTheModel() async throws {
    let path = try TinyModel.write(TinySpec.make(.llama), seed: 5)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await LanguageModel.load(
      path: path, device: .cpu, registry: .standard, options: ModelLoadOptions(contextLength: 4096))
    #expect(model.contextLength == 64)  // the tiny model's context_length
    #expect(model.kvCacheBytes == 2 * 2 * 64 * 2 * 64 * 2)
  }
}
