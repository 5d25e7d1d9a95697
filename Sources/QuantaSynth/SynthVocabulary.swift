import GGUF
import QuantaLM

/// The tokenizer a synthetic model carries: the real model's kind (SPM or byte-level BPE), its
/// special tokens at their real ids, and generated regular tokens to fill the vocabulary. Generated
/// tokens are valid for llama.cpp's loader: all distinct, BPE tokens made only of the 256 GPT-2
/// byte characters, every BPE token after the bytes the merge of two earlier ones (one merge each).
public struct SynthTokenizer: Sendable {
  public enum Model: String, Sendable {
    case spm = "llama"
    case bpe = "gpt2"
  }

  /// llama.cpp's `llama_token_type` values.
  public enum TokenType: Int32, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
  }

  public struct Special: Sendable, Equatable {
    public var id: Int
    public var text: String
    public var type: TokenType
  }

  public var model: Model
  /// `tokenizer.ggml.pre` (BPE only).
  public var pre: String?
  public var vocabularySize: Int
  public var specials: [Special]
  /// SPM: id of `<0x00>`; the 256 byte tokens follow it.
  public var byteStart: Int
  /// BPE: ids below this are bytes and merged tokens; free ids at or above it are `[PADn]` (unused).
  public var regularCount: Int
  public var bos: Int?
  public var eos: Int?
  public var eot: Int?
  public var unknown: Int?
  public var padding: Int?
  public var addBOS: Bool
  /// Written only when set (llama.cpp's default: true for SPM, false for BPE).
  public var addSpacePrefix: Bool?

  /// Llama 2's SentencePiece layout: `<unk>` 0, `<s>` 1, `</s>` 2, then the byte tokens.
  public static func llama2(vocabularySize: Int) -> SynthTokenizer {
    SynthTokenizer(
      model: .spm, pre: nil, vocabularySize: vocabularySize,
      specials: [
        Special(id: 0, text: "<unk>", type: .unknown), Special(id: 1, text: "<s>", type: .control),
        Special(id: 2, text: "</s>", type: .control),
      ],
      byteStart: 3, regularCount: vocabularySize, bos: 1, eos: 2, eot: nil, unknown: 0, padding: nil,
      addBOS: true, addSpacePrefix: nil)
  }

  /// Phi-3's SentencePiece layout: Llama 2's, then its added tokens from `addedStart` on
  /// (`<|endoftext|>` 32000, the end of text and padding; `<|end|>` 32007, the end of a turn). llama.cpp
  /// looks these up by name in files whose `general.name` says phi3.
  public static func phi3(vocabularySize: Int, addedStart: Int) -> SynthTokenizer {
    var tokenizer = llama2(vocabularySize: vocabularySize)
    let added = [
      "<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>", "<|placeholder3|>",
      "<|placeholder4|>", "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>",
    ]
    tokenizer.specials += added.enumerated().map { i, t in
      // HF marks the chat markers special (control); the placeholders are plain added tokens.
      Special(id: addedStart + i, text: t, type: t.hasPrefix("<|placeholder") ? .userDefined : .control)
    }
    tokenizer.eos = addedStart
    tokenizer.eot = addedStart + 7
    tokenizer.padding = addedStart
    return tokenizer
  }

  /// Llama 3's tiktoken layout: bytes, merged tokens, then 256 special tokens (the last 256 ids).
  /// - Parameter version31: Llama 3.1+ names (`<|finetune_right_pad_id|>`, `<|eom_id|>`,
  ///   `<|python_tag|>`); 3.0 has reserved tokens there.
  public static func llama3(vocabularySize: Int, version31: Bool) -> SynthTokenizer {
    let start = vocabularySize - 256
    var named: [Int: String] = [
      0: "<|begin_of_text|>", 1: "<|end_of_text|>", 6: "<|start_header_id|>", 7: "<|end_header_id|>",
      9: "<|eot_id|>",
    ]
    if version31 {
      named[4] = "<|finetune_right_pad_id|>"
      named[8] = "<|eom_id|>"
      named[10] = "<|python_tag|>"
    }
    var specials: [Special] = []
    var reserved = 0
    for offset in 0..<256 {
      let text: String
      if let n = named[offset] {
        text = n
      } else {
        text = "<|reserved_special_token_\(reserved)|>"
        reserved += 1
      }
      specials.append(Special(id: start + offset, text: text, type: .control))
    }
    return SynthTokenizer(
      model: .bpe, pre: "llama-bpe", vocabularySize: vocabularySize, specials: specials, byteStart: 0,
      regularCount: start, bos: start, eos: start + 1, eot: start + 9, unknown: nil, padding: nil,
      addBOS: true, addSpacePrefix: nil)
  }

  /// Gemma 3's SentencePiece layout: `<pad>` 0, `<eos>` 1, `<bos>` 2, `<unk>` 3, `<mask>` 4,
  /// `<unused0…98>`, `<start_of_turn>` 105, `<end_of_turn>` 106, then the byte tokens.
  public static func gemma3(vocabularySize: Int) -> SynthTokenizer {
    var specials = [
      Special(id: 0, text: "<pad>", type: .control), Special(id: 1, text: "<eos>", type: .control),
      Special(id: 2, text: "<bos>", type: .control), Special(id: 3, text: "<unk>", type: .unknown),
      Special(id: 4, text: "<mask>", type: .userDefined),
    ]
    for i in 5..<105 { specials.append(Special(id: i, text: "<unused\(i - 5)>", type: .unused)) }
    specials.append(Special(id: 105, text: "<start_of_turn>", type: .control))
    specials.append(Special(id: 106, text: "<end_of_turn>", type: .control))
    return SynthTokenizer(
      model: .spm, pre: nil, vocabularySize: vocabularySize, specials: specials, byteStart: 107,
      regularCount: vocabularySize, bos: 2, eos: 1, eot: 106, unknown: 3, padding: 0, addBOS: true,
      addSpacePrefix: false)
  }

  /// Qwen2/Qwen3's layout: `regularCount` bytes and merged tokens, the added tokens
  /// (`<|endoftext|>` first), then `[PADn]` up to the padded vocabulary size.
  public static func qwen(vocabularySize: Int, regularCount: Int, qwen3: Bool) -> SynthTokenizer {
    var texts = [
      "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
      "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
      "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
      "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
    ]
    if qwen3 { texts += ["<tool_response>", "</tool_response>", "<think>", "</think>"] }
    // Tokens not written as <|…|> are plain added tokens (user-defined), as in the real files.
    let specials = texts.enumerated().map { i, t in
      Special(id: regularCount + i, text: t, type: t.hasPrefix("<|") ? .control : .userDefined)
    }
    return SynthTokenizer(
      model: .bpe, pre: "qwen2", vocabularySize: vocabularySize, specials: specials, byteStart: 0,
      regularCount: regularCount, bos: regularCount, eos: regularCount, eot: regularCount + 2,
      unknown: nil, padding: regularCount, addBOS: false, addSpacePrefix: nil)
  }
}

