/// One element of a grammar rule, as llama.cpp's `llama_grammar_element` defines them: a rule is
/// a sequence of elements, its alternatives separated by `alt`, ending with `end`. A character
/// class is a `char` / `charNot` / `charAny` head followed by `charAlt` and `charRangeUpper`
/// elements (`[a-cx]` is `char(a) charRangeUpper(c) charAlt(x)`).
public enum GrammarElement: Sendable, Equatable, Hashable {
  case end
  case alt
  case ruleRef(Int32)
  case char(UInt32)
  case charNot(UInt32)
  case charAlt(UInt32)
  case charRangeUpper(UInt32)
  case charAny
  /// A token by id (`<[id]>`), or any token but that one (`!<[id]>`).
  case token(Int32)
  case tokenNot(Int32)

  /// `end` or `alt`: the end of one alternative.
  var endsSequence: Bool {
    switch self {
    case .end, .alt: return true
    default: return false
    }
  }
}

/// A grammar that does not parse or cannot be used, with where in the source it went wrong.
public enum GrammarError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The text at `line`:`column` (1-based; columns count characters) is not GBNF.
  case syntax(String, line: Int, column: Int)
  /// A rule is referenced (first at `line`:`column`) but never defined.
  case undefinedRule(String, line: Int, column: Int)
  /// The grammar has no rule named `root` (or the root asked for).
  case missingRoot(String)
  /// A rule can reach itself without consuming a character (llama.cpp refuses these too: its
  /// stack-based matcher would loop).
  case leftRecursion(String)
  /// `<text>` names no single token of the vocabulary (or no vocabulary was given).
  case unknownToken(String, line: Int, column: Int)

  public var description: String {
    switch self {
    case .syntax(let m, let l, let c): return "grammar error at line \(l), column \(c): \(m)"
    case .undefinedRule(let n, let l, let c):
      return "grammar error at line \(l), column \(c): undefined rule '\(n)'"
    case .missingRoot(let n): return "grammar error: the grammar has no '\(n)' rule"
    case .leftRecursion(let n):
      return "grammar error: rule '\(n)' is left-recursive (unsupported, as in llama.cpp)"
    case .unknownToken(let t, let l, let c):
      return "grammar error at line \(l), column \(c): \(t) is not a single token of the vocabulary"
    }
  }
}

/// A GBNF grammar (llama.cpp's grammar syntax, grammars/README.md there), parsed and checked.
///
///     root   ::= "yes" | "no" | number
///     number ::= [0-9]+ ("." [0-9]{1,3})?   # comments run to the end of the line
///
/// Rules, alternatives `|`, groups `( )`, repetition `*` `+` `?` `{m}` `{m,}` `{m,n}`, string
/// literals, character classes with ranges and negation `[^a-z]`, `.` (any character), escapes
/// `\xHH \uHHHH \UHHHHHHHH \t \r \n \\ \" \[ \] \-`, tokens `<[id]>` / `!<[id]>` and `<text>` (a
/// control token's text; needs the vocabulary). Repetitions become generated rules as llama.cpp
/// writes them (`x*` is `x_N ::= x x_N |`), so the matcher sees right recursion only.
public struct Grammar: Sendable, Equatable {
  /// Every rule's elements, one after another; `ruleStarts[r]` is where rule `r` begins.
  let elements: [GrammarElement]
  let ruleStarts: [Int32]
  /// Names by rule id (generated rules are `name_N`, as llama.cpp names them).
  public let ruleNames: [String]
  let root: Int32
  /// For a character-class head (`char`, `charNot`, `charAny`): its index into `classes`, else −1.
  let classAt: [Int32]
  let classes: [CharClass]
  /// For each rule: the element index where each of its alternatives starts.
  let alternatives: [[Int32]]
  /// The source text.
  public let source: String

