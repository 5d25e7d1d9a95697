import Foundation

/// GPT-2's reversible byte ↔ printable-character mapping (`bytes_to_unicode`).
enum GPT2Bytes {
  static let byteToScalar: [Unicode.Scalar] = {
    var table = [Unicode.Scalar](repeating: "\0", count: 256)
    var extra: UInt32 = 256
    for b in 0..<256 {
      let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
      if printable {
        table[b] = Unicode.Scalar(UInt32(b))!
      } else {
        table[b] = Unicode.Scalar(extra)!
        extra += 1
      }
    }
    return table
  }()

  static let scalarToByte: [UInt32: UInt8] = {
    var map: [UInt32: UInt8] = [:]
    for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
    return map
  }()

  static func unicode(for byte: UInt8) -> Character { Character(byteToScalar[Int(byte)]) }

  static func encode(_ bytes: [UInt8]) -> String {
    var s = String.UnicodeScalarView()
    for b in bytes { s.append(byteToScalar[Int(b)]) }
    return String(s)
  }

  /// Characters outside the mapping (added tokens written in plain text) pass through as UTF-8.
  static func decode(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    for scalar in text.unicodeScalars {
      if let b = scalarToByte[scalar.value] {
        out.append(b)
      } else {
        out += Array(String(scalar).utf8)
      }
    }
    return out
  }
}

/// The regex pre-tokenizer of a BPE vocabulary, chosen by `tokenizer.ggml.pre` as llama.cpp does.
/// The expressions are applied one after another, each splitting every piece of the previous one
/// into its matches and the text between them.
struct BPEPreTokenizer: @unchecked Sendable {
  // NSRegularExpression is immutable and documented thread-safe for matching; it is not marked
  // Sendable in swift-corelibs-foundation, hence @unchecked.
  private let expressions: [NSRegularExpression]

  static let gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
  static let llama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
  static let qwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

  /// Pre-tokenizer names (as converters write them) → llama.cpp's expression lists.
  static func expressions(for name: String) -> [String]? {
    switch name {
    case "default":
      return ["[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"]
    case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx", "smaug-bpe":
      return [llama3]
    case "qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan":
      return [qwen2]
    case "gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "roberta-bpe", "jina-es", "jina-de",
      "jina-v1-en", "jina-v2-es", "jina-v2-de", "trillion":
      return [gpt2]
    case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
      return ["\\p{N}", gpt2]
    default:
      return nil
    }
  }

  init(name: String) throws {
    guard let patterns = Self.expressions(for: name) else {
      throw TokenizerError.unsupportedPreTokenizer(name)
    }
    expressions = try patterns.map { try NSRegularExpression(pattern: $0) }
  }

  func split(_ text: String) -> [String] {
    var pieces = [text]
    for regex in expressions {
      var next: [String] = []
      for piece in pieces {
        let ns = piece as NSString
        var cursor = 0
        for match in regex.matches(in: piece, range: NSRange(location: 0, length: ns.length)) {
          let r = match.range
          guard r.length > 0 else { continue }
          if r.location > cursor {
            next.append(ns.substring(with: NSRange(location: cursor, length: r.location - cursor)))
          }
          next.append(ns.substring(with: r))
          cursor = r.location + r.length
        }
        if cursor < ns.length { next.append(ns.substring(from: cursor)) }
      }
      pieces = next
    }
    return pieces
  }
}
