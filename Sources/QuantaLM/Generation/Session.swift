import QuantaCore

/// One conversation's state on the model's device: the KV cache, the tokens it holds, and the
/// activation memory of forward passes (allocated once; decode steps allocate nothing).
///
/// A session is used from one thread at a time (it is not `Sendable`); make one per concurrent
/// conversation with `LanguageModel.makeSession()`.
public final class Session {
  public let model: LanguageModel
  /// Tokens whose keys and values are in the cache, in order (position `i` holds `tokens[i]`).
  public private(set) var tokens: [Int32] = []
  /// Next position to fill.
  public var position: Int { tokens.count }
  /// Capacity of the cache (the context length).
  public var contextLength: Int { cache.capacity }
  /// When set, every forward pass adds its per-op times here (ops are then synchronized).
  public var profile: OpProfile?

  let transformer: Transformer
  let cache: KVCache
  private var buffers: ActivationBuffers
  /// One-token views, built once: the decode step's only tensors.
  private var single: Activations
  private let logitsRow: Tensor  // (1, vocab)
  private var hostLogits: [Float]
  private var idScratch: [Int32] = [0]
  private var positionScratch: [Int32] = [0]

  init(model: LanguageModel) throws {
    self.model = model
    transformer = model.transformer
    let c = transformer.config
    let backend = transformer.backend
    cache = try KVCache(config: c, capacity: model.contextLength, backend: backend)
    buffers = try ActivationBuffers(config: c, capacity: 1, backend: backend)
    single = try Activations(buffers, rows: 1, config: c)
    logitsRow = try Tensor.zeros(shape: [1, c.vocabularySize], on: backend)
    hostLogits = [Float](repeating: 0, count: c.vocabularySize)
  }

  /// Forgets every token (the cache rows are simply overwritten later).
  public func reset() { tokens.removeAll(keepingCapacity: true) }

  /// Drops the tokens from `position` on (e.g. to re-evaluate the end of a prompt).
  public func truncate(to position: Int) {
    guard position < tokens.count else { return }
    tokens.removeSubrange(max(0, position)...)
  }

  /// Appends `tokens` to the context and returns the logits (`vocabularySize` values) of the last
  /// one. A prompt goes through as one batch (the mat-mat path), in chunks of `batchSize` tokens.
  @discardableResult
  public func evaluate(tokens new: [Int32]) throws -> [Float] {
    try evaluate(new, allRows: nil)
    return hostLogits
  }

  /// Appends one token (a decode step: no allocation) and leaves its logits for `withLastLogits`.
  public func evaluate(token id: Int32) throws {
    let vocab = transformer.config.vocabularySize
    guard id >= 0, Int(id) < vocab else { throw ModelError.invalidToken(id: id, vocabularySize: vocab) }
    guard tokens.count < cache.capacity else { throw ModelError.contextFull(limit: cache.capacity) }
    try decodeStep(id)
  }

  /// Appends `tokens` and calls `body(i, logits)` with the logits of every one of them, in order
  /// (perplexity). Logits are computed `logitsChunk` rows at a time, never all at once.
  public func evaluateAll(tokens new: [Int32], _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void)
    throws
  {
    // Stored only for the duration of this call.
    try withoutActuallyEscaping(body) { try evaluate(new, allRows: $0) }
  }

  /// The logits of every token of `tokens`, appended to the context (`tokens.count` rows).
  public func evaluateAll(tokens new: [Int32]) throws -> [[Float]] {
    var rows: [[Float]] = []
    rows.reserveCapacity(new.count)
    try evaluateAll(tokens: new) { _, logits in rows.append(Array(logits)) }
    return rows
  }

