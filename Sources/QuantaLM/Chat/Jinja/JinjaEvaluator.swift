import Foundation

/// Bounds on one render (RELIABILITY.md A16): a template is data from a model file, so its loops,
/// recursion and output are bounded and exceeding one is `JinjaError.Kind.limit`.
public struct JinjaLimits: Sendable, Equatable {
  /// Bytes of text produced in total (output, captured blocks and macro results, built strings).
  public var maxOutputBytes = 8 << 20
  /// Loop iterations (and `range` elements) in total.
  public var maxIterations = 1_000_000
  /// Nested macro calls.
  public var maxCallDepth = 64
  public init() {}
}

/// Renders a parsed template. One renderer per render; not shared between threads.
struct JinjaRenderer {
  let lexer: JinjaLexer
  let limits: JinjaLimits
  let now: Date
  let timeZone: TimeZone
  /// Scopes, outermost first: [0] the context (messages, …), [1] the template's top level, then a
  /// frame per loop iteration; a macro call sees [0], [1] and its own frame.
  var scopes: [[String: JinjaValue]]
  var namespaces: [JinjaObject] = []
  var macros: [JinjaMacro] = []
  /// Output buffers: the template's, and one per block being captured (set block, macro call).
  var buffers: [String] = [""]
  var produced = 0
  var iterations = 0
  var callDepth = 0

  enum Flow { case normal, breakLoop, continueLoop }

  init(lexer: JinjaLexer, context: JinjaObject, limits: JinjaLimits, now: Date, timeZone: TimeZone) {
    self.lexer = lexer
    self.limits = limits
    self.now = now
    self.timeZone = timeZone
    var globals: [String: JinjaValue] = [:]
    for k in context.keys { globals[k] = context[k]! }
    scopes = [globals, [:]]
  }

  func fail(_ kind: JinjaError.Kind, _ message: String, _ offset: Int) -> JinjaError {
    lexer.error(kind, message, at: offset)
  }

  mutating func account(_ bytes: Int, _ offset: Int) throws {
    produced += bytes
    if produced > limits.maxOutputBytes {
      throw fail(.limit, "the template produced more than \(limits.maxOutputBytes) bytes", offset)
    }
  }

  mutating func write(_ s: String, _ offset: Int) throws {
    try account(s.utf8.count, offset)
    buffers[buffers.count - 1] += s
  }

  mutating func countIteration(_ offset: Int) throws {
    iterations += 1
    if iterations > limits.maxIterations {
      throw fail(.limit, "the template ran more than \(limits.maxIterations) loop iterations", offset)
    }
  }

  // MARK: Statements

  mutating func run(_ nodes: [JinjaNode]) throws -> Flow {
    for node in nodes {
      let flow = try exec(node)
      if flow != .normal { return flow }
    }
    return .normal
  }

  mutating func exec(_ node: JinjaNode) throws -> Flow {
    switch node {
    case .text(let t):
      try write(t, 0)
    case .output(let e):
      let v = try eval(e)
      try write(v.pyStr, offset(of: e))
    case .conditional(let branches, let otherwise):
      for (condition, body) in branches where try eval(condition).isTruthy {
        return try run(body)
      }
      return try run(otherwise)
    case .loop(let targets, let iterable, let filter, let body, let otherwise, let at):
      return try loop(targets, iterable, filter, body, otherwise, at)
    case .assign(let targets, let e, let at):
      let v = try eval(e)
      try assign(targets, v, at)
    case .assignAttribute(let name, let attribute, let e, let at):
      guard case .namespace(let id) = lookup(name) else {
        throw fail(.type, "cannot assign attribute '\(attribute)' on '\(name)', which is not a namespace", at)
      }
      namespaces[id][attribute] = try eval(e)
    case .assignBlock(let name, let body):
      let text = try capture(body)
      scopes[scopes.count - 1][name] = .string(text)
    case .macro(let m):
      macros.append(m)
      scopes[scopes.count - 1][m.name] = .macro(macros.count - 1)
    case .filterBlock(let name, let args, let body, let at):
      let text = try capture(body)
      let v = try applyFilter(name, .string(text), try evalArgs(args), at)
      try write(v.pyStr, at)
    case .breakLoop: return .breakLoop
    case .continueLoop: return .continueLoop
    }
    return .normal
  }

