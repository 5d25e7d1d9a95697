import Foundation

/// A chat template (a GGUF's `tokenizer.chat_template`) run by Quanta's own interpreter of the
/// Jinja subset that chat templates use, with the settings of Hugging Face's
/// `apply_chat_template` (`trim_blocks`, `lstrip_blocks`, `raise_exception`, `strftime_now`, its
/// `tojson`, loop controls).
///
/// The template is data (RELIABILITY.md A16): only dict keys, loop variables, namespace attributes
/// and a fixed list of filters, tests and string/dict methods are reachable; loops, recursion and
/// output are bounded (`JinjaLimits`); anything else is a `JinjaError` with the template line and
/// column, never a crash.
///
///     let t = try JinjaTemplate(source)
///     let text = try t.render(["messages": .array([...]), "add_generation_prompt": .bool(true)])
public struct JinjaTemplate: Sendable {
  public let source: String
  let lexer: JinjaLexer
  let body: [JinjaNode]

  /// Parses `source` (a syntax error, or a statement outside the subset, throws `JinjaError`).
  public init(_ source: String) throws {
    self.source = source
    lexer = JinjaLexer(source)
    var parser = try JinjaParser(lexer: lexer)
    body = try parser.parseTemplate()
  }

  /// Renders with `context`'s variables. `now` and `timeZone` are what `strftime_now` formats.
  public func render(
    _ context: JinjaObject, limits: JinjaLimits = .init(), now: Date = Date(), timeZone: TimeZone = .current
  ) throws -> String {
    var r = JinjaRenderer(lexer: lexer, context: context, limits: limits, now: now, timeZone: timeZone)
    switch try r.run(body) {
    case .normal: break
    case .breakLoop, .continueLoop: throw JinjaError(.syntax, "break or continue outside a loop")
    }
    return r.buffers[0]
  }
}

extension JinjaValue {
  /// Parses JSON text into a template value, keeping the order of object keys (as Python's
  /// `json.loads` does, so `tojson` writes tool schemas back in their order). Integers without a
  /// fraction or exponent are `.int`; nesting is bounded.
  public static func parseJSON(_ text: String) throws -> JinjaValue {
    var p = JSONReader(bytes: Array(text.utf8))
    let v = try p.value(depth: 0)
    p.skipSpace()
    guard p.i == p.bytes.count else { throw p.fail("trailing characters") }
    return v
  }
}

/// A small JSON reader that keeps object key order.
private struct JSONReader {
  let bytes: [UInt8]
  var i = 0

  func fail(_ m: String) -> JinjaError { JinjaError(.syntax, "JSON: \(m) at byte \(i)") }

  mutating func skipSpace() {
    while i < bytes.count && (bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 10 || bytes[i] == 13) { i += 1 }
  }

  mutating func literal(_ word: String, _ v: JinjaValue) throws -> JinjaValue {
    let w = Array(word.utf8)
    guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("bad literal") }
    i += w.count
    return v
  }

  mutating func value(depth: Int) throws -> JinjaValue {
    guard depth < 256 else { throw fail("nested deeper than 256") }
    skipSpace()
    guard i < bytes.count else { throw fail("unexpected end") }
    switch bytes[i] {
    case UInt8(ascii: "{"):
      i += 1
      var o = JinjaObject()
      skipSpace()
      if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
        i += 1
        return .object(o)
      }
      while true {
        skipSpace()
        guard case .string(let k) = try string() else { throw fail("expected a key") }
        skipSpace()
        guard i < bytes.count && bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
        i += 1
        o[k] = try value(depth: depth + 1)
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end") }
        if bytes[i] == UInt8(ascii: ",") {
          i += 1
        } else if bytes[i] == UInt8(ascii: "}") {
          i += 1
          return .object(o)
        } else {
          throw fail("expected ',' or '}'")
        }
      }
    case UInt8(ascii: "["):
      i += 1
      var a: [JinjaValue] = []
      skipSpace()
      if i < bytes.count && bytes[i] == UInt8(ascii: "]") {
        i += 1
        return .array(a)
      }
      while true {
        a.append(try value(depth: depth + 1))
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end") }
        if bytes[i] == UInt8(ascii: ",") {
          i += 1
        } else if bytes[i] == UInt8(ascii: "]") {
          i += 1
          return .array(a)
        } else {
          throw fail("expected ',' or ']'")
        }
      }
    case UInt8(ascii: "\""): return try string()
    case UInt8(ascii: "t"): return try literal("true", .bool(true))
    case UInt8(ascii: "f"): return try literal("false", .bool(false))
    case UInt8(ascii: "n"): return try literal("null", .none)
    default: return try number()
    }
  }

  mutating func number() throws -> JinjaValue {
    let start = i
    var isFloat = false
    while i < bytes.count, let c = Optional(bytes[i]),
      (c >= 48 && c <= 57) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
        || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    {
      if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { isFloat = true }
      i += 1
    }
    let text = String(decoding: bytes[start..<i], as: UTF8.self)
    if !isFloat, let n = Int(text) { return .int(n) }
    guard let d = Double(text) else { throw fail("bad number") }
    return .double(d)
  }

  mutating func string() throws -> JinjaValue {
    guard i < bytes.count && bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string") }
    i += 1
    var out: [UInt8] = []
    var pendingHigh: UInt32? = nil
    while true {
      guard i < bytes.count else { throw fail("unterminated string") }
      let c = bytes[i]
      i += 1
      if c == UInt8(ascii: "\"") { break }
      guard c == UInt8(ascii: "\\") else {
        out.append(c)
        continue
      }
      guard i < bytes.count else { throw fail("unterminated escape") }
      let e = bytes[i]
      i += 1
      switch e {
      case UInt8(ascii: "n"): out.append(10)
      case UInt8(ascii: "t"): out.append(9)
      case UInt8(ascii: "r"): out.append(13)
      case UInt8(ascii: "b"): out.append(8)
      case UInt8(ascii: "f"): out.append(12)
      case UInt8(ascii: "u"):
        guard i + 4 <= bytes.count,
          let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16)
        else { throw fail("bad \\u escape") }
        i += 4
        if v >= 0xD800 && v < 0xDC00 {
          pendingHigh = v
          continue
        }
        var scalar = v
        if v >= 0xDC00 && v < 0xE000, let h = pendingHigh {
          scalar = 0x10000 + ((h - 0xD800) << 10) + (v - 0xDC00)
        }
        pendingHigh = nil
        out += Array(String(Character(UnicodeScalar(scalar) ?? "\u{FFFD}")).utf8)
      default: out.append(e)
      }
    }
    return .string(String(decoding: out, as: UTF8.self))
  }
}

extension JinjaTemplate: Equatable {
  /// Two templates are equal when their sources are.
  public static func == (a: JinjaTemplate, b: JinjaTemplate) -> Bool { a.source == b.source }
}
