import Foundation
import QuantaLM
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

  @Test func chunksReplaceTheFirstTokenWithBOSAndScoreTheSecondHalf() throws {
    let tokens: [Int32] = (0..<21).map { Int32($0 % 5) + 1 }  // 2 chunks of 8; 5 tokens left over
    let vocabulary = 6
    let context = 8
    var seen: [[Int32]] = []
    var lines: [String] = []
    // The model puts logit ln 3 on the token that really follows at every position: each scored
    // NLL is −log(3 / (3 + 5)) = ln(8/3).
    let result = try Perplexity.run(
      tokens: tokens, context: context, bos: 0, vocabulary: vocabulary,
      evaluate: { chunk, first, row in
        seen.append(chunk)
        #expect(first == context / 2)
        for p in first..<context {
          var logits = [Float](repeating: 0, count: vocabulary)
          if p + 1 < context { logits[Int(chunk[p + 1])] = Float(log(3.0)) }
          try logits.withUnsafeBufferPointer { try row(p, $0) }
        }
      },
      chunkDone: { i, ppl in lines.append(String(format: "[%d]%.4f", i, ppl)) })
    #expect(seen == [[0, 2, 3, 4, 5, 1, 2, 3], [0, 5, 1, 2, 3, 4, 5, 1]])
    #expect(result.chunks == 2)
    #expect(result.scoredTokens == 2 * (context - context / 2 - 1))
    #expect(abs(result.perplexity - 8.0 / 3) < 1e-6)
    #expect(lines == ["[1]2.6667", "[2]2.6667"])
    #expect(result.finalLine.hasPrefix("Final estimate: PPL = 2.6667 +/- "))
  }

  @Test func badInputAndBadModelOutputAreTypedErrors() {
    #expect(throws: Perplexity.Failure.tooFewTokens(have: 15, need: 16, context: 8)) {
      _ = try Perplexity.run(
        tokens: [Int32](repeating: 1, count: 15), context: 8, bos: 0, vocabulary: 4, evaluate: { _, _, _ in })
    }
    #expect(throws: Perplexity.Failure.tokenOutOfRange(9, vocabulary: 4)) {
      _ = try Perplexity.run(
        tokens: [Int32](repeating: 9, count: 16), context: 8, bos: 0, vocabulary: 4, evaluate: { _, _, _ in })
    }
    // Too few rows, and a row of the wrong width.
    #expect(throws: Perplexity.Failure.logitRows(expected: 4, got: 0)) {
      _ = try Perplexity.run(
        tokens: [Int32](repeating: 1, count: 16), context: 8, bos: 0, vocabulary: 4, evaluate: { _, _, _ in })
    }
    #expect(throws: Perplexity.Failure.logitRow(position: 4, expected: 4, values: 3, vocabulary: 4)) {
      _ = try Perplexity.run(
        tokens: [Int32](repeating: 1, count: 16), context: 8, bos: 0, vocabulary: 4,
        evaluate: { _, first, row in
          try [Float](repeating: 0, count: 3).withUnsafeBufferPointer { try row(first, $0) }
        })
    }
  }

  /// The real model on a short text: finite, in a sane range, and the same value twice.
  @Test func realModelIsFiniteAndReproducible() async throws {
    var settings = ModelSettings()
    settings.modelPath = try RunTestModels.gemma3()
    settings.contextSize = 16
    settings.threads = 2
    let model = try await settings.loadModel().model
    let text = """
      The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single \
      step. All that glitters is not gold, and not all those who wander are lost.
      """
    let tokens = model.tokenizer.encode(text)
    #expect(tokens.count >= 32)
    /// `split`: the CLI's way (first half for the cache only); else every row of the chunk at once.
    func once(split: Bool) throws -> Perplexity.Result {
      let session = try model.makeSession()
      return try Perplexity.run(
        tokens: tokens, context: 16, bos: model.tokenizer.vocabulary.bos,
        vocabulary: model.config.vocabularySize,
        evaluate: { chunk, first, row in
          session.reset()
          if split {
            try session.evaluate(tokens: Array(chunk[..<first]))
            try session.evaluateAll(tokens: Array(chunk[first...])) { i, logits in try row(first + i, logits)
            }
          } else {
            try session.evaluateAll(tokens: chunk) { i, logits in if i >= first { try row(i, logits) } }
          }
        })
    }
    let a = try once(split: true)
    let b = try once(split: true)
    let whole = try once(split: false)
    #expect(
      abs(whole.perplexity - a.perplexity) / a.perplexity < 1e-3, "\(whole.perplexity) vs \(a.perplexity)")
    #expect(a.chunks == tokens.count / 16)
    #expect(a.scoredTokens == a.chunks * 7)
    #expect(a.perplexity.isFinite && a.perplexity > 1 && a.perplexity < 10_000, "\(a.perplexity)")
    #expect(a.uncertainty.map { $0.isFinite && $0 > 0 } == true)
    #expect(a.perplexity == b.perplexity)
  }
}
