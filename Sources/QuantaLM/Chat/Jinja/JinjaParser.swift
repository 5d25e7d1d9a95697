/// An expression of the template (`offset`: byte offset in the source, for error locations).
indirect enum JinjaExpr: Sendable {
  case literal(JinjaValue)
  case name(String, Int)
  case list([JinjaExpr])
  case dict([(JinjaExpr, JinjaExpr)], Int)
  case member(JinjaExpr, String, Int)
  case index(JinjaExpr, JinjaExpr, Int)
  case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?, Int)
  case call(JinjaExpr, JinjaArgs, Int)
  case filter(JinjaExpr, String, JinjaArgs, Int)
  case test(JinjaExpr, String, JinjaArgs, negated: Bool, Int)
  case not(JinjaExpr)
  case negate(JinjaExpr, Int)
  case binary(String, JinjaExpr, JinjaExpr, Int)
  case compare(JinjaExpr, [(String, JinjaExpr)], Int)
  case and(JinjaExpr, JinjaExpr)
  case or(JinjaExpr, JinjaExpr)
  case conditional(then: JinjaExpr, condition: JinjaExpr, otherwise: JinjaExpr?)
}

struct JinjaArgs: Sendable {
  var positional: [JinjaExpr] = []
  var keyword: [(String, JinjaExpr)] = []
}

struct JinjaMacro: Sendable {
  var name: String
  var parameters: [(String, JinjaExpr?)]
  var body: [JinjaNode]
}

/// A statement of the template.
indirect enum JinjaNode: Sendable {
  case text(String)
  case output(JinjaExpr)
  case conditional([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode])
  case loop(
    targets: [String], iterable: JinjaExpr, filter: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode], Int
  )
  case assign(targets: [String], JinjaExpr, Int)
  case assignAttribute(namespace: String, attribute: String, JinjaExpr, Int)
  case assignBlock(String, [JinjaNode])
  case macro(JinjaMacro)
  case filterBlock(String, JinjaArgs, [JinjaNode], Int)
  case breakLoop(Int)
  case continueLoop(Int)
}

/// Parses tokens into statements, with Jinja2's grammar and precedence (filters bind tightest,
/// then `**`, `* / // %`, `~`, `+ -`, comparisons, `not`, `and`, `or`, `if … else`).
struct JinjaParser {
  let lexer: JinjaLexer
  var tokens: [JinjaToken]
  var i = 0
  var depth = 0
  /// Nesting bound: a deeply nested expression or block is a typed error, not a stack overflow.
  static let maxDepth = 100

  init(lexer: JinjaLexer) throws {
    self.lexer = lexer
    tokens = try lexer.tokenize()
  }

  var current: JinjaToken { tokens[i] }

  func fail(_ message: String, _ kind: JinjaError.Kind = .syntax) -> JinjaError {
    lexer.error(kind, message, at: current.offset)
  }

  mutating func advance() { if i < tokens.count - 1 { i += 1 } }

  func isName(_ n: String) -> Bool {
    if case .name(let s) = current.kind { return s == n }
    return false
  }
  func isOp(_ o: String) -> Bool {
    if case .op(let s) = current.kind { return s == o }
    return false
  }
  mutating func skipName(_ n: String) -> Bool {
    guard isName(n) else { return false }
    advance()
    return true
  }
  mutating func skipOp(_ o: String) -> Bool {
    guard isOp(o) else { return false }
    advance()
    return true
  }
  mutating func expectOp(_ o: String) throws {
    guard skipOp(o) else { throw fail("expected '\(o)'") }
  }
  mutating func expectName() throws -> String {
    guard case .name(let s) = current.kind else { throw fail("expected a name") }
    advance()
    return s
  }
  mutating func expectBlockEnd() throws {
    guard case .blockEnd = current.kind else { throw fail("expected the end of the statement ('%}')") }
    advance()
  }

  mutating func enter() throws {
    depth += 1
    if depth > Self.maxDepth { throw fail("template nested deeper than \(Self.maxDepth) levels", .limit) }
  }

  // MARK: Statements

  mutating func parseTemplate() throws -> [JinjaNode] {
    let (body, end) = try parseBody(until: [])
    if let end { throw fail("unexpected '\(end)'") }
    return body
  }

