import QuantaCore

/// Decodes the next token of several sessions of one model in one forward pass: the weights are
/// read once for all of them (the matmuls take one row per session; on GPUs the mat-vec kernels
/// take up to eight columns in one launch), while each row writes and attends to its own session's
/// KV cache at its own position. This is what a server's continuous batching steps: every decoding
/// slot advances by one token per pass.
///
/// Plans are recorded per (ordered) set of sessions and replayed (a device graph on GPUs), so a
/// steady batch costs one launch per step; the most recent `planCacheSize` sets are kept.
/// Used from one thread at a time, like the sessions it steps.
public final class BatchDecoder {
  public let model: LanguageModel
  /// Most sessions per step.
  public let maxBatch: Int
  /// How many recorded session sets are kept.
  public let planCacheSize = 8

  private let transformer: Transformer
  private let buffers: ActivationBuffers
  private let logits: Tensor  // (maxBatch, vocab)
  private let sampled: IndexTensor  // maxBatch argmax or sampled ids
  private var hostLogits: [Float]
  private var inputScratch: [Int32] = []
  /// Host staging of the rows' `DeviceSampling` records.
  private var records: [Int32] = []
  /// What a step brings back: every row's logits, the argmax ids, or the sampled ids.
  private enum Mode { case logits, greedy, sampled }
  private struct Entry {
    var sessions: [Session]
    var mode: Mode
    var prepared: any PreparedPlan
    var lastUse: Int
  }
  private var plans: [Entry] = []
  /// When set, decode steps run op by op (no device graph) and each op's device time is added here
  /// (`bench model --profile --parallel`), as `Session.profile` does for one sequence.
  public var profile: OpProfile?
  private var uses = 0
  /// `prefill`'s rows (grown to the largest pass seen) and each session's last hidden row.
  private var prefillBuffers: ActivationBuffers?
  private var lastRows: Tensor?  // (maxBatch, d)

  /// A decoder for up to `maxBatch` sessions of `model` (activation memory for that many rows).
  ///
  /// - Parameters:
  ///   - model: The model whose sessions are stepped.
  ///   - maxBatch: Most sessions per step (at least 1); sizes the activation memory.
  /// - Throws: `QuantaError.indexOutOfRange` for `maxBatch` below 1, or the backend's allocation error.
  public init(model: LanguageModel, maxBatch: Int = 16) throws {
    guard maxBatch >= 1 else {
      throw QuantaError.indexOutOfRange(op: "BatchDecoder maxBatch", index: maxBatch, bound: Int.max)
    }
    self.model = model
    self.maxBatch = maxBatch
    transformer = model.transformer
    let c = transformer.config
    let backend = transformer.backend
    buffers = try ActivationBuffers(config: c, capacity: maxBatch, backend: backend)
    logits = try Tensor.zeros(shape: [maxBatch, c.vocabularySize], on: backend)
    sampled = try IndexTensor(buffer: backend.allocate(byteCount: 4 * maxBatch), count: maxBatch)
    hostLogits = [Float](repeating: 0, count: maxBatch * c.vocabularySize)
  }

  /// Appends `tokens[i]` to `sessions[i]` for every `i`, in one forward pass, and leaves each
  /// token's logits in its session (`Session.withLastLogits`), as `Session.evaluate(token:)` does.
  ///
  /// - Parameters:
  ///   - sessions: 1…`maxBatch` distinct sessions of this decoder's model, each with room for a token.
  ///   - tokens: One token id per session.
  /// - Throws: `ModelError.emptyInput`, `QuantaError.shapeMismatch` (count), `QuantaError.unsupported`
  ///   (another model's session), `QuantaError.invalidBuffer` (a session twice),
  ///   `ModelError.invalidToken`, `ModelError.contextFull`, or the backend's error.
  public func decode(_ sessions: [Session], tokens: [Int32]) throws {
    try run(sessions, tokens: tokens, mode: .logits)
    try copyLogits(into: sessions)
    for (i, s) in sessions.enumerated() { s.appendDecoded(tokens[i]) }
  }

