import Foundation
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// Batched decode: several sessions, each at its own position with its own cache, advance one token
/// each in one forward pass. Every session's logits are held to `TinyReference` (plain Double loops
/// over the dequantized weights) run on that session's own sequence alone.
@Suite struct BatchDecoderTests {
  /// Three sequences that differ from their first token on, of different prompt lengths.
  static func sequences() -> [[Int32]] {
    (0..<3).map { s in
      var ids: [Int32] = [1]
      for i in 1..<(12 + 2 * s) { ids.append(Int32(3 + (i * (37 + 10 * s) + 11 * s) % 317)) }
      return ids
    }
  }

  @Test(arguments: TinySpec.Arch.allCases)
  func everyRowMatchesItsOwnSequence(_ arch: TinySpec.Arch) async throws {
    let spec = TinySpec.make(arch)
    let path = try TinyModel.write(spec, seed: 5)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await ModelForwardTests.load(path)
    let sequences = Self.sequences()
    let references = try sequences.map { try TinyReference(spec: spec, path: path).logits($0) }
    // Prompts of 5, 7 and 9 tokens, then batched steps through the rest (the shortest first runs
    // out: the batch shrinks to the sessions still going, which records a plan for that set).
    let prompts = [5, 7, 9]
    let sessions = try sequences.indices.map { _ in try model.makeSession() }
    for i in sessions.indices { try sessions[i].evaluate(tokens: Array(sequences[i][..<prompts[i]])) }
    let decoder = try BatchDecoder(model: model, maxBatch: 4)
    while true {
      let live = sessions.indices.filter { sessions[$0].position < sequences[$0].count }
      guard !live.isEmpty else { break }
      let tokens = live.map { sequences[$0][sessions[$0].position] }
      try decoder.decode(live.map { sessions[$0] }, tokens: tokens)
      for i in live {
        let p = sessions[i].position - 1
        let e = sessions[i].withLastLogits { nmse(Array($0), references[i][p]) }
        #expect(e <= ModelForwardTests.tolerance, "\(arch) sequence \(i) position \(p): NMSE \(e)")
      }
    }
    for i in sessions.indices { #expect(sessions[i].tokens == sequences[i]) }
  }

  @Test func greedyIdsAreTheReferenceArgmax() async throws {
    let spec = TinySpec.make(.llama)
    let path = try TinyModel.write(spec, seed: 9)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await ModelForwardTests.load(path)
    let sequences = Self.sequences()
    let sessions = try sequences.map { seq -> Session in
      let s = try model.makeSession()
      try s.evaluate(tokens: Array(seq[..<6]))
      return s
    }
    let decoder = try BatchDecoder(model: model, maxBatch: 3)
    for step in 6..<10 {
      let ids = try decoder.decodeGreedy(sessions, tokens: sequences.map { $0[step] })
      for (i, id) in ids.enumerated() {
        let reference = try TinyReference(spec: spec, path: path).logits(Array(sequences[i][...step]))[step]
        let best = reference.max()!
        // The chosen id is the reference's largest logit, up to the NMSE tolerance's rounding.
        #expect(best - reference[Int(id)] <= 1e-3 * max(1, abs(best)), "sequence \(i) step \(step): id \(id)")
      }
    }
    for (i, s) in sessions.enumerated() { #expect(s.tokens == Array(sequences[i][..<10])) }
  }

  @Test func badBatchesAreTypedErrors() async throws {
    let spec = TinySpec.make(.qwen2)
    let path = try TinyModel.write(spec, seed: 3)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await ModelForwardTests.load(path)
    let other = try await ModelForwardTests.load(path)
    let a = try model.makeSession()
    let b = try model.makeSession()
    let decoder = try BatchDecoder(model: model, maxBatch: 2)
    #expect(throws: ModelError.emptyInput) { try decoder.decode([], tokens: []) }
    #expect(throws: QuantaError.self) { try decoder.decode([a, a], tokens: [1, 2]) }
    #expect(throws: QuantaError.self) { try decoder.decode([a, b], tokens: [1]) }
    #expect(throws: QuantaError.self) {
      try decoder.decode([a, b, try model.makeSession()], tokens: [1, 2, 3])
    }
    #expect(throws: QuantaError.self) { try decoder.decode([a, try other.makeSession()], tokens: [1, 2]) }
    #expect(throws: ModelError.invalidToken(id: -1, vocabularySize: model.config.vocabularySize)) {
      try decoder.decode([a, b], tokens: [1, -1])
    }
    // A full session: nothing of the batch is evaluated.
    try b.evaluate(tokens: [Int32](repeating: 5, count: b.contextLength))
    #expect(throws: ModelError.contextFull(limit: b.contextLength)) {
      try decoder.decode([a, b], tokens: [1, 2])
    }
    #expect(a.position == 0)
  }
}
