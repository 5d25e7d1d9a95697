import Foundation
import GGUF
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// Tier 4: Gemma 3 270M Q4_K_M reproduces the reference implementation's greedy continuation.
@Suite struct ModelGemma3Tests {
  @Test func greedyContinuationMatchesReference() async throws {
    let reference = try String(
      contentsOfFile: try TestModels.sharedFile("testdata/gemma3-270m/greedy.txt"), encoding: .utf8)
    var prompt: String?
    var expected: String?
    for line in reference.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("PROMPT: ") { prompt = String(line.dropFirst("PROMPT: ".count)) }
      if line.hasPrefix("OUTPUT: ") { expected = String(line.dropFirst("OUTPUT: ".count)) }
    }
    let model = try await LanguageModel.load(
      path: try TestModels.gemma3(), device: .cpu, registry: .standard, options: ModelLoadOptions(contextLength: 256))
    let (text, summary) = try await model.complete(
      prompt: try #require(prompt), options: GenerationOptions(maxTokens: 32, sampling: .greedy))
    print("gemma3 greedy ids: \(summary.tokenIDs.map(String.init).joined(separator: " "))")
    print("gemma3 greedy text: \(text)")
    #expect(summary.generatedTokens == 32)
    #expect(text == (try #require(expected)))
  }
}
