import CPUKernels
import GGML
import QuantaCore
import Synchronization

// The dense ops of `ComputeBackend` on the CPU: core has validated shapes and types; here each op
// finds its pointers and splits its rows across the thread pool into `CPUOps` calls.
extension CPUBackend {
  func f32(_ t: Tensor, _ op: String) throws -> UnsafeMutablePointer<Float> {
    (try own(t.buffer, op).base + t.byteOffset).assumingMemoryBound(to: Float.self)
  }

  func half(_ t: Tensor, _ op: String) throws -> UnsafeMutablePointer<UInt16> {
    (try own(t.buffer, op).base + t.byteOffset).assumingMemoryBound(to: UInt16.self)
  }

  /// Maps the ops' data errors to `QuantaError` (core has checked ids and positions already, so
  /// these mean a broken invariant, reported rather than trapped on).
  func mapped(_ error: CPUOpsError, _ op: String) -> QuantaError {
    switch error {
    case .rowIdOutOfRange(let id, let rows): return .indexOutOfRange(op: op, index: Int(id), bound: rows)
    case .unsupportedType(let t): return .unsupported(op: op, type: t.name, device: device)
    case .rowLengthNotMultipleOfBlock(let t, let n): return .notBlockMultiple(op: op, type: t, count: n)
    case .positionOutOfRange(let p, let nCtx): return .indexOutOfRange(op: op, index: Int(p), bound: nCtx)
    }
  }

  /// Rows per task for row-wise ops: ~4 tasks per thread, at least enough rows for ~16K values.
  func rowChunk(rows: Int, rowLength: Int) -> Int {
    pool.chunk(for: rows, perThread: 4, minimum: max(1, 16384 / max(rowLength, 1)))
  }

  /// Runs a row op that may throw on every thread and rethrows the first error.
  func parallelRows(
    _ rows: Int, chunk: Int, _ body: (Range<Int>, Int) throws(CPUOpsError) -> Void, op: String
  )
    throws
  {
    let firstError = ErrorBox()
    pool.parallelFor(count: rows, chunk: chunk) { r, thread in
      do throws(CPUOpsError) { try body(r, thread) } catch { firstError.set(error) }
    }
    if let e = firstError.error { throw mapped(e, op) }
  }

  public func getRows(_ table: QTensor, ids: [Int32], into out: Tensor) throws {
    let src = UnsafeRawPointer(try own(table.buffer, "getRows").base + table.byteOffset)
    try gatherRows(
      src, type: table.type, rowLength: table.shape[1], tableRows: table.shape[0], ids: ids, out: out)
  }

  public func getRows(_ table: Tensor, ids: [Int32], into out: Tensor) throws {
    let src = UnsafeRawPointer(try own(table.buffer, "getRows").base + table.byteOffset)
    try gatherRows(
      src, type: table.dtype.ggmlType, rowLength: table.shape[1], tableRows: table.shape[0], ids: ids,
      out: out)
  }

  private func gatherRows(
    _ src: UnsafeRawPointer, type: GGMLType, rowLength: Int, tableRows: Int, ids: [Int32], out: Tensor
  ) throws {
    let o = try f32(out, "getRows")
    try ids.withUnsafeBufferPointer { idp in
      guard let idBase = idp.baseAddress else { return }
      try parallelRows(
        ids.count, chunk: rowChunk(rows: ids.count, rowLength: rowLength),
        { (r, _) throws(CPUOpsError) in
          try CPUOps.getRows(
            table: src, type: type, rowLength: rowLength, tableRows: tableRows, ids: idBase, into: o,
            outRowStride: rowLength, rows: r)
        }, op: "getRows")
    }
  }

