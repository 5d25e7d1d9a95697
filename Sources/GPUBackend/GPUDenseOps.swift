import GGML
import QuantaCore

// The ops of `ComputeBackend` beyond the quantized kernels of GPUComputeBackend.swift, part 1:
// quantize (reference quantizers), dequantize to bf16 and from dense storage, getRows from dense
// tables, matmul with f32/f16/bf16 weights. Kernels: Sources/GPUKernels/kernels/dense_convert.cu.

extension KernelBuild {
  /// Types `quantize` runs on a GPU: the 32-value block types whose reference quantizer is a short
  /// per-block loop (one thread per block, bytes equal to the CPU's). Others (k-quants, i-quants:
  /// iterative searches) are a typed `unsupported`.
  public static let quantizeTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1]
  /// Dense storage types, as kernel name suffixes.
  static let denseTypeNames = ["f32", "f16", "bf16"]
  /// Element-wise and row kernels of dense_ops.cu, and the prompt attention kernels of fattn_tile.cu.
  static let denseOpKernels = rowOpKernels + attentionTiles.map(\.kernel)
  private static let rowOpKernels = [
    "rms_norm_f32", "layer_norm_f32", "rope_f32", "soft_max_f32", "write_kv_f16", "write_kv_bf16",
    "write_kv_q8_0",
    "write_kv_q4_0", "attention_f16", "attention_kv", "attention_kv_seq", "silu_f32",
    "gelu_f32", "swiglu_f32", "geglu_f32", "swiglu_oai_f32", "add_id_f32", "add_f32", "mul_f32", "scale_f32",
    "softcap_f32",
    "argmax_f32", "hadamard_f32",
  ]
  /// Every extern "C" kernel of dense_convert.cu, dense_ops.cu and fattn_tile.cu.
  public static var denseKernelNames: [String] {
    quantizeTypes.map { "quantize_ref_\($0.name)" } + types.map { "dequantize_block_\($0.name)_bf16" }
      + denseTypeNames.flatMap { a in denseTypeNames.map { "convert_\(a)_\($0)" } }
      + denseTypeNames.flatMap {
        ["get_rows_\($0)", "mul_mat_vec_\($0)", "mul_mat_\($0)", "mul_mat_vec_id_\($0)"]
      }
      + denseOpKernels
  }
  /// The largest run `hadamard` rotates (HADAMARD_MAX in dense_ops.cu) and its CTA width
  /// (HADAMARD_THREADS).
  public static let hadamardMaxBlock = 1024
  static let hadamardThreads = 128
  /// The largest head dimension `attention` serves (ATT_MAX_D in dense_ops.cu).
  public static let attentionMaxHeadDim = 512
  /// CTA width of `attention_f16` for `rows` (token, head) pairs: a multiple of 64 (whole wavefronts
  /// at 32 and 64 wide), at most ATT_MAX_THREADS. Fewer rows than two per multiprocessor (a decode
  /// step) get 512 threads, so each CTA's keys spread over more wavefronts; prompts keep 128.
  static func attentionThreads(rows: Int, multiprocessors: Int) -> Int {
    rows < 2 * multiprocessors ? 512 : 128
  }

  /// One variant of the prompt attention kernel (fattn_tile.cu): it serves head dimensions up to
  /// `maxHeadDim` with CTAs of `rows` query rows (a kv head's (token, query head) pairs) each.
  struct AttentionTile: Sendable {
    let maxHeadDim, rows: Int
    var kernel: String { "flash_attn_tile_f16_d\(maxHeadDim)" }
  }
  /// The variants, smallest head dimension first: the same numbers as the flash_attn_tile_f16_d*
  /// kernels at the end of fattn_tile.cu, which also fix each one's key tile and thread blocks.
  /// Larger head dimensions stay on attention_f16.
  static let attentionTiles = [
    AttentionTile(maxHeadDim: 64, rows: 64), AttentionTile(maxHeadDim: 128, rows: 32),
    AttentionTile(maxHeadDim: 256, rows: 16),
  ]
  /// CTA width of every tile variant (FA_THREADS in fattn_tile.cu).
  static let attentionTileThreads = 256
  /// Query tokens from which `attention` runs the tile kernels. Fewer (decode, small batches) stay
  /// on attention_f16: a tile would sit mostly empty and the grid would leave multiprocessors idle.
  static let attentionTileMinTokens = 32

  /// The tile variant for `headDim`, or nil (attention_f16) when `tokens` is below
  /// `attentionTileMinTokens` or `headDim` above every variant.
  static func attentionTile(tokens: Int, headDim: Int) -> AttentionTile? {
    guard tokens >= attentionTileMinTokens else { return nil }
    return attentionTiles.first { headDim <= $0.maxHeadDim }
  }
}

extension GPUBackend {
  /// 1-D grid-stride launch of 256-thread blocks over `count` items (the grid capped; kernels loop).
  func launch1D(_ name: String, count: Int, _ args: KernelArguments) throws {
    guard count > 0 else { return }
    let grid = min(Self.blocks(count, 256), 1 << 20)
    try call { () throws(GPUError) in
      try context.launch(name, grid: (grid, 1, 1), block: (256, 1, 1), arguments: args)
    }
  }

  func launch(_ name: String, grid: (Int, Int, Int), block: (Int, Int, Int), _ args: KernelArguments) throws {
    try call { () throws(GPUError) in try context.launch(name, grid: grid, block: block, arguments: args) }
  }

