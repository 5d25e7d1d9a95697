import QuantaCore

/// A forward plan on a GPU: the ops encoded as kernel launches over the plan's own tensors, one q8_1
/// scratch for every matmul, the Int32 inputs uploaded with one asynchronous copy. A replayed plan
/// (decode) runs eagerly once, is recorded into a device graph on its second execution and launched
/// as one graph from then on; nothing in a step allocates, uploads per op or synchronizes.
final class GPUPreparedPlan: PreparedPlan {
  let gpu: GPUBackend
  let plan: ForwardPlan
  let replayed: Bool
  /// q8_1 activations of the matmuls (the largest one's size).
  private let scratch: GPUBuffer?
  /// The argmax's per-CTA partial results and counters (zero-filled by allocate).
  private let argmaxScratch: GPUBuffer?
  /// The counter of the short-row mat-vecs with a row-chain tail (zero-filled by allocate; each launch
  /// leaves it at zero again); nil where none can run.
  private let chainCounter: GPUBuffer?
  /// The sampling op's per-CTA candidates and counters (zero-filled by allocate).
  private let sampleScratch: GPUBuffer?
  /// The expert matmuls' grouping of (token, slot) pairs per expert (the largest one's size).
  private let expertScratch: GPUBuffer?
  /// The ids whose grouping `expertScratch` holds, while an encoding runs (gate, up and down of a
  /// layer share one; routing the next layer rewrites the ids).
  private var groupedIDs: IndexTensor?
  /// Several sequences' writeKV / attention ops run as one launch each (GPUPlanSequences.swift), by
  /// the index of the group's first op; empty without fusion.
  private let sequenceGroups: [Int: SequenceGroup]
  /// Host staging of the inputs: a stable address the asynchronous copy reads.
  private let staging: UnsafeMutableBufferPointer<Int32>
  private var graph: VendorHandle?
  /// Fused kernels for known op chains (off: every op by itself, for comparisons).
  let fusion: Bool
  private var executions = 0

  init(_ plan: ForwardPlan, gpu: GPUBackend, options: PlanOptions) throws {
    self.gpu = gpu
    self.plan = plan
    replayed = options.replayed
    fusion = options.fusion
    _ = try gpu.gpuBuffer(plan.inputs.buffer, "plan inputs")
    var bytes = 0, groupBytes = 0
    for step in plan.steps {
      switch step.op {
      case .matmul(let x, let w, let o, _):
        bytes = max(bytes, gpu.matmulScratchBytesWithPartials(x, weights: w, options: o))
      case .matmulID(let x, let w, let ids, _, _):
        bytes = max(bytes, GPUExperts.activationBytes(x))
        groupBytes = max(groupBytes, GPUExperts.groupScratchBytes(pairs: ids.count, experts: w.shape[0]))
      case .attention(_, _, _, _, let s, _) where !s.causal,
        .attentionSinks(_, _, _, _, let s, _, _) where !s.causal:
        throw QuantaError.unsupported(
          op: "plan attention without a causal mask", type: "f16", device: gpu.device)
      default: break
      }
    }
    scratch = bytes > 0 ? try gpu.gpuBuffer(gpu.allocate(byteCount: bytes), "plan scratch") : nil
    expertScratch =
      groupBytes > 0 ? try gpu.gpuBuffer(gpu.allocate(byteCount: groupBytes), "plan expert scratch") : nil
    let argmaxRows = plan.steps.reduce(0) { r, step in
      if case .argmax(_, let out) = step.op { return max(r, out.count) }
      return r
    }
    argmaxScratch =
      argmaxRows > 0
      ? try gpu.gpuBuffer(
        gpu.allocate(byteCount: ArgmaxGeometry.scratchBytes(rows: argmaxRows)), "plan argmax scratch") : nil
    let sampleBytes = plan.steps.reduce(0) { r, step in
      if case .sample(let logits, _, let out) = step.op {
        return max(r, SampleGeometry.scratchBytes(rows: out.count, n: logits.shape.last ?? 0))
      }
      return r
    }
    sampleScratch =
      sampleBytes > 0
      ? try gpu.gpuBuffer(gpu.allocate(byteCount: sampleBytes), "plan sampling scratch") : nil
    chainCounter =
      options.fusion && gpu.configuration.shortRowMatVec && gpu.configuration.matVecTails
      ? try gpu.gpuBuffer(gpu.allocate(byteCount: 16), "plan row-chain counter") : nil
    sequenceGroups = options.fusion ? try SequenceGroup.find(in: plan.steps, gpu: gpu) : [:]
    staging = .allocate(capacity: max(plan.inputs.count, 1))
    staging.initialize(repeating: 0)
  }

  deinit {
    if let graph { gpu.context.api.destroyGraph(graph) }
    staging.deallocate()
  }

  func execute(inputs: UnsafeBufferPointer<Int32>) throws {
    try upload(inputs)
    // The first execution runs eagerly: it loads the kernel module and resolves every kernel, which
    // must not happen while a stream is being recorded. The second records the graph.
    guard replayed, executions > 0 else {
      executions += 1
      return try encodeAll { _ in }
    }
    executions += 1
    if graph == nil { graph = try record() }
    let g = graph!
    try gpu.call { () throws(GPUError) in
      try gpu.context.run { () throws(GPUError) in
        try gpu.context.api.launchGraph(g, stream: gpu.context.stream)
      }
    }
  }

