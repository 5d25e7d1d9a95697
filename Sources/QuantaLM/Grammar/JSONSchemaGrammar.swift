/// A JSON schema the converter cannot turn into a grammar.
public enum JSONSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
  case invalidJSON(JSONSyntaxError)
  /// A keyword that constrains values in a way the grammar does not enforce (`pattern`,
  /// `minimum`, …); `path` is where in the schema (`/properties/age`).
  case unsupportedKeyword(String, path: String)
  /// A `type` that is not one of JSON Schema's.
  case unsupportedType(String, path: String)
  /// A `$ref` that is not a local `#/…` pointer, or points at nothing.
  case badReference(String, path: String)
  /// A schema (or a keyword's value) of the wrong JSON type.
  case malformed(String, path: String)

  public var description: String {
    func at(_ p: String) -> String { p.isEmpty ? "at the top level" : "at \(p)" }
    switch self {
    case .invalidJSON(let e): return "JSON schema: \(e)"
    case .unsupportedKeyword(let k, let p): return "JSON schema: keyword '\(k)' \(at(p)) is not supported"
    case .unsupportedType(let t, let p): return "JSON schema: type '\(t)' \(at(p)) is not supported"
    case .badReference(let r, let p):
      return "JSON schema: $ref '\(r)' \(at(p)) cannot be resolved (only local #/… references)"
    case .malformed(let m, let p): return "JSON schema: \(m) \(at(p))"
    }
  }
}

/// JSON Schema → GBNF, as llama.cpp's `json_schema_to_grammar.py` writes it (the converter in
/// the llama-cpp-python sdist, `llama_cpp/llama_grammar.py`): the same rule names, rule order
/// (by name) and rule texts, with two fixes taken from llama.cpp's C++ converter: a string
/// character excludes control characters (`[^"\\\x7F\x00-\x1F]`, so the output is valid JSON) and
/// literals escape backslashes (a `const` string with a quote would otherwise break the grammar).
///
/// Supported: `type` (one or a list), `properties` / `required` / `additionalProperties` (false,
/// true or a schema; absent with `properties` means none, as llama.cpp), `items` (a schema or a
/// list), `prefixItems`, `minItems` / `maxItems`, `enum`, `const`, `minLength` / `maxLength`,
/// `format` date, time, date-time and uuid, `oneOf` / `anyOf`, `allOf` of objects, `$ref` to
/// `#/$defs/…` or `#/definitions/…` (any local pointer). Keywords that would constrain values in
/// ways the grammar cannot see (`pattern`, `minimum`, `multipleOf`, `uniqueItems`, …) are errors,
/// never silently dropped; annotations (`title`, `description`, `default`, `examples`, `$schema`)
/// and unknown keywords are ignored.
public struct JSONSchemaGrammar {
  /// The GBNF text for `schema` (JSON text).
  public static func gbnf(schema: String) throws(JSONSchemaError) -> String {
    let value: OrderedJSON
    do {
      value = try OrderedJSON(parsing: schema)
    } catch {
      throw .invalidJSON(error)
    }
    return try gbnf(schema: value)
  }

  public static func gbnf(schema: OrderedJSON) throws(JSONSchemaError) -> String {
    var c = JSONSchemaGrammar(root: schema)
    _ = try c.visit(schema, name: "", path: "")
    return c.rules.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
      .map { "\($0) ::= \(c.rules[$0]!)" }.joined(separator: "\n")
  }

  /// The grammar of `response_format: {"type": "json_object"}`: any JSON object (llama-server
  /// converts the empty schema, whose grammar is the object rule).
  public static var anyObject: String {
    // The empty schema converts without error.
    (try? gbnf(schema: .object([]))) ?? ""
  }

  // MARK: llama.cpp's converter

  private let root: OrderedJSON
  private var rules: [String: String] = ["space": Self.spaceRule]
  private var resolving: Set<String> = []

  private init(root: OrderedJSON) { self.root = root }

  static let spaceRule = "\" \"?"

  struct Builtin {
    var content: String
    var deps: [String]
  }

  static let upTo15Digits = repetition("[0-9]", min: 0, max: 15)

