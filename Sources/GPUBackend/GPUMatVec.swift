import GGML

/// Mat-vec (decode) through q8_1 activations: `m` ≤ `maxColumns` activation columns.
/// The one owner of the mat-vec launch geometry (issue 12 §3): `mul_mat_vec_q_<type>_<m>` (mmvq.cu)
/// reads it through `sourceDefines`, `matVecViaQ8_1` launches with the same numbers.
enum GPUMatVec {
  /// Widest activation batch the mat-vec kernels take; wider goes to the mat-mat kernels. The
  /// kernels exist for 1…8 columns (mmvq.cu instantiates them).
  static let maxColumns = 8
  /// Up to this many columns a matmul runs on the small-batch matrix-core mat-mat where that applies
  /// (`GPUMatMat.SmallBatch`, CUDA sm_80+), else as mat-vec launches of `maxColumns` columns each: the
  /// mat-mat kernel's cost is nearly flat in the columns (H100, 7B Q4_0: 16 columns took 97 ms per
  /// step through it, 512 columns 139 ms, while 8 columns of mat-vec take about 8 ms).
  static let maxSplitColumns = 64
  /// Threads per CTA for `m` columns at index `m - 1` (MMVQ_THREADS(m)): a multiple of 64, so whole
  /// wavefronts at 32 and 64 wide; they split k (several wavefronts per row). Fewer for many columns,
  /// whose per-thread sums take registers (ggml's calc_nwarps: 4 warps of 32 up to 4 columns, then 2).
  static let threadsPerBlock: [Int] = [128, 128, 128, 128, 64, 64, 64, 64]
  /// Weight rows per CTA for `m` columns at index `m - 1` (MMVQ_ROWS(m)); every thread works on all of
  /// them, so the activations it loads serve each row (ggml's calc_rows_per_block).
  static let rowsPerBlock: [Int] = [1, 2, 2, 2, 2, 2, 2, 2]
  /// The per-type kernels read weight blocks with loads as wide as the block layout allows (up to 128
  /// bits), which needs the weights to start at this alignment; otherwise the launch falls back to
  /// `mul_mat_vec_via_q8_1` (kernels.cu: byte loads, one launch column per activation column).
  static let weightAlignment = 16
  /// Weight rows per CTA of that fallback (MMV_ROWS in kernels.cu; one wavefront per row).
  static let fallbackRowsPerBlock = 4
  /// Types with per-type kernels `mul_mat_vec_q_<type>_<m>` (MMVQ_TYPE_LIST in mmvq.cu; the CPU
  /// emulation script checks they agree). Every other type runs `mul_mat_vec_via_q8_1`.
  static let dotTypes: [GGMLType] = [
    .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs, .mxfp4,
  ]
  /// Parts per weight block of each per-type kernel (the `parts` of its vdq_<type> in mmvq.cu, which
  /// static_asserts these): a thread's share of a block. A row has (k / block size) · parts slots.
  static let partsPerBlock: [GGMLType: Int] = [
    .q4_0: 2, .q4_1: 2, .q5_0: 2, .q5_1: 2, .q8_0: 2, .q2_K: 8, .q3_K: 8, .q4_K: 8, .q5_K: 8, .q6_K: 8,
    .iq4_nl: 2, .iq4_xs: 8, .mxfp4: 2,
  ]
  /// Whether a one-column mat-vec of `type` over rows of `k` runs `mul_mat_vec_q_<type>_1_short` (one
  /// wavefront per row) where `GPUBackend.Configuration.shortRowMatVec` is on (the default): when the
  /// row has fewer slots than the plain kernel's CTA has threads, most of that CTA would idle (Gemma 3 270M's k = 640 … 2048; its 262144 × 640 q8_0 output matrix ran at
  /// 1.1 TB/s on an H100 with the plain kernel).
  static func shortRows(_ type: GGMLType, k: Int, columns m: Int) -> Bool {
    guard m == 1, let parts = partsPerBlock[type] else { return false }
    return k / type.blockSize * parts < threads(columns: 1)
  }
  /// Rows per CTA of the short-row kernel: one per wavefront (MMVQ_SHORT_ROWS).
  static func shortRowsPerBlock(warpSize: Int) -> Int { threads(columns: 1) / warpSize }

