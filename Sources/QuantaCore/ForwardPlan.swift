import GGML

/// `count` Int32 values (token ids, positions) at `byteOffset` of a device buffer: the integer inputs
/// of a plan live on the plan's device, so a step needs no upload per op.
public struct IndexTensor: Sendable {
  public let buffer: any DeviceBuffer
  public let byteOffset: Int
  public let count: Int

  public init(buffer: any DeviceBuffer, byteOffset: Int = 0, count: Int) throws(QuantaError) {
    guard count >= 0, byteOffset >= 0, byteOffset % 4 == 0, byteOffset + 4 * count <= buffer.byteCount else {
      throw .invalidBuffer(
        op: "IndexTensor",
        reason: "\(count) Int32 at byte \(byteOffset) exceed the buffer's \(buffer.byteCount)")
    }
    self.buffer = buffer
    self.byteOffset = byteOffset
    self.count = count
  }

  /// Values `range` of the same memory.
  public func slice(_ range: Range<Int>) throws(QuantaError) -> IndexTensor {
    guard range.lowerBound >= 0, range.upperBound <= count else {
      throw .indexOutOfRange(op: "IndexTensor.slice", index: range.upperBound, bound: count + 1)
    }
    return try IndexTensor(buffer: buffer, byteOffset: byteOffset + 4 * range.lowerBound, count: range.count)
  }
}

/// One op of a forward plan, over tensors allocated before the plan was built. The semantics are
/// those of the `ComputeBackend` method of the same name, with two differences: ids and positions
/// are `IndexTensor`s read when the op runs (not host arrays read when it is recorded), and
/// attention sees the cache rows up to each query's own position (plans hold causal attention only).
public enum PlanOp: Sendable {
  case getRows(table: QTensor, ids: IndexTensor, out: Tensor)
  case getRowsDense(table: Tensor, ids: IndexTensor, out: Tensor)
  case rmsNorm(x: Tensor, weight: Tensor?, eps: Float, out: Tensor)
  case matmul(x: Tensor, weights: QTensor, options: QMatMulOptions, out: Tensor)
  case rope(x: Tensor, positions: IndexTensor, parameters: RoPEParameters, freqFactors: Tensor?, out: Tensor)
  case writeKV(keys: Tensor, values: Tensor, positions: IndexTensor, keyCache: QTensor, valueCache: QTensor)
  case attention(
    query: Tensor, positions: IndexTensor, keyCache: QTensor, valueCache: QTensor, softmax: SoftmaxParameters,
    out: Tensor)
  case swiglu(gate: Tensor, up: Tensor, out: Tensor)
  case geglu(gate: Tensor, up: Tensor, out: Tensor)
  case add(a: Tensor, b: Tensor, out: Tensor)
  case mul(a: Tensor, b: Tensor, out: Tensor)
  case scale(x: Tensor, factor: Float, out: Tensor)
  /// The index of the largest value of each row of `logits` `[rows, n]` (the first one on ties) →
  /// `out` (`rows` values): greedy sampling on the device.
  case argmax(logits: Tensor, out: IndexTensor)
  /// One sampled token id per row of `logits` `[rows, n]` → `out` (`rows` values), each row by its
  /// `DeviceSampling` record in `records` (`rows · DeviceSampling.recordWords` values: the options,
  /// the penalty window and the uniform the host drew). An id of −1 gives the row back to the host
  /// (`DeviceSampling`). GPU backends only (`ComputeBackend.samplesOnDevice`).
  case sample(logits: Tensor, records: IndexTensor, out: IndexTensor)
  /// `cap · tanh(x / cap)` element-wise (gemma 2's final logit soft-capping); `out` may be `x`.
  case softcap(x: Tensor, cap: Float, out: Tensor)
  /// Each `block` consecutive values times the orthonormal Walsh–Hadamard matrix (`out` may be `x`):
  /// the attention rotation of quantized caches (`AttentionRotation`).
  case hadamard(x: Tensor, block: Int, out: Tensor)
  /// Mixture of experts (ExpertOps.swift): the picked experts of each token and their weights;
  /// the expert-routed matmul; the weighted sum of the experts' outputs.
  case routeExperts(logits: Tensor, routing: ExpertRouting, ids: IndexTensor, weights: Tensor)
  case matmulID(x: Tensor, weights: QTensor, ids: IndexTensor, options: QMatMulOptions, out: Tensor)
  case mixExperts(x: Tensor, weights: Tensor, out: Tensor)
  /// gpt-oss (SinkOps.swift): attention with a sink logit per head (`sinks` `[heads]`),
  /// `swiglu_oai`, and a per-expert bias added by id (ggml's `add_id`).
  case attentionSinks(
    query: Tensor, positions: IndexTensor, keyCache: QTensor, valueCache: QTensor, softmax: SoftmaxParameters,
    sinks: Tensor, out: Tensor)
  case swigluOAI(gate: Tensor, up: Tensor, alpha: Float, limit: Float, out: Tensor)
  case addID(x: Tensor, bias: Tensor, ids: IndexTensor, out: Tensor)
}

