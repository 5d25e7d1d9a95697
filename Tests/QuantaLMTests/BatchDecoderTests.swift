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

  /// A tiny model of `spec`, the Double reference's logits of each sequence on it, and for each
  /// sequence the positions before its first near-tie in routing (all of them without experts). A
  /// token the reference routes by a router-logit gap under `ModelExpertsTests.routingMargin` can
  /// pick another expert on rounding alone (a batched row sums in another order than a single one),
  /// and that changes it and every later position (they attend to it), so only the positions
  /// before it are compared. A mixture of experts takes the first seed from 5 on that leaves every
  /// sequence at least two batched steps to compare.
  static func writeModel(_ spec: TinySpec, sequences: [[Int32]], prompts: [Int]) throws
    -> (path: String, logits: [[[Double]]], clearUntil: [Int])
  {
    for seed in UInt64(5)..<80 {
      let path = try TinyModel.write(spec, seed: seed)
      let reference = try TinyReference(spec: spec, path: path)
      var logits: [[[Double]]] = []
      var clear: [Int] = []
      for sequence in sequences {
        logits.append(try reference.logits(sequence))
        // Gaps are logged layer by layer, each layer token by token.
        let n = sequence.count, gaps = reference.routingGaps.values
        let first = (0..<n).first { t in
          stride(from: t, to: gaps.count, by: n).contains { gaps[$0] < ModelExpertsTests.routingMargin }
        }
        clear.append(first ?? n)
      }
      if zip(clear, prompts).allSatisfy({ $0 >= $1 + 2 }) { return (path, logits, clear) }
      try? FileManager.default.removeItem(atPath: path)
    }
    throw TestFailure("no seed in 5..<80 leaves two clearly routed batched steps per sequence")
  }
  struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
  }

  @Test(arguments: TinySpec.Arch.allCases)
  func everyRowMatchesItsOwnSequence(_ arch: TinySpec.Arch) async throws {
    let spec = TinySpec.make(arch)
    let sequences = Self.sequences()
    // Prompts of 5, 7 and 9 tokens, then batched steps through the rest (the shortest first runs
    // out: the batch shrinks to the sessions still going, which records a plan for that set).
    // (2, 3 and 4 with experts, so that the batched steps start before a near-tie is likely.)
    let prompts = spec.experts > 0 ? [2, 3, 4] : [5, 7, 9]
    let (path, references, clearUntil) = try Self.writeModel(spec, sequences: sequences, prompts: prompts)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await ModelForwardTests.load(path)
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
        guard p < clearUntil[i] else { continue }
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