  /// Statements until one of the block keywords in `until` (returned, its name consumed) or the
  /// end of the template (nil).
  mutating func parseBody(until: Set<String>) throws -> ([JinjaNode], String?) {
    try enter()
    defer { depth -= 1 }
    var nodes: [JinjaNode] = []
    while true {
      switch current.kind {
      case .end:
        if !until.isEmpty { throw fail("unexpected end of template; expected one of \(until.sorted())") }
        return (nodes, nil)
      case .text(let t):
        nodes.append(.text(t))
        advance()
      case .variableBegin:
        advance()
        let e = try parseTupleOrExpression()
        guard case .variableEnd = current.kind else { throw fail("expected '}}'") }
        advance()
        nodes.append(.output(e))
      case .blockBegin:
        advance()
        guard case .name(let keyword) = current.kind else { throw fail("expected a statement name") }
        if until.contains(keyword) {
          advance()
          return (nodes, keyword)
        }
        nodes.append(try parseStatement(keyword))
      default:
        throw fail("unexpected token")
      }
    }
  }

  mutating func parseStatement(_ keyword: String) throws -> JinjaNode {
    let at = current.offset
    advance()
    switch keyword {
    case "if": return try parseIf()
    case "for": return try parseFor(at)
    case "set": return try parseSet(at)
    case "macro": return try parseMacro()
    case "break":
      try expectBlockEnd()
      return .breakLoop(at)
    case "continue":
      try expectBlockEnd()
      return .continueLoop(at)
    case "generation":
      // Hugging Face's AssistantTracker tag: renders its body.
      try expectBlockEnd()
      let (body, _) = try parseBody(until: ["endgeneration"])
      try expectBlockEnd()
      return .conditional([(.literal(.bool(true)), body)], otherwise: [])
    case "filter":
      let name = try expectName()
      var args = JinjaArgs()
      if isOp("(") { args = try parseCallArgs() }
      try expectBlockEnd()
      let (body, _) = try parseBody(until: ["endfilter"])
      try expectBlockEnd()
      return .filterBlock(name, args, body, at)
    default:
      i -= 1
      throw fail("unsupported statement '\(keyword)'", .unsupported)
    }
  }

  mutating func parseIf() throws -> JinjaNode {
    var branches: [(JinjaExpr, [JinjaNode])] = []
    var condition = try parseExpression()
    while true {
      try expectBlockEnd()
      let (body, end) = try parseBody(until: ["elif", "else", "endif"])
      branches.append((condition, body))
      switch end {
      case "elif":
        condition = try parseExpression()
      case "else":
        try expectBlockEnd()
        let (otherwise, _) = try parseBody(until: ["endif"])
        try expectBlockEnd()
        return .conditional(branches, otherwise: otherwise)
      default:
        try expectBlockEnd()
        return .conditional(branches, otherwise: [])
      }
    }
  }