  /// The same, returning the index of each row's largest logit (greedy sampling) computed where the
  /// model runs: on a GPU only those ids come back. The sessions' `withLastLogits` are not updated.
  ///
  /// - Parameters:
  ///   - sessions: As for `decode(_:tokens:)`.
  ///   - tokens: One token id per session.
  /// - Returns: The most likely next token of each session, in order.
  /// - Throws: What `decode(_:tokens:)` throws.
  public func decodeGreedy(_ sessions: [Session], tokens: [Int32]) throws -> [Int32] {
    try run(sessions, tokens: tokens, mode: .greedy)
    let ids = try sampledIDs(sessions.count)
    for (i, s) in sessions.enumerated() { s.appendDecoded(tokens[i]) }
    return ids
  }

  /// The same, returning each row's next token as its sampler picks it (`samplers[i]` for
  /// `sessions[i]`, each with its own options and uniform): on a GPU the chains run there
  /// (`PlanOp.sample`) and only the ids come back, as `Session.evaluateSampled` does for one
  /// session. Rows the device cannot sample (`Sampler.runsOnDevice`, a window past its capacity, a
  /// row it gives back) are sampled on the host from their logits, with the same uniform.
  ///
  /// - Parameters:
  ///   - sessions: As for `decode(_:tokens:)`.
  ///   - tokens: One token id per session (each `accept`ed into its sampler).
  ///   - samplers: One sampler per session; each advances one draw.
  /// - Returns: The next token of each session, in order.
  /// - Throws: What `decode(_:tokens:)` throws, and `QuantaError.shapeMismatch` for a sampler count
  ///   other than the sessions'.
  public func decodeSampled(_ sessions: [Session], tokens: [Int32], samplers: inout [Sampler]) throws
    -> [Int32]
  {
    guard samplers.count == sessions.count else {
      throw QuantaError.shapeMismatch(
        op: "BatchDecoder.decodeSampled", expected: "one sampler per session",
        actual: [sessions.count, samplers.count])
    }
    let n = sessions.count
    let vocab = transformer.config.vocabularySize
    guard transformer.backend.samplesOnDevice else {
      try decode(sessions, tokens: tokens)
      return (0..<n).map { i in sessions[i].withLastLogits { samplers[i].sample($0) } }
    }
    let words = DeviceSampling.recordWords
    if records.count < n * words { records = [Int32](repeating: 0, count: n * words) }
    // Per row: the uniform its record carries, or nil when the host samples the row.
    var uniforms: [Double?] = []
    for i in 0..<n {
      let u: Double? = records.withUnsafeMutableBufferPointer { all in
        let row = UnsafeMutableBufferPointer(rebasing: all[(i * words)..<((i + 1) * words)])
        guard samplers[i].runsOnDevice(vocabularySize: vocab), let u = samplers[i].fillDeviceRecord(row)
        else {
          // A greedy record keeps the row's launch valid; the host samples it below.
          for j in row.indices { row[j] = 0 }
          return nil
        }
        return u
      }
      uniforms.append(u)
    }
    try run(sessions, tokens: tokens, mode: .sampled)
    var ids = try sampledIDs(n)
    if zip(ids, uniforms).contains(where: { $0 < 0 || $1 == nil }) {
      try copyLogits(into: sessions)
      for i in 0..<n where ids[i] < 0 || uniforms[i] == nil {
        ids[i] = sessions[i].withLastLogits { raw in
          uniforms[i].map { samplers[i].sample(raw, uniform: $0) } ?? samplers[i].sample(raw)
        }
      }
    }
    for (i, s) in sessions.enumerated() { s.appendDecoded(tokens[i]) }
    return ids
  }

  private func sampledIDs(_ n: Int) throws -> [Int32] {
    var ids = [Int32](repeating: 0, count: n)
    try ids.withUnsafeMutableBytes {
      try transformer.backend.copy(sampled.buffer, at: sampled.byteOffset, to: $0)
    }
    return ids
  }

