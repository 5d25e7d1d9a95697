import Foundation
import Testing

@testable import QuantaTools

/// `quanta tokenize` output against the reference tokenizations of the real model.
@Suite struct TokenizeTests {
  /// (text, ids) pairs of ../shared/testdata/gemma3-270m/tokenize.txt.
  func reference() throws -> [(String, [Int32])] {
    let text = try String(
      contentsOfFile: try RunTestModels.sharedFile("testdata/gemma3-270m/tokenize.txt"), encoding: .utf8)
    return text.split(separator: "\n").compactMap { line in
      guard !line.hasPrefix("#") else { return nil }
      let parts = line.split(separator: "\t", maxSplits: 1)
      guard parts.count == 2 else { return nil }
      return (String(parts[0]), parts[1].split(separator: " ").compactMap { Int32($0) })
    }
  }

  @Test func idsReproduceTheReference() throws {
    let model = try RunTestModels.gemma3()
    let cases = try reference()
    #expect(!cases.isEmpty)
    for (text, ids) in cases {
      let (_, got) = try TokenizeReport.tokenize(modelPath: model, text: text)
      // The expected line is written from the file's numbers, not from the code under test.
      let expected = "[" + ids.map { "\($0)" }.joined(separator: ", ") + "]\n"
      #expect(TokenizeReport.idList(got) == expected, "\(text)")
    }
  }

  @Test func pieceLinesHaveLlamaTokenizeShape() throws {
    let model = try RunTestModels.gemma3()
    let (tokenizer, ids) = try TokenizeReport.tokenize(modelPath: model, text: "Hello world!")
    #expect(ids == [2, 9259, 1902, 236888])
    let text = String(decoding: TokenizeReport.pieceLines(ids, tokenizer: tokenizer), as: UTF8.self)
    #expect(text == "     2 -> '<bos>'\n  9259 -> 'Hello'\n  1902 -> ' world'\n236888 -> '!'\n")
  }

  @Test func noBOSAndParseSpecial() throws {
    let model = try RunTestModels.gemma3()
    let (_, plain) = try TokenizeReport.tokenize(modelPath: model, text: "Hello world!", addSpecial: false)
    #expect(plain == [9259, 1902, 236888])
    let (_, special) = try TokenizeReport.tokenize(
      modelPath: model, text: "<start_of_turn>user", addSpecial: false, parseSpecial: true)
    #expect(special.first == 105)  // <start_of_turn> as one id
    let (_, literal) = try TokenizeReport.tokenize(
      modelPath: model, text: "<start_of_turn>user", addSpecial: false)
    #expect(!literal.contains(105))
  }
}
