import GGML
import QuantaCore

/// The mixture-of-experts kernels (moe.cu): their launch geometry and limits. moe.cu defines the same
/// numbers (MOE_THREADS, MOE_MAX_EXPERTS, MOE_MAX_USED; a test checks they agree); the tile width is
/// the mat-vec's, which GPUMatVec owns.
enum GPUExperts {
  /// Threads of the routing and grouping CTAs (MOE_THREADS): a multiple of 64.
  static let threads = 256
  /// Most experts the routing and grouping kernels hold in shared memory (MOE_MAX_EXPERTS): 4 KiB of
  /// scores, 12 KiB of grouping counters.
  static let maxExperts = 1024
  /// Most experts per token the routing kernel weighs (MOE_MAX_USED).
  static let maxUsed = 64
  /// Pairs per tile of the prompt path: the widest mat-vec (MOE_TILE_COLS = MMVQ_MAX_COLS).
  static var tileColumns: Int { GPUMatVec.maxColumns }
  /// gridDim.y limit of the mat-vecs (one CTA row per pair or tile).
  static let maxGridY = 65535

  /// Kernels without a type.
  static let kernels = ["moe_route_f32", "moe_group_pairs", "moe_mix_f32"]
  /// Kernels defined for every quantized type (`%` = type name): one pair per CTA row, byte loads.
  static let perTypeKernels = ["mul_mat_vec_via_q8_1_id_%"]
  /// The per-type expert mat-vecs: one pair per CTA row (decode) and grouped tiles (prompts).
  static var dotKernelNames: [String] {
    GPUMatVec.dotTypes.flatMap { t in [1, tileColumns].map { "mul_mat_vec_q_id_\(t.name)_\($0)" } }
  }

  /// Upper bound on the tiles `moe_group_pairs` writes: each expert's last tile may be partial, and the
  /// invalid ids form one more group.
  static func maxTiles(pairs: Int, experts: Int) -> Int {
    (pairs + tileColumns - 1) / tileColumns + min(experts + 1, pairs)
  }
  /// Int32 `order` (one per pair) then the tile table (3 per tile).
  static func groupScratchBytes(pairs: Int, experts: Int) -> Int {
    4 * (pairs + 3 * maxTiles(pairs: pairs, experts: experts))
  }
  /// Bytes of the q8_1 rows of `x` `[tokens, xRows, k]`.
  static func activationBytes(_ x: Tensor) -> Int {
    guard let k = x.shape.last, k > 0 else { return 0 }
    return x.count / k * (k / 32) * 36
  }
}

extension GPUBackend {
  func ptr(_ t: IndexTensor, _ op: String) throws -> DevicePointer {
    try gpuBuffer(t.buffer, op).pointer.advanced(by: t.byteOffset)
  }

