import Foundation
import QuantaQuantize

/// llama.cpp's handling of command-line text (common/common.cpp, common/arg.cpp), for `run` and
/// `tokenize`.
public enum CLIText {
  /// llama.cpp's `string_process_escapes`: `\n` `\r` `\t` `\'` `\"` `\\` and `\xHH` (one byte);
  /// any other backslash is kept as written.
  public static func processEscapes(_ text: String) -> String {
    let s = Array(text.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(s.count)
    var i = 0
    while i < s.count {
      guard s[i] == UInt8(ascii: "\\"), i + 1 < s.count else {
        out.append(s[i])
        i += 1
        continue
      }
      let c = s[i + 1]
      let simple: [UInt8: UInt8] = [
        UInt8(ascii: "n"): 10, UInt8(ascii: "r"): 13, UInt8(ascii: "t"): 9, UInt8(ascii: "'"): 39,
        UInt8(ascii: "\""): 34, UInt8(ascii: "\\"): 92,
      ]
      if let byte = simple[c] {
        out.append(byte)
        i += 2
      } else if c == UInt8(ascii: "x"), i + 3 < s.count,
        let byte = UInt8(String(decoding: s[(i + 2)...(i + 3)], as: UTF8.self), radix: 16)
      {
        out.append(byte)
        i += 4
      } else {
        out.append(s[i])
        i += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// `-f FILE`: the file's text without one trailing newline, as llama.cpp reads a prompt file.
  public static func prompt(fromFile path: String) throws -> String {
    guard FileManager.default.fileExists(atPath: path) else {
      throw QuantaToolError.invalidArgument("-f \(path): no such file")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw QuantaToolError.invalidArgument("-f \(path): cannot be read")
    }
    var text = String(decoding: data, as: UTF8.self)
    if text.hasSuffix("\n") { text.removeLast() }
    return text
  }

  /// `-l/--logit-bias TOKEN_ID(+|-)BIAS`, as llama.cpp: `15043+1`, `15043-1.5`, `2-inf`.
  public static func logitBias(_ text: String) throws -> (token: Int32, bias: Float) {
    let sign = text.dropFirst().firstIndex { $0 == "+" || $0 == "-" }
    guard let sign, let token = Int32(text[..<sign]), token >= 0,
      let magnitude = Float(text[text.index(after: sign)...])
    else {
      throw QuantaToolError.invalidArgument(
        "--logit-bias \(text): expected TOKEN_ID(+|-)BIAS, e.g. 15043+1 or 2-inf")
    }
    return (token, text[sign] == "-" ? -magnitude : magnitude)
  }

  /// `-fa` is a flag in older llama.cpp and takes `on|off|auto` in newer: a value after it is
  /// dropped (attention is always the flash kind here), and `off` is refused.
  public static func flashAttentionValues(_ arguments: [String]) throws -> [String] {
    var out: [String] = []
    var i = 0
    while i < arguments.count {
      out.append(arguments[i])
      if arguments[i] == "-fa" || arguments[i] == "--flash-attn", i + 1 < arguments.count {
        switch arguments[i + 1].lowercased() {
        case "on", "auto", "1", "true": i += 1
        case "off", "0", "false":
          throw QuantaToolError.invalidArgument(
            "\(arguments[i]) \(arguments[i + 1]): Quanta's attention is always flash attention")
        default: break
        }
      }
      i += 1
    }
    return out
  }

  /// The first argument that ArgumentParser would split into single letters (`-hf` is `-h -f`:
  /// help and exit 0) but that is not one of the `known` single-dash words (`-ngl`, `-sys`, …).
  /// Negative numbers (`-n -1`) are values, not flags.
  public static func unsupportedSingleDash(_ arguments: [String], known: Set<String>) -> String? {
    for a in arguments {
      if a == "--" { return nil }
      guard a.hasPrefix("-"), !a.hasPrefix("--"), a.count > 2 else { continue }
      let word = String(a.split(separator: "=", maxSplits: 1)[0])
      if known.contains(word) || Double(a) != nil { continue }
      return a
    }
    return nil
  }
}