  mutating func parseFor(_ at: Int) throws -> JinjaNode {
    var targets = [try expectName()]
    while skipOp(",") { targets.append(try expectName()) }
    guard skipName("in") else { throw fail("expected 'in' in a for statement") }
    let iterable = try parseOr()
    let filter = skipName("if") ? try parseExpression() : nil
    if isName("recursive") { throw fail("recursive loops are not supported", .unsupported) }
    try expectBlockEnd()
    let (body, end) = try parseBody(until: ["else", "endfor"])
    var otherwise: [JinjaNode] = []
    if end == "else" {
      try expectBlockEnd()
      (otherwise, _) = try parseBody(until: ["endfor"])
    }
    try expectBlockEnd()
    return .loop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, at)
  }

  mutating func parseSet(_ at: Int) throws -> JinjaNode {
    let first = try expectName()
    if skipOp(".") {
      let attribute = try expectName()
      try expectOp("=")
      let value = try parseTupleOrExpression()
      try expectBlockEnd()
      return .assignAttribute(namespace: first, attribute: attribute, value, at)
    }
    var targets = [first]
    while skipOp(",") { targets.append(try expectName()) }
    if targets.count == 1, case .blockEnd = current.kind {
      advance()
      let (body, _) = try parseBody(until: ["endset"])
      try expectBlockEnd()
      return .assignBlock(first, body)
    }
    try expectOp("=")
    let value = try parseTupleOrExpression()
    try expectBlockEnd()
    return .assign(targets: targets, value, at)
  }

  mutating func parseMacro() throws -> JinjaNode {
    let name = try expectName()
    try expectOp("(")
    var parameters: [(String, JinjaExpr?)] = []
    while !skipOp(")") {
      if !parameters.isEmpty { try expectOp(",") }
      if skipOp(")") { break }
      let p = try expectName()
      parameters.append((p, skipOp("=") ? try parseExpression() : nil))
    }
    try expectBlockEnd()
    let (body, _) = try parseBody(until: ["endmacro"])
    if case .name = current.kind { advance() }  // {% endmacro name %}
    try expectBlockEnd()
    return .macro(JinjaMacro(name: name, parameters: parameters, body: body))
  }

  // MARK: Expressions

  /// `a, b` (a tuple, as a list) or one expression.
  mutating func parseTupleOrExpression() throws -> JinjaExpr {
    let first = try parseExpression()
    guard isOp(",") else { return first }
    var items = [first]
    while skipOp(",") {
      if case .blockEnd = current.kind { break }
      if case .variableEnd = current.kind { break }
      items.append(try parseExpression())
    }
    return .list(items)
  }

  mutating func parseExpression() throws -> JinjaExpr {
    try enter()
    defer { depth -= 1 }
    var e = try parseOr()
    while skipName("if") {
      let condition = try parseOr()
      let otherwise = skipName("else") ? try parseExpression() : nil
      e = .conditional(then: e, condition: condition, otherwise: otherwise)
    }
    return e
  }

  mutating func parseOr() throws -> JinjaExpr {
    var e = try parseAnd()
    while skipName("or") { e = .or(e, try parseAnd()) }
    return e
  }

  mutating func parseAnd() throws -> JinjaExpr {
    var e = try parseNot()
    while skipName("and") { e = .and(e, try parseNot()) }
    return e
  }

  mutating func parseNot() throws -> JinjaExpr {
    if skipName("not") {
      try enter()
      defer { depth -= 1 }
      return .not(try parseNot())
    }
    return try parseCompare()
  }

  mutating func parseCompare() throws -> JinjaExpr {
    let at = current.offset
    let first = try parseMath1()
    var ops: [(String, JinjaExpr)] = []
    while true {
      if case .op(let o) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
        advance()
        ops.append((o, try parseMath1()))
      } else if skipName("in") {
        ops.append(("in", try parseMath1()))
      } else if isName("not"), i + 1 < tokens.count, case .name("in") = tokens[i + 1].kind {
        advance()
        advance()
        ops.append(("not in", try parseMath1()))
      } else {
        break
      }
    }
    return ops.isEmpty ? first : .compare(first, ops, at)
  }

  mutating func parseMath1() throws -> JinjaExpr {
    var e = try parseConcat()
    while case .op(let o) = current.kind, o == "+" || o == "-" {
      let at = current.offset
      advance()
      e = .binary(o, e, try parseConcat(), at)
    }
    return e
  }

  mutating func parseConcat() throws -> JinjaExpr {
    var e = try parseMath2()
    while isOp("~") {
      let at = current.offset
      advance()
      e = .binary("~", e, try parseMath2(), at)
    }
    return e
  }

  mutating func parseMath2() throws -> JinjaExpr {
    var e = try parsePow()
    while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
      let at = current.offset
      advance()
      e = .binary(o, e, try parsePow(), at)
    }
    return e
  }

  mutating func parsePow() throws -> JinjaExpr {
    var e = try parseUnary(withFilter: true)
    while isOp("**") {
      let at = current.offset
      advance()
      e = .binary("**", e, try parseUnary(withFilter: true), at)
    }
    return e
  }

  mutating func parseUnary(withFilter: Bool) throws -> JinjaExpr {
    try enter()
    defer { depth -= 1 }
    let at = current.offset
    var e: JinjaExpr
    if skipOp("-") {
      e = .negate(try parseUnary(withFilter: false), at)
    } else if skipOp("+") {
      e = try parseUnary(withFilter: false)
    } else {
      e = try parsePostfix(try parsePrimary())
    }
    if withFilter { e = try parseFilters(e) }
    return e
  }

  mutating func parsePrimary() throws -> JinjaExpr {
    let at = current.offset
    switch current.kind {
    case .name(let n):
      advance()
      switch n {
      case "true", "True": return .literal(.bool(true))
      case "false", "False": return .literal(.bool(false))
      case "none", "None": return .literal(.none)
      default: return .name(n, at)
      }
    case .string(var s):
      advance()
      while case .string(let more) = current.kind {
        s += more
        advance()
      }
      return .literal(.string(s))
    case .integer(let v):
      advance()
      return .literal(.int(v))
    case .float(let v):
      advance()
      return .literal(.double(v))
    case .op("("):
      advance()
      if skipOp(")") { return .list([]) }
      let e = try parseExpression()
      if isOp(",") {
        var items = [e]
        while skipOp(",") {
          if isOp(")") { break }
          items.append(try parseExpression())
        }
        try expectOp(")")
        return .list(items)
      }
      try expectOp(")")
      return e
    case .op("["):
      advance()
      var items: [JinjaExpr] = []
      while !skipOp("]") {
        if !items.isEmpty { try expectOp(",") }
        if skipOp("]") { break }
        items.append(try parseExpression())
      }
      return .list(items)
    case .op("{"):
      advance()
      var pairs: [(JinjaExpr, JinjaExpr)] = []
      while !skipOp("}") {
        if !pairs.isEmpty { try expectOp(",") }
        if skipOp("}") { break }
        let k = try parseExpression()
        try expectOp(":")
        pairs.append((k, try parseExpression()))
      }
      return .dict(pairs, at)
    default:
      throw fail("unexpected token in an expression")
    }
  }

  mutating func parsePostfix(_ base: JinjaExpr) throws -> JinjaExpr {
    var e = base
    while true {
      let at = current.offset
      if skipOp(".") {
        switch current.kind {
        case .name(let n):
          advance()
          e = .member(e, n, at)
        case .integer(let k):
          advance()
          e = .index(e, .literal(.int(k)), at)
        default: throw fail("expected an attribute name after '.'")
        }
      } else if skipOp("[") {
        e = try parseSubscript(e, at)
      } else if isOp("(") {
        e = .call(e, try parseCallArgs(), at)
      } else {
        return e
      }
    }
  }

  mutating func parseSubscript(_ base: JinjaExpr, _ at: Int) throws -> JinjaExpr {
    var parts: [JinjaExpr?] = []
    var current: JinjaExpr? = nil
    var colons = 0
    while !isOp("]") {
      if skipOp(":") {
        parts.append(current)
        current = nil
        colons += 1
        if colons > 2 { throw fail("too many ':' in a slice") }
      } else {
        current = try parseExpression()
      }
    }
    advance()
    parts.append(current)
    if colons == 0 {
      guard let index = parts[0] else { throw fail("empty subscript") }
      return .index(base, index, at)
    }
    while parts.count < 3 { parts.append(nil) }
    return .slice(base, parts[0], parts[1], parts[2], at)
  }

  mutating func parseCallArgs() throws -> JinjaArgs {
    try expectOp("(")
    var args = JinjaArgs()
    while !skipOp(")") {
      if !args.positional.isEmpty || !args.keyword.isEmpty { try expectOp(",") }
      if skipOp(")") { break }
      if case .name(let n) = current.kind, i + 1 < tokens.count, case .op("=") = tokens[i + 1].kind {
        advance()
        advance()
        args.keyword.append((n, try parseExpression()))
      } else {
        if !args.keyword.isEmpty { throw fail("positional argument after a keyword argument") }
        args.positional.append(try parseExpression())
      }
    }
    return args
  }

  mutating func parseFilters(_ base: JinjaExpr) throws -> JinjaExpr {
    var e = base
    while true {
      let at = current.offset
      if skipOp("|") {
        let name = try expectName()
        e = .filter(e, name, isOp("(") ? try parseCallArgs() : JinjaArgs(), at)
      } else if skipName("is") {
        let negated = skipName("not")
        let name = try expectName()
        var args = JinjaArgs()
        if isOp("(") {
          args = try parseCallArgs()
        } else if startsTestArgument() {
          args.positional = [try parsePostfix(try parsePrimary())]
        }
        e = .test(e, name, args, negated: negated, at)
      } else if isOp("(") {
        e = .call(e, try parseCallArgs(), at)
      } else {
        return e
      }
    }
  }

  /// Jinja2 takes one unparenthesized test argument (`is divisibleby 3`) when a primary follows.
  func startsTestArgument() -> Bool {
    switch current.kind {
    case .name(let n): return !["else", "or", "and", "if", "is", "in", "not"].contains(n)
    case .string, .integer, .float: return true
    case .op(let o): return o == "[" || o == "{"
    default: return false
    }
  }
}