  static let primitives: [String: Builtin] = [
    "boolean": .init(content: "(\"true\" | \"false\") space", deps: []),
    "decimal-part": .init(content: "[0-9] " + upTo15Digits, deps: []),
    "integral-part": .init(content: "[0-9] | [1-9] " + upTo15Digits, deps: []),
    "number": .init(
      content: "(\"-\"? integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)? space",
      deps: ["integral-part", "decimal-part"]),
    "integer": .init(content: "(\"-\"? integral-part) space", deps: ["integral-part"]),
    "value": .init(
      content: "object | array | string | number | boolean | null",
      deps: ["object", "array", "string", "number", "boolean", "null"]),
    "object": .init(
      content:
        "\"{\" space ( string \":\" space value (\",\" space string \":\" space value)* )? \"}\" space",
      deps: ["string", "value"]),
    "array": .init(content: "\"[\" space ( value (\",\" space value)* )? \"]\" space", deps: ["value"]),
    "uuid": .init(
      content: "\"\\\"\" "
        + [8, 4, 4, 4, 12].map { String(repeating: "[0-9a-fA-F]", count: $0) }.joined(separator: " \"-\" ")
        + " \"\\\"\" space",
      deps: []),
    // The Python converter's char is `[^"\\] | …`; llama.cpp's C++ converter excludes control
    // characters, which JSON strings may not hold raw.
    "char": .init(
      content:
        "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])",
      deps: []),
    "string": .init(content: "\"\\\"\" char* \"\\\"\" space", deps: ["char"]),
    "null": .init(content: "\"null\" space", deps: []),
  ]

  static let stringFormats: [String: Builtin] = [
    "date": .init(
      content:
        "[0-9] [0-9] [0-9] [0-9] \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [1-2] [0-9] | \"3\" [0-1] )",
      deps: []),
    "time": .init(
      content:
        "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9] [0-9] [0-9] )? ( \"Z\" | ( \"+\" | \"-\" ) ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )",
      deps: []),
    "date-time": .init(content: "date \"T\" time", deps: ["date", "time"]),
    "date-string": .init(content: "\"\\\"\" date \"\\\"\" space", deps: ["date"]),
    "time-string": .init(content: "\"\\\"\" time \"\\\"\" space", deps: ["time"]),
    "date-time-string": .init(content: "\"\\\"\" date-time \"\\\"\" space", deps: ["date-time"]),
  ]

  static let reserved: Set<String> = Set(["root", "dot"]).union(primitives.keys).union(stringFormats.keys)

  /// Keywords that constrain values beyond what the converter writes into the grammar.
  static let unsupported: Set<String> = [
    "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "patternProperties", "propertyNames", "minProperties", "maxProperties", "dependentRequired",
    "dependentSchemas", "dependencies", "not", "if", "then", "else", "uniqueItems", "contains",
    "minContains", "maxContains", "unevaluatedProperties", "unevaluatedItems", "additionalItems",
    "contentEncoding", "contentMediaType", "$dynamicRef", "$recursiveRef",
  ]

  static let types: Set<String> = ["object", "array", "string", "number", "integer", "boolean", "null"]

  /// Python's `_build_repetition`.
  static func repetition(
    _ item: String, min: Int, max: Int?, separator: String? = nil, itemIsLiteral: Bool = false
  ) -> String {
    if separator == nil {
      if min == 0 && max == 1 { return "\(item)?" }
      if min == 1 && max == nil { return "\(item)+" }
    }
    var result = ""
    if min > 0 {
      if itemIsLiteral && separator == nil {
        result = "\"" + String(repeating: String(item.dropFirst().dropLast()), count: min) + "\""
      } else {
        result = Array(repeating: item, count: min).joined(separator: separator.map { " \($0) " } ?? " ")
      }
    }
    func optional(_ n: Int, prefixWithSeparator: Bool) -> String {
      let content = prefixWithSeparator && separator != nil ? "\(separator!) \(item)" : item
      if n == 0 { return "" }
      if n == 1 { return "(\(content))?" }
      if separator != nil && !prefixWithSeparator {
        return "(\(content) \(optional(n - 1, prefixWithSeparator: true)))?"
      }
      var opened = String(repeating: "(\(content) ", count: n)
      while opened.last == " " { opened.removeLast() }
      return opened + String(repeating: ")?", count: n)
    }
    if min > 0 && max != min { result += " " }
    if let max {
      result += optional(max - min, prefixWithSeparator: min > 0)
    } else {
      let op = "(\(separator.map { $0 + " " } ?? "")\(item))"
      if min == 0 && separator != nil {
        result = "(\(item) \(op)*)?"
      } else {
        result += "\(op)*"
      }
    }
    return result
  }