  /// Device time per op from events recorded between the kernels (no synchronize between ops).
  func executeTimed(inputs: UnsafeBufferPointer<Int32>) throws -> [(tag: Int, seconds: Double)] {
    try upload(inputs)
    let ctx = gpu.context
    let api = ctx.api
    var events: [VendorHandle] = []
    defer { for e in events { api.destroyEvent(e) } }
    func mark() throws {
      try gpu.call { () throws(GPUError) in
        try ctx.run { () throws(GPUError) in
          let e = try api.createEvent()
          events.append(e)
          try api.record(event: e, stream: ctx.stream)
        }
      }
    }
    try mark()
    var groups: [[Int]] = []
    try encodeAll { group in
      groups.append(group.map(\.tag))
      try mark()
    }
    try gpu.synchronize()
    var out: [(tag: Int, seconds: Double)] = []
    for (g, tags) in groups.enumerated() {
      let ms = try gpu.call { () throws(GPUError) -> Float in
        try ctx.run { () throws(GPUError) -> Float in
          try api.elapsedMilliseconds(from: events[g], to: events[g + 1])
        }
      }
      out.append((tags[0], Double(ms) / 1000))
      for t in tags.dropFirst() { out.append((t, 0)) }
    }
    return out
  }

  /// One asynchronous host → device copy of the inputs, ordered before the step's kernels.
  private func upload(_ inputs: UnsafeBufferPointer<Int32>) throws {
    guard inputs.count == plan.inputs.count else {
      throw QuantaError.shapeMismatch(
        op: "plan inputs", expected: "[\(plan.inputs.count)]", actual: [inputs.count])
    }
    guard inputs.count > 0 else { return }
    for i in 0..<inputs.count { staging[i] = inputs[i] }
    let dst = try gpu.gpuBuffer(plan.inputs.buffer, "plan inputs").pointer.advanced(
      by: plan.inputs.byteOffset)
    let src = UnsafeRawPointer(staging.baseAddress!)
    let bytes = 4 * inputs.count
    try gpu.call { () throws(GPUError) in
      try gpu.context.run { () throws(GPUError) in
        try gpu.context.api.copyToDevice(dst, from: src, bytes: bytes, stream: gpu.context.stream)
      }
    }
  }

  /// Records every op into a device graph (kernels resolved first: module loading is not recorded).
  private func record() throws -> VendorHandle {
    let ctx = gpu.context
    try gpu.call { () throws(GPUError) in
      try ctx.run { () throws(GPUError) in try ctx.api.beginCapture(stream: ctx.stream) }
    }
    do {
      try encodeAll { _ in }
    } catch {
      // End the recording whatever happened, so the stream is usable again.
      if let g = try? ctx.api.endCapture(stream: ctx.stream) { ctx.api.destroyGraph(g) }
      throw error
    }
    return try gpu.call { () throws(GPUError) -> VendorHandle in
      try ctx.run { () throws(GPUError) -> VendorHandle in try ctx.api.endCapture(stream: ctx.stream) }
    }
  }

  /// Issues the ops in order, fused where a known chain starts (see `encodeFused`). `issued` gets
  /// the steps each kernel group (one op, or a fused chain) covered, once it is issued.
  private func encodeAll(_ issued: (ArraySlice<ForwardPlan.Step>) throws -> Void) throws {
    var quantizedInput: Tensor?
    groupedIDs = nil
    var i = 0
    let steps = plan.steps
    while i < steps.count {
      if fusion, let used = try encodeFused(at: i, quantizedInput: &quantizedInput) {
        try issued(steps[i..<(i + used)])
        i += used
        continue
      }
      try encode(steps[i].op, quantizedInput: &quantizedInput)
      try issued(steps[i..<(i + 1)])
      i += 1
    }
  }

  private func pointer(_ t: IndexTensor) throws -> DevicePointer {
    try gpu.gpuBuffer(t.buffer, "plan").pointer.advanced(by: t.byteOffset)
  }

