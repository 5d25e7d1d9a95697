import Foundation
import GGUF
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// The mixture-of-experts families against `TinyReference` (Double loops: softmax router, top-k,
/// normalized weights, each picked expert's SwiGLU FFN): Mixtral-style llama here (qwen3moe runs
/// in `ModelForwardTests` with every architecture), prompts split into batches of several sizes
/// (each expert's group then holds one token or several), and the declarations the loader picks.
@Suite struct ModelExpertsTests {
  /// The smallest router-logit gap at the top-k boundary the comparisons accept: the model's
  /// logits differ from the Double ones by ~0.01 (8-bit activations), so a closer call could
  /// route differently and the comparison would test rounding, not the code. The seeds below give
  /// gaps above it (checked first, so a change that makes a near-tie says so).
  static let routingMargin = 0.05

  static func reference(_ spec: TinySpec, _ path: String, _ tokens: [Int32]) throws -> [[Double]] {
    let r = try TinyReference(spec: spec, path: path)
    let logits = try r.logits(tokens)
    try #require(
      r.routingGaps.minimum >= routingMargin,
      "the reference routes a token by a logit gap of \(r.routingGaps.minimum): pick another seed")
    return logits
  }

  static func mixtralSpec() -> TinySpec {
    var s = TinySpec.make(.llama)
    s.layers = 2
    (s.experts, s.expertsUsed, s.expertFF) = (4, 2, s.ff)
    s.types = (.q8_0, .q8_0, .q4_K, .q6_K, .q8_0)
    return s
  }

  @Test func mixtralLogitsMatchReference() async throws {
    let spec = Self.mixtralSpec()
    let path = try TinyModel.write(spec, seed: 22)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let sequence = ModelForwardTests.sequence(12)
    let reference = try Self.reference(spec, path, sequence)
    let model = try await ModelForwardTests.load(path)
    #expect(model.config.architecture == .mixtral)
    #expect(model.config.expertCount == 4 && model.config.expertUsedCount == 2)
    #expect(model.config.expertFeedForwardLength == spec.ff)
    let session = try model.makeSession()
    let rows = try session.evaluateAll(tokens: Array(sequence[..<8]))
    for (i, row) in rows.enumerated() {
      #expect(
        nmse(row, reference[i]) <= ModelForwardTests.tolerance, "batch row \(i): \(nmse(row, reference[i]))")
    }
    for i in 8..<sequence.count {
      let logits = try session.evaluate(tokens: [sequence[i]])
      #expect(
        nmse(logits, reference[i]) <= ModelForwardTests.tolerance,
        "decode \(i): \(nmse(logits, reference[i]))")
    }
  }

  @Test(arguments: [1, 3, 5])
  func qwen3moeInBatchesOf(_ batch: Int) async throws {
    let spec = TinySpec.make(.qwen3moe)
    let path = try TinyModel.write(spec, seed: 4)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let sequence = ModelForwardTests.sequence(11)
    let reference = try Self.reference(spec, path, sequence)
    let model = try await ModelForwardTests.load(path, batchSize: batch)
    #expect(model.config.architecture == .qwen3moe && model.config.expertFeedForwardLength == spec.expertFF)
    let rows = try model.makeSession().evaluateAll(tokens: sequence)
    for (i, row) in rows.enumerated() {
      #expect(nmse(row, reference[i]) <= ModelForwardTests.tolerance, "row \(i): \(nmse(row, reference[i]))")
    }
  }

  @Test func theLoaderPicksTheTableByExpertCount() throws {
    let dense = TinySpec.make(.llama)
    let densePath = try TinyModel.write(dense, seed: 2)
    defer { try? FileManager.default.removeItem(atPath: densePath) }
    let moePath = try TinyModel.write(Self.mixtralSpec(), seed: 2)
    defer { try? FileManager.default.removeItem(atPath: moePath) }
    let denseConfig = try ModelConfig(file: try GGUFFile(path: densePath))
    let moeConfig = try ModelConfig(file: try GGUFFile(path: moePath))
    #expect(denseConfig.architecture == .llama && !denseConfig.architecture.hasExperts)
    #expect(moeConfig.architecture == .mixtral && moeConfig.architecture != .llama)
    #expect(denseConfig.expertCount == 0)
  }

  @Test func moreExpertsUsedThanThereAreIsATypedError() throws {
    var spec = Self.mixtralSpec()
    spec.expertsUsed = 5
    let path = try TinyModel.write(spec, seed: 3)
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(throws: ModelError.self) { try ModelConfig(file: try GGUFFile(path: path)) }
  }
}
