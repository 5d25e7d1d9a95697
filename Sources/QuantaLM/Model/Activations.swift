import QuantaCore

/// The activation memory of a forward pass, allocated once per session for up to `capacity`
/// tokens and reused by every batch and every decode step (decode allocates nothing).
final class ActivationBuffers: Sendable {
  let capacity: Int
  let x, mid, normed, proj: any DeviceBuffer  // (capacity, d)
  let q, qAlt, attention: any DeviceBuffer  // (capacity, heads · headDim)
  let k, kAlt, v, vAlt: any DeviceBuffer  // (capacity, kvHeads · headDim)
  let gate, up, act: any DeviceBuffer  // (capacity, ff)
  /// The mixture-of-experts blocks' memory (nil in dense models).
  let experts: ExpertBuffers?

  /// Bytes the buffers of `capacity` rows take (`MemoryEstimate`): the widths allocated below.
  static func byteCount(config c: ModelConfig, capacity: Int) -> Int {
    let qWidth = c.headCount * c.headDim
    let kvWidth = c.kvHeadCount * c.headDim
    let widths = 4 * c.embeddingLength + 3 * qWidth + 4 * kvWidth + 3 * c.feedForwardLength
    return capacity * widths * MemoryLayout<Float>.size
      + ExpertBuffers.byteCount(config: c, capacity: capacity)
  }

  init(config c: ModelConfig, capacity: Int, backend: any ComputeBackend) throws {
    self.capacity = capacity
    func buffer(_ width: Int) throws -> any DeviceBuffer {
      try backend.allocate(byteCount: capacity * width * MemoryLayout<Float>.size)
    }
    let qWidth = c.headCount * c.headDim
    let kvWidth = c.kvHeadCount * c.headDim
    x = try buffer(c.embeddingLength)
    mid = try buffer(c.embeddingLength)
    normed = try buffer(c.embeddingLength)
    proj = try buffer(c.embeddingLength)
    q = try buffer(qWidth)
    qAlt = try buffer(qWidth)
    attention = try buffer(qWidth)
    k = try buffer(kvWidth)
    kAlt = try buffer(kvWidth)
    v = try buffer(kvWidth)
    vAlt = try buffer(kvWidth)
    gate = try buffer(c.feedForwardLength)
    up = try buffer(c.feedForwardLength)
    act = try buffer(c.feedForwardLength)
    experts = c.expertCount > 0 ? try ExpertBuffers(config: c, capacity: capacity, backend: backend) : nil
  }
}

/// A head-split activation: the same memory as `[tokens, heads · headDim]` (what a matmul writes)
/// and as `[tokens, heads, headDim]` (what norms per head, RoPE and attention read).
struct HeadTensor {
  var flat: Tensor
  var heads: Tensor

  init(_ buffer: any DeviceBuffer, rows: Int, heads: Int, headDim: Int) throws {
    flat = try Tensor(buffer: buffer, dtype: .f32, shape: [rows, heads * headDim])
    self.heads = try Tensor(buffer: buffer, dtype: .f32, shape: [rows, heads, headDim])
  }
}

/// Views of the first `rows` rows of an `ActivationBuffers`. Built once per batch shape (the
/// one-token views once per session), so the hot loop creates no tensors.
struct Activations {
  let rows: Int
  var x, mid, normed, proj: Tensor  // (rows, d)
  var q, qAlt, attention: HeadTensor  // (rows, heads, headDim)
  var k, kAlt, v, vAlt: HeadTensor  // (rows, kvHeads, headDim)
  var gate, up, act: Tensor  // (rows, ff)
  var experts: ExpertActivations?

  init(_ b: ActivationBuffers, rows: Int, config c: ModelConfig) throws {
    guard rows >= 1, rows <= b.capacity else {
      throw QuantaError.indexOutOfRange(op: "Activations", index: rows, bound: b.capacity + 1)
    }
    self.rows = rows
    func t(_ buffer: any DeviceBuffer, _ width: Int) throws -> Tensor {
      try Tensor(buffer: buffer, dtype: .f32, shape: [rows, width])
    }
    func h(_ buffer: any DeviceBuffer, _ heads: Int) throws -> HeadTensor {
      try HeadTensor(buffer, rows: rows, heads: heads, headDim: c.headDim)
    }
    x = try t(b.x, c.embeddingLength)
    mid = try t(b.mid, c.embeddingLength)
    normed = try t(b.normed, c.embeddingLength)
    proj = try t(b.proj, c.embeddingLength)
    q = try h(b.q, c.headCount)
    qAlt = try h(b.qAlt, c.headCount)
    attention = try h(b.attention, c.headCount)
    k = try h(b.k, c.kvHeadCount)
    kAlt = try h(b.kAlt, c.kvHeadCount)
    v = try h(b.v, c.kvHeadCount)
    vAlt = try h(b.vAlt, c.kvHeadCount)
    gate = try t(b.gate, c.feedForwardLength)
    up = try t(b.up, c.feedForwardLength)
    act = try t(b.act, c.feedForwardLength)
    experts = try b.experts.map { try ExpertActivations($0, rows: rows, config: c) }
  }
}

/// The K/V caches of every layer, of the load options' `KVCacheType`s: row `p` holds position `p`
/// (the attention op's contract).
struct KVCache: Sendable {
  struct Layer: Sendable {
    let keys: QTensor  // (capacity, kvHeads, headDim) of keyType
    let values: QTensor  // (capacity, kvHeads, headDim) of valueType
  }
  let capacity: Int
  let layers: [Layer]

  init(
    config c: ModelConfig, capacity: Int, keyType: KVCacheType = .f16, valueType: KVCacheType = .f16,
    backend: any ComputeBackend
  ) throws {
    self.capacity = capacity
    let shape = [capacity, c.kvHeadCount, c.headDim]
    layers = try (0..<c.layerCount).map { _ in
      Layer(
        keys: try QTensor.zeros(shape: shape, type: keyType.ggmlType, on: backend),
        values: try QTensor.zeros(shape: shape, type: valueType.ggmlType, on: backend))
    }
  }

  /// Bytes of device memory held.
  var byteCount: Int { layers.reduce(0) { $0 + $1.keys.sizeInBytes + $1.values.sizeInBytes } }

  /// Bytes a cache of `capacity` tokens takes (`MemoryEstimate`): keys and values of the shape and
  /// types allocated above, every layer.
  static func byteCount(
    config c: ModelConfig, capacity: Int, keyType: KVCacheType = .f16, valueType: KVCacheType = .f16
  ) -> Int {
    let values = capacity * c.kvHeadCount * c.headDim
    // Rows are whole blocks (checked at load: `checkCacheTypes`); 0 where they are not.
    return c.layerCount
      * ((keyType.byteCount(values: values) ?? 0) + (valueType.byteCount(values: values) ?? 0))
  }

  /// Throws when a head's row (`headDim` values) is not a whole number of the types' blocks.
  static func checkCacheTypes(config c: ModelConfig, keyType: KVCacheType, valueType: KVCacheType) throws {
    for t in [keyType, valueType] where c.headDim % t.ggmlType.blockSize != 0 {
      throw QuantaError.invalidArgument(
        op: "KV cache type \(t)",
        reason: "the model's head dimension \(c.headDim) is not a multiple of the \(t) block size "
          + "\(t.ggmlType.blockSize); use f16 or bf16")
    }
  }
}