  /// Logits of the last evaluated token, without copying (valid until the next evaluation).
  public func withLastLogits<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try hostLogits.withUnsafeBufferPointer(body)
  }

  private var context: ForwardContext {
    ForwardContext(
      backend: transformer.backend, config: transformer.config, matmulOptions: model.options.matmul,
      profile: profile)
  }

  private func evaluate(_ new: [Int32], allRows: ((Int, UnsafeBufferPointer<Float>) throws -> Void)?) throws {
    guard !new.isEmpty else { throw ModelError.emptyInput }
    let vocab = transformer.config.vocabularySize
    for id in new where id < 0 || Int(id) >= vocab {
      throw ModelError.invalidToken(id: id, vocabularySize: vocab)
    }
    guard tokens.count + new.count <= cache.capacity else {
      throw ModelError.contextFull(limit: cache.capacity)
    }
    if new.count == 1 && allRows == nil {
      try decodeStep(new[0])
      return
    }
    let chunk = model.options.batchSize
    var start = 0
    var scored = 0
    while start < new.count {
      let end = min(start + chunk, new.count)
      let ids = Array(new[start..<end])
      try batch(ids, isLast: end == new.count, allRows: allRows, firstIndex: scored)
      scored += ids.count
      start = end
    }
  }

  /// One token, through the prebuilt one-row views: no tensor or array is created.
  private func decodeStep(_ id: Int32) throws {
    idScratch[0] = id
    positionScratch[0] = Int32(tokens.count)
    let b = BatchPositions(positions: positionScratch, kvLength: tokens.count + 1)
    let c = context
    let hidden = try transformer.forward(
      ids: idScratch, batch: b, activations: single, lastRowOnly: nil, cache: cache, context: c)
    try transformer.logits(hidden, into: logitsRow, context: c)
    try copyLogits(logitsRow, c)
    tokens.append(id)
  }

  private func batch(
    _ ids: [Int32], isLast: Bool, allRows: ((Int, UnsafeBufferPointer<Float>) throws -> Void)?,
    firstIndex: Int
  ) throws {
    let n = ids.count
    let c = context
    if buffers.capacity < n {
      // Grown to the largest batch seen (at most batchSize rows), then reused.
      buffers = try ActivationBuffers(config: transformer.config, capacity: n, backend: transformer.backend)
      single = try Activations(buffers, rows: 1, config: transformer.config)
    }
    let a = try Activations(buffers, rows: n, config: transformer.config)
    let start = tokens.count
    let b = BatchPositions(positions: (0..<n).map { Int32(start + $0) }, kvLength: start + n)
    if let allRows {
      let hidden = try transformer.forward(
        ids: ids, batch: b, activations: a, lastRowOnly: nil, cache: cache, context: c)
      try scoreRows(hidden, firstIndex: firstIndex, c, allRows)
    } else {
      let hidden = try transformer.forward(
        ids: ids, batch: b, activations: a, lastRowOnly: isLast ? single : nil, cache: cache, context: c)
      if isLast {
        try transformer.logits(hidden, into: logitsRow, context: c)
        try copyLogits(logitsRow, c)
      }
    }
    tokens += ids
  }

  /// Logits of every row of `hidden`, `logitsChunk` rows per matmul, handed to `body` row by row.
  private func scoreRows(
    _ hidden: Tensor, firstIndex: Int, _ c: ForwardContext,
    _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void
  ) throws {
    let vocab = transformer.config.vocabularySize
    let rows = hidden.shape[0]
    let chunk = min(rows, model.options.logitsChunk)
    let out = try Tensor.zeros(shape: [chunk, vocab], on: transformer.backend)
    var host = [Float](repeating: 0, count: chunk * vocab)
    var r = 0
    while r < rows {
      let m = min(chunk, rows - r)
      let dst = try out.rows(0..<m)
      try transformer.logits(try hidden.rows(r..<(r + m)), into: dst, context: c)
      try c.timed(.logitsCopy) {
        try host.withUnsafeMutableBytes {
          try transformer.backend.copy(
            out.buffer, at: out.byteOffset,
            to: UnsafeMutableRawBufferPointer(rebasing: $0[0..<(m * vocab * 4)]))
        }
      }
      try host.withUnsafeBufferPointer { all in
        for i in 0..<m {
          try body(firstIndex + r + i, UnsafeBufferPointer(rebasing: all[(i * vocab)..<((i + 1) * vocab)]))
        }
      }
      r += m
    }
  }

  /// Only the last token's logits come back to the host.
  private func copyLogits(_ row: Tensor, _ c: ForwardContext) throws {
    try c.timed(.logitsCopy) {
      try hostLogits.withUnsafeMutableBytes {
        try transformer.backend.copy(row.buffer, at: row.byteOffset, to: $0)
      }
    }
  }
}