/// A generated vocabulary, ready for `tokenizer.ggml.*`.
public struct SynthVocabulary: Sendable {
  public var tokens: [String]
  /// SPM only (BPE files carry none).
  public var scores: [Float]?
  public var types: [Int32]
  /// BPE only: "left right", in rank order.
  public var merges: [String]?
}

/// Deterministic generator for the vocabulary (fixed seed: every synthetic model of a preset
/// tokenizes alike, whatever `--seed` its weights use).
struct VocabularyRandom {
  var state: UInt64 = 0x5EED_70C3_A11C_E5ED
  mutating func next() -> UInt64 { splitMix64(&state) }
  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

extension SynthTokenizer {
  /// Frequent characters repeated so random words look a little like text.
  static let commonLetters = Array(
    "eeeeeettttttaaaaaooooiiiiinnnnnsssssshhhhrrrrrdddlllcccuuummwwffggyyppbbvkjxqz")
  static let maxGeneratedLength = 16

  public func build() -> SynthVocabulary {
    switch model {
    case .spm: return buildSPM()
    case .bpe: return buildBPE()
    }
  }

  private func placeSpecials(_ tokens: inout [String?], _ types: inout [Int32], _ seen: inout Set<String>) {
    for s in specials where s.id >= 0 && s.id < vocabularySize {
      tokens[s.id] = s.text
      types[s.id] = s.type.rawValue
      seen.insert(s.text)
    }
  }

  private func buildSPM() -> SynthVocabulary {
    let n = vocabularySize
    var tokens = [String?](repeating: nil, count: n)
    var types = [Int32](repeating: TokenType.normal.rawValue, count: n)
    var scores = [Float](repeating: 0, count: n)
    var seen = Set<String>()
    seen.reserveCapacity(n)
    placeSpecials(&tokens, &types, &seen)
    let hex = Array("0123456789ABCDEF")
    for b in 0..<256 where byteStart + b < n && tokens[byteStart + b] == nil {
      let text = "<0x" + String(hex[b >> 4]) + String(hex[b & 15]) + ">"
      tokens[byteStart + b] = text
      types[byteStart + b] = TokenType.byte.rawValue
      seen.insert(text)
    }
    // Pieces: the single characters first, then each new piece is an earlier one plus a character,
    // so SentencePiece's bigram merging can build every piece; scores fall with rank.
    let alphabet =
      ["▁"]
      + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()[]{}/\\@#$%&*+=_~^|`<>"
      .map(String.init)
    var pieces: [String] = []
    var lengths: [Int] = []
    var rng = VocabularyRandom()
    var next = 0
    var rank = 0
    func nextFree() -> Int? {
      while next < n && tokens[next] != nil { next += 1 }
      return next < n ? next : nil
    }
    func add(_ piece: String, length: Int) -> Bool {
      guard let id = nextFree() else { return false }
      guard seen.insert(piece).inserted else { return true }
      tokens[id] = piece
      scores[id] = -Float(rank)
      rank += 1
      pieces.append(piece)
      lengths.append(length)
      return true
    }
    for c in alphabet where !add(c, length: 1) { break }
    while let _ = nextFree() {
      let parent = rng.below(pieces.count)
      guard lengths[parent] < Self.maxGeneratedLength else { continue }
      // Mostly frequent letters, sometimes any character; words start with ▁.
      let r = rng.next()
      let c: String
      if r & 3 != 0 {
        c = String(Self.commonLetters[Int((r >> 2) % UInt64(Self.commonLetters.count))])
      } else {
        c = alphabet[Int((r >> 2) % UInt64(alphabet.count))]
      }
      _ = add(pieces[parent] + c, length: lengths[parent] + 1)
    }
    return SynthVocabulary(tokens: tokens.map { $0 ?? "" }, scores: scores, types: types, merges: nil)
  }