  /// Issues one op. `quantizedInput`: the matmul input the scratch holds as q8_1, kept across
  /// consecutive matmuls of the same input (q/k/v, gate/up) so it is quantized once.
  private func encode(_ op: PlanOp, quantizedInput: inout Tensor?) throws {
    let g = gpu
    if case .matmul(let x, let w, let options, let out) = op {
      let same = quantizedInput.map { Self.sameView($0, x) } ?? false
      try g.matmul(
        x, weights: w, options: options, into: out, scratch: scratch?.pointer ?? .null, quantized: same)
      quantizedInput = GPUBackend.matmulScratchBytes(x, weights: w, options: options) > 0 ? x : nil
      return
    }
    if case .matmulID(let x, let w, let ids, let options, let out) = op {
      // The q8_1 rows of x are those of the same memory read as rows of the same length (the router's
      // matmul quantized the layer's input already).
      let same = quantizedInput.map { Self.sameRows($0, x) } ?? false
      let grouped = groupedIDs.map { $0.buffer === ids.buffer && $0.byteOffset == ids.byteOffset } ?? false
      if try g.matmulID(
        x, weights: w, ids: ids, options: options, into: out, scratch: scratch?.pointer ?? .null,
        quantized: same,
        groups: expertScratch?.pointer ?? .null, grouped: grouped)
      {
        groupedIDs = ids
      }
      // Dense experts read x as f32: the scratch is left as it was.
      if DType(w.type) == nil { quantizedInput = x }
      return
    }
    if case .routeExperts(let logits, let r, let ids, let w) = op {
      try g.routeExperts(logits, routing: r, ids: ids, weights: w)
      groupedIDs = nil
      // The scratch still holds the q8_1 rows of the input unless routing wrote into its memory.
      if let q = quantizedInput, q.buffer === ids.buffer || q.buffer === w.buffer { quantizedInput = nil }
      return
    }
    quantizedInput = nil
    switch op {
    case .matmul: break
    case .getRows(let table, let ids, let out):
      try g.getRows(table, ids: pointer(ids), count: ids.count, into: out)
    case .getRowsDense(let table, let ids, let out):
      try g.getRows(table, ids: pointer(ids), count: ids.count, into: out)
    case .rmsNorm(let x, let w, let eps, let out): try g.rmsNorm(x, weight: w, eps: eps, into: out)
    case .rope(let x, let positions, let p, let f, let out):
      try g.rope(x, positions: pointer(positions), parameters: p, freqFactors: f, into: out)
    case .writeKV(let k, let v, let positions, let kc, let vc):
      try g.writeKV(keys: k, values: v, positions: pointer(positions), keyCache: kc, valueCache: vc)
    case .attention(let q, let positions, let kc, let vc, let s, let out):
      // Every cache row is in range; the causal mask bounds each query by its position.
      try g.attention(
        query: q, positions: pointer(positions), keyCache: kc, valueCache: vc, kvLength: kc.shape[0],
        softmax: s,
        into: out)
    case .swiglu(let a, let b, let out): try g.swiglu(gate: a, up: b, into: out)
    case .geglu(let a, let b, let out): try g.geglu(gate: a, up: b, into: out)
    case .add(let a, let b, let out): try g.add(a, b, into: out)
    case .mul(let a, let b, let out): try g.mul(a, b, into: out)
    case .scale(let x, let f, let out): try g.scale(x, by: f, into: out)
    case .softcap(let x, let cap, let out): try g.softcap(x, cap: cap, into: out)
    case .hadamard(let x, let block, let out): try g.hadamard(x, block: block, into: out)
    case .routeExperts, .matmulID: break  // above
    case .attentionSinks(let q, let positions, let kc, let vc, let s, let sinks, let out):
      try g.attention(
        query: q, positions: pointer(positions), keyCache: kc, valueCache: vc, kvLength: kc.shape[0],
        softmax: s, sinks: sinks, into: out)
    case .swigluOAI(let gate, let up, let alpha, let limit, let out):
      try g.swigluOAI(gate: gate, up: up, alpha: alpha, limit: limit, into: out)
    case .addID(let x, let bias, let ids, let out): try g.addID(x, bias: bias, ids: pointer(ids), into: out)
    case .mixExperts(let x, let w, let out): try g.mixExperts(x, weights: w, into: out)
    case .argmax(let logits, let out):
      try g.argmax(logits, into: pointer(out), rows: out.count, scratch: argmaxScratch?.pointer ?? .null)
    case .sample(let logits, let records, let out):
      try g.sample(
        logits, records: records, into: pointer(out), rows: out.count,
        scratch: sampleScratch?.pointer ?? .null)
    }
  }

  static func sameView(_ a: Tensor, _ b: Tensor) -> Bool {
    a.buffer === b.buffer && a.byteOffset == b.byteOffset && a.shape == b.shape && a.dtype == b.dtype
  }

  /// The same memory as rows of the same length (a reshaped view of it).
  static func sameRows(_ a: Tensor, _ b: Tensor) -> Bool {
    a.buffer === b.buffer && a.byteOffset == b.byteOffset && a.count == b.count
      && a.shape.last == b.shape.last
      && a.dtype == b.dtype
  }
}

extension GPUBackend {
  /// Plans run `.sample` here (sample.cu): a step returns the sampled ids, not the logits.
  public var samplesOnDevice: Bool { true }

  public func prepare(_ plan: ForwardPlan, options: PlanOptions) throws -> any PreparedPlan {
    try GPUPreparedPlan(plan, gpu: self, options: options)
  }

  /// Row-wise argmax of f32 `logits` `[rows, n]` → `rows` Int32 at `out` (first index on ties).
  /// `scratch`: `ArgmaxGeometry.scratchBytes(rows:)`, zero-filled when allocated; each launch leaves
  /// its counters at zero again.
  func argmax(_ logits: Tensor, into out: DevicePointer, rows: Int, scratch: DevicePointer) throws {
    let n = logits.shape.last ?? 0
    guard rows > 0, n > 0 else { return }
    guard n < Int(Int32.max) else {
      throw QuantaError.unsupported(op: "argmax of rows of \(n) values", type: "f32", device: device)
    }
    let parts = ArgmaxGeometry.parts(n)
    var args = KernelArguments()
    args.append(try ptr(logits, "argmax"))
    args.append(out)
    args.append(Int64(n))
    let counters = scratch
    let values = counters.advanced(by: 4 * rows)
    args.append(values)
    args.append(values.advanced(by: 4 * rows * ArgmaxGeometry.maxParts))
    args.append(counters)
    try launch("argmax_f32", grid: (parts, rows, 1), block: (ArgmaxGeometry.threads, 1, 1), args)
  }
}

