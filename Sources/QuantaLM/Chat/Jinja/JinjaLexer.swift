/// Why a template could not be parsed or rendered, with the template line and column (1-based)
/// where that is known. Every failure of `JinjaTemplate` is one of these, never a trap.
public struct JinjaError: Error, Sendable, Equatable, CustomStringConvertible {
  public enum Kind: Sendable, Equatable {
    /// The text is not valid in the subset (or in Jinja).
    case syntax
    /// A construct, filter, test, method or type combination the interpreter does not have.
    case unsupported
    /// A value of the wrong type or a failed operation (Python's TypeError, an undefined value used).
    case type
    /// The template called `raise_exception(message)`.
    case raised
    /// A bound was reached: output size, loop iterations, nesting or recursion depth.
    case limit
  }
  public var kind: Kind
  public var message: String
  public var line: Int
  public var column: Int

  public init(_ kind: Kind, _ message: String, line: Int = 0, column: Int = 0) {
    self.kind = kind
    self.message = message
    self.line = line
    self.column = column
  }

  public var description: String {
    let at = line > 0 ? " at template line \(line), column \(column)" : ""
    switch kind {
    case .raised: return "the chat template raised an exception: \(message)\(at)"
    default: return "chat template error\(at): \(message)"
    }
  }
}

/// A token of a template: text between tags, tag delimiters, and the tokens inside tags.
struct JinjaToken: Sendable {
  enum Kind: Sendable, Equatable {
    case text(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
    case end
  }
  var kind: Kind
  /// Byte offset in the (newline-normalized) source.
  var offset: Int
}

/// Splits a template into tokens the way Jinja2's lexer does with `trim_blocks` and
/// `lstrip_blocks` (as Hugging Face's `apply_chat_template` and llama.cpp set them): `{%-`/`-%}`
/// strip whitespace, a block tag's first newline after it is dropped, spaces before a block tag
/// at the start of a line are dropped, one trailing newline of the template is dropped.
struct JinjaLexer {
  let source: [UInt8]
  var trimBlocks = true
  var lstripBlocks = true

  init(_ text: String) {
    // Jinja2 normalizes \r\n and \r to \n and drops one trailing newline (keep_trailing_newline).
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var previousCR = false
    for b in text.utf8 {
      if b == 13 {
        bytes.append(10)
        previousCR = true
        continue
      }
      if b == 10 && previousCR {
        previousCR = false
        continue
      }
      previousCR = false
      bytes.append(b)
    }
    if bytes.last == 10 { bytes.removeLast() }
    source = bytes
  }

  /// Line and column (1-based, column in characters) of a byte offset.
  func location(_ offset: Int) -> (line: Int, column: Int) {
    var line = 1
    var lineStart = 0
    for i in 0..<min(offset, source.count) where source[i] == 10 {
      line += 1
      lineStart = i + 1
    }
    let column = String(decoding: source[lineStart..<min(offset, source.count)], as: UTF8.self).count + 1
    return (line, column)
  }

  func error(_ kind: JinjaError.Kind, _ message: String, at offset: Int) -> JinjaError {
    let (l, c) = location(offset)
    return JinjaError(kind, message, line: l, column: c)
  }

  static func isSpace(_ b: UInt8) -> Bool { b == 32 || (b >= 9 && b <= 13) }
  static func isNameStart(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 }
  static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

  func at(_ i: Int, _ s: String) -> Bool {
    let u = Array(s.utf8)
    guard i >= 0, i + u.count <= source.count else { return false }
    for k in 0..<u.count where source[i + k] != u[k] { return false }
    return true
  }