  /// Parses `source`.
  /// - Parameters:
  ///   - source: GBNF text.
  ///   - root: the start rule's name.
  ///   - tokenID: resolves `<text>` to a token id (nil: `<text>` is an error; `<[id]>` needs nothing).
  public init(_ source: String, root: String = "root", tokenID: ((String) -> Int32?)? = nil)
    throws(GrammarError)
  {
    var parser = GBNFParser(source, tokenID: tokenID)
    try parser.parse()
    guard let rootID = parser.symbols[root] else { throw .missingRoot(root) }
    let rules = parser.rules
    var elements: [GrammarElement] = []
    var starts: [Int32] = []
    for r in rules {
      starts.append(Int32(elements.count))
      elements += r
    }
    self.elements = elements
    ruleStarts = starts
    var names = [String](repeating: "", count: rules.count)
    for (n, id) in parser.symbols { names[Int(id)] = n }
    ruleNames = names
    self.root = rootID
    self.source = source
    (classAt, classes) = CharClass.compile(elements)
    alternatives = starts.map { start in
      var alts: [Int32] = [start]
      var i = Int(start)
      while elements[i] != .end {
        if elements[i] == .alt { alts.append(Int32(i + 1)) }
        i += 1
      }
      return alts
    }
    if let r = Self.leftRecursiveRule(rules) { throw .leftRecursion(names[r]) }
  }

  public static func == (a: Grammar, b: Grammar) -> Bool {
    a.elements == b.elements && a.ruleStarts == b.ruleStarts && a.root == b.root
  }

  /// The rules, by id, as element arrays ending with `end` (llama.cpp's parsed form).
  public var rules: [[GrammarElement]] {
    ruleStarts.indices.map { r in
      let start = Int(ruleStarts[r])
      let end = r + 1 < ruleStarts.count ? Int(ruleStarts[r + 1]) : elements.count
      return Array(elements[start..<end])
    }
  }

  /// A rule that can start with itself (through rules that may match nothing): llama.cpp's
  /// `llama_grammar_detect_left_recursion`.
  static func leftRecursiveRule(_ rules: [[GrammarElement]]) -> Int? {
    let n = rules.count
    var mayBeEmpty = [Bool](repeating: false, count: n)
    // Fixed point of "may match the empty string".
    var changed = true
    while changed {
      changed = false
      for (r, rule) in rules.enumerated() where !mayBeEmpty[r] {
        var empty = true
        for e in rule {
          if e.endsSequence {
            if empty {
              mayBeEmpty[r] = true
              changed = true
              break
            }
            empty = true
            continue
          }
          if case .ruleRef(let s) = e, mayBeEmpty[Int(s)] { continue }
          empty = false
        }
      }
    }
    // Edges r → s when s can come first in r; a cycle is left recursion.
    var leading = [[Int]](repeating: [], count: n)
    for (r, rule) in rules.enumerated() {
      var atStart = true
      for e in rule {
        if e.endsSequence {
          atStart = true
        } else if atStart, case .ruleRef(let s) = e {
          leading[r].append(Int(s))
          atStart = mayBeEmpty[Int(s)]
        } else {
          atStart = false
        }
      }
    }
    var state = [UInt8](repeating: 0, count: n)  // 0 new, 1 on the path, 2 done
    // The rule where a path comes back to itself.
    func visit(_ r: Int) -> Int? {
      state[r] = 1
      for s in leading[r] {
        if state[s] == 1 { return s }
        if state[s] == 0, let found = visit(s) { return found }
      }
      state[r] = 2
      return nil
    }
    for r in 0..<n where state[r] == 0 {
      if let found = visit(r) { return found }
    }
    return nil
  }
}

/// A compiled character class: ASCII as a bitmap, the rest as ranges.
struct CharClass: Sendable, Equatable {
  var negated = false
  var any = false
  var ascii: (UInt64, UInt64) = (0, 0)
  var ranges: [ClosedRange<UInt32>] = []
  /// The element after the class.
  var next: Int32 = 0

  static func == (a: CharClass, b: CharClass) -> Bool {
    a.negated == b.negated && a.any == b.any && a.ascii == b.ascii && a.ranges == b.ranges && a.next == b.next
  }

  @inline(__always)
  func matches(_ c: UInt32) -> Bool {
    if any { return true }
    let found: Bool
    if c < 64 {
      found = ascii.0 & (1 << UInt64(c)) != 0
    } else if c < 128 {
      found = ascii.1 & (1 << UInt64(c - 64)) != 0
    } else {
      found = ranges.contains { $0.contains(c) }
    }
    return found != negated
  }