/// A forward pass as data: ops in issue order over preallocated tensors, and the one block of Int32
/// inputs (ids, positions) the caller writes before each execution. Built once per (session, batch
/// shape) and executed many times; `tag`s are the caller's labels (op kinds for profiles).
public struct ForwardPlan: Sendable {
  public struct Step: Sendable {
    public var op: PlanOp
    public var tag: Int
  }
  public private(set) var steps: [Step] = []
  /// The Int32 inputs, written by `PreparedPlan.execute(inputs:)` before the ops run.
  public let inputs: IndexTensor

  public init(inputs: IndexTensor) { self.inputs = inputs }

  public mutating func append(_ op: PlanOp, tag: Int = 0) { steps.append(Step(op: op, tag: tag)) }
}

/// How a plan will be used: replayed many times (decode steps: worth recording as a device graph)
/// or run a few times (prompt batches).
public struct PlanOptions: Sendable, Hashable {
  public var replayed: Bool
  /// Lets the backend run known chains of ops as one fused kernel (same results within the
  /// cross-backend tolerance, not bit for bit). The CPU runs every op by itself either way.
  public var fusion: Bool
  public init(replayed: Bool, fusion: Bool = true) {
    self.replayed = replayed
    self.fusion = fusion
  }
}

/// A plan made ready on one backend: kernels resolved, scratch allocated, and on GPUs recorded into
/// a graph on its first execution. Used from one thread at a time.
public protocol PreparedPlan: AnyObject {
  /// Writes `inputs` (exactly `plan.inputs.count` values) to the plan's input block, then issues
  /// every op. Returns once the work is issued (GPU) or done (CPU); read results with
  /// `ComputeBackend.copy`, which waits.
  func execute(inputs: UnsafeBufferPointer<Int32>) throws
  /// The same, op by op without a graph, and the time each op took on the device, in plan order
  /// (profiles). Ops a backend fused report the fused kernel's time on the chain's first op and 0
  /// on the others. Returns once every op has finished.
  func executeTimed(inputs: UnsafeBufferPointer<Int32>) throws -> [(tag: Int, seconds: Double)]
}

extension ComputeBackend {
  /// The default: each op through the one-op entry points, in order (the CPU backend's way).
  public func prepare(_ plan: ForwardPlan, options: PlanOptions) throws -> any PreparedPlan {
    try DirectPlan(plan, backend: self)
  }
}

/// Executes a plan through the backend's one-op methods. Index inputs are read back from the plan's
/// input block on the host (it is host memory on the CPU; elsewhere the copy waits).
public final class DirectPlan: PreparedPlan {
  let plan: ForwardPlan
  let backend: any ComputeBackend
  private var host: [Int32]
  /// Host arrays of the input slices the ops read (ids, positions), made once per execution: every
  /// rope, cache write and attention of a step reads the same positions.
  private var slices: [(start: Int, count: Int, values: [Int32])] = []
  /// For each step, the end of the run of consecutive attention ops it starts (its own index + 1
  /// when it is not an attention op): batched decode records one attention per sequence, and a
  /// run goes to the backend as one `attention(_:)` call.
  private let runEnds: [Int]