  /// Renders `body` into a string instead of the output.
  mutating func capture(_ body: [JinjaNode]) throws -> String {
    buffers.append("")
    defer { buffers.removeLast() }
    _ = try run(body)
    return buffers[buffers.count - 1]
  }

  mutating func assign(_ targets: [String], _ v: JinjaValue, _ at: Int) throws {
    if targets.count == 1 {
      scopes[scopes.count - 1][targets[0]] = v
      return
    }
    let items = try iterate(v, at)
    guard items.count == targets.count else {
      throw fail(.type, "cannot unpack \(items.count) values into \(targets.count) names", at)
    }
    for (t, x) in zip(targets, items) { scopes[scopes.count - 1][t] = x }
  }

  mutating func loop(
    _ targets: [String], _ iterable: JinjaExpr, _ filter: JinjaExpr?, _ body: [JinjaNode],
    _ otherwise: [JinjaNode], _ at: Int
  ) throws -> Flow {
    var items = try iterate(try eval(iterable), at)
    if let filter {
      var kept: [JinjaValue] = []
      for item in items {
        try countIteration(at)
        scopes.append([:])
        defer { scopes.removeLast() }
        try assign(targets, item, at)
        if try eval(filter).isTruthy { kept.append(item) }
      }
      items = kept
    }
    if items.isEmpty { return try run(otherwise) }
    for (index, item) in items.enumerated() {
      try countIteration(at)
      var loop = JinjaObject()
      loop["index"] = .int(index + 1)
      loop["index0"] = .int(index)
      loop["revindex"] = .int(items.count - index)
      loop["revindex0"] = .int(items.count - index - 1)
      loop["first"] = .bool(index == 0)
      loop["last"] = .bool(index == items.count - 1)
      loop["length"] = .int(items.count)
      loop["depth"] = .int(1)
      loop["depth0"] = .int(0)
      loop["previtem"] = index > 0 ? items[index - 1] : .undefined("previtem")
      loop["nextitem"] = index + 1 < items.count ? items[index + 1] : .undefined("nextitem")
      // Each iteration has its own frame: what `set` assigns inside does not outlive it (Jinja2).
      scopes.append(["loop": .object(loop)])
      defer { scopes.removeLast() }
      try assign(targets, item, at)
      if try run(body) == .breakLoop { break }
    }
    return .normal
  }

  /// The items a `for` walks: a list's elements, a dict's keys, a string's characters.
  func iterate(_ v: JinjaValue, _ at: Int) throws -> [JinjaValue] {
    switch v {
    case .array(let a): return a
    case .object(let o): return o.keys.map { .string($0) }
    case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
    case .undefined: return []
    default: throw fail(.type, "'\(v.typeName)' object is not iterable", at)
    }
  }

  func lookup(_ name: String) -> JinjaValue {
    for scope in scopes.reversed() {
      if let v = scope[name] { return v }
    }
    if Self.globalFunctions.contains(name) { return .function(name) }
    return .undefined(name)
  }

  static let globalFunctions: Set<String> = ["range", "namespace", "raise_exception", "strftime_now", "dict"]

  // MARK: Expressions

  func offset(of e: JinjaExpr) -> Int {
    switch e {
    case .name(_, let o), .member(_, _, let o), .index(_, _, let o), .slice(_, _, _, _, let o),
      .call(_, _, let o),
      .filter(_, _, _, let o), .test(_, _, _, _, let o), .negate(_, let o), .binary(_, _, _, let o),
      .compare(_, _, let o), .dict(_, let o):
      return o
    case .not(let x): return offset(of: x)
    case .and(let x, _), .or(let x, _): return offset(of: x)
    case .conditional(let x, _, _): return offset(of: x)
    case .literal, .list: return 0
    }
  }

