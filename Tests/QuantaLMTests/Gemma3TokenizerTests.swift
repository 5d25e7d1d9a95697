import Foundation
import GGUF
import Testing

@testable import QuantaLM

/// Tier 4: the real Gemma 3 vocabulary against the reference tokenizations in ../shared.
@Suite struct Gemma3TokenizerTests {
  @Test func reproducesReferenceTokenizations() throws {
    let file = try GGUFFile(path: try TestModels.gemma3())
    let tokenizer = try Tokenizer(try Vocabulary(metadata: file.metadata))
    let reference = try String(
      contentsOfFile: try TestModels.sharedFile("testdata/gemma3-270m/tokenize.txt"), encoding: .utf8)
    var cases = 0
    for line in reference.split(separator: "\n") where !line.hasPrefix("#") {
      let parts = line.split(separator: "\t", maxSplits: 1)
      guard parts.count == 2 else { continue }
      let expected = parts[1].split(separator: " ").map { Int32($0)! }
      let ids = tokenizer.encode(String(parts[0]))
      #expect(ids == expected, "\(parts[0])")
      // Decoding drops BOS and gives the text back.
      #expect(tokenizer.decode(ids) == String(parts[0]))
      cases += 1
    }
    #expect(cases > 0)
  }

  @Test func chatControlTokensParseAsSingleIDs() throws {
    let file = try GGUFFile(path: try TestModels.gemma3())
    let tokenizer = try Tokenizer(try Vocabulary(metadata: file.metadata))
    let ids = tokenizer.encode("<start_of_turn>user\nHi<end_of_turn>\n", parseSpecial: true)
    #expect(ids.first == 2)
    #expect(ids[1] == 105)  // <start_of_turn>
    #expect(ids.contains(106))  // <end_of_turn>
    let literal = tokenizer.encode("<start_of_turn>", parseSpecial: false)
    #expect(!literal.contains(105))
  }
}
