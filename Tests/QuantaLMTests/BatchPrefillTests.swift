import Foundation
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// Several sessions' prompt chunks in one forward pass (`BatchDecoder.prefill`): each session's
/// last logits after its chunk, and after further batched decode steps (which read the cache the
/// prefill wrote), are held to `TinyReference` (plain Double loops over the dequantized weights)
/// run on that session's own sequence alone.
@Suite struct BatchPrefillTests {
  @Test(arguments: TinySpec.Arch.allCases)
  func chunksOfSeveralSessionsInOnePass(_ arch: TinySpec.Arch) async throws {
    let spec = TinySpec.make(arch)
    let path = try TinyModel.write(spec, seed: 5)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await ModelForwardTests.load(path)
    let sequences = BatchDecoderTests.sequences()
    let references = try sequences.map { try TinyReference(spec: spec, path: path).logits($0) }
    let sessions = try sequences.indices.map { _ in try model.makeSession() }
    // Session 0 starts empty; 1 and 2 already hold 2 and 4 tokens (different positions).
    try sessions[1].evaluate(tokens: Array(sequences[1][..<2]))
    try sessions[2].evaluate(tokens: Array(sequences[2][..<4]))
    let decoder = try BatchDecoder(model: model, maxBatch: 4)
    // Two rounds of chunks of unequal lengths (one of a single token), then batched decode.
    for lengths in [[5, 3, 1], [2, 6, 4]] {
      let chunks = sessions.indices.map { i in
        Array(sequences[i][sessions[i].position..<(sessions[i].position + lengths[i])])
      }
      try decoder.prefill(sessions, chunks: chunks)
      for i in sessions.indices {
        let p = sessions[i].position - 1
        let e = sessions[i].withLastLogits { nmse(Array($0), references[i][p]) }
        #expect(e <= ModelForwardTests.tolerance, "\(arch) sequence \(i) position \(p): NMSE \(e)")
      }
    }
    for _ in 0..<2 {
      try decoder.decode(sessions, tokens: sessions.indices.map { sequences[$0][sessions[$0].position] })
      for i in sessions.indices {
        let p = sessions[i].position - 1
        let e = sessions[i].withLastLogits { nmse(Array($0), references[i][p]) }
        #expect(
          e <= ModelForwardTests.tolerance, "\(arch) decode after prefill, sequence \(i) position \(p): \(e)")
      }
    }
    for i in sessions.indices { #expect(sessions[i].tokens == Array(sequences[i][..<sessions[i].position])) }
  }

  @Test func badChunksAreTypedErrors() async throws {
    let spec = TinySpec.make(.llama)
    let path = try TinyModel.write(spec, seed: 3)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await ModelForwardTests.load(path)
    let a = try model.makeSession()
    let b = try model.makeSession()
    let decoder = try BatchDecoder(model: model, maxBatch: 2)
    #expect(throws: ModelError.self) { try decoder.prefill([a, b], chunks: [[1, 2], []]) }
    #expect(throws: QuantaError.self) { try decoder.prefill([a, a], chunks: [[1], [2]]) }
    #expect(throws: ModelError.self) { try decoder.prefill([a], chunks: [[1, -4]]) }
    #expect(throws: (any Error).self) { try decoder.prefill([a, b], chunks: [[1]]) }
    // Nothing was evaluated.
    #expect(a.position == 0 && b.position == 0)
  }
}