  mutating func eval(_ e: JinjaExpr) throws -> JinjaValue {
    switch e {
    case .literal(let v): return v
    case .name(let n, _): return lookup(n)
    case .list(let items):
      let v = JinjaValue.array(try items.map { try eval($0) })
      try checkNesting(v, offset(of: e))
      return v
    case .dict(let pairs, let at):
      var o = JinjaObject()
      for (k, v) in pairs {
        let key = try eval(k)
        guard case .string(let s) = key else {
          throw fail(.unsupported, "dict keys other than strings are not supported", at)
        }
        o[s] = try eval(v)
      }
      try checkNesting(.object(o), at)
      return .object(o)
    case .member(let base, let name, let at):
      return try attribute(try eval(base), name, at)
    case .index(let base, let index, let at):
      return try item(try eval(base), try eval(index), at)
    case .slice(let base, let start, let stop, let step, let at):
      return try slice(
        try eval(base), try start.map { try eval($0) }, try stop.map { try eval($0) },
        try step.map { try eval($0) },
        at)
    case .call(let callee, let args, let at):
      return try call(callee, args, at)
    case .filter(let base, let name, let args, let at):
      return try applyFilter(name, try eval(base), try evalArgs(args), at)
    case .test(let base, let name, let args, let negated, let at):
      let r = try applyTest(name, try eval(base), try evalArgs(args), at)
      return .bool(r != negated)
    case .not(let x): return .bool(!(try eval(x)).isTruthy)
    case .negate(let x, let at):
      switch try eval(x) {
      case .int(let i):
        guard i != .min else { throw fail(.limit, "integer overflow in unary -", at) }
        return .int(-i)
      case .double(let d): return .double(-d)
      case .bool(let b): return .int(b ? -1 : 0)
      case let v: throw fail(.type, "bad operand type for unary -: '\(v.typeName)'", at)
      }
    case .and(let a, let b):
      let l = try eval(a)
      return l.isTruthy ? try eval(b) : l
    case .or(let a, let b):
      let l = try eval(a)
      return l.isTruthy ? l : try eval(b)
    case .conditional(let then, let condition, let otherwise):
      if try eval(condition).isTruthy { return try eval(then) }
      return try otherwise.map { try eval($0) } ?? .undefined("")
    case .binary(let op, let a, let b, let at):
      return try binary(op, try eval(a), try eval(b), at)
    case .compare(let first, let ops, let at):
      var left = try eval(first)
      for (op, e) in ops {
        let right = try eval(e)
        if !(try compare(op, left, right, at)) { return .bool(false) }
        left = right
      }
      return .bool(true)
    }
  }

  struct Args {
    var positional: [JinjaValue] = []
    var keyword: [(String, JinjaValue)] = []

    /// Argument `index` by position, else by keyword `name`.
    func get(_ index: Int, _ name: String) -> JinjaValue? {
      if index < positional.count { return positional[index] }
      return keyword.first { $0.0 == name }?.1
    }
  }

  mutating func evalArgs(_ a: JinjaArgs) throws -> Args {
    Args(
      positional: try a.positional.map { try eval($0) }, keyword: try a.keyword.map { ($0.0, try eval($0.1)) }
    )
  }

  /// `base.name`: a dict's key, a namespace's attribute, a loop variable; Undefined when absent. No
  /// other attribute of any value is reachable (A16: no attribute walking).
  func attribute(_ base: JinjaValue, _ name: String, _ at: Int) throws -> JinjaValue {
    switch base {
    case .object(let o): return o[name] ?? .undefined(name)
    case .namespace(let id): return namespaces[id][name] ?? .undefined(name)
    case .undefined(let n): throw fail(.type, "'\(n)' is undefined (reading its attribute '\(name)')", at)
    default: return .undefined(name)
    }
  }

  func item(_ base: JinjaValue, _ index: JinjaValue, _ at: Int) throws -> JinjaValue {
    switch (base, index) {
    case (.object(let o), .string(let k)): return o[k] ?? .undefined(k)
    case (.namespace, .string(let k)): return try attribute(base, k, at)
    case (.array(let a), _):
      guard let i = index.integer else { return .undefined("") }
      let j = i < 0 ? a.count + i : i
      return j >= 0 && j < a.count ? a[j] : .undefined("[\(i)]")
    case (.string(let s), _):
      guard let i = index.integer else { return .undefined("") }
      let scalars = Array(s.unicodeScalars)
      let j = i < 0 ? scalars.count + i : i
      return j >= 0 && j < scalars.count ? .string(String(scalars[j])) : .undefined("[\(i)]")
    case (.undefined(let n), _): throw fail(.type, "'\(n)' is undefined (reading an item of it)", at)
    default: return .undefined("")
    }
  }

