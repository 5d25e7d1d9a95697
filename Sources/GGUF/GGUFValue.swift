/// GGUF metadata value types; raw values are the on-disk ids (ggml's `enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
  case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64,
    float64

  /// Bytes of one scalar value on disk; nil for strings and arrays (variable size).
  public var fixedSize: Int? {
    switch self {
    case .uint8, .int8, .bool: return 1
    case .uint16, .int16: return 2
    case .uint32, .int32, .float32: return 4
    case .uint64, .int64, .float64: return 8
    case .string, .array: return nil
    }
  }

  public var description: String {
    switch self {
    case .uint8: "uint8"
    case .int8: "int8"
    case .uint16: "uint16"
    case .int16: "int16"
    case .uint32: "uint32"
    case .int32: "int32"
    case .float32: "float32"
    case .bool: "bool"
    case .string: "string"
    case .array: "array"
    case .uint64: "uint64"
    case .int64: "int64"
    case .float64: "float64"
    }
  }
}

/// One metadata value.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
  case uint8(UInt8)
  case int8(Int8)
  case uint16(UInt16)
  case int16(Int16)
  case uint32(UInt32)
  case int32(Int32)
  case float32(Float)
  case bool(Bool)
  case string(String)
  case array(GGUFArray)
  case uint64(UInt64)
  case int64(Int64)
  case float64(Double)

  public var valueType: GGUFValueType {
    switch self {
    case .uint8: .uint8
    case .int8: .int8
    case .uint16: .uint16
    case .int16: .int16
    case .uint32: .uint32
    case .int32: .int32
    case .float32: .float32
    case .bool: .bool
    case .string: .string
    case .array: .array
    case .uint64: .uint64
    case .int64: .int64
    case .float64: .float64
    }
  }

  /// "array[string]" for arrays, the plain type name otherwise (used in error messages).
  public var typeDescription: String {
    if case .array(let a) = self { return "array[\(a.elementType)]" }
    return valueType.description
  }

  /// The value as an `Int` when it is an integer of any width that fits; nil otherwise.
  public var integerValue: Int? {
    switch self {
    case .uint8(let v): Int(v)
    case .int8(let v): Int(v)
    case .uint16(let v): Int(v)
    case .int16(let v): Int(v)
    case .uint32(let v): Int(v)
    case .int32(let v): Int(v)
    case .uint64(let v): Int(exactly: v)
    case .int64(let v): Int(v)
    default: nil
    }
  }

  public var description: String {
    switch self {
    case .uint8(let v): "\(v)"
    case .int8(let v): "\(v)"
    case .uint16(let v): "\(v)"
    case .int16(let v): "\(v)"
    case .uint32(let v): "\(v)"
    case .int32(let v): "\(v)"
    case .float32(let v): "\(v)"
    case .bool(let v): "\(v)"
    case .string(let v): v.debugDescription
    case .array(let a): "array[\(a.elementType)] (\(a.count) values)"
    case .uint64(let v): "\(v)"
    case .int64(let v): "\(v)"
    case .float64(let v): "\(v)"
    }
  }
}

/// A homogeneous metadata array. Stored typed (a 262k-token vocabulary is one `[String]`, not 262k
/// boxed enum values); `values` boxes on demand. Arrays of arrays cannot be represented: ggml's
/// reader rejects them and so does this one.
public struct GGUFArray: Sendable, Equatable {
  public enum Elements: Sendable, Equatable {
    case uint8([UInt8])
    case int8([Int8])
    case uint16([UInt16])
    case int16([Int16])
    case uint32([UInt32])
    case int32([Int32])
    case float32([Float])
    case bool([Bool])
    case string([String])
    case uint64([UInt64])
    case int64([Int64])
    case float64([Double])
  }

  public let elements: Elements

  public init(_ elements: Elements) { self.elements = elements }

  /// Builds a typed array from boxed values; throws `GGUFError.arrayElementType` when a value is not
  /// of `elementType` (or `elementType` is `.array`).
  public init(elementType: GGUFValueType, values: [GGUFValue]) throws(GGUFError) {
    func all<T>(_ extract: (GGUFValue) -> T?) throws(GGUFError) -> [T] {
      var out: [T] = []
      out.reserveCapacity(values.count)
      for (i, v) in values.enumerated() {
        guard let x = extract(v) else {
          throw .arrayElementType(index: i, expected: elementType.description, actual: v.typeDescription)
        }
        out.append(x)
      }
      return out
    }
    switch elementType {
    case .uint8: elements = .uint8(try all { if case .uint8(let x) = $0 { x } else { nil } })
    case .int8: elements = .int8(try all { if case .int8(let x) = $0 { x } else { nil } })
    case .uint16: elements = .uint16(try all { if case .uint16(let x) = $0 { x } else { nil } })
    case .int16: elements = .int16(try all { if case .int16(let x) = $0 { x } else { nil } })
    case .uint32: elements = .uint32(try all { if case .uint32(let x) = $0 { x } else { nil } })
    case .int32: elements = .int32(try all { if case .int32(let x) = $0 { x } else { nil } })
    case .float32: elements = .float32(try all { if case .float32(let x) = $0 { x } else { nil } })
    case .bool: elements = .bool(try all { if case .bool(let x) = $0 { x } else { nil } })
    case .string: elements = .string(try all { if case .string(let x) = $0 { x } else { nil } })
    case .uint64: elements = .uint64(try all { if case .uint64(let x) = $0 { x } else { nil } })
    case .int64: elements = .int64(try all { if case .int64(let x) = $0 { x } else { nil } })
    case .float64: elements = .float64(try all { if case .float64(let x) = $0 { x } else { nil } })
    case .array:
      throw .arrayElementType(index: 0, expected: "scalar or string", actual: "array")
    }
  }

  public var elementType: GGUFValueType {
    switch elements {
    case .uint8: .uint8
    case .int8: .int8
    case .uint16: .uint16
    case .int16: .int16
    case .uint32: .uint32
    case .int32: .int32
    case .float32: .float32
    case .bool: .bool
    case .string: .string
    case .uint64: .uint64
    case .int64: .int64
    case .float64: .float64
    }
  }

  public var count: Int {
    switch elements {
    case .uint8(let a): a.count
    case .int8(let a): a.count
    case .uint16(let a): a.count
    case .int16(let a): a.count
    case .uint32(let a): a.count
    case .int32(let a): a.count
    case .float32(let a): a.count
    case .bool(let a): a.count
    case .string(let a): a.count
    case .uint64(let a): a.count
    case .int64(let a): a.count
    case .float64(let a): a.count
    }
  }

  /// The elements boxed one by one (allocates; prefer `elements` for large arrays).
  public var values: [GGUFValue] {
    switch elements {
    case .uint8(let a): a.map(GGUFValue.uint8)
    case .int8(let a): a.map(GGUFValue.int8)
    case .uint16(let a): a.map(GGUFValue.uint16)
    case .int16(let a): a.map(GGUFValue.int16)
    case .uint32(let a): a.map(GGUFValue.uint32)
    case .int32(let a): a.map(GGUFValue.int32)
    case .float32(let a): a.map(GGUFValue.float32)
    case .bool(let a): a.map(GGUFValue.bool)
    case .string(let a): a.map(GGUFValue.string)
    case .uint64(let a): a.map(GGUFValue.uint64)
    case .int64(let a): a.map(GGUFValue.int64)
    case .float64(let a): a.map(GGUFValue.float64)
    }
  }
}