  public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, into out: Tensor) throws {
    let n = x.shape.last ?? 1
    let rows = x.count / max(n, 1)
    let (xp, op, wp) = (
      try f32(x, "rmsNorm"), try f32(out, "rmsNorm"), try weight.map { try f32($0, "rmsNorm") }
    )
    pool.parallelFor(count: rows, chunk: rowChunk(rows: rows, rowLength: n)) { r, _ in
      CPUOps.rmsNorm(xp, rowStride: n, weight: wp, into: op, outRowStride: n, n: n, eps: eps, rows: r)
    }
  }

  public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, into out: Tensor) throws {
    let n = x.shape.last ?? 1
    let rows = x.count / max(n, 1)
    let (xp, op) = (try f32(x, "layerNorm"), try f32(out, "layerNorm"))
    let (wp, bp) = (try weight.map { try f32($0, "layerNorm") }, try bias.map { try f32($0, "layerNorm") })
    pool.parallelFor(count: rows, chunk: rowChunk(rows: rows, rowLength: n)) { r, _ in
      CPUOps.layerNorm(
        xp, rowStride: n, weight: wp, bias: bp, into: op, outRowStride: n, n: n, eps: eps, rows: r)
    }
  }

  public func rope(
    _ x: Tensor, positions: [Int32], parameters: RoPEParameters, freqFactors: Tensor?, into out: Tensor
  ) throws {
    let (tokens, heads, headDim) = (x.shape[0], x.shape[1], x.shape[2])
    let (xp, op) = (try f32(x, "rope"), try f32(out, "rope"))
    let ff = try freqFactors.map { UnsafePointer(try f32($0, "rope")) }
    if xp != op { op.update(from: xp, count: x.count) }
    let p = RopeParameters(
      mode: parameters.mode == .neox ? .neox : .normal, nRot: parameters.dimensions,
      freqBase: parameters.freqBase,
      freqScale: parameters.freqScale, attnFactor: parameters.attnFactor, extFactor: parameters.extFactor,
      yarnLow: parameters.yarnLow, yarnHigh: parameters.yarnHigh)
    let cacheCount = tokens * CPUOps.ropeCacheCount(nRot: p.nRot)
    let chunk = pool.chunk(for: tokens, minimum: max(1, 4096 / max(heads * headDim, 1)))
    // Every layer's q and k rotate by the same positions: the cos/sin table (sinf/cosf per token
    // and pair, most of this op's time on a prompt) is computed once per forward pass.
    let key = RopeMemo.Key(
      positions: positions, parameters: p,
      freqFactors: ff.map { Array(UnsafeBufferPointer(start: $0, count: p.nRot / 2)) })
    let cache = ropeMemo.cache(for: key) {
      var values = [Float](repeating: 0, count: cacheCount)
      values.withUnsafeMutableBufferPointer { c in
        positions.withUnsafeBufferPointer { pos in
          pool.parallelFor(count: tokens, chunk: chunk) { t, _ in
            CPUOps.ropeCache(
              positions: pos.baseAddress!, parameters: p, freqFactors: ff, into: c.baseAddress!, tokens: t)
          }
        }
      }
      return values
    }
    let isa = kernels.isa.qkISA
    cache.withUnsafeBufferPointer { c in
      pool.parallelFor(count: tokens, chunk: chunk) { t, _ in
        // CPUKernels' rotation: CPUOps.rope's arithmetic, vectorized (RopeKernelTests).
        qk_rope_f32(
          isa, op + t.lowerBound * heads * headDim, heads * headDim, Int32(t.count), Int32(heads),
          Int32(headDim),
          Int32(p.nRot), p.mode == .neox ? 1 : 0, c.baseAddress! + t.lowerBound * p.nRot)
      }
    }
  }

  func logits(_ s: SoftmaxParameters) -> AttentionLogits {
    AttentionLogits(
      scale: s.scale, softCap: s.softCap ?? 0,
      mask: AttentionMask(causal: s.causal, slidingWindow: s.slidingWindow ?? 0))
  }

  public func softmax(_ x: Tensor, positions: [Int32], parameters: SoftmaxParameters, into out: Tensor) throws
  {
    let n = x.shape.last ?? 1
    let rows = x.count / max(n, 1)
    let (xp, op) = (try f32(x, "softmax"), try f32(out, "softmax"))
    var l = logits(parameters)
    if !parameters.isMasked { l.mask = .none }
    let rowsPerPosition = positions.isEmpty ? 1 : rows / positions.count
    positions.withUnsafeBufferPointer { pos in
      pool.parallelFor(count: rows, chunk: rowChunk(rows: rows, rowLength: n)) { r, _ in
        CPUOps.softmax(
          xp, rowStride: n, into: op, outRowStride: n, n: n, logits: l, queryPositions: pos.baseAddress,
          rowsPerPosition: rowsPerPosition, rows: r)
      }
    }
  }

  public func writeKV(
    keys: Tensor, values: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor
  )
    throws
  {
    let kvDim = keys.shape[1] * keys.shape[2]
    let nCtx = keyCache.shape[0]
    let (kp, vp) = (try f32(keys, "writeKV"), try f32(values, "writeKV"))
    let kc = try own(keyCache.buffer, "writeKV").base + keyCache.byteOffset
    let vc = try own(valueCache.buffer, "writeKV").base + valueCache.byteOffset
    guard let kStore = cacheRowStore(keyCache.type) else {
      throw QuantaError.unsupported(op: "writeKV", type: keyCache.type.name, device: device)
    }
    guard let vStore = cacheRowStore(valueCache.type) else {
      throw QuantaError.unsupported(op: "writeKV", type: valueCache.type.name, device: device)
    }
    let (kRow, vRow) = (
      keyCache.rowByteCount * keyCache.shape[1], valueCache.rowByteCount * valueCache.shape[1]
    )
    try positions.withUnsafeBufferPointer { pos in
      let base = pos.baseAddress!
      try parallelRows(
        positions.count, chunk: rowChunk(rows: positions.count, rowLength: kvDim),
        { (t, _) throws(CPUOpsError) in
          try CPUOps.storeKV(
            kp, srcTokenStride: kvDim, positions: base, into: kc, rowBytes: kRow, nCtx: nCtx, kvDim: kvDim,
            tokens: t, store: kStore)
          try CPUOps.storeKV(
            vp, srcTokenStride: kvDim, positions: base, into: vc, rowBytes: vRow, nCtx: nCtx, kvDim: kvDim,
            tokens: t, store: vStore)
        }, op: "writeKV")
    }
  }

  public func attention(
    query: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor,
    parameters: AttentionParameters,
    into out: Tensor
  ) throws {
    try attention(
      query: query, positions: positions, keyCache: keyCache, valueCache: valueCache, parameters: parameters,
      sinks: nil, into: out)
  }

  public func attention(
    query: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor,
    parameters: AttentionParameters, sinks: Tensor?, into out: Tensor
  ) throws {
    let (tokens, heads, headDim) = (query.shape[0], query.shape[1], query.shape[2])
    var shape = AttentionShape(
      nHead: heads, nKVHead: keyCache.shape[1], headDim: headDim, nKV: parameters.kvLength)
    shape.nTokens = tokens  // the batch size picks the precision path, as in ggml
    let (qp, op) = (try f32(query, "attention"), try f32(out, "attention"))
    let kc = try own(keyCache.buffer, "attention").base + keyCache.byteOffset
    let vc = try own(valueCache.buffer, "attention").base + valueCache.byteOffset
    var l = logits(parameters.softmax)
    if let sinks { l.sinks = try sinks.toArray() }
    let items = tokens * heads
    // Tasks cover whole GQA groups where possible (the op converts each K/V block once per group).
    let chunk = pool.chunk(for: items, perThread: 4, minimum: shape.groupSize, multiple: shape.groupSize)
    guard keyCache.type == .f16, valueCache.type == .f16 else {
      // Any other pair of cache types: read in place (AttentionCacheTypes.swift).
      guard let kr = cacheReader(keyCache.type, kvHeads: shape.nKVHead, headDim: headDim) else {
        throw QuantaError.unsupported(op: "attention", type: keyCache.type.name, device: device)
      }
      guard let vr = cacheReader(valueCache.type, kvHeads: shape.nKVHead, headDim: headDim) else {
        throw QuantaError.unsupported(op: "attention", type: valueCache.type.name, device: device)
      }
      let perThread = CPUOps.cacheAttentionScratchBytes(shape, queryBytes: kr.queryBytes)
      scratch.with(bytes: pool.threadCount * perThread) { raw in
        positions.withUnsafeBufferPointer { pos in
          pool.parallelFor(count: items, chunk: chunk) { r, thread in
            CPUOps.attention(
              q: qp, kCache: kc, vCache: vc, keys: kr, values: vr, positions: pos.baseAddress!, into: op,
              shape: shape, logits: l, items: r, scratch: raw + thread * perThread)
          }
        }
      }
      return
    }
    let (kh, vh) = (kc.assumingMemoryBound(to: UInt16.self), vc.assumingMemoryBound(to: UInt16.self))
    // The prompt kernel has no sinks; with them, prompts take CPUOps.attention's block path.
    if !CPUOps.usesF16Path(shape) && l.sinks == nil {
      // Prompt batches: blocks of queries per converted key block (PromptAttention.swift).
      promptAttention(q: qp, keys: kh, values: vh, positions: positions, shape: shape, logits: l, into: op)
      return
    }
    let perThread = CPUOps.attentionScratchCount(shape)
    scratch.with(bytes: pool.threadCount * perThread * 4) { raw in
      let s = raw.assumingMemoryBound(to: Float.self)
      positions.withUnsafeBufferPointer { pos in
        pool.parallelFor(count: items, chunk: chunk) { r, thread in
          CPUOps.attention(
            q: qp, kCache: kh, vCache: vh, positions: pos.baseAddress!, into: op, shape: shape, logits: l,
            items: r,
            scratch: s + thread * perThread)
        }
      }
    }
  }

  /// Several attentions (batched decode: one per sequence, each a token or a few over its own
  /// cache) as one job: the GQA groups of all of them are the tasks, so both threads share the
  /// work however few heads one sequence has (one call alone is a single task on one thread).
  /// Calls the f16 one-chunk path would not take (other cache types, prompt batches) run one by
  /// one as `attention(query:…)`; the results are those of the calls one by one.
  public func attention(_ calls: [AttentionCall]) throws {
    var batched: [(call: AttentionCall, shape: AttentionShape)] = []
    for c in calls {
      let (tokens, heads, headDim) = (c.query.shape[0], c.query.shape[1], c.query.shape[2])
      var shape = AttentionShape(
        nHead: heads, nKVHead: c.keyCache.shape[1], headDim: headDim, nKV: c.parameters.kvLength)
      shape.nTokens = tokens
      if c.keyCache.type == .f16, c.valueCache.type == .f16, CPUOps.usesF16Path(shape),
        c.positions.count == tokens
      {
        batched.append((c, shape))
      } else {
        try attention(
          query: c.query, positions: c.positions, keyCache: c.keyCache, valueCache: c.valueCache,
          parameters: c.parameters, into: c.out)
      }
    }
    guard batched.count > 1 else {
      for (c, _) in batched {
        try attention(
          query: c.query, positions: c.positions, keyCache: c.keyCache, valueCache: c.valueCache,
          parameters: c.parameters, into: c.out)
      }
      return
    }
    // Pointers of every call, checked before any work; then tasks of (call, whole GQA groups).
    struct Job {
      var q: UnsafePointer<Float>
      var out: UnsafeMutablePointer<Float>
      var k: UnsafePointer<UInt16>
      var v: UnsafePointer<UInt16>
      var positions: [Int32]
      var shape: AttentionShape
      var logits: AttentionLogits
    }
    var jobs: [Job] = []
    var tasks: [(job: Int, items: Range<Int>)] = []
    var perThread = 0
    for (c, shape) in batched {
      let k = (try own(c.keyCache.buffer, "attention").base + c.keyCache.byteOffset)
      let v = (try own(c.valueCache.buffer, "attention").base + c.valueCache.byteOffset)
      jobs.append(
        Job(
          q: UnsafePointer(try f32(c.query, "attention")), out: try f32(c.out, "attention"),
          k: UnsafePointer(k.assumingMemoryBound(to: UInt16.self)),
          v: UnsafePointer(v.assumingMemoryBound(to: UInt16.self)), positions: c.positions, shape: shape,
          logits: logits(c.parameters.softmax)))
      let items = shape.nTokens * shape.nHead
      var start = 0
      while start < items {
        tasks.append((jobs.count - 1, start..<min(items, start + shape.groupSize)))
        start += shape.groupSize
      }
      perThread = max(perThread, CPUOps.attentionScratchCount(shape))
    }
    scratch.with(bytes: pool.threadCount * perThread * 4) { raw in
      let s = raw.assumingMemoryBound(to: Float.self)
      pool.parallelFor(tasks: tasks.count) { t, thread in
        let (j, items) = tasks[t]
        let job = jobs[j]
        job.positions.withUnsafeBufferPointer { pos in
          CPUOps.attention(
            q: job.q, kCache: job.k, vCache: job.v, positions: pos.baseAddress!, into: job.out,
            shape: job.shape,
            logits: job.logits, items: items, scratch: s + thread * perThread)
        }
      }
    }
  }

  /// Element-wise ops split flat ranges of the tensor across threads.
  private func flat(_ count: Int, _ body: (Range<Int>) -> Void) {
    pool.parallelFor(count: count, chunk: pool.chunk(for: count, minimum: 1 << 14, multiple: 16)) { r, _ in
      body(r)
    }
  }

  public func silu(_ x: Tensor, into out: Tensor) throws {
    let (xp, op) = (try f32(x, "silu"), try f32(out, "silu"))
    flat(x.count) { r in CPUOps.silu(xp + r.lowerBound, into: op + r.lowerBound, count: r.count) }
  }

  public func gelu(_ x: Tensor, into out: Tensor) throws {
    let (xp, op) = (try f32(x, "gelu"), try f32(out, "gelu"))
    flat(x.count) { r in CPUOps.gelu(xp + r.lowerBound, into: op + r.lowerBound, count: r.count) }
  }

  public func swiglu(gate: Tensor, up: Tensor, into out: Tensor) throws {
    let (g, u, op) = (try f32(gate, "swiglu"), try f32(up, "swiglu"), try f32(out, "swiglu"))
    flat(gate.count) { r in
      CPUOps.swiglu(gate: g + r.lowerBound, up: u + r.lowerBound, into: op + r.lowerBound, count: r.count)
    }
  }

  public func geglu(gate: Tensor, up: Tensor, into out: Tensor) throws {
    let (g, u, op) = (try f32(gate, "geglu"), try f32(up, "geglu"), try f32(out, "geglu"))
    flat(gate.count) { r in
      CPUOps.geglu(gate: g + r.lowerBound, up: u + r.lowerBound, into: op + r.lowerBound, count: r.count)
    }
  }

  public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
    try binary(a, b, out, "add", flatOp: CPUOps.add, rowOp: CPUOps.add)
  }

  public func mul(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
    try binary(a, b, out, "mul", flatOp: CPUOps.mul, rowOp: CPUOps.mul)
  }

  private func binary(
    _ a: Tensor, _ b: Tensor, _ out: Tensor, _ name: String,
    flatOp: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void,
    rowOp: (
      UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int, Int, Range<Int>
    ) -> Void
  ) throws {
    let (ap, bp, op) = (try f32(a, name), try f32(b, name), try f32(out, name))
    if a.count == b.count {
      flat(a.count) { r in flatOp(ap + r.lowerBound, bp + r.lowerBound, op + r.lowerBound, r.count) }
    } else {
      // `b` is a suffix of `a`'s shape: one row of b.count values broadcast over the rows of a.
      let n = b.count
      let rows = a.count / n
      pool.parallelFor(count: rows, chunk: rowChunk(rows: rows, rowLength: n)) { r, _ in
        rowOp(ap, n, bp, 0, op, n, n, r)
      }
    }
  }

  public func softcap(_ x: Tensor, cap: Float, into out: Tensor) throws {
    let (xp, op) = (try f32(x, "softcap"), try f32(out, "softcap"))
    flat(x.count) { r in CPUOps.softcap(xp + r.lowerBound, cap: cap, into: op + r.lowerBound, count: r.count)
    }
  }

  public func hadamard(_ x: Tensor, block: Int, into out: Tensor) throws {
    let (xp, op) = (try f32(x, "hadamard"), try f32(out, "hadamard"))
    let runs = x.count / block
    pool.parallelFor(count: runs, chunk: rowChunk(rows: runs, rowLength: block)) { r, _ in
      let offset = r.lowerBound * block
      CPUOps.hadamard(xp + offset, into: op + offset, block: block, count: r.count * block)
    }
  }

  public func scale(_ x: Tensor, by factor: Float, into out: Tensor) throws {
    let (xp, op) = (try f32(x, "scale"), try f32(out, "scale"))
    flat(x.count) { r in CPUOps.scale(xp + r.lowerBound, by: factor, into: op + r.lowerBound, count: r.count)
    }
  }
}

/// The first error thrown on any thread of a parallel op.
final class ErrorBox: Sendable {
  private let stored = Mutex<CPUOpsError?>(nil)
  func set(_ e: CPUOpsError) { stored.withLock { if $0 == nil { $0 = e } } }
  var error: CPUOpsError? { stored.withLock { $0 } }
}