extension GPUBackend {
  /// One sampled id per row of f32 `logits` `[rows, n]` → `rows` Int32 at `out`, each row by its
  /// `DeviceSampling` record in `records` (sample.cu). `scratch`: `SampleGeometry.scratchBytes`,
  /// zero-filled when allocated; each launch leaves its counters at zero again.
  func sample(
    _ logits: Tensor, records: IndexTensor, into out: DevicePointer, rows: Int, scratch: DevicePointer
  )
    throws
  {
    let n = logits.shape.last ?? 0
    guard rows > 0, n > 0 else { return }
    guard n <= SampleGeometry.maxVocabulary, logits.dtype == .f32, logits.isContiguous else {
      throw QuantaError.unsupported(
        op: "sampling rows of \(n) values", type: "\(logits.dtype)", device: device)
    }
    guard records.count >= rows * DeviceSampling.recordWords, logits.count >= rows * n else {
      throw QuantaError.shapeMismatch(
        op: "sample", expected: "\(rows) rows of \(n) logits and \(DeviceSampling.recordWords)-word records",
        actual: [logits.count, records.count])
    }
    let parts = SampleGeometry.parts(n)
    var args = KernelArguments()
    args.append(try ptr(logits, "sample"))
    args.append(try ptr(records, "sample"))
    args.append(out)
    args.append(Int64(n))
    let stats = scratch.advanced(by: SampleGeometry.counterBytes(rows: rows))
    args.append(stats)
    args.append(stats.advanced(by: SampleGeometry.statBytes * rows * parts))
    args.append(scratch)
    try launch("sample_f32", grid: (parts, rows, 1), block: (SampleGeometry.threads, 1, 1), args)
  }
}

/// Launch geometry of `sample_f32` (sample.cu: SAMPLE_THREADS, SAMPLE_SLICE, SAMPLE_MAX_PARTS): a row
/// is split into CTAs of `slice` logits each.
enum SampleGeometry {
  static let threads = 256
  /// Logits per CTA: their 64-bit keys fill 32 KB of shared memory.
  static let slice = 4096
  static let maxParts = 256
  static var maxVocabulary: Int { slice * maxParts }
  static func parts(_ n: Int) -> Int { max(1, (n + slice - 1) / slice) }
  /// `sample_part`: a float, an Int32 and a double.
  static let statBytes = 16
  /// A UInt32 counter per row, padded to 16 bytes.
  static func counterBytes(rows: Int) -> Int { (4 * rows + 15) / 16 * 16 }
  /// Counters, then per (row, part) the stats, then `DeviceSampling.maxCandidates` UInt64 keys.
  static func scratchBytes(rows: Int, n: Int) -> Int {
    counterBytes(rows: rows) + rows * parts(n) * (statBytes + 8 * DeviceSampling.maxCandidates)
  }
}

/// Launch geometry of `argmax_f32` (dense_ops.cu): a row is split over `parts(n)` CTAs.
enum ArgmaxGeometry {
  static let threads = 256
  /// Values per CTA aimed at: 16 per thread, a few 16-byte loads in flight each.
  static let valuesPerPart = 16 * threads
  static let maxParts = 128
  static func parts(_ n: Int) -> Int { min(max(1, (n + valuesPerPart - 1) / valuesPerPart), maxParts) }
  /// Per row: a counter (UInt32), then `maxParts` values (Float) and indices (Int32).
  static func scratchBytes(rows: Int) -> Int { rows * (4 + 8 * maxParts) }
}

// MARK: Fused chains

extension GPUPreparedPlan {
  private func op(_ i: Int) -> PlanOp? { i < plan.steps.count ? plan.steps[i].op : nil }

  /// The next op reads `t` as the input of a quantized matmul (q8_1 through the scratch).
  private func quantizedMatmul(at i: Int, reading t: Tensor) -> Bool {
    guard case .matmul(let x, let w, let o, _) = op(i), Self.sameView(x, t) else { return false }
    return GPUBackend.matmulScratchBytes(x, weights: w, options: o) > 0 && w.rowLength == t.shape.last
  }

  /// Encodes the fused chain starting at step `i`, if one does; returns how many ops it covered.
  func encodeFused(at i: Int, quantizedInput: inout Tensor?) throws -> Int? {
    if let group = sequenceGroups[i] {
      try encode(group, at: i, quantizedInput: &quantizedInput)
      return group.count
    }
    if let (n, q) = try encodeMatVecRowChain(at: i, quantizedInput: quantizedInput) {
      quantizedInput = q
      return n
    }
    if let n = try encodeRopeChain(at: i) {
      quantizedInput = nil
      return n
    }
    if let n = try encodeGLU(at: i) {
      quantizedInput = nil  // set again below when the glu wrote the scratch
      if case .swiglu(_, _, let out) = op(i) { quantizedInput = out }
      if case .geglu(_, _, let out) = op(i) { quantizedInput = out }
      return n
    }
    if let (n, q) = try encodeRowChain(at: i) {
      quantizedInput = q
      return n
    }
    if let x = try encodeAttentionQuantized(at: i) {
      quantizedInput = x
      return 1
    }
    if let n = try encodeSharedMatVec(at: i, quantizedInput: &quantizedInput) { return n }
    return nil
  }