  public init(_ plan: ForwardPlan, backend: any ComputeBackend) throws {
    self.plan = plan
    self.backend = backend
    host = [Int32](repeating: 0, count: plan.inputs.count)
    var ends = [Int](repeating: 0, count: plan.steps.count)
    var end = plan.steps.count
    for (i, step) in plan.steps.enumerated().reversed() {
      if case .attention(_, _, _, _, let s, _) = step.op {
        guard s.causal else {
          throw QuantaError.unsupported(
            op: "plan attention without a causal mask", type: "f16", device: backend.device)
        }
        ends[i] = end
      } else {
        // A run of attention ops ends where another op starts.
        ends[i] = i + 1
        end = i
      }
      if case .attentionSinks(_, _, _, _, let s, _, _) = step.op, !s.causal {
        throw QuantaError.unsupported(
          op: "plan attention without a causal mask", type: "f16", device: backend.device)
      }
    }
    runEnds = ends
  }

  public func execute(inputs: UnsafeBufferPointer<Int32>) throws {
    try write(inputs)
    let steps = plan.steps
    var i = 0
    while i < steps.count {
      let end = runEnds[i]
      if end - i > 1 {
        try backend.attention(steps[i..<end].compactMap { attentionCall($0.op) })
      } else {
        try run(steps[i].op)
      }
      i = end
    }
  }

  /// Wall time per op, each op followed by `synchronize()` (a no-op on synchronous backends).
  public func executeTimed(inputs: UnsafeBufferPointer<Int32>) throws -> [(tag: Int, seconds: Double)] {
    try write(inputs)
    try backend.synchronize()
    var times: [(tag: Int, seconds: Double)] = []
    times.reserveCapacity(plan.steps.count)
    for step in plan.steps {
      let start = ContinuousClock.now
      try run(step.op)
      try backend.synchronize()
      let d = (ContinuousClock.now - start).components
      times.append((step.tag, Double(d.seconds) + Double(d.attoseconds) * 1e-18))
    }
    return times
  }

  private func write(_ inputs: UnsafeBufferPointer<Int32>) throws {
    guard inputs.count == host.count else {
      throw QuantaError.shapeMismatch(op: "plan inputs", expected: "[\(host.count)]", actual: [inputs.count])
    }
    for i in 0..<inputs.count { host[i] = inputs[i] }
    slices.removeAll(keepingCapacity: true)
    let block = plan.inputs
    try host.withUnsafeBytes { try backend.copy($0, to: block.buffer, at: block.byteOffset) }
  }

  /// The host values of an index input (a slice of the input block).
  private func values(_ t: IndexTensor) -> [Int32] {
    let start = (t.byteOffset - plan.inputs.byteOffset) / 4
    if t.buffer === plan.inputs.buffer, start >= 0, start + t.count <= host.count {
      if let hit = slices.first(where: { $0.start == start && $0.count == t.count }) { return hit.values }
      let values = Array(host[start..<(start + t.count)])
      slices.append((start, t.count, values))
      return values
    }
    // Not part of the input block (an op's output): read it from the device.
    var out = [Int32](repeating: 0, count: t.count)
    out.withUnsafeMutableBytes { try? backend.copy(t.buffer, at: t.byteOffset, to: $0) }
    return out
  }

  /// The arguments of an attention op, its positions read from the inputs (nil for another op).
  private func attentionCall(_ op: PlanOp) -> AttentionCall? {
    guard case .attention(let q, let positions, let kc, let vc, let s, let out) = op else { return nil }
    let pos = values(positions)
    // Causal: no query sees past the batch's last position.
    let kvLength = Int(pos.max() ?? -1) + 1
    return AttentionCall(
      query: q, positions: pos, keyCache: kc, valueCache: vc,
      parameters: AttentionParameters(kvLength: kvLength, softmax: s), out: out)
  }

