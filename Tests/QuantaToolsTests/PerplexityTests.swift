import Foundation
import Testing

@testable import QuantaTools

/// llama.cpp's perplexity method and its "+/-" formula on logits whose answer is known in closed form.
@Suite struct PerplexityTests {
  @Test func uniformLogitsGiveTheVocabularySize() {
    var acc = Perplexity.Accumulator()
    for t in 0..<5 { acc.add(logits: [0.5, 0.5, 0.5, 0.5], next: t % 4) }
    #expect(abs(acc.perplexity - 4) < 1e-12)
    #expect(acc.count == 5)
    #expect(acc.uncertainty == nil)  // zero variance: llama.cpp reports no estimate either
  }

  @Test func uncertaintyIsTheStandardErrorTimesPPL() {
    // logits [ln 3, 0]: p(0) = 3/4, p(1) = 1/4. NLLs ln(4/3) and ln 4: mean ln(16/3)/2, so
    // PPL = sqrt(16/3); their spread (ln 3)/2 is also the standard error with n − 1 = 1.
    var acc = Perplexity.Accumulator()
    acc.add(logits: [Float(log(3.0)), 0], next: 0)
    acc.add(logits: [Float(log(3.0)), 0], next: 1)
    #expect(abs(acc.perplexity - (16.0 / 3).squareRoot()) < 1e-6)
    let expected = log(3.0) / 2 * (16.0 / 3).squareRoot()
    #expect(abs((acc.uncertainty ?? 0) - expected) < 1e-6)
  }

  @Test func largeLogitsStayFinite() {
    var acc = Perplexity.Accumulator()
    acc.add(logits: [1000, 0, -1000], next: 0)
    acc.add(logits: [1000, 0, -1000], next: 1)
    #expect(acc.perplexity.isFinite)
    #expect(abs(acc.nll - 1000) < 1e-3)  // −log p ≈ 0 and 1000
  }

  @Test func chunksReplaceTheFirstTokenWithBOSAndScoreTheSecondHalf() async throws {
    let tokens: [Int32] = (0..<21).map { Int32($0 % 5) + 1 }  // 2 chunks of 8; 5 tokens left over
    let vocabulary = 6
    let context = 8
    var seen: [[Int32]] = []
    var lines: [String] = []
    // The model puts logit ln 3 on the token that really follows at every position: each scored
    // NLL is −log(3 / (3 + 5)) = ln(8/3).
    let result = try await Perplexity.run(
      tokens: tokens, context: context, bos: 0, vocabulary: vocabulary,
      evaluate: { chunk in
        seen.append(chunk)
        var logits = [Float](repeating: 0, count: context * vocabulary)
        for p in 0..<(context - 1) { logits[p * vocabulary + Int(chunk[p + 1])] = Float(log(3.0)) }
        return logits
      },
      chunkDone: { i, ppl in lines.append(String(format: "[%d]%.4f", i, ppl)) })
    #expect(seen == [[0, 2, 3, 4, 5, 1, 2, 3], [0, 5, 1, 2, 3, 4, 5, 1]])
    #expect(result.chunks == 2)
    #expect(result.scoredTokens == 2 * (context - context / 2 - 1))
    #expect(abs(result.perplexity - 8.0 / 3) < 1e-6)
    #expect(lines == ["[1]2.6667", "[2]2.6667"])
    #expect(result.finalLine.hasPrefix("Final estimate: PPL = 2.6667 +/- "))
  }

  @Test func tooShortTextIsATypedError() async {
    await #expect(throws: Perplexity.Failure.tooFewTokens(have: 15, need: 16, context: 8)) {
      _ = try await Perplexity.run(
        tokens: [Int32](repeating: 1, count: 15), context: 8, bos: 0, vocabulary: 4, evaluate: { _ in [] })
    }
    await #expect(throws: Perplexity.Failure.logitCount(expected: 32, got: 3)) {
      _ = try await Perplexity.run(
        tokens: [Int32](repeating: 1, count: 16), context: 8, bos: 0, vocabulary: 4, evaluate: { _ in [0, 0, 0] })
    }
  }
}
