/// A JSON value that keeps the order of object members (a schema's property order is the order
/// the grammar writes them in, as llama.cpp's converter keeps Python's dict order).
public indirect enum OrderedJSON: Sendable, Equatable {
  case null
  case bool(Bool)
  /// The number's text as written, and its value.
  case number(String, Double)
  case string(String)
  case array([OrderedJSON])
  case object([(String, OrderedJSON)])

  public static func == (a: OrderedJSON, b: OrderedJSON) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(_, let x), .number(_, let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)): return x == y
    case (.object(let x), .object(let y)):
      return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    default: return false
    }
  }

  /// A member of an object (the first with that name).
  public subscript(key: String) -> OrderedJSON? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.0 == key }?.1
  }

  var members: [(String, OrderedJSON)]? {
    if case .object(let m) = self { return m }
    return nil
  }

  /// The value as Python's `json.dumps` writes it (ASCII only, `", "` and `": "` separators):
  /// the text llama.cpp's converter puts in `const` and `enum` literals.
  var pythonDumps: String {
    switch self {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .number(let text, let v):
      // Python keeps an integer's digits; a float prints as its repr.
      if !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return text }
      return JinjaValue.pyFloat(v)
    case .string(let s): return Self.pythonQuoted(s)
    case .array(let a): return "[" + a.map(\.pythonDumps).joined(separator: ", ") + "]"
    case .object(let m):
      return "{" + m.map { Self.pythonQuoted($0.0) + ": " + $0.1.pythonDumps }.joined(separator: ", ") + "}"
    }
  }

  static func pythonQuoted(_ s: String) -> String {
    var out = ""
    JinjaRenderer.jsonString(s, ascii: true, into: &out)
    return out
  }
}

/// Malformed JSON text.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
  public var message: String
  public var description: String { message }
}

extension OrderedJSON {
  /// Parses JSON text (with the chat templates' JSON reader, which keeps member order and bounds
  /// nesting).
  public init(parsing text: String) throws(JSONSyntaxError) {
    do {
      self.init(try JinjaValue.parseJSON(text))
    } catch {
      throw JSONSyntaxError(message: "\(error)")
    }
  }

  init(_ v: JinjaValue) {
    switch v {
    case .bool(let b): self = .bool(b)
    case .int(let i): self = .number(String(i), Double(i))
    case .double(let d): self = .number(JinjaValue.pyFloat(d), d)
    case .string(let s): self = .string(s)
    case .array(let a): self = .array(a.map(OrderedJSON.init))
    case .object(let o): self = .object(o.keys.map { ($0, OrderedJSON(o[$0]!)) })
    default: self = .null
    }
  }
}