  private func run(_ op: PlanOp) throws {
    let b = backend
    switch op {
    case .getRows(let table, let ids, let out): try b.getRows(table, ids: values(ids), into: out)
    case .getRowsDense(let table, let ids, let out): try b.getRows(table, ids: values(ids), into: out)
    case .rmsNorm(let x, let w, let eps, let out): try b.rmsNorm(x, weight: w, eps: eps, into: out)
    case .matmul(let x, let w, let options, let out): try b.matmul(x, weights: w, options: options, into: out)
    case .rope(let x, let positions, let p, let f, let out):
      try b.rope(x, positions: values(positions), parameters: p, freqFactors: f, into: out)
    case .writeKV(let k, let v, let positions, let kc, let vc):
      try b.writeKV(keys: k, values: v, positions: values(positions), keyCache: kc, valueCache: vc)
    case .attention:
      guard let c = attentionCall(op) else { return }
      try b.attention(
        query: c.query, positions: c.positions, keyCache: c.keyCache, valueCache: c.valueCache,
        parameters: c.parameters, into: c.out)
    case .swiglu(let g, let u, let out): try b.swiglu(gate: g, up: u, into: out)
    case .geglu(let g, let u, let out): try b.geglu(gate: g, up: u, into: out)
    case .add(let x, let y, let out): try b.add(x, y, into: out)
    case .mul(let x, let y, let out): try b.mul(x, y, into: out)
    case .scale(let x, let f, let out): try b.scale(x, by: f, into: out)
    case .softcap(let x, let cap, let out): try b.softcap(x, cap: cap, into: out)
    case .hadamard(let x, let block, let out): try b.hadamard(x, block: block, into: out)
    case .routeExperts(let logits, let r, let ids, let w):
      try b.routeExperts(logits, routing: r, ids: ids, weights: w)
    case .matmulID(let x, let w, let ids, let options, let out):
      try b.matmulID(x, weights: w, ids: ids, options: options, into: out)
    case .mixExperts(let x, let w, let out): try b.mixExperts(x, weights: w, into: out)
    case .sample:
      throw QuantaError.unsupported(op: "plan sampling (the host samples)", type: "f32", device: b.device)
    case .attentionSinks(let q, let positions, let kc, let vc, let s, let sinks, let out):
      let pos = values(positions)
      try b.attention(
        query: q, positions: pos, keyCache: kc, valueCache: vc,
        parameters: AttentionParameters(kvLength: Int(pos.max() ?? -1) + 1, softmax: s), sinks: sinks,
        into: out)
    case .swigluOAI(let g, let u, let alpha, let limit, let out):
      try b.swigluOAI(gate: g, up: u, alpha: alpha, limit: limit, into: out)
    case .addID(let x, let bias, let ids, let out): try b.addID(x, bias: bias, ids: ids, into: out)
    case .argmax(let logits, let out):
      let n = logits.shape.last ?? 0
      var ids = [Int32](repeating: 0, count: out.count)
      func pick(_ all: UnsafeBufferPointer<Float>) {
        for r in 0..<out.count {
          var best = 0
          for j in 1..<max(n, 1) where all[r * n + j] > all[r * n + best] { best = j }
          ids[r] = Int32(best)
        }
      }
      if let base = logits.buffer.hostAddress, logits.dtype == .f32, logits.isContiguous {
        // Host memory (the CPU): read in place.
        pick(
          UnsafeBufferPointer(
            start: (base + logits.byteOffset).assumingMemoryBound(to: Float.self), count: logits.count))
      } else {
        try logits.toArray().withUnsafeBufferPointer { pick($0) }
      }
      try ids.withUnsafeBytes { try b.copy($0, to: out.buffer, at: out.byteOffset) }
    }
  }
}

/// The record a `.sample` plan op reads per row, in Int32 words (floats as their bits), and what the
/// device's sampling covers: sample.cu's SAMPLE_* and SP_* defines are these numbers (a test checks).
///
/// The device runs the host sampler's chain (Sampler.swift) for repeat / frequency / presence
/// penalties over at most `windowCapacity` tokens, top-k up to `maxCandidates`, top-p and min-p
/// (their prefix found within the best `maxCandidates` tokens), temperature and the draw from the
/// uniform in the record, or greedy. Where a row's top-p / min-p prefix is longer than
/// `maxCandidates`, or nothing truncates, the row's id is −1 and the host samples that row from the
/// logits with the same uniform.
public enum DeviceSampling {
  /// Header words (the window's ids follow).
  public static let headerWords = 12
  /// The most penalty-window tokens a record holds.
  public static let windowCapacity = 256
  /// The most candidates a row keeps on the device (top-k's limit).
  public static let maxCandidates = 256
  public static var recordWords: Int { headerWords + windowCapacity }
  /// Header word offsets: top-k (Int32), top-p, min-p, log(min-p), temperature, repeat, frequency
  /// and presence penalties (Float bits), the window's count (Int32), the uniform (Double bits, low
  /// word first, two words).
  public static let topK = 0, topP = 1, minP = 2, logMinP = 3, temperature = 4, repeatPenalty = 5
  public static let frequencyPenalty = 6, presencePenalty = 7, windowCount = 8, uniform = 9
}