  /// Kernels defined for every type (`%` = type name): the fallback mat-vec.
  static let perTypeKernels = ["mul_mat_vec_via_q8_1_%"]
  /// The per-type kernels, by name: 1…maxColumns columns for each of `dotTypes`.
  static var dotKernelNames: [String] {
    dotTypes.flatMap { t in
      (1...maxColumns).map { "mul_mat_vec_q_\(t.name)_\($0)" } + ["mul_mat_vec_q_\(t.name)_1_short"]
        + ["mul_mat_vec_q_\(t.name)_1_short_chain"]
    }
  }

  static func threads(columns m: Int) -> Int { threadsPerBlock[m - 1] }
  static func rows(columns m: Int) -> Int { rowsPerBlock[m - 1] }

  /// The geometry as the kernel source reads it (KernelBuild prepends it): MMVQ_THREADS(c) and
  /// MMVQ_ROWS(c) as constant expressions of c.
  static var sourceDefines: String {
    func table(_ values: [Int]) -> String {
      "(" + values.enumerated().map { "(c) == \($0.offset + 1) ? \($0.element) : " }.joined() + "0)"
    }
    return """
      #define MMVQ_MAX_COLS \(maxColumns)
      #define MMVQ_THREADS(c) \(table(threadsPerBlock))
      #define MMVQ_ROWS(c) \(table(rowsPerBlock))
      \(dotTypes.map { "#define MMVQ_PARTS_\($0.name) \(partsPerBlock[$0] ?? 0)" }.joined(separator: "\n"))

      """
  }
}

extension GPUMatVec {
  /// Most matrices one per-type mat-vec launch takes (mmvq.cu: a plan's q/k/v projections).
  static let maxSharedMatrices = 3

  /// Whether `type` weights at `w` run the per-type kernel (so they can share a launch).
  static func hasDotKernel(_ type: GGMLType, weights w: DevicePointer) -> Bool {
    dotTypes.contains(type) && w.address % UInt64(weightAlignment) == 0
  }
}

extension GPUBackend {
  /// `out[col, row] = Σ_j w[row, j] · x[col, j]` for `m` ≤ `GPUMatVec.maxColumns` columns, `activations`
  /// already quantized to q8_1 blocks `[m, k / 32]`. `shared`: up to two more matrices of the same type
  /// and k over the same activations, in the same launch (each with the per-type kernel).
  func matVecViaQ8_1(
    type: GGMLType, weights w: DevicePointer, activations xq: DevicePointer, out y: DevicePointer, k: Int,
    n: Int,
    m: Int, shared: [(weights: DevicePointer, out: DevicePointer, n: Int)] = []
  ) throws {
    precondition(shared.count < GPUMatVec.maxSharedMatrices, "mmvq.cu takes at most three matrices")
    var args = KernelArguments()
    args.append(w); args.append(xq); args.append(y); args.append(Int64(k)); args.append(Int64(n))
    guard (1...GPUMatVec.maxColumns).contains(m) else {
      return try call { () throws(GPUError) in
        throw .unsupported(op: "mat-vec of \(m) columns", type: type.name, device: device.description)
      }
    }
    if !GPUMatVec.hasDotKernel(type, weights: w) {
      precondition(shared.isEmpty, "only per-type mat-vec kernels share a launch")
      // Types without a per-type kernel, or weights at an odd offset: the group-of-8 kernel with byte
      // loads, one launch column (grid.y) per activation column.
      let warp = context.properties.warpSize
      let rows = GPUMatVec.fallbackRowsPerBlock
      try call { () throws(GPUError) in
        try context.launch(
          "mul_mat_vec_via_q8_1_\(type.name)", grid: (Self.blocks(n, rows), m, 1), block: (warp, rows, 1),
          arguments: args)
      }
      return
    }
    let short = configuration.shortRowMatVec && GPUMatVec.shortRows(type, k: k, columns: m)
    let rows =
      short
      ? GPUMatVec.shortRowsPerBlock(warpSize: context.properties.warpSize) : GPUMatVec.rows(columns: m)
    var ctas = Self.blocks(n, rows)
    for i in 0..<(GPUMatVec.maxSharedMatrices - 1) {
      let more = i < shared.count ? shared[i] : (weights: DevicePointer.null, out: DevicePointer.null, n: 0)
      args.append(more.weights); args.append(more.out); args.append(Int64(more.n))
      ctas += Self.blocks(more.n, rows)
    }
    try call { () throws(GPUError) in
      try context.launch(
        short ? "mul_mat_vec_q_\(type.name)_1_short" : "mul_mat_vec_q_\(type.name)_\(m)", grid: (ctas, 1, 1),
        block: (GPUMatVec.threads(columns: m), 1, 1), arguments: args)
    }
  }
}