  public func routeExperts(_ logits: Tensor, routing: ExpertRouting, ids: IndexTensor, weights: Tensor) throws
  {
    let (tokens, experts) = (logits.shape[0], logits.shape[1])
    guard experts <= GPUExperts.maxExperts, routing.used <= GPUExperts.maxUsed else {
      throw QuantaError.unsupported(
        op: "routeExperts of \(routing.used) of \(experts) experts (at most \(GPUExperts.maxUsed) of "
          + "\(GPUExperts.maxExperts))", type: "f32", device: device)
    }
    guard tokens > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(logits, "routeExperts"))
    args.append(try ptr(ids, "routeExperts"))
    args.append(try ptr(weights, "routeExperts"))
    args.append(Int64(experts))
    args.append(Int64(routing.used))
    args.append(Int32(routing.gating == .softmax ? 0 : 1))
    args.append(Int32(routing.normalizesWeights ? 1 : 0))
    args.append(routing.weightScale)
    try launch("moe_route_f32", grid: (tokens, 1, 1), block: (GPUExperts.threads, 1, 1), args)
  }

  /// The checked one-op entry point: the ids are read back and checked against the experts (a
  /// synchronize; a forward plan's ids come from `routeExperts` and are not read back), then the
  /// matmul runs with scratch of its own.
  public func matmulID(
    _ x: Tensor, weights: QTensor, ids: IndexTensor, options: QMatMulOptions, into out: Tensor
  ) throws {
    let experts = weights.shape[0]
    for (p, e) in try ids.toArray().enumerated() where e < 0 || Int(e) >= experts {
      throw QuantaError.indexOutOfRange(
        op: "matmulID (expert id of pair \(p))", index: Int(e), bound: experts)
    }
    let xq = try gpuBuffer(allocate(byteCount: GPUExperts.activationBytes(x)), "matmulID")
    let groups = try gpuBuffer(
      allocate(byteCount: GPUExperts.groupScratchBytes(pairs: ids.count, experts: experts)), "matmulID")
    try withExtendedLifetime((xq, groups)) {
      _ = try matmulID(
        x, weights: weights, ids: ids, options: options, into: out, scratch: xq.pointer, quantized: false,
        groups: groups.pointer, grouped: false)
    }
  }

  /// Expert-routed matmul with its scratch given: `scratch` the q8_1 rows of `x`
  /// (`GPUExperts.activationBytes`; `quantized`: it holds them already), `groups` the grouping
  /// (`GPUExperts.groupScratchBytes`; `grouped`: it holds the grouping of these ids already). The ids
  /// are read on the device only: an id outside the experts makes its pair's outputs NaN. Returns
  /// whether `groups` now holds the grouping of `ids`.
  func matmulID(
    _ x: Tensor, weights: QTensor, ids: IndexTensor, options: QMatMulOptions, into out: Tensor,
    scratch xq: DevicePointer, quantized: Bool, groups: DevicePointer, grouped: Bool
  ) throws -> Bool {
    // f32/f16/bf16 experts: GPUDenseOps.swift (reads x itself: no q8_1 rows, no grouping).
    if DType(weights.type) != nil {
      try denseMatmulID(x, weights: weights, ids: ids, into: out)
      return grouped
    }
    guard options.path != .dequantize else {
      throw QuantaError.unsupported(op: "matmulID (dequantize path)", type: weights.type.name, device: device)
    }
    try checkType("matmulID", weights.type)
    let (tokens, xRows, k) = (x.shape[0], x.shape[1], x.shape[2])
    let (experts, n) = (weights.shape[0], weights.shape[1])
    let used = out.shape[1]
    let pairs = tokens * used
    guard pairs > 0, n > 0, k > 0 else { return grouped }
    guard experts <= GPUExperts.maxExperts, pairs <= GPUExperts.maxGridY,
      GPUExperts.maxTiles(pairs: pairs, experts: experts) <= GPUExperts.maxGridY
    else {
      throw QuantaError.unsupported(
        op: "matmulID of \(pairs) (token, expert) pairs over \(experts) experts (at most "
          + "\(GPUExperts.maxGridY) pairs, \(GPUExperts.maxExperts) experts)", type: weights.type.name,
        device: device)
    }
    if !quantized { try quantizeQ8_1(x, k: k, m: tokens * xRows, into: xq) }
    let w = try ptr(weights, "matmulID"), y = try ptr(out, "matmulID"), idp = try ptr(ids, "matmulID")
    let expertBytes = n * weights.rowByteCount
    let t = weights.type.name
    var args = KernelArguments()
    args.append(w); args.append(Int64(expertBytes)); args.append(Int64(experts)); args.append(xq)
    args.append(y); args.append(Int64(k)); args.append(Int64(n)); args.append(idp)
    guard GPUMatVec.hasDotKernel(weights.type, weights: w), expertBytes % GPUMatVec.weightAlignment == 0
    else {
      // Byte loads: any type, any offset; one pair per CTA row.
      args.append(Int64(used)); args.append(Int64(xRows))
      let rows = GPUMatVec.fallbackRowsPerBlock
      try launch(
        "mul_mat_vec_via_q8_1_id_\(t)", grid: (Self.blocks(n, rows), pairs, 1),
        block: (context.properties.warpSize, rows, 1), args)
      return grouped
    }
    if tokens == 1 {
      // Decode: the token's experts are distinct, one pair per CTA row.
      args.append(DevicePointer.null); args.append(DevicePointer.null)
      args.append(Int64(used)); args.append(Int64(xRows))
      try launch(
        "mul_mat_vec_q_id_\(t)_1", grid: (Self.blocks(n, GPUMatVec.rows(columns: 1)), pairs, 1),
        block: (GPUMatVec.threads(columns: 1), 1, 1), args)
      return grouped
    }
    // Several tokens: their pairs grouped per expert on the device, tiles of up to tileColumns pairs
    // of one expert, so each expert's rows are read once per tile.
    let tiles = GPUExperts.maxTiles(pairs: pairs, experts: experts)
    let order = groups, table = groups.advanced(by: 4 * pairs)
    if !grouped {
      var g = KernelArguments()
      g.append(idp); g.append(order); g.append(table)
      g.append(Int64(pairs)); g.append(Int64(experts)); g.append(Int64(tiles))
      try launch("moe_group_pairs", grid: (1, 1, 1), block: (GPUExperts.threads, 1, 1), g)
    }
    args.append(order); args.append(table)
    args.append(Int64(used)); args.append(Int64(xRows))
    let c = GPUExperts.tileColumns
    try launch(
      "mul_mat_vec_q_id_\(t)_\(c)", grid: (Self.blocks(n, GPUMatVec.rows(columns: c)), tiles, 1),
      block: (GPUMatVec.threads(columns: c), 1, 1), args)
    return true
  }

  public func mixExperts(_ x: Tensor, weights: Tensor, into out: Tensor) throws {
    let (tokens, used, d) = (x.shape[0], x.shape[1], x.shape[2])
    guard tokens > 0, d > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(x, "mixExperts"))
    args.append(try ptr(weights, "mixExperts"))
    args.append(try ptr(out, "mixExperts"))
    args.append(Int64(used))
    args.append(Int64(d))
    try launch("moe_mix_f32", grid: (Self.blocks(d, 256), tokens, 1), block: (256, 1, 1), args)
  }
}