  /// A literal as the grammar writes it (quotes, backslashes, CR and LF escaped).
  static func literal(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
      switch ch {
      case "\r": out += "\\r"
      case "\n": out += "\\n"
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      default: out.unicodeScalars.append(ch)
      }
    }
    return out + "\""
  }

  /// Python's `_add_rule`: the name with invalid characters as `-`, numbered when taken by a
  /// different rule.
  private mutating func addRule(_ name: String, _ rule: String) -> String {
    var escaped = ""
    var inRun = false
    for ch in name.unicodeScalars {
      let ok = (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || (ch >= "0" && ch <= "9") || ch == "-"
      if ok {
        escaped.unicodeScalars.append(ch)
        inRun = false
      } else if !inRun {
        escaped += "-"
        inRun = true
      }
    }
    var key = escaped
    if let existing = rules[escaped], existing != rule {
      var i = 0
      while let e = rules["\(escaped)\(i)"], e != rule { i += 1 }
      key = "\(escaped)\(i)"
    }
    rules[key] = rule
    return key
  }

  private mutating func addPrimitive(_ name: String, _ rule: Builtin) -> String {
    let n = addRule(name, rule.content)
    for dep in rule.deps where rules[dep] == nil {
      // Every dependency is one of the tables' names.
      if let d = Self.primitives[dep] ?? Self.stringFormats[dep] { _ = addPrimitive(dep, d) }
    }
    return n
  }

  private mutating func resolveReference(_ ref: String, path: String) throws(JSONSchemaError) -> String {
    guard ref.hasPrefix("#/") || ref == "#" else { throw .badReference(ref, path: path) }
    var name = String(ref.split(separator: "/").last ?? "")
    if rules[name] == nil && !resolving.contains(ref) {
      var target = root
      for part in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) where !part.isEmpty
      {
        guard let next = target[String(part)] else { throw .badReference(ref, path: path) }
        target = next
      }
      resolving.insert(ref)
      name = try visit(target, name: name, path: String(ref.dropFirst()))
      resolving.remove(ref)
    }
    return name
  }

  private mutating func union(_ alternatives: [OrderedJSON], name: String, path: String)
    throws(JSONSchemaError)
    -> String
  {
    var parts: [String] = []
    for (i, a) in alternatives.enumerated() {
      parts.append(
        try visit(a, name: "\(name)\(name.isEmpty ? "alternative-" : "-")\(i)", path: "\(path)/\(i)"))
    }
    return parts.joined(separator: " | ")
  }

  private func integer(_ v: OrderedJSON?, _ key: String, path: String) throws(JSONSchemaError) -> Int? {
    guard let v else { return nil }
    guard case .number(_, let d) = v, d >= 0, d == d.rounded(), d < 1e9 else {
      throw .malformed("'\(key)' must be a non-negative integer", path: path)
    }
    return Int(d)
  }

  /// Python's `SchemaConverter.visit`.
  private mutating func visit(_ schema: OrderedJSON, name: String, path: String) throws(JSONSchemaError)
    -> String
  {
    let ruleName = Self.reserved.contains(name) ? name + "-" : (name.isEmpty ? "root" : name)
    // `true` accepts anything (the empty schema); `false` accepts nothing.
    if case .bool(let b) = schema {
      guard b else { throw .malformed("the schema false accepts no value", path: path) }
      return try visit(.object([]), name: name, path: path)
    }
    guard let members = schema.members else { throw .malformed("a schema must be an object", path: path) }
    for (k, _) in members where Self.unsupported.contains(k) { throw .unsupportedKeyword(k, path: path) }
    var type: String? = nil
    var typeList: [String]? = nil
    switch schema["type"] {
    case nil: break
    case .string(let t)?:
      guard Self.types.contains(t) else { throw .unsupportedType(t, path: path) }
      type = t
    case .array(let list)?:
      var names: [String] = []
      for item in list {
        guard case .string(let t) = item, Self.types.contains(t) else {
          throw .unsupportedType(item.pythonDumps, path: path)
        }
        names.append(t)
      }
      typeList = names
    default: throw .malformed("'type' must be a string or a list of strings", path: path)
    }
    var format: String? = nil
    if case .string(let f)? = schema["format"] { format = f }

    if let ref = schema["$ref"] {
      guard case .string(let r) = ref else { throw .malformed("'$ref' must be a string", path: path) }
      return addRule(ruleName, try resolveReference(r, path: path))
    }
    if let alts = schema["oneOf"] ?? schema["anyOf"] {
      guard case .array(let list) = alts else {
        throw .malformed("'oneOf'/'anyOf' must be a list", path: path)
      }
      let key = schema["oneOf"] != nil ? "oneOf" : "anyOf"
      return addRule(ruleName, try union(list, name: name, path: "\(path)/\(key)"))
    }
    if let typeList {
      // Each type with the schema's other keywords (the Python converter drops them: a
      // `maxLength` beside `"type": ["string", "null"]` would not be enforced).
      let rest = members.filter { $0.0 != "type" }
      return addRule(
        ruleName,
        try union(typeList.map { .object([("type", .string($0))] + rest) }, name: name, path: "\(path)/type"))
    }
    if let c = schema["const"] { return addRule(ruleName, Self.literal(c.pythonDumps)) }
    if let e = schema["enum"] {
      guard case .array(let values) = e else { throw .malformed("'enum' must be a list", path: path) }
      return addRule(ruleName, values.map { Self.literal($0.pythonDumps) }.joined(separator: " | "))
    }
    let additional = schema["additionalProperties"]
    if type == nil || type == "object",
      schema["properties"] != nil || (additional != nil && additional != .bool(true))
    {
      var properties: [(String, OrderedJSON)] = []
      if let p = schema["properties"] {
        guard let m = p.members else { throw .malformed("'properties' must be an object", path: path) }
        properties = m
      }
      return addRule(
        ruleName,
        try objectRule(
          properties, required: try requiredNames(schema, path: path), name: name, additional: additional,
          path: path))
    }
    if type == nil || type == "object", let all = schema["allOf"] {
      guard case .array(let parts) = all else { throw .malformed("'allOf' must be a list", path: path) }
      var required = Set<String>()
      var properties: [(String, OrderedJSON)] = []
      func add(_ component: OrderedJSON, required isRequired: Bool) throws(JSONSchemaError) {
        var c = component
        if case .string(let r)? = component["$ref"] {
          guard r.hasPrefix("#/") else { throw .badReference(r, path: path) }
          var t = root
          for part in r.dropFirst(2).split(separator: "/") {
            guard let n = t[String(part)] else { throw .badReference(r, path: path) }
            t = n
          }
          c = t
        }
        for (k, v) in c["properties"]?.members ?? [] {
          properties.append((k, v))
          if isRequired { required.insert(k) }
        }
      }
      for part in parts {
        if case .array(let any)? = part["anyOf"] {
          for p in any { try add(p, required: false) }
        } else {
          try add(part, required: true)
        }
      }
      return addRule(
        ruleName,
        try objectRule(properties, required: required, name: name, additional: .array([]), path: path))
    }
    if type == nil || type == "array", let items = schema["items"] ?? schema["prefixItems"] {
      let prefix = name.isEmpty ? "" : "-"
      if case .array(let tuple) = items {
        var parts: [String] = []
        for (i, item) in tuple.enumerated() {
          parts.append(try visit(item, name: "\(name)\(prefix)tuple-\(i)", path: "\(path)/items/\(i)"))
        }
        return addRule(ruleName, "\"[\" space " + parts.joined(separator: " \",\" space ") + " \"]\" space")
      }
      let itemRule = try visit(items, name: "\(name)\(prefix)item", path: "\(path)/items")
      let minItems = try integer(schema["minItems"], "minItems", path: path) ?? 0
      let maxItems = try integer(schema["maxItems"], "maxItems", path: path)
      if let maxItems, maxItems < minItems {
        throw .malformed("maxItems \(maxItems) is below minItems \(minItems)", path: path)
      }
      return addRule(
        ruleName,
        "\"[\" space " + Self.repetition(itemRule, min: minItems, max: maxItems, separator: "\",\" space")
          + " \"]\" space")
    }
    if type == nil || type == "string", let f = format, f.hasPrefix("uuid"),
      f == "uuid" || (f.count == 5 && "12345".contains(f.last!))
    {
      return addPrimitive(ruleName == "root" ? "root" : f, Self.primitives["uuid"]!)
    }
    if type == nil || type == "string", let f = format, let builtin = Self.stringFormats["\(f)-string"] {
      return addRule(ruleName, addPrimitive("\(f)-string", builtin))
    }
    if type == "string", schema["minLength"] != nil || schema["maxLength"] != nil {
      let char = addPrimitive("char", Self.primitives["char"]!)
      let minLength = try integer(schema["minLength"], "minLength", path: path) ?? 0
      let maxLength = try integer(schema["maxLength"], "maxLength", path: path)
      if let maxLength, maxLength < minLength {
        throw .malformed("maxLength \(maxLength) is below minLength \(minLength)", path: path)
      }
      return addRule(
        ruleName, "\"\\\"\" " + Self.repetition(char, min: minLength, max: maxLength) + " \"\\\"\" space")
    }
    if type == "object" || members.isEmpty {
      return addRule(ruleName, addPrimitive("object", Self.primitives["object"]!))
    }
    guard let t = type, let builtin = Self.primitives[t] else {
      // A schema of annotations only (no type): any value.
      return addRule(ruleName, addPrimitive("value", Self.primitives["value"]!))
    }
    return addPrimitive(ruleName == "root" ? "root" : t, builtin)
  }

  private func requiredNames(_ schema: OrderedJSON, path: String) throws(JSONSchemaError) -> Set<String> {
    guard let r = schema["required"] else { return [] }
    guard case .array(let list) = r else {
      throw .malformed("'required' must be a list of names", path: path)
    }
    var names = Set<String>()
    for item in list {
      guard case .string(let s) = item else {
        throw .malformed("'required' must be a list of names", path: path)
      }
      names.insert(s)
    }
    return names
  }

  /// Python's `_build_object_rule`: required properties in order, then each optional one may
  /// follow (in order), then `additionalProperties`' key-value pairs.
  private mutating func objectRule(
    _ properties: [(String, OrderedJSON)], required: Set<String>, name: String, additional: OrderedJSON?,
    path: String
  ) throws(JSONSchemaError) -> String {
    let prefix = name.isEmpty ? "" : "-"
    var kvRules: [String: String] = [:]
    for (prop, propSchema) in properties {
      let valueRule = try visit(
        propSchema, name: "\(name)\(prefix)\(prop)", path: "\(path)/properties/\(prop)")
      kvRules[prop] = addRule(
        "\(name)\(prefix)\(prop)-kv",
        "\(Self.literal(OrderedJSON.pythonQuoted(prop))) space \":\" space \(valueRule)")
    }
    let names = properties.map(\.0)
    let requiredProps = names.filter { required.contains($0) }
    var optionalProps = names.filter { !required.contains($0) }
    var additionalSchema: OrderedJSON? = nil
    if additional == .bool(true) {
      additionalSchema = .object([])
    } else if let a = additional, case .object = a {
      additionalSchema = a
    }
    if let additionalSchema {
      let sub = "\(name)\(prefix)additional"
      let valueRule = try visit(additionalSchema, name: "\(sub)-value", path: "\(path)/additionalProperties")
      kvRules["*"] = addRule(
        "\(sub)-kv", addPrimitive("string", Self.primitives["string"]!) + " \":\" space \(valueRule)")
      optionalProps.append("*")
    }
    var rule = "\"{\" space "
    rule += requiredProps.map { kvRules[$0]! }.joined(separator: " \",\" space ")
    if !optionalProps.isEmpty {
      rule += " ("
      if !requiredProps.isEmpty { rule += " \",\" space ( " }
      func recursive(_ ks: ArraySlice<String>, firstIsOptional: Bool) -> String {
        let k = ks.first!
        let kv = kvRules[k]!
        var res: String
        if k == "*" {
          res = addRule("\(name)\(prefix)additional-kvs", "\(kv) ( \",\" space " + kv + " )*")
        } else if firstIsOptional {
          res = "( \",\" space \(kv) )?"
        } else {
          res = kv
        }
        if ks.count > 1 {
          res += " " + addRule("\(name)\(prefix)\(k)-rest", recursive(ks.dropFirst(), firstIsOptional: true))
        }
        return res
      }
      rule += optionalProps.indices.map { recursive(optionalProps[$0...], firstIsOptional: false) }
        .joined(separator: " | ")
      if !requiredProps.isEmpty { rule += " )" }
      rule += " )?"
    }
    rule += " \"}\" space"
    return rule
  }
}
