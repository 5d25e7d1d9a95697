/// Where a grammar is in its input: llama.cpp's pushdown stacks (each a path of element indices,
/// the top the next terminal to match) and the UTF-8 bytes of a character that a token began and
/// the next token must finish.
///
/// Tokens advance it by their bytes, decoded to code points; a character split across tokens is
/// carried over, and a token that ends inside a character is allowed only when some completion of
/// that character could match (llama.cpp's `llama_grammar_match_partial_char`).
public struct GrammarMatcher: Sendable {
  public let grammar: Grammar
  /// Every stack's top is a terminal (a character class or a token); an empty stack means the
  /// grammar may end here.
  private(set) var stacks: [[Int32]]
  private(set) var partial = PartialUTF8()

  public init(_ grammar: Grammar) {
    self.grammar = grammar
    var initial: [[Int32]] = []
    for start in grammar.alternatives[Int(grammar.root)] {
      let stack: [Int32] = grammar.elements[Int(start)].endsSequence ? [] : [start]
      Self.expand(grammar, stack, into: &initial)
    }
    stacks = initial
  }

  /// The input so far is a whole sentence of the grammar (an end-of-generation token may come).
  public var canEnd: Bool { stacks.contains { $0.isEmpty } }

  /// Nothing can follow: every path through the grammar has ended.
  public var isComplete: Bool { stacks.allSatisfy(\.isEmpty) }

  /// Whether a token with these bytes (and id, for `<[id]>` elements) may come next.
  public func accepts(bytes: [UInt8], token: Int32 = -1) -> Bool {
    advanced(bytes: bytes, token: token) != nil
  }

  /// Takes a token; returns false and stays where it was when the grammar does not allow it.
  @discardableResult
  public mutating func accept(bytes: [UInt8], token: Int32 = -1) -> Bool {
    guard let next = advanced(bytes: bytes, token: token) else { return false }
    self = next
    return true
  }

  /// Whether `text` is a whole sentence of the grammar (from the start state).
  public static func matches(_ grammar: Grammar, _ text: String) -> Bool {
    var m = GrammarMatcher(grammar)
    if text.isEmpty { return m.canEnd }
    return m.accept(bytes: Array(text.utf8)) && m.partial.remaining == 0 && m.canEnd
  }

  /// The state after a token, or nil when the grammar rejects it. Text that is empty, holds a NUL
  /// byte or is not UTF-8 matches no character (llama.cpp rejects empty pieces and decodes up to
  /// NUL); a token element (`<[id]>`) matches by id whatever the text.
  func advanced(bytes: [UInt8], token: Int32) -> GrammarMatcher? {
    let decoded = bytes.isEmpty ? nil : partial.decode(bytes)
    var result: [[Int32]] = []
    var current: [[Int32]] = []
    var next: [[Int32]] = []
    for stack in stacks {
      guard let top = stack.last else { continue }
      switch grammar.elements[Int(top)] {
      case .token(let id), .tokenNot(let id):
        // A token element matches a whole token by id; its bytes are not read.
        let isToken = grammar.elements[Int(top)] == .token(id)
        guard (token == id) == isToken else { continue }
        var s = stack
        s.removeLast()
        if !grammar.elements[Int(top) + 1].endsSequence { s.append(top + 1) }
        Self.expand(grammar, s, into: &result)
        continue
      default: break
      }
      guard let (points, _) = decoded else { continue }
      current.removeAll(keepingCapacity: true)
      current.append(stack)
      for c in points {
        next.removeAll(keepingCapacity: true)
        for s in current { acceptCharacter(s, c, into: &next) }
        swap(&current, &next)
        if current.isEmpty { break }
      }
      for s in current where !result.contains(s) { result.append(s) }
    }
    let after = decoded?.1 ?? partial
    if after.remaining > 0 {
      // Keep the paths where the unfinished character can still match.
      result.removeAll { s in
        guard let top = s.last else { return true }
        let c = grammar.classAt[Int(top)]
        return c < 0 || !grammar.classes[Int(c)].matchesPartial(after)
      }
    }
    guard !result.isEmpty else { return nil }
    var m = self
    m.stacks = result
    m.partial = after
    return m
  }