  /// Several sequences' writeKV or attention ops in one launch each. The attention writes its output
  /// as q8_1 too when the next op quantizes it for a matmul (as `encodeAttentionQuantized`).
  private func encode(_ group: SequenceGroup, at i: Int, quantizedInput: inout Tensor?) throws {
    let caches = group.table.pointer
    guard case .attention(let s) = group.kind else {
      try gpu.writeKV(
        keys: group.first, values: group.second, positions: pointer(group.positions),
        keyCache: group.keyCache, valueCache: group.valueCache, sequenceCaches: caches)
      return
    }
    let (q, out) = (group.first, group.second)
    // The per-(token, head) kernel (the only one the table serves) writes whole 32-value blocks.
    let reader = q.shape[2] % 32 == 0 ? quantizedReader(of: out, at: i + group.count) : nil
    quantizedInput = reader
    let quantized = reader != nil ? scratch?.pointer ?? .null : .null
    try gpu.attention(
      query: q, positions: pointer(group.positions), keyCache: group.keyCache, valueCache: group.valueCache,
      kvLength: group.keyCache.shape[0], softmax: s, sinks: group.sinks, into: out, quantized: quantized,
      sequenceCaches: caches)
  }

  /// The view of an attention's output `out` that op `i` reads as a quantized matmul's input (its
  /// `[tokens, heads · hd]` view), when the scratch holds its q8_1 blocks: the attention may write them.
  private func quantizedReader(of out: Tensor, at i: Int) -> Tensor? {
    guard let scratch, case .matmul(let x, _, _, _) = op(i), x.buffer === out.buffer,
      x.byteOffset == out.byteOffset, x.count == out.count, x.dtype == out.dtype,
      quantizedMatmul(at: i, reading: x), scratch.byteCount >= out.count / 32 * 36
    else { return nil }
    return x
  }

  /// Attention whose output (`[tokens, heads, hd]`) the next op quantizes for a matmul, as its
  /// `[tokens, heads · hd]` view: the q8_1 blocks written with it. Returns that view.
  private func encodeAttentionQuantized(at i: Int) throws -> Tensor? {
    let attention: (Tensor, IndexTensor, QTensor, QTensor, SoftmaxParameters, Tensor?, Tensor)
    switch op(i) {
    case .attention(let q, let positions, let kc, let vc, let s, let out):
      attention = (q, positions, kc, vc, s, nil, out)
    case .attentionSinks(let q, let positions, let kc, let vc, let s, let sinks, let out):
      attention = (q, positions, kc, vc, s, sinks, out)
    default: return nil
    }
    let (q, positions, kc, vc, s, sinks, out) = attention
    guard let scratch, let x = quantizedReader(of: out, at: i + 1),
      GPUBackend.attentionWritesQ8_1(
        tokens: q.shape[0], headDim: q.shape[2], f16Caches: kc.type == .f16 && vc.type == .f16)
    else { return nil }
    try gpu.attention(
      query: q, positions: pointer(positions), keyCache: kc, valueCache: vc, kvLength: kc.shape[0],
      softmax: s, sinks: sinks,
      into: out, quantized: scratch.pointer)
    return x
  }

  /// Consecutive mat-vecs of one input through weights of one type and row length (q/k/v, gate/up):
  /// one launch of the per-type kernel over all of them (GPUMatVec.maxSharedMatrices at most).
  private func encodeSharedMatVec(at start: Int, quantizedInput: inout Tensor?) throws -> Int? {
    guard case .matmul(let x, let w0, let o0, let out0) = op(start), let scratch,
      DType(w0.type) == nil, o0.path != .dequantize
    else { return nil }
    let g = gpu
    let k = w0.rowLength
    let m = x.count / max(k, 1)
    guard k > 0, k % 32 == 0, (1...GPUMatVec.maxColumns).contains(m),
      scratch.byteCount >= GPUBackend.matmulScratchBytes(x, weights: w0, options: o0),
      GPUMatVec.hasDotKernel(w0.type, weights: try g.ptr(w0, "matmul"))
    else { return nil }
    var shared: [(weights: DevicePointer, out: DevicePointer, n: Int)] = []
    var i = start + 1
    while shared.count < GPUMatVec.maxSharedMatrices - 1,
      case .matmul(let xi, let wi, let oi, let outi) = op(i),
      Self.sameView(xi, x), wi.type == w0.type, wi.rowLength == k, oi.path == o0.path, wi.rowCount > 0
    {
      let p = try g.ptr(wi, "matmul")
      guard GPUMatVec.hasDotKernel(wi.type, weights: p) else { break }
      shared.append((p, try g.ptr(outi, "matmul"), wi.rowCount))
      i += 1
    }
    guard !shared.isEmpty, w0.rowCount > 0 else { return nil }
    if !(quantizedInput.map { Self.sameView($0, x) } ?? false) {
      try g.quantizeQ8_1(x, k: k, m: m, into: scratch.pointer)
    }
    try g.matVecViaQ8_1(
      type: w0.type, weights: try g.ptr(w0, "matmul"), activations: scratch.pointer,
      out: try g.ptr(out0, "matmul"),
      k: k, n: w0.rowCount, m: m, shared: shared)
    quantizedInput = x
    return i - start
  }

