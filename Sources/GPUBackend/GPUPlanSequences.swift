import QuantaCore

/// Batched decode of several sequences on the GPU. A plan over `s` sequences has, per layer, `s`
/// consecutive `writeKV` ops and then `s` consecutive `attention` ops, each over its sequence's rows
/// of one tensor and into its own caches (Blocks.swift). Run one by one that is 2s launches per
/// layer, each of a few CTAs (one per head of one token). A `SequenceGroup` runs each series as one
/// launch instead: the rows are consecutive, and a per-token table of the caches' device addresses
/// (built once with the plan: the caches never move) tells each token's CTAs where to read and
/// write (`sequenceCaches` of `GPUBackend.writeKV` / `attention`; write_kv_* and attention_f16 /
/// attention_kv in dense_ops.cu).
struct SequenceGroup {
  enum Kind { case writeKV, attention(SoftmaxParameters) }
  let kind: Kind
  /// Ops the group covers, from its first.
  let count: Int
  /// The ops' row views joined: keys and values (writeKV), or query and output (attention).
  let first: Tensor
  let second: Tensor
  let positions: IndexTensor
  /// The first op's caches: the type and shape every op's caches share.
  let keyCache: QTensor
  let valueCache: QTensor
  /// gpt-oss's sink logits (`.attentionSinks`): the layer's, which every op of the group shares.
  let sinks: Tensor?
  /// Per token, its key and value caches' addresses (`UInt64` pairs), on the device.
  let table: GPUBuffer

  /// One op's parts, when it is a writeKV or a causal attention.
  private struct Member {
    var kind: Kind
    var first, second: Tensor
    var positions: IndexTensor
    var keyCache, valueCache: QTensor
    var sinks: Tensor? = nil

    init?(_ op: PlanOp) {
      switch op {
      case .writeKV(let k, let v, let p, let kc, let vc):
        (kind, first, second, positions, keyCache, valueCache) = (.writeKV, k, v, p, kc, vc)
      case .attention(let q, let p, let kc, let vc, let s, let out) where s.causal:
        (kind, first, second, positions, keyCache, valueCache) = (.attention(s), q, out, p, kc, vc)
      case .attentionSinks(let q, let p, let kc, let vc, let s, let sk, let out) where s.causal:
        (kind, first, second, positions, keyCache, valueCache) = (.attention(s), q, out, p, kc, vc)
        sinks = sk
      default: return nil
      }
      guard first.isContiguous, second.isContiguous, first.rank >= 1, second.rank >= 1,
        first.shape[0] == positions.count, second.shape[0] == positions.count, positions.count > 0
      else { return nil }
      // A prompt chunk of one sequence keeps its own launch: over f16 caches it takes the tile
      // kernel, which the table does not serve.
      if case .attention = kind, positions.count >= KernelBuild.attentionTileMinTokens { return nil }
    }

    /// Whether `next` continues this op: the same kind and parameters, the rows right after
    /// `self`'s in the same tensors, caches of the same type and shape.
    func continued(by next: Member) -> Bool {
      switch (kind, next.kind) {
      case (.writeKV, .writeKV): break
      case (.attention(let a), .attention(let b)) where a == b: break
      default: return false
      }
      func follows(_ a: Tensor, _ b: Tensor) -> Bool {
        a.buffer === b.buffer && a.dtype == b.dtype && b.byteOffset == a.byteOffset + a.byteCount
          && a.shape.dropFirst() == b.shape.dropFirst()
      }
      return follows(first, next.first) && follows(second, next.second)
        && positions.buffer === next.positions.buffer
        && next.positions.byteOffset == positions.byteOffset + 4 * positions.count
        && keyCache.type == next.keyCache.type && keyCache.shape == next.keyCache.shape
        && valueCache.type == next.valueCache.type && valueCache.shape == next.valueCache.shape
        && sinks?.buffer === next.sinks?.buffer && sinks?.byteOffset == next.sinks?.byteOffset
    }
  }

  /// The groups of `steps` (two ops or more each), by the index of their first op; their tables
  /// are uploaded to `gpu` now.
  static func find(in steps: [ForwardPlan.Step], gpu: GPUBackend) throws -> [Int: SequenceGroup] {
    var groups: [Int: SequenceGroup] = [:]
    var i = 0
    while i < steps.count {
      guard let head = Member(steps[i].op) else {
        i += 1
        continue
      }
      var members = [head]
      while i + members.count < steps.count, let next = Member(steps[i + members.count].op),
        members[members.count - 1].continued(by: next)
      {
        members.append(next)
      }
      if members.count >= 2 {
        groups[i] = try SequenceGroup(members, gpu: gpu)
      }
      i += members.count
    }
    return groups
  }

  private init(_ members: [Member], gpu: GPUBackend) throws {
    let head = members[0]
    let tokens = members.reduce(0) { $0 + $1.positions.count }
    func joined(_ t: Tensor) throws -> Tensor {
      try Tensor(
        buffer: t.buffer, byteOffset: t.byteOffset, dtype: t.dtype, shape: [tokens] + t.shape.dropFirst())
    }
    var table: [UInt64] = []
    table.reserveCapacity(2 * tokens)
    for m in members {
      let k = try gpu.ptr(m.keyCache, "batched attention").address
      let v = try gpu.ptr(m.valueCache, "batched attention").address
      for _ in 0..<m.positions.count { table += [k, v] }
    }
    kind = head.kind
    count = members.count
    first = try joined(head.first)
    second = try joined(head.second)
    positions = try IndexTensor(
      buffer: head.positions.buffer, byteOffset: head.positions.byteOffset, count: tokens)
    keyCache = head.keyCache
    valueCache = head.valueCache
    sinks = head.sinks
    self.table = try gpu.gpuBuffer(
      table.withUnsafeBytes { try gpu.makeBuffer(wrapping: $0, owner: 0) }, "batched attention")
  }
}
