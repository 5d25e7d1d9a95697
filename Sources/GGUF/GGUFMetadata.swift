/// Ordered metadata key/value pairs with typed accessors.
///
/// The typed accessors demand the exact on-disk type (as llama.cpp does for most keys) and throw
/// `GGUFError.metadataType` on a mismatch and `.missingKey` on absence; the `optional…` variants
/// return nil only when the key is absent. `int(_:)` is the one lenient accessor: any integer type
/// whose value fits in `Int`.
public struct GGUFMetadata: Sendable, Equatable {
  private var storage: [(key: String, value: GGUFValue)] = []
  private var index: [String: Int] = [:]

  public init() {}

  public var keys: [String] { storage.map(\.key) }
  public var entries: [(key: String, value: GGUFValue)] { storage }
  public var count: Int { storage.count }
  public var isEmpty: Bool { storage.isEmpty }

  public subscript(key: String) -> GGUFValue? {
    guard let i = index[key] else { return nil }
    return storage[i].value
  }

  public func contains(_ key: String) -> Bool { index[key] != nil }

  /// Sets `key`; an existing key keeps its position, a new one goes last.
  public mutating func set(_ key: String, _ value: GGUFValue) {
    if let i = index[key] {
      storage[i].value = value
    } else {
      index[key] = storage.count
      storage.append((key, value))
    }
  }

  public mutating func remove(_ key: String) {
    guard let i = index.removeValue(forKey: key) else { return }
    storage.remove(at: i)
    for j in i..<storage.count { index[storage[j].key] = j }
  }

  /// Appends a key known to be new (the parser checked for duplicates already).
  mutating func appendNew(_ key: String, _ value: GGUFValue) {
    index[key] = storage.count
    storage.append((key, value))
  }

  public static func == (a: GGUFMetadata, b: GGUFMetadata) -> Bool {
    a.storage.count == b.storage.count
      && zip(a.storage, b.storage).allSatisfy { $0.key == $1.key && $0.value == $1.value }
  }

  // MARK: typed access

  private func require(_ key: String) throws(GGUFError) -> GGUFValue {
    guard let v = self[key] else { throw .missingKey(key: key) }
    return v
  }

  private func mismatch(_ key: String, _ expected: String, _ v: GGUFValue) -> GGUFError {
    .metadataType(key: key, expected: expected, actual: v.typeDescription)
  }

  public func value(_ key: String) throws(GGUFError) -> GGUFValue { try require(key) }

  public func string(_ key: String) throws(GGUFError) -> String {
    let v = try require(key)
    guard case .string(let x) = v else { throw mismatch(key, "string", v) }
    return x
  }

  public func bool(_ key: String) throws(GGUFError) -> Bool {
    let v = try require(key)
    guard case .bool(let x) = v else { throw mismatch(key, "bool", v) }
    return x
  }

  public func uint32(_ key: String) throws(GGUFError) -> UInt32 {
    let v = try require(key)
    guard case .uint32(let x) = v else { throw mismatch(key, "uint32", v) }
    return x
  }

  public func int32(_ key: String) throws(GGUFError) -> Int32 {
    let v = try require(key)
    guard case .int32(let x) = v else { throw mismatch(key, "int32", v) }
    return x
  }

  public func uint64(_ key: String) throws(GGUFError) -> UInt64 {
    let v = try require(key)
    guard case .uint64(let x) = v else { throw mismatch(key, "uint64", v) }
    return x
  }

  public func float(_ key: String) throws(GGUFError) -> Float {
    let v = try require(key)
    guard case .float32(let x) = v else { throw mismatch(key, "float32", v) }
    return x
  }

  /// Any integer type whose value fits in `Int`; a too-large uint64 is `.valueOutOfRange`.
  public func int(_ key: String) throws(GGUFError) -> Int {
    let v = try require(key)
    if let x = v.integerValue { return x }
    if case .uint64(let x) = v {
      throw .valueOutOfRange(key: key, value: "\(x)", reason: "does not fit in Int")
    }
    throw mismatch(key, "integer", v)
  }

  public func array(_ key: String) throws(GGUFError) -> GGUFArray {
    let v = try require(key)
    guard case .array(let a) = v else { throw mismatch(key, "array", v) }
    return a
  }

  public func stringArray(_ key: String) throws(GGUFError) -> [String] {
    let v = try require(key)
    guard case .array(let a) = v, case .string(let x) = a.elements else {
      throw mismatch(key, "array[string]", v)
    }
    return x
  }

  public func int32Array(_ key: String) throws(GGUFError) -> [Int32] {
    let v = try require(key)
    guard case .array(let a) = v, case .int32(let x) = a.elements else {
      throw mismatch(key, "array[int32]", v)
    }
    return x
  }

  public func floatArray(_ key: String) throws(GGUFError) -> [Float] {
    let v = try require(key)
    guard case .array(let a) = v, case .float32(let x) = a.elements else {
      throw mismatch(key, "array[float32]", v)
    }
    return x
  }

  // MARK: optional variants (nil only when absent; a wrong type still throws)

  public func optionalString(_ key: String) throws(GGUFError) -> String? {
    contains(key) ? try string(key) : nil
  }
  public func optionalBool(_ key: String) throws(GGUFError) -> Bool? {
    contains(key) ? try bool(key) : nil
  }
  public func optionalUInt32(_ key: String) throws(GGUFError) -> UInt32? {
    contains(key) ? try uint32(key) : nil
  }
  public func optionalInt32(_ key: String) throws(GGUFError) -> Int32? {
    contains(key) ? try int32(key) : nil
  }
  public func optionalUInt64(_ key: String) throws(GGUFError) -> UInt64? {
    contains(key) ? try uint64(key) : nil
  }
  public func optionalFloat(_ key: String) throws(GGUFError) -> Float? {
    contains(key) ? try float(key) : nil
  }
  public func optionalInt(_ key: String) throws(GGUFError) -> Int? {
    contains(key) ? try int(key) : nil
  }
  public func optionalArray(_ key: String) throws(GGUFError) -> GGUFArray? {
    contains(key) ? try array(key) : nil
  }
  public func optionalStringArray(_ key: String) throws(GGUFError) -> [String]? {
    contains(key) ? try stringArray(key) : nil
  }
  public func optionalInt32Array(_ key: String) throws(GGUFError) -> [Int32]? {
    contains(key) ? try int32Array(key) : nil
  }
  public func optionalFloatArray(_ key: String) throws(GGUFError) -> [Float]? {
    contains(key) ? try floatArray(key) : nil
  }
}