  func slice(_ base: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?, _ at: Int)
    throws
    -> JinjaValue
  {
    func bound(_ v: JinjaValue?) throws -> Int? {
      guard let v, !(v == .none) else { return nil }
      guard let i = v.integer else { throw fail(.type, "slice indices must be integers or None", at) }
      return i
    }
    let st = try bound(step) ?? 1
    guard st != 0 else { throw fail(.type, "slice step cannot be zero", at) }
    func indices(_ count: Int) throws -> [Int] {
      func clamp(_ v: Int?, _ def: Int) -> Int {
        guard var x = v else { return def }
        if x < 0 { x += count }
        return st > 0 ? min(max(x, 0), count) : min(max(x, -1), count - 1)
      }
      let b = clamp(try bound(start), st > 0 ? 0 : count - 1)
      let e = clamp(try bound(stop), st > 0 ? count : -1)
      return Array(stride(from: b, to: e, by: st))
    }
    switch base {
    case .array(let a): return .array(try indices(a.count).map { a[$0] })
    case .string(let s):
      let u = Array(s.unicodeScalars)
      var out = String.UnicodeScalarView()
      for i in try indices(u.count) { out.append(u[i]) }
      return .string(String(out))
    case .undefined(let n): throw fail(.type, "'\(n)' is undefined (slicing it)", at)
    default: throw fail(.type, "'\(base.typeName)' object is not subscriptable", at)
    }
  }