  private func buildBPE() -> SynthVocabulary {
    let n = vocabularySize
    var tokens = [String?](repeating: nil, count: n)
    var types = [Int32](repeating: TokenType.normal.rawValue, count: n)
    var seen = Set<String>()
    seen.reserveCapacity(n)
    placeSpecials(&tokens, &types, &seen)
    var pool: [String] = []  // bytes and merged tokens, by id
    var lengths: [Int] = []
    var merges: [String] = []
    // The 256 byte characters in GPT-2's bytes_to_unicode order (printable ones first), as the
    // first 256 ids of tiktoken-style vocabularies.
    let byteOrder = Array(33...126) + Array(161...172) + Array(174...255)
    let rest = (0..<256).filter { !byteOrder.contains($0) }
    var id = 0
    for b in byteOrder + rest {
      while id < n && tokens[id] != nil { id += 1 }
      guard id < regularCount && id < n else { break }
      let text = String(Character(gpt2Scalar(UInt8(b))))
      tokens[id] = text
      seen.insert(text)
      pool.append(text)
      lengths.append(1)
    }
    // Letters extend words; a word's leading space (Ġ) comes in as a left part, as in GPT-2's "Ġworld".
    let wordBytes = Array("eeettaaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ".utf8)
    let wordChars = wordBytes.map { String(Character(gpt2Scalar($0))) }
    var rng = VocabularyRandom()
    while true {
      while id < n && tokens[id] != nil { id += 1 }
      guard id < regularCount && id < n, !pool.isEmpty else { break }
      let left = rng.below(pool.count)
      let r = rng.next()
      let rightText: String
      let rightLength: Int
      if r & 1 == 0 {
        rightText = wordChars[Int((r >> 1) % UInt64(wordChars.count))]
        rightLength = 1
      } else {
        let right = Int((r >> 1) % UInt64(pool.count))
        rightText = pool[right]
        rightLength = lengths[right]
      }
      let length = lengths[left] + rightLength
      guard length <= Self.maxGeneratedLength else { continue }
      let text = pool[left] + rightText
      guard seen.insert(text).inserted else { continue }
      tokens[id] = text
      pool.append(text)
      lengths.append(length)
      merges.append(pool[left] + " " + rightText)
    }
    for i in 0..<n where tokens[i] == nil {
      tokens[i] = "[PAD\(i)]"
      types[i] = TokenType.unused.rawValue
    }
    return SynthVocabulary(tokens: tokens.map { $0 ?? "" }, scores: nil, types: types, merges: merges)
  }

  /// The `tokenizer.ggml.*` metadata of this tokenizer with `vocabulary`.
  func metadata(_ vocabulary: SynthVocabulary) -> [(String, GGUFValue)] {
    var out: [(String, GGUFValue)] = [("tokenizer.ggml.model", .string(model.rawValue))]
    if let pre { out.append(("tokenizer.ggml.pre", .string(pre))) }
    out.append(("tokenizer.ggml.tokens", .array(GGUFArray(.string(vocabulary.tokens)))))
    if let scores = vocabulary.scores {
      out.append(("tokenizer.ggml.scores", .array(GGUFArray(.float32(scores)))))
    }
    out.append(("tokenizer.ggml.token_type", .array(GGUFArray(.int32(vocabulary.types)))))
    if let merges = vocabulary.merges {
      out.append(("tokenizer.ggml.merges", .array(GGUFArray(.string(merges)))))
    }
    let ids: [(String, Int?)] = [
      ("bos", bos), ("eos", eos), ("eot", eot), ("unknown", unknown), ("padding", padding),
    ]
    for (name, id) in ids {
      if let id { out.append(("tokenizer.ggml.\(name)_token_id", .uint32(UInt32(id)))) }
    }
    out.append(("tokenizer.ggml.add_bos_token", .bool(addBOS)))
    out.append(("tokenizer.ggml.add_eos_token", .bool(false)))
    if let addSpacePrefix { out.append(("tokenizer.ggml.add_space_prefix", .bool(addSpacePrefix))) }
    return out
  }
}

/// GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the others to U+0100 onwards.
func gpt2Scalar(_ byte: UInt8) -> Unicode.Scalar {
  let b = Int(byte)
  let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
  if printable { return Unicode.Scalar(UInt32(b))! }
  var extra: UInt32 = 256
  for x in 0..<b {
    if !((33...126).contains(x) || (161...172).contains(x) || (174...255).contains(x)) { extra += 1 }
  }
  return Unicode.Scalar(extra)!
}
