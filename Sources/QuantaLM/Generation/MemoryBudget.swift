import GGUF
import QuantaCore

/// The device memory one session of a model needs, computed before anything is allocated, so a
/// model that cannot fit is refused with the sizes and the fix instead of being killed part way
/// (a 1.3 MB model with a 16M-token context asked 24 GB of KV cache and was OOM-killed).
///
/// Counted: the weights a backend copies onto the device (a GPU uploads every tensor; the CPU maps
/// the file, so its weights cost page cache, not allocations, and count 0), the KV cache of
/// every layer for the context (in its `KVCacheType`s), and the compute buffers of a forward pass (the activations of a
/// prompt batch, the logits rows, and a quantized copy of the widest activation). Not counted: the
/// plans' small per-op tensors and the allocator's rounding.
public struct MemoryEstimate: Sendable, Equatable, CustomStringConvertible {
  /// Weight bytes allocated on the device (0 when they stay memory-mapped).
  public var weights: Int
  /// KV cache bytes for `contextLength` tokens.
  public var kvCache: Int
  /// Activation, logits and scratch bytes.
  public var compute: Int
  /// The context the KV cache is sized for.
  public var contextLength: Int
  /// KV cache bytes per token of context.
  public var kvBytesPerToken: Int

  public var total: Int { weights + kvCache + compute }

  public init(weights: Int, kvCache: Int, compute: Int, contextLength: Int, kvBytesPerToken: Int) {
    self.weights = weights
    self.kvCache = kvCache
    self.compute = compute
    self.contextLength = contextLength
    self.kvBytesPerToken = kvBytesPerToken
  }

  /// The estimate for `config` on a backend that copies its weights (`copiesWeights`: every backend
  /// but the CPU's) or maps them, with K and V caches of the given types.
  public init(
    config c: ModelConfig, file: GGUFFile, contextLength: Int, batchSize: Int, logitsChunk: Int,
    copiesWeights: Bool, keyCacheType: KVCacheType = .f16, valueCacheType: KVCacheType = .f16
  ) {
    self.contextLength = contextLength
    kvBytesPerToken = KVCache.byteCount(
      config: c, capacity: 1, keyType: keyCacheType, valueType: valueCacheType)
    kvCache = KVCache.byteCount(
      config: c, capacity: contextLength, keyType: keyCacheType, valueType: valueCacheType)
    weights = copiesWeights ? file.tensors.reduce(0) { $0 + $1.byteCount } : 0
    let rows = max(1, min(batchSize, contextLength))
    let widest = max(c.embeddingLength, c.headCount * c.headDim, c.feedForwardLength)
    let float = MemoryLayout<Float>.size
    compute =
      ActivationBuffers.byteCount(config: c, capacity: rows)
      + (1 + max(1, logitsChunk)) * c.vocabularySize * float  // the decode row and a scoring chunk
      + rows * widest * float  // quantized activations and attention scratch (at most f32-sized)
  }

  /// The largest context whose estimate fits in `available` bytes; nil when the weights and
  /// compute buffers alone do not fit.
  public func largestContext(fitting available: Int) -> Int? {
    let fixed = weights + compute
    guard available > fixed, kvBytesPerToken > 0 else { return nil }
    let tokens = (available - fixed) / kvBytesPerToken
    return tokens >= 1 ? tokens : nil
  }

  public var description: String {
    "\(MemoryEstimate.format(total)) (KV cache \(MemoryEstimate.format(kvCache)) for \(contextLength) tokens, "
      + "compute buffers \(MemoryEstimate.format(compute)), "
      + (weights > 0 ? "weights \(MemoryEstimate.format(weights))" : "weights memory-mapped from the file")
      + ")"
  }

  /// "1.50 GiB"-style sizes.
  public static func format(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
      value /= 1024
      unit += 1
    }
    if unit == 0 { return "\(bytes) B" }
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) \(units[unit])"
  }
}

extension LanguageModel {
  /// Refuses a load whose estimate exceeds what `backend` says is available (when it can say):
  /// `ModelError.insufficientMemory` with the sizes and the largest context that would fit.
  static func checkMemory(_ estimate: MemoryEstimate, backend: any ComputeBackend) throws {
    guard let available = backend.availableMemory, estimate.total > available else { return }
    throw ModelError.insufficientMemory(
      device: backend.device.description, needed: estimate, available: available,
      largestContext: estimate.largestContext(fitting: available))
  }
}
