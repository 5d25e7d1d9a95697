import GGML

/// Element type of a KV cache (llama.cpp's `-ctk` / `-ctv`): f16 (the default), bf16, or the
/// 32-value block types q8_0 and q4_0, whose rows (`headDim` values) must be a whole number of blocks.
/// A cache of `[capacity, kvHeads, headDim]` is a `QTensor` of this type.
public enum KVCacheType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  case f16, bf16, q8_0, q4_0

  /// The GGML type of the cache's storage.
  public var ggmlType: GGMLType {
    switch self {
    case .f16: return .f16
    case .bf16: return .bf16
    case .q8_0: return .q8_0
    case .q4_0: return .q4_0
    }
  }

  /// The cache type stored as `type`, nil for a type a cache cannot have.
  public init?(_ type: GGMLType) {
    guard let t = KVCacheType.allCases.first(where: { $0.ggmlType == type }) else { return nil }
    self = t
  }

  /// Parses llama.cpp's spelling (`f16`, `bf16`, `q8_0`, `q4_0`; case-insensitive).
  ///
  /// - Parameter name: The type's name, as given to `-ctk` / `-ctv`.
  /// - Throws: `QuantaError.invalidArgument` naming the allowed types for any other name.
  public init(parsing name: String) throws(QuantaError) {
    guard let t = KVCacheType(rawValue: name.lowercased()) else {
      throw .invalidArgument(
        op: "KV cache type",
        reason: "unsupported cache type '\(name)'; allowed: \(KVCacheType.allowedNames)")
    }
    self = t
  }

  /// "f16, bf16, q8_0, q4_0".
  public static var allowedNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

  /// Bytes of `count` values (a multiple of the block size), nil when it is not one.
  public func byteCount(values count: Int) -> Int? { ggmlType.byteCount(forElements: count) }

  public var description: String { rawValue }
}