  /// `[rmsNorm(b → t)] [add(a, v → s)] [rmsNorm(v → y)] [then a quantized matmul of the last value]`:
  /// the stages `fused_norm_add_norm_q8_1` (and the short-row mat-vec's tail) take, with their tensors.
  struct RowChainStages {
    var flags: Int32 = 0
    var b: Tensor?, a: Tensor?, w1: Tensor?, w2: Tensor?, t: Tensor?, sOut: Tensor?, y: Tensor?
    var eps1: Float = 0, eps2: Float = 0
  }
  struct RowChain {
    var stages: RowChainStages
    /// Plan ops covered.
    var steps: Int
    /// The chain's last value, and that value when the next op reads it as q8_1 (`RowChain.quant`).
    var value: Tensor
    var quantized: Tensor?
    static let norm1: Int32 = 1, add: Int32 = 2, norm2: Int32 = 4, quant: Int32 = 8
    var n: Int { value.shape.last ?? 0 }
    var rows: Int { value.count / max(n, 1) }
  }

  /// The row chain starting at step `start` (any non-empty set of stages; the kernel holds a row in
  /// registers as 16-byte vectors). `input`: the chain's first value must be this tensor (b), which a
  /// lone `add` may take as either operand.
  private func rowChain(at start: Int, input: Tensor? = nil) -> RowChain? {
    var i = start
    var c = RowChainStages()
    var value: Tensor?  // the chain's current value
    if case .rmsNorm(let x, let w, let eps, let out) = op(i), x.shape == out.shape,
      input.map({ Self.sameView($0, x) }) ?? true
    {
      c.flags |= RowChain.norm1
      c.b = x; c.w1 = w; c.eps1 = eps; c.t = out; value = out
      i += 1
    }
    if case .add(let l, let r, let out) = op(i), l.shape == r.shape, l.shape == out.shape {
      if let v = value ?? input {
        if Self.sameView(v, r), !Self.sameView(v, l) {
          c.a = l
        } else if Self.sameView(v, l), !Self.sameView(v, r) {
          c.a = r
        }
        if value == nil, c.a != nil { c.b = v }
      } else {
        c.b = r; c.a = l
      }
      if c.a != nil {
        c.flags |= RowChain.add
        c.sOut = out; value = out
        i += 1
      }
    }
    if case .rmsNorm(let x, let w, let eps, let out) = op(i), x.shape == out.shape,
      (value ?? input).map({ Self.sameView($0, x) }) ?? true
    {
      if value == nil { c.b = x }
      c.flags |= RowChain.norm2
      c.w2 = w; c.eps2 = eps; c.y = out; value = out
      i += 1
    }
    guard let v = value, c.b != nil, let n = v.shape.last, n > 0 else { return nil }
    var chain = RowChain(stages: c, steps: i - start, value: v)
    if n % 32 == 0, quantizedMatmul(at: i, reading: v), let scratch, scratch.byteCount >= v.count / 32 * 36 {
      chain.stages.flags |= RowChain.quant
      chain.quantized = v
    }
    guard n % 4 == 0, n <= GPUPlanGeometry.rowMaxValues else { return nil }
    return chain
  }

  /// The chain's tensors as the kernels take them (b, a, w1, w2, t, s, y, then the q8_1 output), or nil
  /// when one is not 16-byte aligned.
  private func rowChainPointers(_ c: RowChain) throws -> [DevicePointer]? {
    let g = gpu, s = c.stages
    let vectors = try [s.b, s.a, s.w1, s.w2, s.t, s.sOut, s.y].map { try g.optionalPointer($0, "fused") }
    guard vectors.allSatisfy({ $0.address % 16 == 0 }) else { return nil }
    return vectors + [c.quantized != nil ? scratch!.pointer : .null]
  }

  /// The chain's scalars after its tensors (and fused_norm_add_norm_q8_1's n): eps1, eps2, flags.
  private func appendRowChainScalars(_ c: RowChain, to args: inout KernelArguments) {
    args.append(c.stages.eps1)
    args.append(c.stages.eps2)
    args.append(c.stages.flags)
  }

  /// A row chain of at least two stages as one `fused_norm_add_norm_q8_1` launch (one stage alone is
  /// the plain op).
  private func encodeRowChain(at start: Int) throws -> (Int, Tensor?)? {
    guard let c = rowChain(at: start), c.stages.flags.nonzeroBitCount >= 2,
      let pointers = try rowChainPointers(c)
    else { return nil }
    var args = KernelArguments()
    for p in pointers { args.append(p) }
    args.append(Int64(c.n))
    appendRowChainScalars(c, to: &args)
    try gpu.launch(
      "fused_norm_add_norm_q8_1", grid: (c.rows, 1, 1), block: (GPUPlanGeometry.rowThreads, 1, 1), args)
    return (c.steps, c.quantized)
  }