  /// Evaluates a chunk of prompt tokens for each of several sessions in one forward pass: the rows
  /// of all chunks go through the matmuls together (the weights read once), each row writing and
  /// attending to its own session's cache at its own position. Each session's logits of its last
  /// token are left for `withLastLogits`, as `Session.evaluate(tokens:)` leaves them.
  ///
  /// - Parameters:
  ///   - sessions: 1…`maxBatch` distinct sessions of this decoder's model.
  ///   - chunks: One non-empty list of token ids per session, each fitting its session's context.
  /// - Throws: What `decode(_:tokens:)` throws, and `ModelError.emptyInput` for an empty chunk.
  public func prefill(_ sessions: [Session], chunks: [[Int32]]) throws {
    guard chunks.count == sessions.count, !chunks.contains(where: \.isEmpty) else {
      throw sessions.isEmpty || chunks.contains(where: \.isEmpty)
        ? ModelError.emptyInput
        : QuantaError.shapeMismatch(
          op: "BatchDecoder.prefill", expected: "one chunk per session",
          actual: [sessions.count, chunks.count])
    }
    try check(sessions, tokens: chunks.map { $0[0] })
    let vocab = transformer.config.vocabularySize
    for (s, chunk) in zip(sessions, chunks) {
      if let bad = chunk.first(where: { $0 < 0 || Int($0) >= vocab }) {
        throw ModelError.invalidToken(id: bad, vocabularySize: vocab)
      }
      guard s.position + chunk.count <= s.contextLength else {
        throw ModelError.contextFull(limit: s.contextLength)
      }
    }
    let n = sessions.count
    let rows = chunks.reduce(0) { $0 + $1.count }
    let backend = transformer.backend
    let c = transformer.config
    if prefillBuffers == nil || prefillBuffers!.capacity < rows {
      prefillBuffers = try ActivationBuffers(config: c, capacity: rows, backend: backend)
    }
    if lastRows == nil { lastRows = try Tensor.zeros(shape: [maxBatch, c.embeddingLength], on: backend) }
    // Inputs: every row's id, every row's position, then each session's last row.
    var inputs: [Int32] = []
    inputs.reserveCapacity(2 * rows + n)
    for chunk in chunks { inputs += chunk }
    for (s, chunk) in zip(sessions, chunks) { inputs += (0..<chunk.count).map { Int32(s.position + $0) } }
    var end = 0
    for chunk in chunks {
      end += chunk.count
      inputs.append(Int32(end - 1))
    }
    // The shapes change with every set of chunks: recorded for this pass only.
    let block = try IndexTensor(buffer: backend.allocate(byteCount: 4 * inputs.count), count: inputs.count)
    let recorder = PlanRecorder(inputs: block)
    let context = ForwardContext(
      backend: backend, config: c, matmulOptions: model.options.matmul, recorder: recorder)
    let batch = BatchPositions(ids: try block.slice(0..<rows), positions: try block.slice(rows..<(2 * rows)))
    let a = try Activations(prefillBuffers!, rows: rows, config: c)
    var caches: [KVCache] = []
    caches.reserveCapacity(rows)
    for (s, chunk) in zip(sessions, chunks) { caches += repeatElement(s.cache, count: chunk.count) }
    let hidden = try transformer.forward(
      batch: batch, activations: a, lastRowOnly: nil, caches: caches, context: context)
    let last = try lastRows!.rows(0..<n)
    recorder.append(
      .getRowsDense(table: hidden, ids: try block.slice((2 * rows)..<(2 * rows + n)), out: last), .embedding)
    try transformer.logits(last, into: try logits.rows(0..<n), context: context)
    let prepared = try backend.prepare(
      recorder.plan, options: PlanOptions(replayed: false, fusion: model.options.fusion))
    try inputs.withUnsafeBufferPointer { try prepared.execute(inputs: $0) }
    try copyLogits(into: sessions)
    for (s, chunk) in zip(sessions, chunks) { for id in chunk { s.appendDecoded(id) } }
  }

  /// Copies rows `0..<sessions.count` of the logits into the sessions' host logits.
  private func copyLogits(into sessions: [Session]) throws {
    let vocab = transformer.config.vocabularySize
    let count = sessions.count * vocab
    try hostLogits.withUnsafeMutableBytes {
      try transformer.backend.copy(
        logits.buffer, at: logits.byteOffset, to: UnsafeMutableRawBufferPointer(rebasing: $0[0..<(4 * count)])
      )
    }
    for (i, s) in sessions.enumerated() {
      s.hostLogits.withUnsafeMutableBufferPointer { dst in
        hostLogits.withUnsafeBufferPointer { src in
          _ = dst.update(fromContentsOf: src[(i * vocab)..<((i + 1) * vocab)])
        }
      }
    }
  }

