import Foundation
import GGUF
import Testing

@testable import QuantaLM

@Suite struct TokenizerTests {
  /// A tiny SPM vocabulary: bytes, a few merges with scores, a control and a user-defined token.
  static func spmVocabulary() -> Vocabulary {
    var tokens = ["<unk>", "<s>", "</s>", "<ctl>", "\n\n"]
    var types: [Vocabulary.TokenType] = [.unknown, .control, .control, .control, .userDefined]
    var scores: [Float] = [0, 0, 0, 0, 0]
    for b in 0..<256 {
      tokens.append("<0x" + String(b, radix: 16, uppercase: true).leftPadded(to: 2) + ">")
      types.append(.byte)
      scores.append(0)
    }
    for (text, score) in [
      ("▁", -1.0), ("h", -2), ("e", -2), ("l", -2), ("o", -2), ("he", -3), ("ll", -3),
      ("hell", -4), ("hello", -5), ("▁hello", -6), ("w", -2), ("r", -2), ("d", -2), ("▁w", -4),
    ] as [(String, Float)] {
      tokens.append(text)
      types.append(.normal)
      scores.append(score)
    }
    return Vocabulary(
      model: .spm, tokens: tokens, scores: scores, types: types, bos: 1, eos: 2, unknown: 0,
      addBOS: true, addSpacePrefix: true)
  }

  @Test func spmMergesByScoreAndFallsBackToBytes() throws {
    let v = Self.spmVocabulary()
    let t = try Tokenizer(v)
    let ids = t.encode("hello wx")
    let texts = ids.map { v.tokens[Int($0)] }
    // BOS, "▁hello" (space prefix), "▁w", then 'x' has no token: byte fallback <0x78>.
    #expect(texts == ["<s>", "▁hello", "▁w", "<0x78>"])
    #expect(t.decode(ids) == " hello wx")
  }

  @Test func controlTokensOnlyWhenAskedUserDefinedAlways() throws {
    let v = Self.spmVocabulary()
    let t = try Tokenizer(v)
    let plain = t.encode("<ctl>", addSpecial: false)
    #expect(!plain.contains(3))
    let parsed = t.encode("<ctl>hello", addSpecial: false, parseSpecial: true)
    #expect(parsed.first == 3)
    #expect(v.tokens[Int(parsed[1])] == "▁hello")  // space prefix after a special token
    let userDefined = t.encode("hello\n\nhello", addSpecial: false)
    #expect(userDefined.contains(4))
  }

  @Test func streamingNeverSplitsACharacter() throws {
    let v = Self.spmVocabulary()
    let t = try Tokenizer(v)
    // "é" is 0xC3 0xA9: two byte tokens; the first alone must print nothing.
    let ids = t.encode("é", addSpecial: false)
    #expect(ids.count >= 2)
    var stream = StreamingDecoder(t)
    var out = ""
    var emptyAfterFirst = false
    for (i, id) in ids.enumerated() {
      let piece = stream.append(id)
      if i == 0 { emptyAfterFirst = piece.isEmpty || piece == " " }
      out += piece
    }
    out += stream.flush()
    #expect(emptyAfterFirst)
    #expect(out == " é")
  }

  @Test func bpeByteLevelWithMerges() throws {
    // Byte-level alphabet + merges "h e", "he l", "hel l", "hell o", "Ġ w".
    var tokens: [String] = []
    for b in 0..<256 { tokens.append(String(GPT2Bytes.unicode(for: UInt8(b)))) }
    tokens += ["he", "hel", "hell", "hello", "Ġw"]
    let v = Vocabulary(
      model: .bpe, tokens: tokens, merges: ["h e", "he l", "hel l", "hell o", "Ġ w"], preTokenizer: "gpt2")
    let t = try Tokenizer(v)
    let ids = t.encode("hello world", addSpecial: false)
    let texts = ids.map { v.tokens[Int($0)] }
    #expect(texts == ["hello", "Ġw", "o", "r", "l", "d"])
    #expect(t.decode(ids) == "hello world")
  }

  @Test func preTokenizersSplitLikeUpstream() throws {
    let llama3 = try BPEPreTokenizer(name: "llama-bpe")
    #expect(
      llama3.split("Hello world's 12345 ok!!\n\n") == [
        "Hello", " world", "'s", " ", "123", "45", " ok", "!!\n\n",
      ])
    let qwen2 = try BPEPreTokenizer(name: "qwen2")
    #expect(qwen2.split("ab 123") == ["ab", " ", "1", "2", "3"])
    #expect(throws: TokenizerError.self) { try BPEPreTokenizer(name: "no-such-pre") }
  }

  @Test func inconsistentMetadataIsATypedError() throws {
    var m = GGUFMetadata()
    m.set("tokenizer.ggml.model", .string("llama"))
    m.set("tokenizer.ggml.tokens", .array(GGUFArray(.string(["a", "b"]))))
    m.set("tokenizer.ggml.scores", .array(GGUFArray(.float32([0]))))
    #expect(throws: TokenizerError.self) { try Vocabulary(metadata: m) }
    m.set("tokenizer.ggml.scores", .array(GGUFArray(.float32([0, 0]))))
    m.set("tokenizer.ggml.bos_token_id", .uint32(7))
    #expect(throws: TokenizerError.self) { try Vocabulary(metadata: m) }
  }
}