  /// Int32 values (ids, positions) in new device memory. Every op runs on the context's one stream,
  /// so the buffer may return to the pool right after the launch that reads it.
  func upload(_ values: [Int32], _ op: String) throws -> GPUBuffer {
    try gpuBuffer(values.withUnsafeBytes { try makeBuffer(wrapping: $0, owner: 0) }, op)
  }

  func optionalPointer(_ t: Tensor?, _ op: String) throws -> DevicePointer {
    try t.map { try ptr($0, op) } ?? .null
  }

  // MARK: Quantize / dequantize

  public func quantize(_ x: Tensor, into q: QTensor) throws {
    let n = q.count
    guard n > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(x, "quantize"))
    args.append(try ptr(q, "quantize"))
    if let dtype = DType(q.type) {
      args.append(Int64(n))
      return try launch1D("convert_f32_\(dtype.rawValue)", count: n, args)
    }
    guard KernelBuild.quantizeTypes.contains(q.type) else {
      throw QuantaError.unsupported(op: "quantize", type: q.type.name, device: device)
    }
    args.append(Int64(n / 32))
    try launch1D("quantize_ref_\(q.type.name)", count: n / 32, args)
  }

  /// Dense storage → f32/f16/bf16, and any kernel type → bf16 (exact: the f32 value, rounded as
  /// `fp32ToBf16`).
  func dequantizeDense(_ q: QTensor, into out: Tensor) throws {
    let n = q.count
    guard n > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(q, "dequantize"))
    args.append(try ptr(out, "dequantize"))
    args.append(Int64(n))
    if let dtype = DType(q.type) {
      return try launch1D("convert_\(dtype.rawValue)_\(out.dtype.rawValue)", count: n, args)
    }
    guard KernelBuild.types.contains(q.type) else {
      throw QuantaError.unsupported(op: "dequantize", type: q.type.name, device: device)
    }
    try launch1D("dequantize_block_\(q.type.name)_bf16", count: n / 8, args)
  }

  // MARK: Dense tables and weights

  public func getRows(_ table: Tensor, ids: [Int32], into out: Tensor) throws {
    guard !ids.isEmpty else { return }
    let idBuf = try upload(ids, "getRows")
    try withExtendedLifetime(idBuf) { try getRows(table, ids: idBuf.pointer, count: ids.count, into: out) }
  }

  /// Dense getRows with `count` ids already on the device.
  func getRows(_ table: Tensor, ids: DevicePointer, count: Int, into out: Tensor) throws {
    let k = table.shape[1]
    var args = KernelArguments()
    args.append(try ptr(table, "getRows"))
    args.append(ids)
    args.append(try ptr(out, "getRows"))
    args.append(Int64(k))
    args.append(Int64(count))
    try launch1D("get_rows_\(table.dtype.rawValue)", count: count * k, args)
  }

  /// `out [m, n] = x [m, k] · wᵀ` with w f32/f16/bf16 `[n, k]`: f32 dots for every path (the
  /// CPU's dense weights dot f32 activations too). Mat-vec for m ≤ 8, 64 × 64 tiles above.
  /// Expert-routed matmul over f32/f16/bf16 experts (`mul_mat_vec_id_<type>`, dense_convert.cu): one
  /// (token, slot) pair per CTA row, no q8_1 activations and no grouping. The ids are read on the
  /// device only: an id outside the experts makes its pair's outputs NaN.
  func denseMatmulID(_ x: Tensor, weights: QTensor, ids: IndexTensor, into out: Tensor) throws {
    let (tokens, xRows, k) = (x.shape[0], x.shape[1], x.shape[2])
    let (experts, n) = (weights.shape[0], weights.shape[1])
    let used = out.shape[1]
    let pairs = tokens * used
    guard pairs > 0, n > 0, k > 0 else { return }
    guard pairs <= GPUExperts.maxGridY else {
      throw QuantaError.unsupported(
        op: "matmulID of \(pairs) (token, expert) pairs (at most \(GPUExperts.maxGridY))",
        type: weights.type.name, device: device)
    }
    var args = KernelArguments()
    args.append(try ptr(weights, "matmulID"))
    args.append(Int64(n * k))
    args.append(Int64(experts))
    args.append(try ptr(x, "matmulID"))
    args.append(try ptr(out, "matmulID"))
    args.append(Int64(k))
    args.append(Int64(n))
    args.append(try ptr(ids, "matmulID"))
    args.append(Int64(used))
    args.append(Int64(xRows))
    let rows = GPUMatVec.fallbackRowsPerBlock
    try launch(
      "mul_mat_vec_id_\(weights.type.name)", grid: (Self.blocks(n, rows), pairs, 1),
      block: (context.properties.warpSize, rows, 1), args)
  }

  func denseMatmul(_ x: Tensor, weights: QTensor, into out: Tensor) throws {
    let k = weights.rowLength, n = weights.rowCount
    let m = x.count / max(k, 1)
    guard m > 0, n > 0, k > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(weights, "matmul"))
    args.append(try ptr(x, "matmul"))
    args.append(try ptr(out, "matmul"))
    args.append(Int64(k))
    args.append(Int64(n))
    let t = weights.type.name
    if m <= 8 {
      try launch(
        "mul_mat_vec_\(t)", grid: (Self.blocks(n, 4), m, 1), block: (context.properties.warpSize, 4, 1), args)
    } else {
      args.append(Int64(m))
      try launch("mul_mat_\(t)", grid: (Self.blocks(n, 64), Self.blocks(m, 64), 1), block: (256, 1, 1), args)
    }
  }
}