  func tokenize() throws -> [JinjaToken] {
    var tokens: [JinjaToken] = []
    var pos = 0
    var lineStarting = true
    let n = source.count
    while pos < n {
      // The next tag opener.
      var open = pos
      var kind: UInt8 = 0
      while open + 1 < n {
        if source[open] == 123 {
          let c = source[open + 1]
          if c == 123 || c == 37 || c == 35 {
            kind = c
            break
          }
        }
        open += 1
      }
      if kind == 0 {
        tokens.append(.init(kind: .text(String(decoding: source[pos..<n], as: UTF8.self)), offset: pos))
        break
      }
      var textEnd = open
      let sign: UInt8? =
        open + 2 < n && (source[open + 2] == 45 || source[open + 2] == 43) ? source[open + 2] : nil
      if sign == 45 {
        while textEnd > pos && Self.isSpace(source[textEnd - 1]) { textEnd -= 1 }
      } else if sign != 43 && lstripBlocks && kind != 123 {
        var lineStart = open
        while lineStart > pos && source[lineStart - 1] != 10 { lineStart -= 1 }
        let hasNewline = lineStart > pos
        if hasNewline || lineStarting {
          if source[lineStart..<open].allSatisfy({ $0 == 32 || $0 == 9 || $0 == 11 || $0 == 12 || $0 == 13 })
          {
            textEnd = lineStart
          }
        }
      }
      if textEnd > pos {
        tokens.append(.init(kind: .text(String(decoding: source[pos..<textEnd], as: UTF8.self)), offset: pos))
      }
      var p = open + 2 + (sign == nil ? 0 : 1)
      switch kind {
      case 35:  // {# comment #}
        var close = p
        while close + 1 < n && !(source[close] == 35 && source[close + 1] == 125) { close += 1 }
        guard close + 1 < n else { throw error(.syntax, "missing end of comment tag", at: open) }
        let endSign: UInt8? =
          close > p && (source[close - 1] == 45 || source[close - 1] == 43) ? source[close - 1] : nil
        p = close + 2
        p = afterTagEnd(p, sign: endSign, block: true)
      case 37 where isRaw(p):
        p = try lexRaw(from: open, &tokens)
      default:
        let block = kind == 37
        tokens.append(.init(kind: block ? .blockBegin : .variableBegin, offset: open))
        p = try lexInside(from: p, block: block, &tokens)
      }
      lineStarting = p > 0 && source[p - 1] == 10
      pos = p
    }
    tokens.append(.init(kind: .end, offset: n))
    return tokens
  }

  /// After a tag's closing delimiter: `-` strips all whitespace, `+` keeps it, else a block tag
  /// drops one newline (trim_blocks).
  func afterTagEnd(_ start: Int, sign: UInt8?, block: Bool) -> Int {
    var p = start
    if sign == 45 {
      while p < source.count && Self.isSpace(source[p]) { p += 1 }
    } else if sign != 43 && block && trimBlocks && p < source.count && source[p] == 10 {
      p += 1
    }
    return p
  }

  func isRaw(_ start: Int) -> Bool {
    var p = start
    while p < source.count && Self.isSpace(source[p]) { p += 1 }
    guard at(p, "raw") else { return false }
    p += 3
    while p < source.count && Self.isSpace(source[p]) { p += 1 }
    return at(p, "%}") || at(p, "-%}")
  }

  /// `{% raw %}…{% endraw %}`: the text between, verbatim.
  func lexRaw(from open: Int, _ tokens: inout [JinjaToken]) throws -> Int {
    var p = open + 2
    while !at(p, "%}") { p += 1 }
    let startSign = source[p - 1] == 45 ? UInt8(45) : nil
    var bodyStart = afterTagEnd(p + 2, sign: startSign, block: true)
    if startSign == 45 { bodyStart = min(bodyStart, source.count) }
    var q = bodyStart
    while q + 1 < source.count {
      if source[q] == 123 && source[q + 1] == 37 {
        var r = q + 2
        let sign: UInt8? = r < source.count && (source[r] == 45 || source[r] == 43) ? source[r] : nil
        if sign != nil { r += 1 }
        while r < source.count && Self.isSpace(source[r]) { r += 1 }
        if at(r, "endraw") {
          r += 6
          while r < source.count && Self.isSpace(source[r]) { r += 1 }
          var endSign: UInt8? = nil
          if at(r, "-%}") || at(r, "+%}") {
            endSign = source[r]
            r += 1
          }
          if at(r, "%}") {
            var textEnd = q
            if sign == 45 { while textEnd > bodyStart && Self.isSpace(source[textEnd - 1]) { textEnd -= 1 } }
            if textEnd > bodyStart {
              tokens.append(
                .init(
                  kind: .text(String(decoding: source[bodyStart..<textEnd], as: UTF8.self)), offset: bodyStart
                ))
            }
            return afterTagEnd(r + 2, sign: endSign, block: true)
          }
        }
      }
      q += 1
    }
    throw error(.syntax, "missing end of raw directive", at: open)
  }