  private func run(_ sessions: [Session], tokens: [Int32], mode: Mode) throws {
    try check(sessions, tokens: tokens)
    let n = sessions.count
    uses += 1
    let prepared: any PreparedPlan
    if let i = plans.firstIndex(where: { $0.mode == mode && Self.same($0.sessions, sessions) }) {
      plans[i].lastUse = uses
      prepared = plans[i].prepared
    } else {
      if plans.count >= planCacheSize,
        let oldest = plans.indices.min(by: { plans[$0].lastUse < plans[$1].lastUse })
      {
        plans.remove(at: oldest)
      }
      prepared = try record(sessions, mode: mode)
      plans.append(Entry(sessions: sessions, mode: mode, prepared: prepared, lastUse: uses))
    }
    let recordWords = mode == .sampled ? n * DeviceSampling.recordWords : 0
    if inputScratch.count != 2 * n + recordWords {
      inputScratch = [Int32](repeating: 0, count: 2 * n + recordWords)
    }
    for (i, s) in sessions.enumerated() {
      inputScratch[i] = tokens[i]
      inputScratch[n + i] = Int32(s.position)
    }
    for i in 0..<recordWords { inputScratch[2 * n + i] = records[i] }
    try inputScratch.withUnsafeBufferPointer { inputs in
      guard let profile else { return try prepared.execute(inputs: inputs) }
      for (tag, seconds) in try prepared.executeTimed(inputs: inputs) {
        if let kind = OpKind(rawValue: tag) { profile.record(kind, seconds: seconds) }
      }
    }
  }

  private static func same(_ a: [Session], _ b: [Session]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0 === $1 }
  }

  private func check(_ sessions: [Session], tokens: [Int32]) throws {
    guard !sessions.isEmpty else { throw ModelError.emptyInput }
    guard sessions.count <= maxBatch, tokens.count == sessions.count else {
      throw QuantaError.shapeMismatch(
        op: "BatchDecoder.decode", expected: "1…\(maxBatch) sessions, one token each",
        actual: [sessions.count, tokens.count])
    }
    let vocab = transformer.config.vocabularySize
    for (i, s) in sessions.enumerated() {
      guard s.model === model else {
        throw QuantaError.unsupported(
          op: "batched decode of another model's session", type: "", device: transformer.backend.device)
      }
      guard !sessions[..<i].contains(where: { $0 === s }) else {
        throw QuantaError.invalidBuffer(
          op: "BatchDecoder.decode", reason: "session \(i) appears twice in the batch")
      }
      let id = tokens[i]
      guard id >= 0, Int(id) < vocab else { throw ModelError.invalidToken(id: id, vocabularySize: vocab) }
      guard s.position < s.contextLength else { throw ModelError.contextFull(limit: s.contextLength) }
    }
  }

  /// Records the pass of one token per session (row `i` → `sessions[i]`'s cache) and prepares it.
  private func record(_ sessions: [Session], mode: Mode) throws -> any PreparedPlan {
    let n = sessions.count
    let backend = transformer.backend
    let c = transformer.config
    // Ids, positions, and when sampling the rows' records.
    let words = 2 * n + (mode == .sampled ? n * DeviceSampling.recordWords : 0)
    let block = try IndexTensor(buffer: backend.allocate(byteCount: 4 * words), count: words)
    let recorder = PlanRecorder(inputs: block)
    let context = ForwardContext(
      backend: backend, config: c, matmulOptions: model.options.matmul, recorder: recorder)
    let batch = BatchPositions(ids: try block.slice(0..<n), positions: try block.slice(n..<(2 * n)))
    let a = try Activations(buffers, rows: n, config: c)
    let hidden = try transformer.forward(
      batch: batch, activations: a, lastRowOnly: nil, caches: sessions.map(\.cache), context: context)
    let rows = try logits.rows(0..<n)
    try transformer.logits(hidden, into: rows, context: context)
    switch mode {
    case .logits: break
    case .greedy: recorder.append(.argmax(logits: rows, out: try sampled.slice(0..<n)), .sampling)
    case .sampled:
      recorder.append(
        .sample(logits: rows, records: try block.slice((2 * n)..<words), out: try sampled.slice(0..<n)),
        .sampling)
    }
    return try backend.prepare(
      recorder.plan, options: PlanOptions(replayed: model.options.deviceGraphs, fusion: model.options.fusion))
  }
}