  /// A one-column mat-vec on the short-row kernel whose output a row chain of one row starts from:
  /// `mul_mat_vec_q_<type>_1_short_chain`, the chain as the mat-vec's tail (its last CTA runs it), and
  /// a `swiglu` / `geglu` before it whose output is the mat-vec's input as its head (every CTA
  /// quantizes the activation itself): one or two launches fewer. Returns the ops covered and the
  /// chain's q8_1 output.
  private func encodeMatVecRowChain(at start: Int, quantizedInput: Tensor?) throws -> (Int, Tensor?)? {
    var glu: (gate: Tensor, up: Tensor, out: Tensor, gelu: Bool)?
    switch op(start) {
    case .swiglu(let gate, let up, let out): glu = (gate, up, out, false)
    case .geglu(let gate, let up, let out): glu = (gate, up, out, true)
    default: break
    }
    let i = glu == nil ? start : start + 1
    guard case .matmul(let x, let w, let o, let out) = op(i), let scratch, let chainCounter,
      DType(w.type) == nil, o.path != .dequantize, out.dtype == .f32, out.isContiguous
    else { return nil }
    let g = gpu
    let k = w.rowLength, n = w.rowCount
    guard k > 0, k % 32 == 0, x.count == k, out.count == n, g.configuration.shortRowMatVec,
      GPUMatVec.shortRows(w.type, k: k, columns: 1),
      scratch.byteCount >= GPUBackend.matmulScratchBytes(x, weights: w, options: o),
      let c = rowChain(at: i + 1, input: out), c.rows == 1, c.n == n,
      c.stages.a.map({ !Self.sameView($0, out) }) ?? true
    else { return nil }
    let weights = try g.ptr(w, "matmul")
    guard GPUMatVec.hasDotKernel(w.type, weights: weights), let pointers = try rowChainPointers(c) else {
      return nil
    }
    var head = [DevicePointer.null, .null, .null]
    if let glu {
      guard Self.sameView(glu.out, x), glu.gate.count == k, glu.up.count == k,
        k <= GPUPlanGeometry.gluMatVecMaxValues
      else { return nil }
      head = try [glu.gate, glu.up, glu.out].map { try g.ptr($0, "glu") }  // read 4 floats at a time
      guard head.allSatisfy({ $0.address % 16 == 0 }) else { return nil }
    } else if !(quantizedInput.map { Self.sameView($0, x) } ?? false) {
      try g.quantizeQ8_1(x, k: k, m: 1, into: scratch.pointer)
    }
    var args = KernelArguments()
    args.append(weights); args.append(scratch.pointer); args.append(try g.ptr(out, "matmul"))
    args.append(Int64(k)); args.append(Int64(n))
    for p in head { args.append(p) }
    args.append(Int32(glu?.gelu == true ? 1 : 0))
    for p in pointers.dropFirst() { args.append(p) }  // b is the mat-vec's output
    appendRowChainScalars(c, to: &args)
    args.append(chainCounter.pointer)
    let rows = GPUPlanGeometry.rowThreads / g.context.properties.warpSize
    try g.launch(
      "mul_mat_vec_q_\(w.type.name)_1_short_chain", grid: ((n + rows - 1) / rows, 1, 1),
      block: (GPUPlanGeometry.rowThreads, 1, 1), args)
    return (i - start + 1 + c.steps, c.quantized)
  }

  /// One `[rmsNorm per head] rope [scale] [writeKV of the result and a value tensor]` chain, as
  /// `rope_norm_kv_f32` takes it.
  private struct RopeChain {
    var input: Tensor
    var norm: (w: Tensor?, eps: Float)?
    var out: Tensor
    var factor: Float
    var kv: (keyCache: QTensor, values: Tensor, valueCache: QTensor)?
    var positions: IndexTensor
    var parameters: RoPEParameters
    var freqFactors: Tensor?
    var steps: Int
    var rows: Int { out.shape[0] * out.shape[1] }
    /// Whether `other` can share this chain's launch: the same positions, rope and head size.
    func sharesLaunch(with other: RopeChain) -> Bool {
      other.positions.buffer === positions.buffer && other.positions.byteOffset == positions.byteOffset
        && other.parameters == parameters && other.out.shape[0] == out.shape[0]
        && other.out.shape[2] == out.shape[2]
        && other.freqFactors?.buffer === freqFactors?.buffer
        && other.freqFactors?.byteOffset == freqFactors?.byteOffset
    }
  }

  /// The chain starting at step `start`, if one does (a plain rope alone is the plain op).
  private func ropeChain(at start: Int) -> RopeChain? {
    var i = start
    var norm: (w: Tensor?, eps: Float)?
    var input: Tensor?
    if case .rmsNorm(let x, let w, let eps, let out) = op(i), x.shape.count == 3,
      case .rope(let rx, _, _, _, _) = op(i + 1), Self.sameView(rx, out)
    {
      norm = (w, eps)
      input = x
      i += 1
    }
    guard case .rope(let rx, let positions, let p, let ff, var out) = op(i), rx.shape.count == 3 else {
      return nil
    }
    let hd = rx.shape[2]
    guard hd <= KernelBuild.attentionMaxHeadDim, p.dimensions <= hd else { return nil }
    i += 1
    var factor: Float = 1
    if case .scale(let sx, let f, let sOut) = op(i), sx.count == out.count, sx.buffer === out.buffer,
      sx.byteOffset == out.byteOffset,
      let scaled = try? Tensor(
        buffer: sOut.buffer, byteOffset: sOut.byteOffset, dtype: .f32, shape: out.shape)
    {
      factor = f
      out = scaled
      i += 1
    }
    var kv: (keyCache: QTensor, values: Tensor, valueCache: QTensor)?
    // The fused kernel writes f16 caches; other cache types keep their own write_kv kernel.
    if case .writeKV(let k, let v, let kvPositions, let kc, let vc) = op(i), Self.sameView(k, out),
      kvPositions.buffer === positions.buffer, kvPositions.byteOffset == positions.byteOffset,
      v.shape == k.shape, kc.type == .f16, vc.type == .f16
    {
      kv = (kc, v, vc)
      i += 1
    }
    return RopeChain(
      input: input ?? rx, norm: norm, out: out, factor: factor, kv: kv, positions: positions, parameters: p,
      freqFactors: ff, steps: i - start)
  }

