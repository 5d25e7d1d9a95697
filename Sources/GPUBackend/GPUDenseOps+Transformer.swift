import Foundation
import GGML
import QuantaCore

// The ops of `ComputeBackend`, part 2: the f32 ops of a transformer (kernels:
// Sources/GPUKernels/kernels/dense_ops.cu and fattn_tile.cu). QuantaCore has checked shapes, dtypes,
// positions and ids; these wrappers only find pointers, upload positions and launch.
extension GPUBackend {
  /// A kernel's s32 argument from a count or window that may not fit (saturated: the kernels
  /// compare it with 64-bit positions).
  private static func s32(_ v: Int) -> Int32 { Int32(clamping: v) }

  // MARK: Norms

  public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, into out: Tensor) throws {
    let n = x.shape.last ?? 1
    let rows = x.count / max(n, 1)
    guard rows > 0, n > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(x, "rmsNorm"))
    args.append(try optionalPointer(weight, "rmsNorm"))
    args.append(try ptr(out, "rmsNorm"))
    args.append(Int64(n))
    args.append(eps)
    try launch("rms_norm_f32", grid: (rows, 1, 1), block: (256, 1, 1), args)
  }

  public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, into out: Tensor) throws {
    let n = x.shape.last ?? 1
    let rows = x.count / max(n, 1)
    guard rows > 0, n > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(x, "layerNorm"))
    args.append(try optionalPointer(weight, "layerNorm"))
    args.append(try optionalPointer(bias, "layerNorm"))
    args.append(try ptr(out, "layerNorm"))
    args.append(Int64(n))
    args.append(eps)
    try launch("layer_norm_f32", grid: (rows, 1, 1), block: (256, 1, 1), args)
  }

  // MARK: Positions

  public func rope(
    _ x: Tensor, positions: [Int32], parameters: RoPEParameters, freqFactors: Tensor?, into out: Tensor
  ) throws {
    guard x.count > 0 else { return }
    let pos = try upload(positions, "rope")
    try withExtendedLifetime(pos) {
      try rope(x, positions: pos.pointer, parameters: parameters, freqFactors: freqFactors, into: out)
    }
  }

  /// RoPE with the positions already on the device (`x.shape[0]` Int32 values).
  func rope(
    _ x: Tensor, positions: DevicePointer, parameters: RoPEParameters, freqFactors: Tensor?, into out: Tensor
  ) throws {
    let (tokens, heads, headDim) = (x.shape[0], x.shape[1], x.shape[2])
    let nRot = parameters.dimensions
    guard tokens > 0, heads > 0, headDim > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(x, "rope"))
    args.append(try ptr(out, "rope"))
    args.append(positions)
    args.append(try optionalPointer(freqFactors, "rope"))
    args.append(Int64(tokens))
    args.append(Int64(heads))
    args.append(Int64(headDim))
    args.append(Int64(nRot))
    args.append(Int32(parameters.mode == .neox ? 1 : 0))
    Self.appendRopeAngles(parameters, to: &args)
    let items = tokens * heads * (nRot / 2 + headDim - nRot)
    try launch1D("rope_f32", count: items, args)
  }

  /// The rope kernels' last arguments (rope_f32, rope_norm_kv_f32): θ base, freq scale, the factor of
  /// cos and sin — YaRN's magnitude correction `1 + 0.1 · ln(1 / freqScale)` folded in when extFactor
  /// ≠ 0, in f32 as the CPU's rope cache computes it — then ext_factor and the correction range.
  static func appendRopeAngles(_ p: RoPEParameters, to args: inout KernelArguments) {
    args.append(p.freqBase)
    args.append(p.freqScale)
    args.append(p.extFactor != 0 ? p.attnFactor * (1 + 0.1 * logf(1 / p.freqScale)) : p.attnFactor)
    args.append(p.extFactor)
    args.append(p.yarnLow)
    args.append(p.yarnHigh)
  }

  public func softmax(_ x: Tensor, positions: [Int32], parameters: SoftmaxParameters, into out: Tensor) throws
  {
    let n = x.shape.last ?? 1
    let rows = x.count / max(n, 1)
    guard rows > 0, n > 0 else { return }
    let masked = parameters.isMasked && !positions.isEmpty
    let pos = masked ? try upload(positions, "softmax") : nil
    var args = KernelArguments()
    args.append(try ptr(x, "softmax"))
    args.append(try ptr(out, "softmax"))
    args.append(Int64(n))
    args.append(pos?.pointer ?? .null)
    args.append(Int64(masked ? max(rows / positions.count, 1) : 1))
    args.append(parameters.scale)
    args.append(parameters.softCap ?? 0)
    args.append(Int32(parameters.causal ? 1 : 0))
    args.append(Self.s32(parameters.slidingWindow ?? 0))
    try withExtendedLifetime(pos) { try launch("soft_max_f32", grid: (rows, 1, 1), block: (256, 1, 1), args) }
  }

  // MARK: KV cache and attention

  public func writeKV(
    keys: Tensor, values: Tensor, positions: [Int32], keyCache: QTensor, valueCache: QTensor
  )
    throws
  {
    guard keys.count > 0 else { return }
    let pos = try upload(positions, "writeKV")
    try withExtendedLifetime(pos) {
      try writeKV(
        keys: keys, values: values, positions: pos.pointer, keyCache: keyCache, valueCache: valueCache)
    }
  }

  /// writeKV with the positions already on the device: write_kv_<type> for each cache (f16/bf16 one
  /// thread per value, q8_0/q4_0 one per 32-value block).
  /// `sequenceCaches`: the rows of several sequences in one launch (batched decode) — per token, the
  /// device addresses of its sequence's key and value caches (`UInt64` pairs), which then stand in for
  /// `keyCache` / `valueCache` (whose type and shape every sequence's caches share); or null.
  func writeKV(
    keys: Tensor, values: Tensor, positions: DevicePointer, keyCache: QTensor, valueCache: QTensor,
    sequenceCaches: DevicePointer = .null
  )
    throws
  {
    let tokens = keys.shape[0]
    let kvDim = keys.shape[1] * keys.shape[2]
    guard tokens > 0, kvDim > 0 else { return }
    for (slot, (src, cache)) in [(keys, keyCache), (values, valueCache)].enumerated() {
      guard KVCacheType(cache.type) != nil else {
        throw QuantaError.unsupported(op: "writeKV", type: cache.type.name, device: device)
      }
      var args = KernelArguments()
      args.append(try ptr(src, "writeKV"))
      args.append(positions)
      args.append(try ptr(cache, "writeKV"))
      args.append(Int64(kvDim))
      args.append(Int64(tokens))
      // The kernel reads every other word from here: the keys' addresses, or the values' one word on.
      args.append(sequenceCaches == .null ? .null : sequenceCaches.advanced(by: 8 * slot))
      try launch1D("write_kv_\(cache.type.name)", count: tokens * kvDim / cache.type.blockSize, args)
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
    guard query.count > 0 else { return }
    let pos = try upload(positions, "attention")
    try withExtendedLifetime(pos) {
      try attention(
        query: query, positions: pos.pointer, keyCache: keyCache, valueCache: valueCache,
        kvLength: parameters.kvLength, softmax: parameters.softmax, sinks: sinks, into: out)
    }
  }

  /// Attention with the positions on the device. A plan passes the cache's capacity as `kvLength`:
  /// with the causal mask each query then sees the rows up to its own position, whatever the step.
  /// Prompts over f16 caches (`KernelBuild.attentionTile`) run a tile kernel whose CTAs share each
  /// K/V tile among many query rows; decode and small batches run attention_f16, one CTA per
  /// (token, head); caches of other types (bf16, q8_0, q4_0) run attention_kv, the same kernel
  /// reading them in place, for every batch size.
  /// `quantized`: where the per-(token, head) kernels also write the output as q8_1 blocks (the
  /// plan's fusion; only when `attentionWritesQ8_1` says so), or null.
  /// `sequenceCaches`: queries of several sequences in one launch (batched decode; `writeKV`'s table):
  /// per token the addresses of its own caches, which share `keyCache`'s and `valueCache`'s type and
  /// shape. Always the per-(token, head) kernels.
  /// `sinks` (f32 `[heads]`, gpt-oss; every kernel's last argument): a sink logit per query head in
  /// each softmax denominator.
  func attention(
    query: Tensor, positions: DevicePointer, keyCache: QTensor, valueCache: QTensor, kvLength: Int,
    softmax s: SoftmaxParameters, sinks: Tensor? = nil, into out: Tensor, quantized: DevicePointer = .null,
    sequenceCaches: DevicePointer = .null
  ) throws {
    let (tokens, heads, headDim) = (query.shape[0], query.shape[1], query.shape[2])
    guard headDim <= KernelBuild.attentionMaxHeadDim else {
      throw QuantaError.unsupported(
        op: "attention (headDim \(headDim) > \(KernelBuild.attentionMaxHeadDim))",
        type: keyCache.type.name,
        device: device)
    }
    for cache in [keyCache, valueCache] where KVCacheType(cache.type) == nil {
      throw QuantaError.unsupported(op: "attention", type: cache.type.name, device: device)
    }
    guard tokens > 0, heads > 0, headDim > 0 else { return }
    let f16 = keyCache.type == .f16 && valueCache.type == .f16
    // attention_kv_seq takes no cache pointers: its table gives every token's.
    let kvTable = !f16 && sequenceCaches != .null
    var args = KernelArguments()
    args.append(try ptr(query, "attention"))
    if !kvTable {
      args.append(try ptr(keyCache, "attention"))
      args.append(try ptr(valueCache, "attention"))
    }
    args.append(positions)
    args.append(try ptr(out, "attention"))
    let kvHeads = keyCache.shape[1]
    let tile =
      f16 && sequenceCaches == .null ? KernelBuild.attentionTile(tokens: tokens, headDim: headDim) : nil
    if tile != nil { args.append(Int64(tokens)) }
    args.append(Int64(heads))
    args.append(Int64(kvHeads))
    args.append(Int64(headDim))
    args.append(Int64(kvLength))
    args.append(s.scale)
    args.append(s.softCap ?? 0)
    args.append(Int32(s.causal ? 1 : 0))
    args.append(Self.s32(s.slidingWindow ?? 0))
    if let tile {
      precondition(quantized == .null, "the tile kernels write no q8_1 (attentionWritesQ8_1)")
      args.append(try optionalPointer(sinks, "attention"))
      // One CTA per (tile of query rows, kv head); a kv head's rows are its tokens × GQA group heads.
      let rows = tokens * (heads / kvHeads)
      try launch(
        tile.kernel, grid: (Self.blocks(rows, tile.rows), kvHeads, 1),
        block: (KernelBuild.attentionTileThreads, 1, 1), args)
      return
    }
    // One CTA per (token, head).
    args.append(quantized)
    if !f16 {
      args.append(Int32(keyCache.type.rawValue))
      args.append(Int32(valueCache.type.rawValue))
    }
    if f16 || kvTable { args.append(sequenceCaches) }
    args.append(try optionalPointer(sinks, "attention"))
    let threads = KernelBuild.attentionThreads(
      rows: tokens * heads, multiprocessors: context.properties.multiprocessors)
    try launch(
      f16 ? "attention_f16" : kvTable ? "attention_kv_seq" : "attention_kv", grid: (tokens * heads, 1, 1),
      block: (threads, 1, 1), args)
  }

  /// Whether attention of `tokens` queries of `headDim` can write its output as q8_1 too: the
  /// per-(token, head) kernel, whole 32-value blocks per head.
  /// `f16Caches`: both caches f16 (other types always take the per-(token, head) kernel).
  static func attentionWritesQ8_1(tokens: Int, headDim: Int, f16Caches: Bool = true) -> Bool {
    (!f16Caches || KernelBuild.attentionTile(tokens: tokens, headDim: headDim) == nil) && headDim % 32 == 0
  }

  // MARK: Element-wise

  private func unary(_ name: String, _ x: Tensor, _ out: Tensor, extra: Float? = nil) throws {
    var args = KernelArguments()
    args.append(try ptr(x, name))
    args.append(try ptr(out, name))
    args.append(Int64(x.count))
    if let extra { args.append(extra) }
    try launch1D("\(name)_f32", count: x.count, args)
  }

  private func binary(_ name: String, _ a: Tensor, _ b: Tensor, _ out: Tensor, broadcast: Bool) throws {
    guard a.count > 0, b.count > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(a, name))
    args.append(try ptr(b, name))
    args.append(try ptr(out, name))
    args.append(Int64(a.count))
    // `b` of `a`'s shape, or a suffix of it: one row of b.count values over a's rows.
    if broadcast { args.append(Int64(b.count)) }
    try launch1D("\(name)_f32", count: a.count, args)
  }

  public func silu(_ x: Tensor, into out: Tensor) throws { try unary("silu", x, out) }
  public func gelu(_ x: Tensor, into out: Tensor) throws { try unary("gelu", x, out) }
  public func scale(_ x: Tensor, by factor: Float, into out: Tensor) throws {
    try unary("scale", x, out, extra: factor)
  }
  public func softcap(_ x: Tensor, cap: Float, into out: Tensor) throws {
    try unary("softcap", x, out, extra: cap)
  }
  /// hadamard_f32: one CTA per run of `block` values (grid capped, CTAs stride over the rest).
  public func hadamard(_ x: Tensor, block: Int, into out: Tensor) throws {
    guard block <= KernelBuild.hadamardMaxBlock else {
      throw QuantaError.unsupported(
        op: "hadamard of blocks of \(block) (at most \(KernelBuild.hadamardMaxBlock))", type: "f32",
        device: device)
    }
    let runs = x.count / block
    guard runs > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(x, "hadamard"))
    args.append(try ptr(out, "hadamard"))
    args.append(Int64(runs))
    args.append(Int32(block))
    args.append(1 / Float(block).squareRoot())
    try launch(
      "hadamard_f32", grid: (min(runs, 65535), 1, 1), block: (KernelBuild.hadamardThreads, 1, 1), args)
  }
  public func swiglu(gate: Tensor, up: Tensor, into out: Tensor) throws {
    try binary("swiglu", gate, up, out, broadcast: false)
  }
  public func geglu(gate: Tensor, up: Tensor, into out: Tensor) throws {
    try binary("geglu", gate, up, out, broadcast: false)
  }
  public func swigluOAI(gate: Tensor, up: Tensor, alpha: Float, limit: Float, into out: Tensor) throws {
    guard gate.count > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(gate, "swiglu_oai"))
    args.append(try ptr(up, "swiglu_oai"))
    args.append(try ptr(out, "swiglu_oai"))
    args.append(Int64(gate.count))
    args.append(alpha)
    args.append(limit)
    try launch1D("swiglu_oai_f32", count: gate.count, args)
  }

  /// The checked one-op entry point: the ids are read back and checked against the experts (a
  /// synchronize, as `matmulID`); a plan's ids come from `routeExperts` and are read on the device only.
  public func addID(_ x: Tensor, bias: Tensor, ids: IndexTensor, into out: Tensor) throws {
    let experts = bias.shape[0]
    for (p, e) in try ids.toArray().enumerated() where e < 0 || Int(e) >= experts {
      throw QuantaError.indexOutOfRange(op: "add_id (expert id of pair \(p))", index: Int(e), bound: experts)
    }
    try addID(x, bias: bias, ids: ptr(ids, "add_id"), into: out)
  }

  /// add_id with the ids on the device (`x.shape[0] · x.shape[1]` Int32): an id outside the experts
  /// makes its row NaN.
  func addID(_ x: Tensor, bias: Tensor, ids: DevicePointer, into out: Tensor) throws {
    let (pairs, n) = (x.shape[0] * x.shape[1], x.shape[2])
    guard pairs > 0, n > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(x, "add_id"))
    args.append(try ptr(bias, "add_id"))
    args.append(ids)
    args.append(try ptr(out, "add_id"))
    args.append(Int64(n))
    args.append(Int64(pairs))
    args.append(Int64(bias.shape[0]))
    try launch1D("add_id_f32", count: pairs * n, args)
  }

  public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
    try binary("add", a, b, out, broadcast: true)
  }
  public func mul(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
    try binary("mul", a, b, out, broadcast: true)
  }
}
