import QuantaCore

/// One conversation's state on the model's device: the KV cache, the tokens it holds, the
/// activation memory of forward passes (allocated once; decode steps allocate nothing) and the
/// forward plans over it: one decode plan, recorded once and replayed every step (a device graph on
/// GPUs), and plans per prompt-batch shape.
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
  /// When set, every forward pass adds its per-op device times here (plans then run op by op, not
  /// as a device graph).
  public var profile: OpProfile?

  let transformer: Transformer
  let cache: KVCache
  private var buffers: ActivationBuffers
  /// One-token views, built once: the decode step's only tensors.
  private var single: Activations
  private let logitsRow: Tensor  // (1, vocab)
  /// The last evaluated token's logits (`withLastLogits`); a `BatchDecoder` step writes them too.
  var hostLogits: [Float]
  /// Host staging of a plan's inputs: ids, then positions.
  private var inputScratch: [Int32] = []
  private var decodePlan: (any PreparedPlan)?
  /// The decode plan with the argmax of the logits on the device (greedy decoding).
  private var greedyPlan: (any PreparedPlan)?
  /// The decode plan with the sampler's chain on the device (`PlanOp.sample`).
  private var samplingPlan: (any PreparedPlan)?
  /// Host staging of a sampling step's `DeviceSampling` record.
  private var record: [Int32] = []
  private var sampled: IndexTensor?
  /// Prompt-batch plans by shape; dropped when the activation buffers grow.
  private var batchPlans: [BatchPlanKey: BatchPlan] = [:]

  private enum BatchPlanMode: Hashable { case intermediate, lastLogits, allRows }
  private struct BatchPlanKey: Hashable {
    var rows: Int
    var mode: BatchPlanMode
  }
  private struct BatchPlan {
    var prepared: any PreparedPlan
    /// Where the plan leaves the normed hidden states.
    var hidden: Tensor
  }

  init(model: LanguageModel) throws {
    self.model = model
    transformer = model.transformer
    let c = transformer.config
    let backend = transformer.backend
    cache = try KVCache(
      config: c, capacity: model.contextLength, keyType: model.options.keyCacheType,
      valueType: model.options.valueCacheType, rotation: model.attentionRotation, backend: backend)
    buffers = try ActivationBuffers(config: c, capacity: 1, backend: backend)
    single = try Activations(buffers, rows: 1, config: c)
    logitsRow = try Tensor.zeros(shape: [1, c.vocabularySize], on: backend)
    hostLogits = [Float](repeating: 0, count: c.vocabularySize)
  }

  /// Records that a `BatchDecoder` step put `id`'s keys and values at `position` of the cache.
  func appendDecoded(_ id: Int32) { tokens.append(id) }

  /// Forgets every token (the cache rows are simply overwritten later).
  public func reset() { tokens.removeAll(keepingCapacity: true) }

  /// Drops the tokens from `position` on (e.g. to re-evaluate the end of a prompt).
  ///
  /// - Parameter position: The first position dropped; at or past `position` (the count) nothing changes.
  public func truncate(to position: Int) {
    guard position < tokens.count else { return }
    tokens.removeSubrange(max(0, position)...)
  }

  /// llama.cpp's context shift: keeps the first `keep` tokens, drops half of the others (the oldest)
  /// and moves the rest down to follow the kept ones. The cache holds keys rotated for their old
  /// positions, and every layer's rows above the first were computed with the dropped tokens in
  /// view, so the rest is evaluated again at its new positions (one prompt batch): the cache then
  /// equals a fresh evaluation of the shifted tokens. Returns false when nothing can be dropped.
  ///
  /// - Parameter keep: Tokens at the start that stay (clamped to 0…`position`).
  /// - Returns: Whether tokens were dropped.
  /// - Throws: What `evaluate(tokens:)` throws while the kept tail is evaluated again.
  public func shiftContext(keep: Int) throws -> Bool {
    let keep = max(0, min(keep, tokens.count))
    let discard = (tokens.count - keep) / 2
    guard discard > 0 else { return false }
    let rest = Array(tokens[(keep + discard)...])
    truncate(to: keep)
    try evaluate(tokens: rest)
    return true
  }

  /// Appends `tokens` to the context and returns the logits (`vocabularySize` values) of the last
  /// one. A prompt goes through as one batch (the mat-mat path), in chunks of `batchSize` tokens.
  ///
  /// - Parameter new: Token ids to append (at least one; each below the vocabulary size).
  /// - Returns: The last token's logits, `vocabularySize` values.
  /// - Throws: `ModelError.emptyInput`, `ModelError.invalidToken`, `ModelError.contextFull` when the
  ///   tokens do not fit the cache, or the backend's error.
  @discardableResult
  public func evaluate(tokens new: [Int32]) throws -> [Float] {
    try evaluate(new, allRows: nil)
    return hostLogits
  }

  /// Appends one token (a decode step: no allocation) and leaves its logits for `withLastLogits`.
  ///
  /// - Parameter id: The token id to append.
  /// - Throws: `ModelError.invalidToken`, `ModelError.contextFull`, or the backend's error.
  public func evaluate(token id: Int32) throws {
    let vocab = transformer.config.vocabularySize
    guard id >= 0, Int(id) < vocab else { throw ModelError.invalidToken(id: id, vocabularySize: vocab) }
    guard tokens.count < cache.capacity else { throw ModelError.contextFull(limit: cache.capacity) }
    try decodeStep(id)
  }

  /// Appends one token and returns the index of its largest logit (the first on ties: greedy
  /// sampling), computed where the model runs: on a GPU only that id comes back, not the logits.
  /// `withLastLogits` is not updated by this call.
  ///
  /// - Parameter id: The token id to append.
  /// - Returns: The id of the most likely next token.
  /// - Throws: `ModelError.invalidToken`, `ModelError.contextFull`, or the backend's error.
  public func evaluateGreedy(token id: Int32) throws -> Int32 {
    let vocab = transformer.config.vocabularySize
    guard id >= 0, Int(id) < vocab else { throw ModelError.invalidToken(id: id, vocabularySize: vocab) }
    guard tokens.count < cache.capacity else { throw ModelError.contextFull(limit: cache.capacity) }
    let backend = transformer.backend
    if sampled == nil { sampled = try IndexTensor(buffer: backend.allocate(byteCount: 4), count: 1) }
    if greedyPlan == nil {
      greedyPlan = try makePlan(
        rows: 1, activations: single, lastRowOnly: nil, logits: true, replayed: true, argmax: sampled
      ).prepared
    }
    try run(greedyPlan!, ids: [id], start: tokens.count)
    var next: Int32 = 0
    try timed(.logitsCopy) {
      try withUnsafeMutableBytes(of: &next) {
        try backend.copy(sampled!.buffer, at: sampled!.byteOffset, to: $0)
      }
    }
    tokens.append(id)
    return next
  }

  /// Appends one token and returns the next one as `sampler` picks it from that token's logits,
  /// computed where the model runs when it can (`ComputeBackend.samplesOnDevice` and
  /// `Sampler.runsOnDevice`): the sampler's uniform goes up with the step's inputs and only the id
  /// comes back. Otherwise, and for a row the device gives back (`DeviceSampling`), the logits come
  /// to the host and `sampler` picks there, with the same uniform: the ids are the host sampler's
  /// either way (up to `DeviceSampling`'s float boundaries). `withLastLogits` is updated only when
  /// the logits came to the host.
  ///
  /// - Parameters:
  ///   - id: The token id to append (the caller has `accept`ed it into `sampler`).
  ///   - sampler: The generation's sampler (its generator advances one draw).
  /// - Returns: The next token.
  /// - Throws: `ModelError.invalidToken`, `ModelError.contextFull`, or the backend's error.
  public func evaluateSampled(token id: Int32, sampler: inout Sampler) throws -> Int32 {
    let vocab = transformer.config.vocabularySize
    guard id >= 0, Int(id) < vocab else { throw ModelError.invalidToken(id: id, vocabularySize: vocab) }
    guard tokens.count < cache.capacity else { throw ModelError.contextFull(limit: cache.capacity) }
    let backend = transformer.backend
    if record.count != DeviceSampling.recordWords {
      record = [Int32](repeating: 0, count: DeviceSampling.recordWords)
    }
    guard backend.samplesOnDevice, sampler.runsOnDevice(vocabularySize: vocab),
      let uniform = record.withUnsafeMutableBufferPointer({ sampler.fillDeviceRecord($0) })
    else {
      try decodeStep(id)
      return withLastLogits { sampler.sample($0) }
    }
    if sampled == nil { sampled = try IndexTensor(buffer: backend.allocate(byteCount: 4), count: 1) }
    if samplingPlan == nil {
      samplingPlan = try makePlan(
        rows: 1, activations: single, lastRowOnly: nil, logits: true, replayed: true, sample: sampled
      ).prepared
    }
    try run(samplingPlan!, ids: [id], start: tokens.count, record: record)
    var next: Int32 = 0
    try timed(.logitsCopy) {
      try withUnsafeMutableBytes(of: &next) {
        try backend.copy(sampled!.buffer, at: sampled!.byteOffset, to: $0)
      }
    }
    tokens.append(id)
    guard next < 0 else { return next }
    // The device gave the row back: the host samples it at the same uniform.
    try copyLogits(logitsRow)
    return withLastLogits { sampler.sample($0, uniform: uniform) }
  }

  /// Appends `tokens` and calls `body(i, logits)` with the logits of every one of them, in order
  /// (perplexity). Logits are computed `logitsChunk` rows at a time, never all at once.
  ///
  /// - Parameters:
  ///   - new: Token ids to append (at least one).
  ///   - body: Called with each token's index in `new` and its logits (valid during the call only).
  /// - Throws: What `evaluate(tokens:)` throws, or what `body` throws.
  public func evaluateAll(tokens new: [Int32], _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void)
    throws
  {
    // Stored only for the duration of this call.
    try withoutActuallyEscaping(body) { try evaluate(new, allRows: $0) }
  }

  /// The logits of every token of `tokens`, appended to the context (`tokens.count` rows).
  ///
  /// - Parameter new: Token ids to append (at least one).
  /// - Returns: One row of `vocabularySize` logits per token.
  /// - Throws: What `evaluate(tokens:)` throws.
  public func evaluateAll(tokens new: [Int32]) throws -> [[Float]] {
    var rows: [[Float]] = []
    rows.reserveCapacity(new.count)
    try evaluateAll(tokens: new) { _, logits in rows.append(Array(logits)) }
    return rows
  }

  /// Logits of the last evaluated token, without copying (valid until the next evaluation).
  ///
  /// - Parameter body: Gets the logits, `vocabularySize` values.
  /// - Returns: What `body` returns.
  public func withLastLogits<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try hostLogits.withUnsafeBufferPointer(body)
  }

  /// Records the forward pass of `rows` tokens over `activations` (and the logits of the last one
  /// into `logitsRow` when `logits`), and prepares it on the backend.
  private func makePlan(
    rows n: Int, activations a: Activations, lastRowOnly: Activations?, logits: Bool, replayed: Bool,
    argmax: IndexTensor? = nil, sample: IndexTensor? = nil
  ) throws -> BatchPlan {
    let backend = transformer.backend
    // Ids, positions, and with `sample` the rows' sampling records.
    let words = 2 * n + (sample == nil ? 0 : n * DeviceSampling.recordWords)
    let block = try IndexTensor(buffer: backend.allocate(byteCount: 4 * words), count: words)
    let recorder = PlanRecorder(inputs: block)
    let c = ForwardContext(
      backend: backend, config: transformer.config, matmulOptions: model.options.matmul, recorder: recorder)
    let batch = BatchPositions(ids: try block.slice(0..<n), positions: try block.slice(n..<(2 * n)))
    let hidden = try transformer.forward(
      batch: batch, activations: a, lastRowOnly: lastRowOnly, caches: [cache], context: c)
    if logits { try transformer.logits(hidden, into: logitsRow, context: c) }
    if let argmax { recorder.append(.argmax(logits: logitsRow, out: argmax), .sampling) }
    if let sample {
      let records = try block.slice((2 * n)..<words)
      recorder.append(.sample(logits: logitsRow, records: records, out: sample), .sampling)
    }
    let prepared = try backend.prepare(
      recorder.plan,
      options: PlanOptions(replayed: replayed && model.options.deviceGraphs, fusion: model.options.fusion))
    return BatchPlan(prepared: prepared, hidden: hidden)
  }

  /// Runs `plan` for `ids` at positions `start...`: one graph launch on a GPU, unless profiling.
  private func run(_ plan: any PreparedPlan, ids: ArraySlice<Int32>, start: Int, record: [Int32] = []) throws
  {
    let n = ids.count
    if inputScratch.count != 2 * n + record.count {
      inputScratch = [Int32](repeating: 0, count: 2 * n + record.count)
    }
    for (i, id) in ids.enumerated() {
      inputScratch[i] = id
      inputScratch[n + i] = Int32(start + i)
    }
    for (i, w) in record.enumerated() { inputScratch[2 * n + i] = w }
    try inputScratch.withUnsafeBufferPointer { inputs in
      guard let profile else { return try plan.execute(inputs: inputs) }
      for (tag, seconds) in try plan.executeTimed(inputs: inputs) {
        if let kind = OpKind(rawValue: tag) { profile.record(kind, seconds: seconds) }
      }
    }
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
      try batch(new[start..<end], isLast: end == new.count, allRows: allRows, firstIndex: scored)
      scored += end - start
      start = end
    }
  }

  /// One token through the decode plan (recorded on the first step, replayed after): no tensor or
  /// array is created.
  private func decodeStep(_ id: Int32) throws {
    if decodePlan == nil {
      decodePlan = try makePlan(rows: 1, activations: single, lastRowOnly: nil, logits: true, replayed: true)
        .prepared
    }
    try run(decodePlan!, ids: [id], start: tokens.count)
    try copyLogits(logitsRow)
    tokens.append(id)
  }

  private func batch(
    _ ids: ArraySlice<Int32>, isLast: Bool, allRows: ((Int, UnsafeBufferPointer<Float>) throws -> Void)?,
    firstIndex: Int
  ) throws {
    let n = ids.count
    if buffers.capacity < n {
      // Grown to the largest batch seen (at most batchSize rows), then reused; plans over the old
      // buffers go with them.
      buffers = try ActivationBuffers(config: transformer.config, capacity: n, backend: transformer.backend)
      single = try Activations(buffers, rows: 1, config: transformer.config)
      batchPlans.removeAll()
      decodePlan = nil
      greedyPlan = nil
      samplingPlan = nil
    }
    let mode: BatchPlanMode = allRows != nil ? .allRows : isLast ? .lastLogits : .intermediate
    let key = BatchPlanKey(rows: n, mode: mode)
    let plan: BatchPlan
    if let p = batchPlans[key] {
      plan = p
    } else {
      if batchPlans.count >= 4 { batchPlans.removeAll() }
      let a = try Activations(buffers, rows: n, config: transformer.config)
      plan = try makePlan(
        rows: n, activations: a, lastRowOnly: mode == .lastLogits ? single : nil, logits: mode == .lastLogits,
        replayed: false)
      batchPlans[key] = plan
    }
    try run(plan.prepared, ids: ids, start: tokens.count)
    if let allRows {
      try scoreRows(plan.hidden, firstIndex: firstIndex, allRows)
    } else if isLast {
      try copyLogits(logitsRow)
    }
    tokens += ids
  }

  /// `body` timed as `kind` when profiling (after a synchronize, so device work lands on it).
  private func timed(_ kind: OpKind, _ body: () throws -> Void) throws {
    guard let profile else { return try body() }
    let start = ContinuousClock.now
    try body()
    try transformer.backend.synchronize()
    profile.record(kind, ContinuousClock.now - start)
  }

  /// Logits of every row of `hidden`, `logitsChunk` rows per matmul, handed to `body` row by row.
  private func scoreRows(
    _ hidden: Tensor, firstIndex: Int, _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void
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
      try timed(.matmulOutput) {
        try transformer.logits(try hidden.rows(r..<(r + m)), into: dst, options: model.options.matmul)
      }
      try timed(.logitsCopy) {
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
  private func copyLogits(_ row: Tensor) throws {
    try timed(.logitsCopy) {
      try hostLogits.withUnsafeMutableBytes {
        try transformer.backend.copy(row.buffer, at: row.byteOffset, to: $0)
      }
    }
  }
}
