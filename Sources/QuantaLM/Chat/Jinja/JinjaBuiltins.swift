import Foundation

/// Filters, tests and the methods of strings and dicts that chat templates call, with the
/// behaviour of Jinja2 / Python (and Hugging Face's `tojson`).
extension JinjaRenderer {
  // MARK: Filters

  mutating func applyFilter(_ name: String, _ v: JinjaValue, _ args: Args, _ at: Int) throws -> JinjaValue {
    func str() throws -> String {
      if case .undefined(let n) = v, name != "string" {
        _ = n
        return ""
      }
      return v.pyStr
    }
    switch name {
    case "safe", "e", "escape", "forceescape": return name == "safe" ? v : .string(Self.htmlEscape(v.pyStr))
    case "string": return .string(v.pyStr)
    case "trim":
      let chars = args.get(0, "chars").flatMap {
        if case .string(let c) = $0 { return c } else { return nil }
      }
      return .string(Self.strip(try str(), chars: chars, left: true, right: true))
    case "upper": return .string(try str().uppercased())
    case "lower": return .string(try str().lowercased())
    case "capitalize":
      let s = try str()
      return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
    case "title": return .string(Self.title(try str()))
    case "length", "count":
      switch v {
      case .string(let s): return .int(s.unicodeScalars.count)
      case .array(let a): return .int(a.count)
      case .object(let o): return .int(o.count)
      case .undefined: return .int(0)
      default: throw fail(.type, "object of type '\(v.typeName)' has no len()", at)
      }
    case "default", "d":
      let fallback = args.get(0, "default_value") ?? .string("")
      let boolean = args.get(1, "boolean")?.isTruthy ?? false
      if v.isUndefined || (boolean && !v.isTruthy) { return fallback }
      return v
    case "first", "last":
      let items = try sequence(v, at)
      return (name == "first" ? items.first : items.last) ?? .undefined(name)
    case "join":
      let sep = args.get(0, "d")?.pyStr ?? ""
      var items = try sequence(v, at)
      if let attr = args.get(1, "attribute") { items = try items.map { try attribute($0, attr.pyStr, at) } }
      let s = items.map(\.pyStr).joined(separator: sep)
      try account(s.utf8.count, at)
      return .string(s)
    case "replace":
      guard case .string(let old) = args.get(0, "old") ?? .none,
        case .string(let new) = args.get(1, "new") ?? .none
      else { throw fail(.type, "replace takes two strings", at) }
      let count = args.get(2, "count")?.integer ?? -1
      let subject = try str()
      try checkReplaceSize(subject, old, new, at)
      let s = Self.replace(subject, old, new, count: count)
      try account(s.utf8.count, at)
      return .string(s)
    case "list":
      if case .string(let s) = v { return .array(s.unicodeScalars.map { .string(String($0)) }) }
      return .array(try iterate(v, at))
    case "items":
      switch v {
      case .object(let o): return .array(o.keys.map { .array([.string($0), o[$0]!]) })
      case .undefined: return .array([])
      default: throw fail(.type, "items expects a mapping, got '\(v.typeName)'", at)
      }
    case "dictsort":
      guard case .object(let o) = v else { throw fail(.type, "dictsort expects a mapping", at) }
      let caseSensitive = args.get(0, "case_sensitive")?.isTruthy ?? false
      let keys = o.keys.sorted {
        caseSensitive
          ? $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) : $0.lowercased() < $1.lowercased()
      }
      return .array(keys.map { .array([.string($0), o[$0]!]) })
    case "reverse":
      if case .string(let s) = v {
        return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed())))
      }
      return .array(try sequence(v, at).reversed())
    case "unique":
      var out: [JinjaValue] = []
      for x in try sequence(v, at) where !out.contains(where: { $0.pyEquals(x) }) { out.append(x) }
      return .array(out)
    case "int":
      let fallback = args.get(0, "default") ?? .int(0)
      switch v {
      case .int, .bool: return .int(v.integer!)
      case .double(let d): return Int(exactly: d.rounded(.towardZero)).map { .int($0) } ?? fallback
      case .string(let s):
        let t = Self.strip(s, chars: nil, left: true, right: true).replacingOccurrences(of: "_", with: "")
        if let i = Int(t) { return .int(i) }
        if let d = Double(t), let i = Int(exactly: d.rounded(.towardZero)) { return .int(i) }
        return fallback
      default: return fallback
      }
    case "float":
      let fallback = args.get(0, "default") ?? .double(0)
      switch v {
      case .int, .bool, .double: return .double(v.number!)
      case .string(let s):
        return Double(Self.strip(s, chars: nil, left: true, right: true)).map { .double($0) } ?? fallback
      default: return fallback
      }
    case "abs":
      switch v {
      case .int(let i):
        guard i != .min else { throw fail(.limit, "integer overflow in abs", at) }
        return .int(abs(i))
      case .double(let d): return .double(abs(d))
      default: throw fail(.type, "bad operand type for abs(): '\(v.typeName)'", at)
      }
    case "tojson":
      var indent: Int? = nil
      if let i = args.get(1, "indent"), i != .none {
        guard let n = i.integer else { throw fail(.unsupported, "tojson indent must be an integer", at) }
        guard (0...1000).contains(n) else { throw fail(.limit, "tojson indent \(n) is outside 0...1000", at) }
        indent = n
      }
      let sortKeys = args.get(3, "sort_keys")?.isTruthy ?? false
      let ensureASCII = args.get(0, "ensure_ascii")?.isTruthy ?? false
      var separators = (indent == nil ? ", " : ",", ": ")
      if let s = args.get(2, "separators"), case .array(let pair) = s, pair.count == 2 {
        separators = (pair[0].pyStr, pair[1].pyStr)
      }
      var out = ""
      try json(
        v, into: &out, indent: indent, level: 0, sortKeys: sortKeys, ascii: ensureASCII, separators, at)
      try account(out.utf8.count, at)
      return .string(out)
    case "indent":
      var pad = "    "
      if let w = args.get(0, "width") {
        if case .string(let s) = w {
          pad = s
        } else if let n = w.integer {
          guard n <= 1000 else { throw fail(.limit, "indent width \(n) is over 1000", at) }
          pad = String(repeating: " ", count: max(0, n))
        }
      }
      let first = args.get(1, "first")?.isTruthy ?? false
      let blank = args.get(2, "blank")?.isTruthy ?? false
      let s = Self.indent(try str(), pad, first: first, blank: blank)
      try account(s.utf8.count, at)
      return .string(s)
    case "selectattr", "rejectattr", "select", "reject":
      let byAttribute = name.hasSuffix("attr")
      // Jinja2 walks nothing when the value is falsy (none included).
      let items = v.isTruthy ? try sequence(v, at) : []
      var rest = args
      var attr: String? = nil
      if byAttribute {
        guard let a = args.positional.first else { throw fail(.type, "\(name) needs an attribute name", at) }
        attr = a.pyStr
        rest.positional.removeFirst()
      }
      let test = rest.positional.first?.pyStr
      let testArgs = Args(positional: Array(rest.positional.dropFirst()), keyword: [])
      var out: [JinjaValue] = []
      for x in items {
        try countIteration(at)
        let subject = try attr.map { try attributePath(x, $0, at) } ?? x
        let ok = try test.map { try applyTest($0, subject, testArgs, at) } ?? subject.isTruthy
        if ok == name.hasPrefix("select") { out.append(x) }
      }
      return .array(out)
    case "map":
      let items = v.isTruthy ? try sequence(v, at) : []
      if let attr = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
        let def = args.keyword.first { $0.0 == "default" }?.1
        return .array(
          try items.map {
            let r = try attributePath($0, attr.pyStr, at)
            return r.isUndefined ? (def ?? r) : r
          })
      }
      guard let filter = args.positional.first?.pyStr else {
        throw fail(.type, "map needs a filter or attribute", at)
      }
      let filterArgs = Args(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
      var out: [JinjaValue] = []
      for x in items {
        try countIteration(at)
        out.append(try applyFilter(filter, x, filterArgs, at))
      }
      return .array(out)
    case "sort":
      let reverse = args.get(0, "reverse")?.isTruthy ?? false
      let caseSensitive = args.get(1, "case_sensitive")?.isTruthy ?? false
      let attr = args.get(2, "attribute")?.pyStr
      let items = try sequence(v, at)
      let keys = try items.map { x -> JinjaValue in
        var k = try attr.map { try attributePath(x, $0, at) } ?? x
        if !caseSensitive, case .string(let s) = k { k = .string(s.lowercased()) }
        return k
      }
      var failure: JinjaError? = nil
      // Python's sort is stable; so is sorting the indices with the index as the tie-break.
      let order = items.indices.sorted { a, b in
        do {
          if try compare("<", keys[a], keys[b], at) { return !reverse }
          if try compare("<", keys[b], keys[a], at) { return reverse }
        } catch let e as JinjaError {
          failure = failure ?? e
        } catch {}
        return a < b
      }
      if let failure { throw failure }
      return .array(order.map { items[$0] })
    case "sum":
      var total: JinjaValue = .int(0)
      for x in try sequence(v, at) { total = try binary("+", total, x, at) }
      return total
    case "min", "max":
      let items = try sequence(v, at)
      guard var best = items.first else { return .undefined(name) }
      for x in items.dropFirst() where try compare(name == "min" ? "<" : ">", x, best, at) { best = x }
      return best
    case "round":
      guard let d = v.number else { throw fail(.type, "round expects a number", at) }
      let p = args.get(0, "precision")?.integer ?? 0
      let f = pow(10.0, Double(p))
      return .double((d * f).rounded(.toNearestOrEven) / f)
    case "wordcount":
      return .int(try str().split(whereSeparator: { $0.isWhitespace }).count)
    default:
      throw fail(.unsupported, "unknown filter '\(name)'", at)
    }
  }

  /// `a.b.c` as selectattr/map take it (dict keys; Undefined when absent).
  func attributePath(_ v: JinjaValue, _ path: String, _ at: Int) throws -> JinjaValue {
    var x = v
    for part in path.split(separator: ".") {
      if x.isUndefined { return x }
      if let i = Int(part), case .array = x {
        x = try item(x, .int(i), at)
      } else {
        x = try attribute(x, String(part), at)
      }
    }
    return x
  }

  /// The elements a filter walks (a list, a dict's keys, a string's characters; Undefined: none).
  func sequence(_ v: JinjaValue, _ at: Int) throws -> [JinjaValue] { try iterate(v, at) }

  // MARK: Tests

  mutating func applyTest(_ name: String, _ v: JinjaValue, _ args: Args, _ at: Int) throws -> Bool {
    let arg = args.get(0, "value") ?? .undefined("")
    switch name {
    case "defined": return !v.isUndefined
    case "undefined": return v.isUndefined
    case "none": return v == .none
    case "string": if case .string = v { return true } else { return false }
    case "mapping": if case .object = v { return true } else { return false }
    case "number":
      switch v {
      case .int, .double, .bool: return true
      default: return false
      }
    case "integer": if case .int = v { return true } else { return false }
    case "float": if case .double = v { return true } else { return false }
    case "boolean": if case .bool = v { return true } else { return false }
    case "true": return v == .bool(true)
    case "false": return v == .bool(false)
    case "iterable":
      switch v {
      case .string, .array, .object, .undefined: return true
      default: return false
      }
    case "sequence":
      switch v {
      case .string, .array, .object, .undefined: return true
      default: return false
      }
    case "callable":
      switch v {
      case .macro, .function: return true
      default: return false
      }
    case "equalto", "eq", "==", "sameas":
      return v.pyEquals(arg) && (name != "sameas" || v.typeName == arg.typeName)
    case "ne", "!=": return !v.pyEquals(arg)
    case "lt", "<": return try compare("<", v, arg, at)
    case "le", "<=": return try compare("<=", v, arg, at)
    case "gt", ">", "greaterthan": return try compare(">", v, arg, at)
    case "ge", ">=": return try compare(">=", v, arg, at)
    case "in": return try contains(arg, v, at)
    case "odd", "even", "divisibleby":
      guard let i = v.integer else { throw fail(.type, "test '\(name)' expects an integer", at) }
      if name == "divisibleby" {
        guard let d = arg.integer, d != 0 else {
          throw fail(.type, "divisibleby needs a non-zero integer", at)
        }
        return d == -1 || i % d == 0
      }
      return (i & 1 == 1) == (name == "odd")
    case "lower": return v.pyStr == v.pyStr.lowercased()
    case "upper": return v.pyStr == v.pyStr.uppercased()
    default: throw fail(.unsupported, "unknown test '\(name)'", at)
    }
  }

  // MARK: Methods

  /// The methods of strings and dicts that templates call (A16: nothing else is reachable).
  mutating func method(_ base: JinjaValue, _ name: String, _ args: Args, _ at: Int) throws -> JinjaValue {
    switch base {
    case .string(let s): return try stringMethod(s, name, args, at)
    case .object(let o):
      switch name {
      case "get":
        guard case .string(let k) = args.get(0, "key") ?? .none else {
          return args.get(1, "default") ?? .none
        }
        return o[k] ?? args.get(1, "default") ?? .none
      case "items": return .array(o.keys.map { .array([.string($0), o[$0]!]) })
      case "keys": return .array(o.keys.map { .string($0) })
      case "values": return .array(o.values)
      case "cycle" where o["cycle"] == nil:
        // loop.cycle(a, b, …): the argument at this iteration's index, round robin.
        guard case .int(let i)? = o["index0"], !args.positional.isEmpty else {
          throw fail(.unsupported, "dict has no method 'cycle'", at)
        }
        return args.positional[i % args.positional.count]
      default:
        // A callable stored under the key (a macro passed in a dict).
        if let v = o[name] { return try invoke(v, args, at, name: name) }
        throw fail(.unsupported, "dict has no method '\(name)'", at)
      }
    default:
      throw fail(
        .unsupported, "'\(base.typeName)' object has no method '\(name)' here (lists are immutable)", at)
    }
  }

  mutating func stringMethod(_ s: String, _ name: String, _ args: Args, _ at: Int) throws -> JinjaValue {
    func stringArg(_ i: Int, _ n: String) -> String? {
      if case .string(let x) = args.get(i, n) ?? .none { return x }
      return nil
    }
    switch name {
    case "strip", "lstrip", "rstrip":
      return .string(
        Self.strip(s, chars: stringArg(0, "chars"), left: name != "rstrip", right: name != "lstrip"))
    case "upper": return .string(s.uppercased())
    case "lower": return .string(s.lowercased())
    case "title": return .string(Self.title(s))
    case "capitalize": return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
    case "startswith", "endswith":
      var prefixes: [String] = []
      switch args.get(0, "prefix") ?? .none {
      case .string(let p): prefixes = [p]
      case .array(let a): prefixes = a.map(\.pyStr)
      default: throw fail(.type, "\(name) takes a string or a tuple of strings", at)
      }
      let u = Array(s.unicodeScalars)
      return .bool(
        prefixes.contains { p in
          let q = Array(p.unicodeScalars)
          return q.count <= u.count
            && (name == "startswith" ? Array(u.prefix(q.count)) == q : Array(u.suffix(q.count)) == q)
        })
    case "split", "rsplit":
      let maxSplit = args.get(1, "maxsplit")?.integer ?? -1
      let parts = Self.split(
        s, separator: stringArg(0, "sep"), maxSplit: maxSplit, fromRight: name == "rsplit")
      return .array(parts.map { .string($0) })
    case "splitlines":
      return .array(
        s.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }).map {
          .string(String($0))
        })
    case "replace":
      guard let old = stringArg(0, "old"), let new = stringArg(1, "new") else {
        throw fail(.type, "replace takes two strings", at)
      }
      try checkReplaceSize(s, old, new, at)
      let r = Self.replace(s, old, new, count: args.get(2, "count")?.integer ?? -1)
      try account(r.utf8.count, at)
      return .string(r)
    case "find", "index", "count":
      guard let sub = stringArg(0, "sub") else { throw fail(.type, "\(name) takes a string", at) }
      let u = Array(s.unicodeScalars)
      let q = Array(sub.unicodeScalars)
      if name == "count" {
        if q.isEmpty { return .int(u.count + 1) }
        var n = 0
        var i = 0
        while i + q.count <= u.count {
          if Array(u[i..<(i + q.count)]) == q {
            n += 1
            i += q.count
          } else {
            i += 1
          }
        }
        return .int(n)
      }
      var i = 0
      while i + q.count <= u.count {
        if Array(u[i..<(i + q.count)]) == q { return .int(i) }
        i += 1
      }
      if name == "index" { throw fail(.type, "substring not found", at) }
      return .int(-1)
    case "join":
      let items = try iterate(args.get(0, "iterable") ?? .array([]), at)
      let r = items.map(\.pyStr).joined(separator: s)
      try account(r.utf8.count, at)
      return .string(r)
    case "format":
      let r = try format(s, args, at)
      try account(r.utf8.count, at)
      return .string(r)
    case "isdigit":
      return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal })
    case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(Self.isPythonSpace))
    case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
    case "isupper": return .bool(s != s.lowercased() && s == s.uppercased())
    case "islower": return .bool(s != s.uppercased() && s == s.lowercased())
    default: throw fail(.unsupported, "str has no method '\(name)' here", at)
    }
  }

  /// Python's `str.format` for plain fields: `{}`, `{0}`, `{name}`, `{{`, `}}` (no format specs).
  func format(_ s: String, _ args: Args, _ at: Int) throws -> String {
    var out = ""
    var auto = 0
    var i = s.startIndex
    while i < s.endIndex {
      let c = s[i]
      let next = s.index(after: i)
      if c == "{" && next < s.endIndex && s[next] == "{" {
        out += "{"
        i = s.index(after: next)
      } else if c == "}" && next < s.endIndex && s[next] == "}" {
        out += "}"
        i = s.index(after: next)
      } else if c == "{" {
        guard let close = s[next...].firstIndex(of: "}") else { throw fail(.type, "format: single '{'", at) }
        let field = String(s[next..<close])
        let value: JinjaValue?
        if field.isEmpty {
          value = auto < args.positional.count ? args.positional[auto] : nil
          auto += 1
        } else if let k = Int(field) {
          value = k < args.positional.count ? args.positional[k] : nil
        } else if field.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
          value = args.keyword.first { $0.0 == field }?.1
        } else {
          throw fail(.unsupported, "format field '{\(field)}' (only plain fields are supported)", at)
        }
        guard let value else { throw fail(.type, "format: no argument for '{\(field)}'", at) }
        out += value.pyStr
        i = s.index(after: close)
      } else {
        out.append(c)
        i = next
      }
    }
    return out
  }

  /// Refuses a replacement whose result could pass the output bound, before building it.
  func checkReplaceSize(_ s: String, _ old: String, _ new: String, _ at: Int) throws {
    let n = s.utf8.count
    let slots = old.isEmpty ? s.unicodeScalars.count + 1 : n / old.utf8.count
    let (grow, overflow) = slots.multipliedReportingOverflow(by: new.utf8.count)
    if overflow || n + grow > limits.maxOutputBytes {
      throw fail(.limit, "replace could build more than \(limits.maxOutputBytes) bytes", at)
    }
  }

  // MARK: Python string helpers

  /// Python's `str.isspace` characters (what `strip()` and `split()` remove).
  static func isPythonSpace(_ u: Unicode.Scalar) -> Bool {
    switch u.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F,
      0x3000:
      return true
    default: return false
    }
  }

  static func strip(_ s: String, chars: String?, left: Bool, right: Bool) -> String {
    let set = chars.map { Set($0.unicodeScalars) }
    let drop: (Unicode.Scalar) -> Bool = { u in set.map { $0.contains(u) } ?? isPythonSpace(u) }
    var u = Substring(s).unicodeScalars
    if left { while let f = u.first, drop(f) { u.removeFirst() } }
    if right { while let l = u.last, drop(l) { u.removeLast() } }
    return String(u)
  }

  static func split(_ s: String, separator: String?, maxSplit: Int, fromRight: Bool) -> [String] {
    let u = Array(s.unicodeScalars)
    var parts: [String] = []
    guard let separator, !separator.isEmpty else {
      // Runs of whitespace; leading and trailing whitespace gives no empty parts.
      var words: [[Unicode.Scalar]] = []
      var current: [Unicode.Scalar] = []
      for c in u {
        if isPythonSpace(c) {
          if !current.isEmpty { words.append(current) }
          current = []
        } else {
          current.append(c)
        }
      }
      if !current.isEmpty { words.append(current) }
      if maxSplit >= 0 && words.count > maxSplit + 1 {
        // Re-split keeping the remainder intact.
        var result: [String] = []
        var i = 0
        var splits = 0
        while i < u.count && isPythonSpace(u[i]) { i += 1 }
        var start = i
        while i < u.count && splits < maxSplit {
          if isPythonSpace(u[i]) {
            result.append(String(String.UnicodeScalarView(u[start..<i])))
            splits += 1
            while i < u.count && isPythonSpace(u[i]) { i += 1 }
            start = i
          } else {
            i += 1
          }
        }
        var rest = Array(u[start...])
        while let l = rest.last, isPythonSpace(l) { rest.removeLast() }
        if !rest.isEmpty { result.append(String(String.UnicodeScalarView(rest))) }
        return result
      }
      return words.map { String(String.UnicodeScalarView($0)) }
    }
    let sep = Array(separator.unicodeScalars)
    var pieces: [[Unicode.Scalar]] = []
    var current: [Unicode.Scalar] = []
    var i = 0
    var splits = 0
    if fromRight && maxSplit >= 0 {
      var j = u.count
      var end = u.count
      var rparts: [String] = []
      while j - sep.count >= 0 && splits < maxSplit {
        if Array(u[(j - sep.count)..<j]) == sep {
          rparts.append(String(String.UnicodeScalarView(u[j..<end])))
          j -= sep.count
          end = j
          splits += 1
        } else {
          j -= 1
        }
      }
      rparts.append(String(String.UnicodeScalarView(u[0..<end])))
      return rparts.reversed()
    }
    while i < u.count {
      if (maxSplit < 0 || splits < maxSplit) && i + sep.count <= u.count
        && Array(u[i..<(i + sep.count)]) == sep
      {
        pieces.append(current)
        current = []
        i += sep.count
        splits += 1
      } else {
        current.append(u[i])
        i += 1
      }
    }
    pieces.append(current)
    parts = pieces.map { String(String.UnicodeScalarView($0)) }
    return parts
  }

  static func replace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
    if old.isEmpty {
      // Python inserts `new` between every character (and at both ends).
      var out = ""
      var n = 0
      for u in s.unicodeScalars {
        if count < 0 || n < count {
          out += new
          n += 1
        }
        out.unicodeScalars.append(u)
      }
      if count < 0 || n < count { out += new }
      return out
    }
    if count < 0 { return s.replacingOccurrences(of: old, with: new) }
    var out = ""
    var rest = Substring(s)
    var n = 0
    while n < count, let r = rest.range(of: old) {
      out += rest[..<r.lowerBound] + new
      rest = rest[r.upperBound...]
      n += 1
    }
    return out + rest
  }

  /// Jinja's `title`: each word (after `-`, whitespace or an opening bracket) capitalized.
  static func title(_ s: String) -> String {
    var out = ""
    var atWordStart = true
    for c in s {
      let separator = c.isWhitespace || "-({[<".contains(c)
      if separator {
        out.append(c)
        atWordStart = true
      } else {
        out += atWordStart ? c.uppercased() : c.lowercased()
        atWordStart = false
      }
    }
    return out
  }

  /// Jinja's `indent` filter.
  static func indent(_ s: String, _ pad: String, first: Bool, blank: Bool) -> String {
    var lines = (s + "\n").split(
      omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
    )
    .map(String.init)
    // splitlines() drops the empty piece after the final newline.
    if lines.last == "" { lines.removeLast() }
    var rv: String
    if blank {
      rv = lines.joined(separator: "\n" + pad)
    } else {
      rv = lines.isEmpty ? "" : lines.removeFirst()
      if !lines.isEmpty { rv += "\n" + lines.map { $0.isEmpty ? $0 : pad + $0 }.joined(separator: "\n") }
    }
    return first ? pad + rv : rv
  }

  static func htmlEscape(_ s: String) -> String {
    var out = ""
    for c in s {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&#34;"
      case "'": out += "&#39;"
      default: out.append(c)
      }
    }
    return out
  }

  // MARK: JSON (Python's json.dumps, as Hugging Face's tojson calls it)

  func json(
    _ v: JinjaValue, into out: inout String, indent: Int?, level: Int, sortKeys: Bool, ascii: Bool,
    _ separators: (String, String), _ at: Int
  ) throws {
    if level > 200 { throw fail(.limit, "tojson nesting deeper than 200", at) }
    func newline(_ l: Int) {
      if let indent { out += "\n" + String(repeating: " ", count: indent * l) }
    }
    switch v {
    case .none: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .int(let i): out += String(i)
    case .double(let d):
      out += d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : JinjaValue.pyFloat(d)
    case .string(let s): Self.jsonString(s, ascii: ascii, into: &out)
    case .array(let a):
      if a.isEmpty {
        out += "[]"
        return
      }
      out += "["
      for (k, x) in a.enumerated() {
        if k > 0 { out += separators.0 }
        newline(level + 1)
        try json(
          x, into: &out, indent: indent, level: level + 1, sortKeys: sortKeys, ascii: ascii, separators, at)
      }
      newline(level)
      out += "]"
    case .object(let o):
      if o.isEmpty {
        out += "{}"
        return
      }
      out += "{"
      let keys =
        sortKeys ? o.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) } : o.keys
      for (k, key) in keys.enumerated() {
        if k > 0 { out += separators.0 }
        newline(level + 1)
        Self.jsonString(key, ascii: ascii, into: &out)
        out += separators.1
        try json(
          o[key]!, into: &out, indent: indent, level: level + 1, sortKeys: sortKeys, ascii: ascii, separators,
          at)
      }
      newline(level)
      out += "}"
    case .namespace(let id):
      try json(
        .object(namespaces[id]), into: &out, indent: indent, level: level, sortKeys: sortKeys, ascii: ascii,
        separators, at)
    default:
      throw fail(.type, "Object of type \(v.typeName) is not JSON serializable", at)
    }
  }

  static func jsonString(_ s: String, ascii: Bool, into out: inout String) {
    out += "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "\u{08}": out += "\\b"
      case "\u{0C}": out += "\\f"
      default:
        if u.value < 0x20 || (ascii && u.value > 0x7E) {
          if u.value > 0xFFFF {
            let v = u.value - 0x10000
            out +=
              "\\u" + JinjaValue.hex(0xD800 + (v >> 10), 4) + "\\u" + JinjaValue.hex(0xDC00 + (v & 0x3FF), 4)
          } else {
            out += "\\u" + JinjaValue.hex(u.value, 4)
          }
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    out += "\""
  }
}