  /// Whether some completion of a partial UTF-8 sequence could match (llama.cpp's
  /// `llama_grammar_match_partial_char`, over the completions that are valid UTF-8).
  func matchesPartial(_ partial: PartialUTF8) -> Bool {
    guard let range = partial.completions else { return false }
    if any { return true }
    if negated {
      // Some completion is outside the class unless the class covers the whole range.
      return !covers(range)
    }
    for r in ranges where r.overlaps(range) { return true }
    if range.lowerBound < 128 {
      for c in range.lowerBound...min(range.upperBound, 127) where CharClass.bit(ascii, c) { return true }
    }
    return false
  }

  /// Whether every code point of `range` is in the (positive) class.
  private func covers(_ range: ClosedRange<UInt32>) -> Bool {
    var next = range.lowerBound
    while next < 128 && next <= range.upperBound {
      guard CharClass.bit(ascii, next) else { return false }
      next += 1
    }
    if next > range.upperBound { return true }
    for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) where r.upperBound >= next {
      guard r.lowerBound <= next else { return false }
      next = r.upperBound &+ 1
      if next > range.upperBound || next == 0 { return true }
    }
    return false
  }

  static func bit(_ a: (UInt64, UInt64), _ c: UInt32) -> Bool {
    c < 64 ? a.0 & (1 << UInt64(c)) != 0 : a.1 & (1 << UInt64(c - 64)) != 0
  }

  /// The class of every head element.
  static func compile(_ elements: [GrammarElement]) -> ([Int32], [CharClass]) {
    var at = [Int32](repeating: -1, count: elements.count)
    var classes: [CharClass] = []
    var i = 0
    while i < elements.count {
      var cls = CharClass()
      var first: UInt32
      switch elements[i] {
      case .char(let c): first = c
      case .charNot(let c):
        first = c
        cls.negated = true
      case .charAny:
        cls.any = true
        cls.next = Int32(i + 1)
        at[i] = Int32(classes.count)
        classes.append(cls)
        i += 1
        continue
      default:
        i += 1
        continue
      }
      let head = i
      var j = i
      var low = first
      while true {
        var high = low
        if j + 1 < elements.count, case .charRangeUpper(let u) = elements[j + 1] {
          high = u
          j += 2
        } else {
          j += 1
        }
        cls.add(low, high)
        if j < elements.count, case .charAlt(let c) = elements[j] {
          low = c
        } else {
          break
        }
      }
      cls.next = Int32(j)
      at[head] = Int32(classes.count)
      classes.append(cls)
      i = j
    }
    return (at, classes)
  }

  private mutating func add(_ low: UInt32, _ high: UInt32) {
    guard low <= high else { return }  // an empty range [z-a] matches nothing, as in llama.cpp
    var c = low
    while c <= high && c < 128 {
      if c < 64 { ascii.0 |= 1 << UInt64(c) } else { ascii.1 |= 1 << UInt64(c - 64) }
      c += 1
    }
    if high >= 128 { ranges.append(max(low, 128)...high) }
  }
}

/// llama.cpp's GBNF parser (`llama_grammar_parser`), over the source's UTF-8 bytes.
struct GBNFParser {
  let src: [UInt8]
  var pos = 0
  var symbols: [String: Int32] = [:]
  var rules: [[GrammarElement]] = []
  /// Where each rule was first referenced (for undefined-rule errors).
  var firstReference: [Int32: Int] = [:]
  let tokenID: ((String) -> Int32?)?

  /// llama.cpp's MAX_REPETITION_THRESHOLD: bounds the rules a repetition may generate.
  static let maxRepetitions: UInt64 = 2000

  init(_ source: String, tokenID: ((String) -> Int32?)?) {
    src = Array(source.utf8)
    self.tokenID = tokenID
  }

  func at(_ i: Int) -> UInt8 { i < src.count ? src[i] : 0 }
  var cur: UInt8 { at(pos) }

  func location(_ offset: Int) -> (line: Int, column: Int) {
    var line = 1
    var lineStart = 0
    for i in 0..<min(offset, src.count) where src[i] == 0x0A {
      line += 1
      lineStart = i + 1
    }
    let column = String(decoding: src[lineStart..<min(offset, src.count)], as: UTF8.self).count + 1
    return (line, column)
  }

  func error(_ message: String, at offset: Int? = nil) -> GrammarError {
    let (l, c) = location(offset ?? pos)
    var what = message
    if (offset ?? pos) >= src.count {
      what += " (at the end of the grammar)"
    }
    return .syntax(what, line: l, column: c)
  }