  /// The tokens inside `{{ }}` or `{% %}` up to the closing delimiter (outside brackets).
  func lexInside(from start: Int, block: Bool, _ tokens: inout [JinjaToken]) throws -> Int {
    var p = start
    var depth: [UInt8] = []
    let n = source.count
    while true {
      while p < n && Self.isSpace(source[p]) { p += 1 }
      guard p < n else { throw error(.syntax, "unexpected end of template inside a tag", at: start) }
      if depth.isEmpty {
        let close = block ? "%}" : "}}"
        var endSign: UInt8? = nil
        var q = p
        if source[p] == 45 || (block && source[p] == 43) {
          endSign = source[p]
          q += 1
        }
        if at(q, close) {
          tokens.append(.init(kind: block ? .blockEnd : .variableEnd, offset: p))
          return afterTagEnd(q + 2, sign: endSign, block: block)
        }
      }
      let c = source[p]
      if Self.isNameStart(c) {
        var q = p + 1
        while q < n && (Self.isNameStart(source[q]) || Self.isDigit(source[q])) { q += 1 }
        tokens.append(.init(kind: .name(String(decoding: source[p..<q], as: UTF8.self)), offset: p))
        p = q
      } else if Self.isDigit(c) {
        p = try lexNumber(p, &tokens)
      } else if c == 39 || c == 34 {
        p = try lexString(p, &tokens)
      } else {
        let two = p + 1 < n ? String(decoding: source[p...(p + 1)], as: UTF8.self) : ""
        let op: String
        if ["//", "**", "==", "!=", ">=", "<="].contains(two) {
          op = two
        } else if "+-/*%~[](){}><=.:|,".utf8.contains(c) {
          op = String(UnicodeScalar(c))
        } else {
          throw error(.syntax, "unexpected character '\(String(decoding: [c], as: UTF8.self))'", at: p)
        }
        switch op {
        case "(", "[", "{": depth.append(c)
        case ")", "]", "}":
          let want: UInt8 = op == ")" ? 40 : op == "]" ? 91 : 123
          guard depth.last == want else { throw error(.syntax, "unexpected '\(op)'", at: p) }
          depth.removeLast()
        default: break
        }
        tokens.append(.init(kind: .op(op), offset: p))
        p += op.utf8.count
      }
    }
  }

  func lexNumber(_ start: Int, _ tokens: inout [JinjaToken]) throws -> Int {
    var p = start
    let n = source.count
    func digits() { while p < n && (Self.isDigit(source[p]) || source[p] == 95) { p += 1 } }
    digits()
    var isFloat = false
    if p + 1 < n && source[p] == 46 && Self.isDigit(source[p + 1]) {
      isFloat = true
      p += 1
      digits()
    }
    if p < n && (source[p] == 101 || source[p] == 69) {
      var q = p + 1
      if q < n && (source[q] == 43 || source[q] == 45) { q += 1 }
      if q < n && Self.isDigit(source[q]) {
        isFloat = true
        p = q
        digits()
      }
    }
    let text = String(decoding: source[start..<p], as: UTF8.self).replacingOccurrences(of: "_", with: "")
    if isFloat {
      guard let d = Double(text) else { throw error(.syntax, "bad number \(text)", at: start) }
      tokens.append(.init(kind: .float(d), offset: start))
    } else {
      guard let i = Int(text) else { throw error(.syntax, "integer \(text) out of range", at: start) }
      tokens.append(.init(kind: .integer(i), offset: start))
    }
    return p
  }

  /// A quoted string with Python's escapes (`\n`, `\t`, `\\`, `\'`, `\xHH`, `\uXXXX`, …).
  func lexString(_ start: Int, _ tokens: inout [JinjaToken]) throws -> Int {
    let quote = source[start]
    var p = start + 1
    var bytes: [UInt8] = []
    let n = source.count
    while true {
      guard p < n else { throw error(.syntax, "unterminated string", at: start) }
      let c = source[p]
      if c == quote { break }
      if c == 92, p + 1 < n {
        let e = source[p + 1]
        p += 2
        func scalarHex(_ count: Int) throws {
          guard p + count <= n,
            let v = UInt32(String(decoding: source[p..<(p + count)], as: UTF8.self), radix: 16),
            let u = UnicodeScalar(v)
          else { throw error(.syntax, "bad escape in string", at: p) }
          bytes += Array(String(Character(u)).utf8)
          p += count
        }
        switch e {
        case 110: bytes.append(10)  // \n
        case 116: bytes.append(9)  // \t
        case 114: bytes.append(13)  // \r
        case 98: bytes.append(8)  // \b
        case 102: bytes.append(12)  // \f
        case 118: bytes.append(11)  // \v
        case 97: bytes.append(7)  // \a
        case 92, 39, 34: bytes.append(e)
        case 10: break  // line continuation
        case 120: try scalarHex(2)
        case 117: try scalarHex(4)
        case 85: try scalarHex(8)
        case 48...55:
          var v = UInt32(e - 48)
          var k = 0
          while k < 2 && p < n && source[p] >= 48 && source[p] <= 55 {
            v = v * 8 + UInt32(source[p] - 48)
            p += 1
            k += 1
          }
          bytes += Array(String(Character(UnicodeScalar(v)!)).utf8)
        default: bytes += [92, e]
        }
        continue
      }
      bytes.append(c)
      p += 1
    }
    tokens.append(.init(kind: .string(String(decoding: bytes, as: UTF8.self)), offset: start))
    return p + 1
  }
}