  mutating func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue, _ at: Int) throws -> JinjaValue {
    if op == "~" {
      let s = a.pyStr + b.pyStr
      try account(s.utf8.count, at)
      return .string(s)
    }
    func typeError() -> JinjaError {
      fail(.type, "unsupported operand types for \(op): '\(a.typeName)' and '\(b.typeName)'", at)
    }
    switch (op, a, b) {
    case ("+", .string(let x), .string(let y)):
      try account(x.utf8.count + y.utf8.count, at)
      return .string(x + y)
    case ("+", .array(let x), .array(let y)):
      try account(x.count + y.count, at)
      return .array(x + y)
    case ("*", .string(let s), _), ("*", _, .string(let s)):
      guard let n = (op == "*" && a.integer != nil ? a : b).integer else { throw typeError() }
      let count = max(0, n)
      guard s.utf8.count == 0 || count <= limits.maxOutputBytes / max(1, s.utf8.count) else {
        throw fail(.limit, "string repetition longer than \(limits.maxOutputBytes) bytes", at)
      }
      try account(s.utf8.count * count, at)
      return .string(String(repeating: s, count: count))
    default: break
    }
    if let x = a.integer, let y = b.integer {
      switch op {
      case "+":
        let (r, o) = x.addingReportingOverflow(y)
        if !o { return .int(r) }
      case "-":
        let (r, o) = x.subtractingReportingOverflow(y)
        if !o { return .int(r) }
      case "*":
        let (r, o) = x.multipliedReportingOverflow(by: y)
        if !o { return .int(r) }
      case "/":
        guard y != 0 else { throw fail(.type, "division by zero", at) }
        return .double(Double(x) / Double(y))
      case "//":
        guard y != 0 else { throw fail(.type, "integer division or modulo by zero", at) }
        guard !(x == .min && y == -1) else { throw fail(.limit, "integer overflow in //", at) }
        let q = x / y
        return .int((x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q)
      case "%":
        guard y != 0 else { throw fail(.type, "integer division or modulo by zero", at) }
        if y == -1 { return .int(0) }
        let r = x % y
        return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
      case "**":
        if y >= 0 {
          var r = 1
          for _ in 0..<min(y, 64) {
            let (m, o) = r.multipliedReportingOverflow(by: x)
            if o { throw fail(.limit, "integer power too large", at) }
            r = m
          }
          if y <= 64 || x == 1 || x == 0 { return .int(r) }
          throw fail(.limit, "integer power too large", at)
        }
        return .double(pow(Double(x), Double(y)))
      default: break
      }
      throw fail(.limit, "integer overflow in \(op)", at)
    }
    guard let x = a.number, let y = b.number else { throw typeError() }
    switch op {
    case "+": return .double(x + y)
    case "-": return .double(x - y)
    case "*": return .double(x * y)
    case "/":
      guard y != 0 else { throw fail(.type, "float division by zero", at) }
      return .double(x / y)
    case "//":
      guard y != 0 else { throw fail(.type, "float divmod()", at) }
      return .double((x / y).rounded(.down))
    case "%":
      guard y != 0 else { throw fail(.type, "float modulo", at) }
      let r = x.truncatingRemainder(dividingBy: y)
      return .double(r != 0 && (r < 0) != (y < 0) ? r + y : r)
    case "**": return .double(pow(x, y))
    default: throw typeError()
    }
  }

  func compare(_ op: String, _ a: JinjaValue, _ b: JinjaValue, _ at: Int) throws -> Bool {
    switch op {
    case "==": return a.pyEquals(b)
    case "!=": return !a.pyEquals(b)
    case "in": return try contains(b, a, at)
    case "not in": return !(try contains(b, a, at))
    default: break
    }
    let order: Int
    switch (a, b) {
    case (.string(let x), .string(let y)):
      order = x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : (x == y ? 0 : 1)
    default:
      guard let x = a.number, let y = b.number else {
        throw fail(
          .type, "'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'", at)
      }
      order = x < y ? -1 : (x == y ? 0 : 1)
    }
    switch op {
    case "<": return order < 0
    case "<=": return order <= 0
    case ">": return order > 0
    default: return order >= 0
    }
  }

  func contains(_ container: JinjaValue, _ v: JinjaValue, _ at: Int) throws -> Bool {
    switch container {
    case .string(let s):
      guard case .string(let x) = v else {
        throw fail(.type, "'in <string>' requires string as left operand, not \(v.typeName)", at)
      }
      return x.isEmpty || s.contains(x)
    case .array(let a): return a.contains { $0.pyEquals(v) }
    case .object(let o):
      if case .string(let k) = v { return o[k] != nil }
      return false
    case .undefined: return false
    default: throw fail(.type, "argument of type '\(container.typeName)' is not iterable", at)
    }
  }

  /// Values nested deeper than this are refused as they are built (printing, comparing and
  /// freeing a value recurse through its nesting).
  static let maxNesting = 64

  func checkNesting(_ v: JinjaValue, _ at: Int) throws {
    func depth(_ v: JinjaValue, _ d: Int) -> Int {
      if d > Self.maxNesting { return d }
      switch v {
      case .array(let a): return a.reduce(d + 1) { max($0, depth($1, d + 1)) }
      case .object(let o): return o.values.reduce(d + 1) { max($0, depth($1, d + 1)) }
      default: return d
      }
    }
    if depth(v, 0) > Self.maxNesting {
      throw fail(.limit, "a list or dict nested deeper than \(Self.maxNesting)", at)
    }
  }

  // MARK: Calls

  mutating func call(_ callee: JinjaExpr, _ argExprs: JinjaArgs, _ parenthesis: Int) throws -> JinjaValue {
    // Errors point at the called name (`raise_exception`, `f`, `x.strip`), not its parenthesis.
    let at = offset(of: callee) > 0 ? offset(of: callee) : parenthesis
    if case .member(let baseExpr, let name, _) = callee {
      let base = try eval(baseExpr)
      let args = try evalArgs(argExprs)
      switch base {
      case .string, .object, .array:
        return try method(base, name, args, at)
      case .undefined(let n):
        throw fail(.type, "'\(n)' is undefined (calling its method '\(name)')", at)
      default:
        let v = try attribute(base, name, at)
        return try invoke(v, args, at, name: name)
      }
    }
    let f = try eval(callee)
    return try invoke(f, try evalArgs(argExprs), at, name: nil)
  }

  mutating func invoke(_ f: JinjaValue, _ args: Args, _ at: Int, name: String?) throws -> JinjaValue {
    switch f {
    case .macro(let id): return try callMacro(macros[id], args, at)
    case .function(let n): return try callGlobal(n, args, at)
    case .undefined(let n): throw fail(.type, "'\(name ?? n)' is undefined (called as a function)", at)
    default: throw fail(.type, "'\(f.typeName)' object is not callable", at)
    }
  }

  mutating func callMacro(_ m: JinjaMacro, _ args: Args, _ at: Int) throws -> JinjaValue {
    callDepth += 1
    defer { callDepth -= 1 }
    if callDepth > limits.maxCallDepth {
      throw fail(.limit, "macro calls nested deeper than \(limits.maxCallDepth)", at)
    }
    guard args.positional.count <= m.parameters.count else {
      throw fail(.type, "macro '\(m.name)' takes not more than \(m.parameters.count) argument(s)", at)
    }
    for (k, _) in args.keyword where !m.parameters.contains(where: { $0.0 == k }) {
      throw fail(.type, "macro '\(m.name)' takes no keyword argument '\(k)'", at)
    }
    // The macro sees the context, the top level and its own frame (not the caller's loop frames).
    let saved = scopes
    scopes = [scopes[0], scopes[1], [:]]
    defer { scopes = saved }
    for (k, (p, def)) in m.parameters.enumerated() {
      // A default is evaluated in the macro's frame: it may use the parameters before it.
      scopes[2][p] = try args.get(k, p) ?? def.map { try eval($0) } ?? .undefined(p)
    }
    return .string(try capture(m.body))
  }

  mutating func callGlobal(_ name: String, _ args: Args, _ at: Int) throws -> JinjaValue {
    switch name {
    case "raise_exception":
      throw fail(.raised, args.get(0, "message")?.pyStr ?? "", at)
    case "namespace", "dict":
      var o = JinjaObject()
      for v in args.positional {
        guard case .object(let given) = v else { throw fail(.type, "\(name)() takes a dict", at) }
        for k in given.keys { o[k] = given[k]! }
      }
      for (k, v) in args.keyword { o[k] = v }
      if name == "dict" { return .object(o) }
      namespaces.append(o)
      return .namespace(namespaces.count - 1)
    case "range":
      let ints = args.positional.map(\.integer)
      guard !ints.isEmpty, ints.count <= 3, ints.allSatisfy({ $0 != nil }) else {
        throw fail(.type, "range() takes 1 to 3 integer arguments", at)
      }
      let v = ints.map { $0! }
      let (start, stop, step) = v.count == 1 ? (0, v[0], 1) : (v[0], v[1], v.count == 3 ? v[2] : 1)
      guard step != 0 else { throw fail(.type, "range() arg 3 must not be zero", at) }
      // Counted in Double: the bounds may be anywhere in Int's range (no overflow trap).
      let count = max(0, ((Double(stop) - Double(start)) / Double(step)).rounded(.up))
      if count > Double(limits.maxIterations - iterations) {
        throw fail(.limit, "range of \(count) elements is over the iteration bound", at)
      }
      return .array(stride(from: start, to: stop, by: step).map { .int($0) })
    case "strftime_now":
      guard case .string(let format) = args.get(0, "format") ?? .none else {
        throw fail(.type, "strftime_now() takes a format string", at)
      }
      return .string(Self.strftime(format, now, timeZone))
    default:
      throw fail(.unsupported, "unknown function '\(name)'", at)
    }
  }

  /// C's `strftime` of `date` in `timeZone` (Python's `datetime.strftime` passes the format to it).
  static func strftime(_ format: String, _ date: Date, _ timeZone: TimeZone) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
    var t = tm()
    t.tm_year = Int32(c.year! - 1900)
    t.tm_mon = Int32(c.month! - 1)
    t.tm_mday = Int32(c.day!)
    t.tm_hour = Int32(c.hour!)
    t.tm_min = Int32(c.minute!)
    t.tm_sec = Int32(c.second!)
    t.tm_wday = Int32(c.weekday! - 1)
    t.tm_yday = Int32(calendar.ordinality(of: .day, in: .year, for: date)! - 1)
    var buffer = [Int8](repeating: 0, count: 512)
    let n = Foundation.strftime(&buffer, buffer.count, format, &t)
    return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