  /// The stacks after `stack` reads the code point `c`.
  private func acceptCharacter(_ stack: [Int32], _ c: UInt32, into out: inout [[Int32]]) {
    guard let top = stack.last else { return }
    let ci = grammar.classAt[Int(top)]
    guard ci >= 0 else { return }  // a token element: not matched by characters
    let cls = grammar.classes[Int(ci)]
    guard cls.matches(c) else { return }
    var s = stack
    s.removeLast()
    if !grammar.elements[Int(cls.next)].endsSequence { s.append(cls.next) }
    Self.expand(grammar, s, into: &out)
  }

  /// Expands rule references at the top of `stack` until every resulting stack has a terminal on
  /// top (or is empty), adding the new ones to `out`: llama.cpp's `llama_grammar_advance_stack`.
  static func expand(_ g: Grammar, _ stack: [Int32], into out: inout [[Int32]]) {
    // The common case: a terminal already on top.
    if let top = stack.last, g.classAt[Int(top)] >= 0 {
      if !out.contains(stack) { out.append(stack) }
      return
    }
    var todo = [stack]
    var seen = Set<[Int32]>()
    while let s = todo.popLast() {
      guard seen.insert(s).inserted else { continue }
      guard let top = s.last else {
        if !out.contains(s) { out.append(s) }
        continue
      }
      switch g.elements[Int(top)] {
      case .ruleRef(let r):
        let continues = !g.elements[Int(top) + 1].endsSequence
        for start in g.alternatives[Int(r)] {
          var n = s
          n.removeLast()
          if continues { n.append(top + 1) }
          if !g.elements[Int(start)].endsSequence { n.append(start) }
          todo.append(n)
        }
      case .char, .charNot, .charAny, .token, .tokenNot:
        if !out.contains(s) { out.append(s) }
      case .end, .alt, .charAlt, .charRangeUpper:
        // Stacks never point at these (the parser's rules end every sequence with end/alt).
        continue
      }
    }
  }
}

/// The bytes of a UTF-8 character still to come: `remaining` continuation bytes, the bits so far
/// in `value`, `length` bytes in all (llama.cpp's `llama_partial_utf8`, which also carries it).
struct PartialUTF8: Sendable, Equatable {
  var value: UInt32 = 0
  var remaining = 0
  var length = 0

  /// The smallest code point a sequence of `length` bytes may encode (shorter forms are overlong).
  static func minimum(_ length: Int) -> UInt32 { [0, 0, 0x80, 0x800, 0x10000][length] }

  /// Whether a complete sequence encodes a Unicode scalar value in its shortest form.
  static func valid(_ value: UInt32, length: Int) -> Bool {
    value >= minimum(length) && value <= 0x10_FFFF && !(0xD800...0xDFFF).contains(value)
  }

  /// The code points this unfinished sequence may still become, or nil when every completion is
  /// invalid (overlong, a surrogate, past U+10FFFF).
  var completions: ClosedRange<UInt32>? {
    let low = max(value << UInt32(remaining * 6), Self.minimum(length))
    let high = min(value << UInt32(remaining * 6) | ((1 << UInt32(remaining * 6)) - 1), 0x10_FFFF)
    guard low <= high else { return nil }
    if low >= 0xD800 && high <= 0xDFFF { return nil }
    return low...high
  }

  /// The code points of `bytes` after this partial character, and the partial character they
  /// end in; nil for anything but UTF-8 (a continuation byte where a lead byte must be or the
  /// reverse, an overlong form, a surrogate, a value past U+10FFFF) or a NUL byte. (llama.cpp
  /// checks the structure only, so a grammar there can let invalid UTF-8 through.)
  func decode(_ bytes: [UInt8]) -> ([UInt32], PartialUTF8)? {
    var points: [UInt32] = []
    points.reserveCapacity(bytes.count)
    var value = self.value
    var remaining = self.remaining
    var length = self.length
    var i = 0
    while i < bytes.count {
      let b = bytes[i]
      i += 1
      if remaining > 0 {
        guard b >> 6 == 2 else { return nil }
        value = value << 6 | UInt32(b & 0x3F)
        remaining -= 1
      } else {
        guard b != 0 else { return nil }
        length = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4][Int(b >> 4)]
        guard length > 0, b < 0xF8 else { return nil }
        remaining = length - 1
        value = UInt32(b) & ((1 << UInt32(7 - remaining)) - 1)
      }
      if remaining == 0 {
        guard Self.valid(value, length: length) else { return nil }
        points.append(value)
      }
    }
    guard remaining > 0 else { return (points, PartialUTF8()) }
    let partial = PartialUTF8(value: value, remaining: remaining, length: length)
    guard partial.completions != nil else { return nil }
    return (points, partial)
  }
}