  /// One or two rope chains (a layer's queries, then its keys) in one `rope_norm_kv_f32` launch.
  /// A plain rope alone is the plain op.
  private func encodeRopeChain(at start: Int) throws -> Int? {
    guard let first = ropeChain(at: start) else { return nil }
    var second = ropeChain(at: start + first.steps)
    // The second must not read what the first writes: their CTAs run in any order.
    if let s = second, !first.sharesLaunch(with: s) || Self.sameView(s.input, first.out) { second = nil }
    guard first.steps >= 2 || second != nil else { return nil }
    let g = gpu
    var args = KernelArguments()
    func append(_ chain: RopeChain) throws {
      args.append(try g.ptr(chain.input, "rope"))
      args.append(try g.optionalPointer(chain.norm?.w, "rope"))
      args.append(chain.norm?.eps ?? 0)
      args.append(Int32(chain.norm != nil ? 1 : 0))
      args.append(try g.ptr(chain.out, "rope"))
      args.append(Int64(chain.out.shape[1]))
      args.append(chain.factor)
      args.append(try chain.kv.map { try g.ptr($0.keyCache, "writeKV") } ?? .null)
      args.append(try chain.kv.map { try g.ptr($0.values, "writeKV") } ?? .null)
      args.append(try chain.kv.map { try g.ptr($0.valueCache, "writeKV") } ?? .null)
    }
    try append(first)
    args.append(Int64(first.rows))  // where the second chain's CTAs start (the grid's end without one)
    try append(second ?? first)
    let p = first.parameters
    args.append(try pointer(first.positions))
    args.append(try g.optionalPointer(first.freqFactors, "rope"))
    args.append(Int64(first.out.shape[2]))
    args.append(Int64(p.dimensions))
    args.append(Int32(p.mode == .neox ? 1 : 0))
    GPUBackend.appendRopeAngles(p, to: &args)
    let rows = first.rows + (second?.rows ?? 0)
    try g.launch(
      "rope_norm_kv_f32", grid: (rows, 1, 1), block: (GPUPlanGeometry.ropeThreads, 1, 1), args)
    return first.steps + (second?.steps ?? 0)
  }

  /// `swiglu/geglu` whose output the next op quantizes for a matmul: the q8_1 blocks written with it.
  private func encodeGLU(at i: Int) throws -> Int? {
    let gate: Tensor, up: Tensor, out: Tensor, gelu: Bool
    switch op(i) {
    case .swiglu(let g0, let u, let o): (gate, up, out, gelu) = (g0, u, o, false)
    case .geglu(let g0, let u, let o): (gate, up, out, gelu) = (g0, u, o, true)
    default: return nil
    }
    guard let n = out.shape.last, n % 32 == 0, gate.count == out.count, up.count == out.count,
      quantizedMatmul(at: i + 1, reading: out), let scratch, scratch.byteCount >= out.count / 32 * 36
    else { return nil }
    let g = gpu
    let vectors = try [gate, up, out].map { try g.ptr($0, "glu") }  // read and written 4 floats at a time
    guard vectors.allSatisfy({ $0.address % 16 == 0 }) else { return nil }
    var args = KernelArguments()
    for p in vectors { args.append(p) }
    args.append(scratch.pointer)
    args.append(Int64(out.count))
    args.append(Int32(gelu ? 1 : 0))
    let threads = GPUPlanGeometry.elementThreads, perCTA = 4 * threads
    try g.launch("glu_q8_1", grid: ((out.count + perCTA - 1) / perCTA, 1, 1), block: (threads, 1, 1), args)
    return 1
  }
}

/// Launch geometry of plan_fused.cu (FUSED_ROW_THREADS, FUSED_ROW_VECS, ROPE_FUSED_THREADS, glu_q8_1's
/// block there).
enum GPUPlanGeometry {
  static let rowThreads = 256
  /// The longest row the fused row chain holds in registers: 4 values × rowThreads × FUSED_ROW_VECS (8).
  static let rowMaxValues = 4 * rowThreads * 8
  static let elementThreads = 256
  /// The longest gated activation the short-row chain kernel quantizes into shared memory
  /// (MMVQ_GLU_MAX_K in mmvq.cu): the longest short row (GPUMatVec.shortRows) of any type.
  static let gluMatVecMaxValues = 4096
  static let ropeThreads = 128
  static let kernels = ["fused_norm_add_norm_q8_1", "rope_norm_kv_f32", "glu_q8_1", "sample_f32"]
}