  static func isWordChar(_ c: UInt8) -> Bool {
    (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x2D || (c >= 0x30 && c <= 0x39)
  }

  mutating func skipSpace(newlines: Bool) {
    while pos < src.count {
      let c = src[pos]
      if c == 0x20 || c == 0x09 || (newlines && (c == 0x0D || c == 0x0A)) {
        pos += 1
      } else if c == 0x23 {  // '#' comment to the end of the line
        while pos < src.count && src[pos] != 0x0D && src[pos] != 0x0A { pos += 1 }
      } else {
        break
      }
    }
  }

  mutating func symbol(_ name: String) -> Int32 {
    if let id = symbols[name] { return id }
    let id = Int32(symbols.count)
    symbols[name] = id
    return id
  }

  mutating func generatedSymbol(_ base: String) -> Int32 {
    let id = Int32(symbols.count)
    symbols["\(base)_\(id)"] = id
    return id
  }

  mutating func addRule(_ id: Int32, _ rule: [GrammarElement]) {
    while rules.count <= Int(id) { rules.append([]) }
    rules[Int(id)] = rule
  }

  mutating func parseName() throws(GrammarError) -> String {
    let start = pos
    while pos < src.count && Self.isWordChar(src[pos]) { pos += 1 }
    guard pos > start else { throw error("expecting a rule name") }
    return String(decoding: src[start..<pos], as: UTF8.self)
  }

  mutating func parseInt() throws(GrammarError) -> UInt64 {
    let start = pos
    var v: UInt64 = 0
    while pos < src.count, src[pos] >= 0x30 && src[pos] <= 0x39 {
      let (m, o1) = v.multipliedReportingOverflow(by: 10)
      let (s, o2) = m.addingReportingOverflow(UInt64(src[pos] - 0x30))
      guard !o1 && !o2 else { throw error("integer too large", at: start) }
      v = s
      pos += 1
    }
    guard pos > start else { throw error("expecting an integer") }
    return v
  }

  mutating func parseHex(_ digits: Int) throws(GrammarError) -> UInt32 {
    let start = pos
    var v: UInt32 = 0
    for _ in 0..<digits {
      let c = cur
      let d: UInt32
      switch c {
      case 0x30...0x39: d = UInt32(c - 0x30)
      case 0x61...0x66: d = UInt32(c - 0x61 + 10)
      case 0x41...0x46: d = UInt32(c - 0x41 + 10)
      default: throw error("expecting \(digits) hex digits", at: start)
      }
      v = v << 4 | d
      pos += 1
    }
    return v
  }

  /// One character of a literal or class: an escape or a UTF-8 sequence.
  mutating func parseChar() throws(GrammarError) -> UInt32 {
    guard pos < src.count else { throw error("unexpected end of input") }
    if src[pos] == 0x5C {
      let escape = pos
      pos += 2
      switch at(escape + 1) {
      case 0x78: return try parseHex(2)  // \x
      case 0x75: return try parseHex(4)  // \u
      case 0x55: return try parseHex(8)  // \U
      case 0x74: return 0x09
      case 0x72: return 0x0D
      case 0x6E: return 0x0A
      case 0x5C, 0x22, 0x5B, 0x5D, 0x2D: return UInt32(at(escape + 1))
      default:
        throw error("unknown escape '\\\(String(decoding: [at(escape + 1)], as: UTF8.self))'", at: escape)
      }
    }
    // UTF-8, as llama.cpp decodes it (structure only).
    let first = src[pos]
    let length = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4][Int(first >> 4)]
    var value = UInt32(first) & ((1 << UInt32(8 - length)) - 1)
    if length == 1 { value = UInt32(first) }
    pos += 1
    var n = 1
    while n < length && pos < src.count {
      value = value << 6 | UInt32(src[pos] & 0x3F)
      pos += 1
      n += 1
    }
    return value
  }

  mutating func parse() throws(GrammarError) {
    skipSpace(newlines: true)
    while pos < src.count {
      try parseRule()
    }
    // Referenced but never defined: the one referenced first is reported.
    let undefined = firstReference.filter { Int($0.key) >= rules.count || rules[Int($0.key)].isEmpty }
    if let first = undefined.min(by: { $0.value < $1.value }) {
      let name = symbols.first { $0.value == first.key }?.key ?? "#\(first.key)"
      let (l, c) = location(first.value)
      throw .undefinedRule(name, line: l, column: c)
    }
  }

