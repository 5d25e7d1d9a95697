import Synchronization

/// A grammar bound to a model's vocabulary: what `SamplingOptions.grammar` holds.
///
/// The grammar reads each token's text as generation prints it (`Tokenizer.piece(id)`), so the
/// printed output is what the grammar matched. A token with no text (a control or unused token)
/// matches no character, as llama.cpp refuses empty pieces; it can match a `<[id]>` element. An
/// end-of-generation token is allowed exactly when the grammar may end, as in llama.cpp.
/// (llama.cpp matches a control token by its text, `<s>`, while printing nothing for it: a
/// grammar there can be satisfied by text that is not in the output. Quanta does not do that.)
public struct GrammarConstraint: Sendable, Equatable {
  public let grammar: Grammar
  let tokenizer: Tokenizer
  public let endOfGeneration: Set<Int32>

  /// - Parameters:
  ///   - grammar: the parsed grammar.
  ///   - tokenizer: the model's tokenizer (token texts).
  ///   - endOfGeneration: the ids that end generation (`LanguageModel.endOfGenerationTokens`).
  public init(_ grammar: Grammar, tokenizer: Tokenizer, endOfGeneration: Set<Int32>) {
    self.grammar = grammar
    self.tokenizer = tokenizer
    self.endOfGeneration = endOfGeneration
  }

  /// `grammar` bound to `model`'s vocabulary.
  public init(_ grammar: Grammar, model: LanguageModel) {
    self.init(grammar, tokenizer: model.tokenizer, endOfGeneration: model.endOfGenerationTokens)
  }

  /// Parses GBNF for `model`: `<text>` tokens are looked up in its vocabulary.
  public init(gbnf: String, model: LanguageModel) throws(GrammarError) {
    let tokenizer = model.tokenizer
    let grammar = try Grammar(gbnf) { text in
      let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
      return ids.count == 1 ? ids[0] : nil
    }
    self.init(grammar, model: model)
  }

  public static func == (a: GrammarConstraint, b: GrammarConstraint) -> Bool {
    a.grammar == b.grammar && a.tokenizer === b.tokenizer && a.endOfGeneration == b.endOfGeneration
  }

  public var vocabularySize: Int { tokenizer.vocabulary.count }

  /// The bytes the grammar reads for `id`: the text generation prints for it.
  public func piece(_ id: Int32) -> [UInt8] { tokenizer.piece(id) }

  /// Each token's first byte (0 for a token with no text), for a quick refusal before the
  /// grammar runs: built once per tokenizer and shared.
  var firstBytes: [UInt8] { FirstBytes.table(for: tokenizer) }
}

/// The first byte of every token's text, per tokenizer (a vocabulary of 262,144 tokens takes one
/// pass over its pieces; later constraints on the same model reuse it).
enum FirstBytes {
  private struct Entry: @unchecked Sendable {
    // Only compared by identity; the tokenizer itself is Sendable.
    weak var tokenizer: Tokenizer?
    var table: [UInt8]
  }
  private static let cache = Mutex<[ObjectIdentifier: Entry]>([:])

  static func table(for tokenizer: Tokenizer) -> [UInt8] {
    let key = ObjectIdentifier(tokenizer)
    if let t = cache.withLock({ $0[key].flatMap { $0.tokenizer === tokenizer ? $0.table : nil } }) {
      return t
    }
    let table = (0..<Int32(tokenizer.vocabulary.count)).map { tokenizer.piece($0).first ?? 0 }
    cache.withLock { c in
      c = c.filter { $0.value.tokenizer != nil }
      c[key] = Entry(tokenizer: tokenizer, table: table)
    }
    return table
  }
}

/// A grammar's state during one generation, over a vocabulary: which tokens may come next.
struct ConstrainedState: Sendable {
  let constraint: GrammarConstraint
  var matcher: GrammarMatcher
  /// The last token checked and the state after it (sampling checks a token, then accepts it).
  private var checked: (token: Int32, state: GrammarMatcher?)?

  init(_ constraint: GrammarConstraint) {
    self.constraint = constraint
    matcher = GrammarMatcher(constraint.grammar)
  }

  /// Whether `id` may come next.
  mutating func allows(_ id: Int32) -> Bool {
    if constraint.endOfGeneration.contains(id) { return matcher.canEnd }
    if let c = checked, c.token == id { return c.state != nil }
    let next = matcher.advanced(bytes: constraint.piece(id), token: id)
    checked = (id, next)
    return next != nil
  }

  /// Without caching (for scans over many candidates). `firstByteAllowed` (from
  /// `firstByteFilter`) refuses most tokens before the grammar runs.
  func allowsUncached(_ id: Int32, firstByteAllowed: [Bool]? = nil, firstBytes: [UInt8] = []) -> Bool {
    if constraint.endOfGeneration.contains(id) { return matcher.canEnd }
    if let f = firstByteAllowed, !f[Int(firstBytes[Int(id)])] { return false }
    return matcher.advanced(bytes: constraint.piece(id), token: id) != nil
  }

  /// Which first bytes of a token's text some path of the grammar can take now (index 0: no
  /// text, never); nil when a byte cannot tell (a character is unfinished, or a token element is
  /// on top of a stack).
  func firstByteFilter() -> [Bool]? {
    guard matcher.partial.remaining == 0 else { return nil }
    let g = matcher.grammar
    var classes: [CharClass] = []
    for s in matcher.stacks {
      guard let top = s.last else { continue }
      let c = g.classAt[Int(top)]
      guard c >= 0 else { return nil }
      classes.append(g.classes[Int(c)])
    }
    var allowed = [Bool](repeating: false, count: 256)
    for b in 1..<256 {
      let byte = UInt8(b)
      if byte < 0x80 {
        allowed[b] = classes.contains { $0.matches(UInt32(byte)) }
      } else if let (_, partial) = PartialUTF8().decode([byte]), partial.remaining > 0 {
        allowed[b] = classes.contains { $0.matchesPartial(partial) }
      }
    }
    return allowed
  }

  /// Moves past `id`; false when the grammar does not allow it (the state stays).
  mutating func accept(_ id: Int32) -> Bool {
    if constraint.endOfGeneration.contains(id) { return matcher.canEnd }
    let next: GrammarMatcher?
    if let c = checked, c.token == id {
      next = c.state
    } else {
      next = matcher.advanced(bytes: constraint.piece(id), token: id)
    }
    checked = nil
    guard let next else { return false }
    matcher = next
    return true
  }
}
