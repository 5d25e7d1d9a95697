/// A value of the Jinja subset (`JinjaTemplate`), with Python's semantics where templates see
/// them: `str()` of a value is what `{{ }}` writes, truthiness, `==`, `len`.
public enum JinjaValue: Sendable, Equatable {
  /// A name or key that was not found (prints as nothing, is falsy; using its members is an error).
  case undefined(String)
  case none
  case bool(Bool)
  case int(Int)
  case double(Double)
  case string(String)
  case array([JinjaValue])
  case object(JinjaObject)
  /// A `namespace()` object: an index into the renderer's namespace table (assignable attributes).
  case namespace(Int)
  /// A macro defined by the template: an index into the renderer's macro table.
  case macro(Int)
  /// A global function (`range`, `namespace`, `raise_exception`, …), by name.
  case function(String)

  public init(_ s: String) { self = .string(s) }

  /// Python truthiness.
  var isTruthy: Bool {
    switch self {
    case .undefined, .none: return false
    case .bool(let b): return b
    case .int(let i): return i != 0
    case .double(let d): return d != 0
    case .string(let s): return !s.isEmpty
    case .array(let a): return !a.isEmpty
    case .object(let o): return !o.isEmpty
    case .namespace, .macro, .function: return true
    }
  }

  var isUndefined: Bool {
    if case .undefined = self { return true }
    return false
  }

  /// Python's type name, for error messages.
  var typeName: String {
    switch self {
    case .undefined: return "Undefined"
    case .none: return "NoneType"
    case .bool: return "bool"
    case .int: return "int"
    case .double: return "float"
    case .string: return "str"
    case .array: return "list"
    case .object: return "dict"
    case .namespace: return "Namespace"
    case .macro: return "Macro"
    case .function: return "function"
    }
  }

  /// The number as a Double (bools count as 0/1, as in Python), or nil.
  var number: Double? {
    switch self {
    case .int(let i): return Double(i)
    case .double(let d): return d
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
  }

  /// The integer (bools count as 0/1), or nil.
  var integer: Int? {
    switch self {
    case .int(let i): return i
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
  }

  /// Python's `==` (1 == 1.0 == True; lists and dicts element-wise; Undefined equals Undefined).
  func pyEquals(_ other: JinjaValue) -> Bool {
    switch (self, other) {
    case (.undefined, .undefined), (.none, .none): return true
    case (.string(let a), .string(let b)): return a == b
    case (.array(let a), .array(let b)):
      return a.count == b.count && zip(a, b).allSatisfy { $0.pyEquals($1) }
    case (.object(let a), .object(let b)):
      return a.count == b.count && a.keys.allSatisfy { k in b[k].map { a[k]!.pyEquals($0) } ?? false }
    case (.namespace(let a), .namespace(let b)), (.macro(let a), .macro(let b)): return a == b
    case (.function(let a), .function(let b)): return a == b
    default:
      if let x = number, let y = other.number { return x == y }
      return false
    }
  }

  /// Python's `str()`: what `{{ value }}` writes.
  var pyStr: String {
    switch self {
    case .undefined: return ""
    case .string(let s): return s
    default: return pyRepr
    }
  }

  /// Python's `repr()` (strings quoted as Python quotes them; lists and dicts as Python prints them).
  var pyRepr: String {
    switch self {
    case .undefined: return ""
    case .none: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let i): return String(i)
    case .double(let d): return Self.pyFloat(d)
    case .string(let s): return Self.pyQuote(s)
    case .array(let a): return "[" + a.map(\.pyRepr).joined(separator: ", ") + "]"
    case .object(let o):
      return "{" + o.keys.map { Self.pyQuote($0) + ": " + o[$0]!.pyRepr }.joined(separator: ", ") + "}"
    case .namespace: return "<Namespace>"
    case .macro: return "<Macro>"
    case .function(let n): return "<function \(n)>"
    }
  }

  /// Python's `repr(float)`: the shortest round-trip digits, `inf`, `nan`, `1e+16`.
  static func pyFloat(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    var s = d.description
    // Swift writes 1e-05 and 1e+16 as Python does, and "5.0" for integral values.
    if let e = s.firstIndex(of: "e") {
      let mantissa = s[..<e]
      var exponent = String(s[s.index(after: e)...])
      if !exponent.hasPrefix("-") && !exponent.hasPrefix("+") { exponent = "+" + exponent }
      let digits = exponent.dropFirst()
      if digits.count < 2 { exponent = String(exponent.first!) + "0" + digits }
      s = String(mantissa) + "e" + exponent
    }
    return s
  }

  /// Python's quoting of a string in `repr`: single quotes unless the text has ' and no ".
  static func pyQuote(_ s: String) -> String {
    let q: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
    var out = String(q)
    for u in s.unicodeScalars {
      switch u {
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if Character(u) == q {
          out += "\\" + String(q)
        } else if u.value < 0x20 || u.value == 0x7f {
          out += "\\x" + hex(u.value, 2)
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    out.append(q)
    return out
  }

  static func hex(_ v: UInt32, _ width: Int) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, width - s.count)) + s
  }
}

/// A dict with string keys in insertion order (Python's dict as templates use it).
public struct JinjaObject: Sendable, Equatable {
  public private(set) var keys: [String] = []
  private var storage: [String: JinjaValue] = [:]

  public init() {}
  public init(_ pairs: [(String, JinjaValue)]) {
    for (k, v) in pairs { self[k] = v }
  }

  public var count: Int { keys.count }
  public var isEmpty: Bool { keys.isEmpty }
  public var values: [JinjaValue] { keys.map { storage[$0]! } }

  public subscript(key: String) -> JinjaValue? {
    get { storage[key] }
    set {
      if let newValue {
        if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
      } else if storage.removeValue(forKey: key) != nil {
        keys.removeAll { $0 == key }
      }
    }
  }

  public static func == (a: JinjaObject, b: JinjaObject) -> Bool {
    a.keys == b.keys && a.storage == b.storage
  }
}