  mutating func parseRule() throws(GrammarError) {
    let name = try parseName()
    skipSpace(newlines: false)
    let id = symbol(name)
    guard at(pos) == 0x3A, at(pos + 1) == 0x3A, at(pos + 2) == 0x3D else { throw error("expecting '::='") }
    pos += 3
    skipSpace(newlines: true)
    try parseAlternates(name, id, nested: false)
    if cur == 0x0D {
      pos += at(pos + 1) == 0x0A ? 2 : 1
    } else if cur == 0x0A {
      pos += 1
    } else if pos < src.count {
      throw error("expecting a newline or the end")
    }
    skipSpace(newlines: true)
  }

  mutating func parseAlternates(_ name: String, _ id: Int32, nested: Bool) throws(GrammarError) {
    var rule: [GrammarElement] = []
    try parseSequence(name, &rule, nested: nested)
    while cur == 0x7C {  // '|'
      rule.append(.alt)
      pos += 1
      skipSpace(newlines: true)
      try parseSequence(name, &rule, nested: nested)
    }
    rule.append(.end)
    addRule(id, rule)
  }

  mutating func parseSequence(_ name: String, _ rule: inout [GrammarElement], nested: Bool)
    throws(GrammarError)
  {
    var lastStart = rule.count
    var previousRules: UInt64 = 1
    while pos < src.count {
      let c = src[pos]
      let itemStart = pos
      if c == 0x22 {  // "literal"
        pos += 1
        lastStart = rule.count
        previousRules = 1
        while cur != 0x22 {
          guard pos < src.count else { throw error("unterminated string literal", at: itemStart) }
          rule.append(.char(try parseChar()))
        }
        pos += 1
        skipSpace(newlines: nested)
      } else if c == 0x5B {  // [class]
        pos += 1
        var negated = false
        if cur == 0x5E {
          pos += 1
          negated = true
        }
        lastStart = rule.count
        previousRules = 1
        while cur != 0x5D {
          guard pos < src.count else { throw error("unterminated character class", at: itemStart) }
          let ch = try parseChar()
          rule.append(rule.count > lastStart ? .charAlt(ch) : (negated ? .charNot(ch) : .char(ch)))
          if cur == 0x2D && at(pos + 1) != 0x5D {
            guard pos + 1 < src.count else { throw error("unterminated character class", at: itemStart) }
            pos += 1
            rule.append(.charRangeUpper(try parseChar()))
          }
        }
        if rule.count == lastStart {
          // llama.cpp accepts `[]` and then has a class with no head; refuse it here.
          throw error("empty character class", at: itemStart)
        }
        pos += 1
        skipSpace(newlines: nested)
      } else if c == 0x3C || c == 0x21 {  // <token> or !<token>
        var not = false
        if c == 0x21 {
          not = true
          pos += 1
        }
        let id = try parseToken()
        lastStart = rule.count
        previousRules = 1
        rule.append(not ? .tokenNot(id) : .token(id))
        skipSpace(newlines: nested)
      } else if Self.isWordChar(c) {  // rule reference
        let refName = try parseName()
        let ref = symbol(refName)
        if firstReference[ref] == nil { firstReference[ref] = itemStart }
        skipSpace(newlines: nested)
        lastStart = rule.count
        previousRules = 1
        rule.append(.ruleRef(ref))
      } else if c == 0x28 {  // ( group )
        pos += 1
        skipSpace(newlines: true)
        let before = symbols.count
        let sub = generatedSymbol(name)
        try parseAlternates(name, sub, nested: true)
        previousRules = max(1, UInt64(symbols.count - before))
        lastStart = rule.count
        rule.append(.ruleRef(sub))
        guard cur == 0x29 else {
          throw error("expecting ')' to close the group opened at \(describe(itemStart))")
        }
        pos += 1
        skipSpace(newlines: nested)
      } else if c == 0x2E {  // . any character
        lastStart = rule.count
        previousRules = 1
        rule.append(.charAny)
        pos += 1
        skipSpace(newlines: nested)
      } else if c == 0x2A || c == 0x2B || c == 0x3F {  // * + ?
        pos += 1
        skipSpace(newlines: nested)
        let (lo, hi): (UInt64, UInt64?) = c == 0x2A ? (0, nil) : c == 0x2B ? (1, nil) : (0, 1)
        try repeatLast(name, &rule, lastStart, lo, hi, &previousRules, at: itemStart)
      } else if c == 0x7B {  // {m} {m,} {m,n}
        pos += 1
        skipSpace(newlines: nested)
        guard cur >= 0x30 && cur <= 0x39 else { throw error("expecting an integer after '{'") }
        let lo = try parseInt()
        skipSpace(newlines: nested)
        var hi: UInt64? = nil
        if cur == 0x7D {
          hi = lo
          pos += 1
          skipSpace(newlines: nested)
        } else if cur == 0x2C {
          pos += 1
          skipSpace(newlines: nested)
          if cur >= 0x30 && cur <= 0x39 {
            hi = try parseInt()
            skipSpace(newlines: nested)
          }
          guard cur == 0x7D else { throw error("expecting '}'") }
          pos += 1
          skipSpace(newlines: nested)
        } else {
          throw error("expecting ',' or '}'")
        }
        guard lo <= Self.maxRepetitions else {
          throw error("\(lo) repetitions is more than \(Self.maxRepetitions)", at: itemStart)
        }
        if let h = hi, h < lo {
          throw error("repetition {\(lo),\(h)}: the maximum is below the minimum", at: itemStart)
        }
        // llama.cpp: a maximum past the threshold means no maximum.
        if let h = hi, h > Self.maxRepetitions { hi = nil }
        try repeatLast(name, &rule, lastStart, lo, hi, &previousRules, at: itemStart)
      } else {
        break
      }
    }
  }

