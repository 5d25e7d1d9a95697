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

/// llama.cpp's attention rotation for quantized caches: q and k are multiplied by an orthonormal
/// Walsh–Hadamard matrix (`ComputeBackend.hadamard`) before k is written to a q8_0/q4_0 K cache,
/// v before it is written to a q8_0/q4_0 V cache, and the attention output by the V matrix again
/// (the matrix is its own inverse). Scores `q·k` are unchanged in exact arithmetic; the rotation
/// spreads a head's outlier dimensions over the 32-value blocks, so the block quantization loses
/// less. Decided once per cache, as llama.cpp's `llama_kv_cache` does:
///
/// - K: the K cache type is quantized and the head dimension a multiple of 64; blocks of the
///   largest power of two dividing the head dimension (64 for 64 or 192, 128 for 128, 256 for 256);
/// - V: the V cache type is quantized and the head dimension a multiple of 64; blocks of 64;
/// - neither when `enabled` is false (llama.cpp's `LLAMA_ATTN_ROT_DISABLE=1`).
public struct AttentionRotation: Sendable, Hashable, CustomStringConvertible {
  /// Hadamard block of q and k (nil: not rotated).
  public var keyBlock: Int?
  /// Hadamard block of v and of the attention output (nil: not rotated).
  public var valueBlock: Int?

  public static let none = AttentionRotation(keyBlock: nil, valueBlock: nil)

  public init(keyBlock: Int?, valueBlock: Int?) {
    self.keyBlock = keyBlock
    self.valueBlock = valueBlock
  }

  /// The rotation llama.cpp applies for caches of `keyType` / `valueType` and `headDim` values per head.
  public init(headDim: Int, keyType: KVCacheType, valueType: KVCacheType, enabled: Bool = true) {
    let rotatable = enabled && headDim > 0 && headDim % 64 == 0
    var k = 64
    while headDim % (2 * k) == 0 { k *= 2 }
    keyBlock = rotatable && keyType.isBlockQuantized ? k : nil
    valueBlock = rotatable && valueType.isBlockQuantized ? 64 : nil
  }

  public var isIdentity: Bool { keyBlock == nil && valueBlock == nil }

  public var description: String {
    func block(_ b: Int?) -> String { b.map { "Hadamard \($0)" } ?? "none" }
    return "K \(block(keyBlock)), V \(block(valueBlock))"
  }
}

extension KVCacheType {
  /// q8_0 and q4_0: the types llama.cpp rotates for (`ggml_is_quantized`).
  public var isBlockQuantized: Bool { self == .q8_0 || self == .q4_0 }
}