  func describe(_ offset: Int) -> String {
    let (l, c) = location(offset)
    return "line \(l), column \(c)"
  }

  /// llama.cpp's rewrite of the last item S: `S{m,n}` is S m times then S'(n−m), where
  /// `S'(x) ::= S S'(x−1) |` and `S'(1) ::= S |`; `S{m,}` is S m times then `S' ::= S S' |`.
  mutating func repeatLast(
    _ name: String, _ rule: inout [GrammarElement], _ lastStart: Int, _ lo: UInt64, _ hi: UInt64?,
    _ previousRules: inout UInt64, at offset: Int
  ) throws(GrammarError) {
    guard lastStart < rule.count else {
      throw error("expecting an item before '*', '+', '?' or '{'", at: offset)
    }
    let previous = Array(rule[lastStart...])
    let total: UInt64 = hi.map { $0 > 0 ? $0 : 1 } ?? max(lo, 1)
    guard previousRules.multipliedReportingOverflow(by: total).partialValue <= Self.maxRepetitions,
      !previousRules.multipliedReportingOverflow(by: total).overflow
    else {
      throw error("this repetition would generate more than \(Self.maxRepetitions) rules", at: offset)
    }
    if lo == 0 {
      rule.removeSubrange(lastStart...)
    } else {
      for _ in 1..<max(lo, 1) { rule += previous }
    }
    let optional: UInt64 = hi.map { $0 - lo } ?? 1
    var lastID: Int32 = 0
    for i in 0..<optional {
      var rec = previous
      let id = generatedSymbol(name)
      if i > 0 || hi == nil { rec.append(.ruleRef(hi == nil ? id : lastID)) }
      rec.append(.alt)
      rec.append(.end)
      addRule(id, rec)
      lastID = id
    }
    if optional > 0 { rule.append(.ruleRef(lastID)) }
    previousRules *= total
  }

  mutating func parseToken() throws(GrammarError) -> Int32 {
    let start = pos
    guard cur == 0x3C else { throw error("expecting '<'") }
    pos += 1
    if cur == 0x5B {  // <[id]>
      pos += 1
      let v = try parseInt()
      guard v <= UInt64(Int32.max) else { throw error("token id \(v) is too large", at: start) }
      guard cur == 0x5D else { throw error("expecting ']'") }
      pos += 1
      guard cur == 0x3E else { throw error("expecting '>'") }
      pos += 1
      return Int32(v)
    }
    while pos < src.count && src[pos] != 0x3E { pos += 1 }
    guard cur == 0x3E else { throw error("expecting '>' to close the token", at: start) }
    pos += 1
    let text = String(decoding: src[start..<pos], as: UTF8.self)
    guard let id = tokenID?(text) else {
      let (l, c) = location(start)
      throw .unknownToken(text, line: l, column: c)
    }
    return id
  }
}
