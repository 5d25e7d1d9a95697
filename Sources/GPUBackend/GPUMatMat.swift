import GGML

/// Mat-mat (prompt) through q8_1 activations: more than `GPUMatVec.maxColumns` columns.
/// Launch geometry of the mat-mat kernels: `mul_mat_via_q8_1_<type>` (kernels.cu, every type, scalar
/// dp4a) and `mul_mat_q_<type>` (mmq.cu, int8 matrix cores, the types in `matrixCoreTypes`).
enum GPUMatMat {
  /// Weight rows × activation columns per CTA, and its threads (MMQ_TN, MMQ_TM, MMQ_THREADS).
  static let tileRows = 32
  static let tileColumns = 16
  static let threads = 128
  /// Kernels defined for the mat-mat path, per type (`%` = type name).
  static let perTypeKernels = ["mul_mat_via_q8_1_%"]

  /// The matrix-core kernel `mul_mat_q_<type>` (mmq.cu). Its geometry reaches the kernel source only
  /// through `sourceDefines`; scripts/gpu_kernels_emulate.sh reads the same constants. Its tiles live
  /// in dynamic shared memory, `sharedBytes(for:)` per type (70–118 KiB at 128 × 64 × 8).
  enum MatrixCore {
    /// Lanes over which the m16n8k32 / m16n8k16 fragments are defined (QK_MMA_LANES). A property of
    /// the instruction, not of the device: at wave64 a wavefront holds two such groups.
    static let lanes = 32
    /// Weight rows per CTA (MMQ_Y); each 32-lane group owns `tileRows / warps` of them (a multiple of 16).
    static let tileRows = 128
    /// Activation columns per CTA (MMQ_X), a multiple of 8.
    static let tileColumns = 64
    /// 32-lane groups per CTA (MMQ_NWARPS): 8, 16 rows each. On the H100 (same binary and run, the
    /// geometry overridden) 8 gave 57.8 TFLOP/s on q4_0 [512,4096,4096] against 36.2 with 4, pp512 of a
    /// 7B Q4_0 3,710 t/s against 2,579 (with the earlier kernel that decoded tiles into shared memory).
    static let warps = 8
    /// q8_1 blocks (32 values) per k-step (MMQ_KB): a multiple of 8, so that a step holds whole
    /// super-blocks of every type.
    static let blocksPerStep = 8
    static var threads: Int { warps * lanes }
  }

  /// The small-batch variants `mul_mat_q_<type>_n<X>` (mmq.cu) for decode batches of
  /// `GPUMatVec.maxColumns` + 1 … `GPUMatVec.maxSplitColumns` columns: the column tile sized to the
  /// batch (llama.cpp's mmq_x), fewer rows per CTA (more CTAs), and k split over grid.z where the
  /// row × column tiles alone would not fill the device, the slices' partial sums added up by
  /// `mul_mat_q_reduce` in a fixed order (deterministic: no atomics). Not yet timed on a GPU.
  enum SmallBatch {
    /// Weight rows per CTA (MMQ_SMALL_Y); each 32-lane group owns `tileRows / warps` (a multiple of 16).
    static let tileRows = 64
    /// 32-lane groups per CTA (MMQ_SMALL_NWARPS).
    static let warps = 4
    /// Column tiles with a kernel (MMQ_SMALL_X_LIST), ascending; a batch takes the first that holds it,
    /// else several tiles of the last.
    static let columnTiles = [16, 32]
    /// Split k until the CTAs reach `fillFactor` × the multiprocessors (about two resident CTAs per SM;
    /// llama.cpp fills the SMs with stream-k instead), into at most `maxSplits` slices (the
    /// partials, splits × m × n floats, stay a few MiB and the reduce reads each once) of at least
    /// `minStepsPerSplit` k-steps (`MatrixCore.blocksPerStep` q8_1 blocks each; two, so that a slice's
    /// double buffer overlaps a copy with a step).
    static let fillFactor = 2
    static let maxSplits = 8
    static let minStepsPerSplit = 2
    static var threads: Int { warps * MatrixCore.lanes }

    /// One launch: its column tile, k-steps per slice and slices (grid.z).
    struct Launch: Equatable {
      var tileColumns: Int
      var stepsPerSplit: Int
      var splits: Int
      /// The grid for `n` rows × `m` columns.
      func grid(rows n: Int, columns m: Int) -> (Int, Int, Int) {
        ((n + tileRows - 1) / tileRows, (m + tileColumns - 1) / tileColumns, splits)
      }
      /// Bytes of float partial sums the launch needs (`splits` outputs of `m` × `n`; none unsplit).
      func partialBytes(rows n: Int, columns m: Int) -> Int { splits > 1 ? splits * m * n * 4 : 0 }
      /// Whether the launch has at least `minimumFill` CTAs per multiprocessor.
      func fills(rows n: Int, columns m: Int, multiprocessors: Int) -> Bool {
        let g = grid(rows: n, columns: m)
        return Double(g.0 * g.1 * g.2) >= minimumFill * Double(max(1, multiprocessors))
      }
    }

    /// A matmul whose launch has fewer CTAs than this × the multiprocessors, even with k split, runs
    /// as mat-vec launches instead (`GPUBackend.smallBatchLaunch`): small matrices with short rows
    /// leave most SMs idle here. H100, Gemma 3 270M (k = 640, one or two k-slices), 16 sequences,
    /// `bench model --profile --parallel 16`, µs per step (ops one by one): q/k/v (4–16 CTAs) 946 on
    /// these kernels against 707 as two 8-column mat-vec launches, the FFN (10–32 CTAs) 891 against
    /// 746; the 262,144-row logits (4,096 CTAs) 209 against 434. The 7B's matrices all launch 172 or
    /// more. Between 40 and 172 nothing is measured yet: half the SMs keeps a GQA model's 1024 × 4096
    /// k/v projection (128 CTAs) on these kernels.
    static let minimumFill = 0.5

    /// The launch for `n` rows × `m` columns × row length `k` on `multiprocessors` SMs.
    static func launch(rows n: Int, columns m: Int, k: Int, multiprocessors: Int) -> Launch {
      let x = columnTiles.first { m <= $0 } ?? columnTiles[columnTiles.count - 1]
      let tiles = ((n + tileRows - 1) / tileRows) * ((m + x - 1) / x)
      let steps = max(1, (k / 32 + MatrixCore.blocksPerStep - 1) / MatrixCore.blocksPerStep)
      let target = fillFactor * max(1, multiprocessors)
      var splits = 1
      if tiles < target {
        splits = min((target + tiles - 1) / tiles, maxSplits, max(1, steps / minStepsPerSplit))
      }
      // No empty slices: as many as the steps per slice need.
      let per = (steps + splits - 1) / splits
      return Launch(tileColumns: x, stepsPerSplit: per, splits: (steps + per - 1) / per)
    }

    /// Whether a matmul of `m` columns of `type` runs on these kernels: the switch on (the CLI's
    /// QUANTA_SMALL_BATCH_MMQ), 9…64 columns, and the matrix-core kernel chosen for the type
    /// (`usesMatrixCores`, with this geometry's shared memory).
    static func applies(
      _ type: GGMLType, columns m: Int, enabled: Bool, vendor: GPUVendor, architecture: String,
      maxSharedBytes: Int = .max
    ) -> Bool {
      guard enabled, m > GPUMatVec.maxColumns, m <= GPUMatVec.maxSplitColumns else { return false }
      return usesMatrixCores(type, vendor: vendor, architecture: architecture, maxSharedBytes: .max)
        && columnTiles.allSatisfy { sharedBytes(for: type, rows: tileRows, columns: $0) <= maxSharedBytes }
    }
    /// The kernels, by name: every matrix-core type × column tile, and the reduce.
    static var kernelNames: [String] {
      matrixCoreTypes.flatMap { t in columnTiles.map { "mul_mat_q_\(t.name)_n\($0)" } } + ["mul_mat_q_reduce"]
    }
  }

  /// Dynamic shared memory of `mul_mat_q_<type>`: two buffers of `tileRows` raw weight slices and
  /// `tileColumns` raw q8_1 slices, then the activation sums — the layout mmq.cu's mmq_layout and
  /// mul_mat_q define (strides padded to ≡ 4 words mod 8).
  static func sharedBytes(for type: GGMLType) -> Int {
    sharedBytes(for: type, rows: MatrixCore.tileRows, columns: MatrixCore.tileColumns)
  }
  /// The same for a tile of `rows` × `columns` (the small-batch variants).
  static func sharedBytes(for type: GGMLType, rows: Int, columns: Int) -> Int {
    let kb = MatrixCore.blocksPerStep
    func pad(_ words: Int) -> Int { words + (12 - words % 8) % 8 }
    let raw = kb * 32 / type.blockSize * type.typeSize
    let buffer = rows * pad((raw + 6) / 4) + columns * pad(9 * kb)
    return 4 * (2 * buffer + columns * kb * 2)
  }

  /// Types with a `mul_mat_q_<type>` kernel (MMQ_TYPE_LIST in mmq.cu; HIPCompileTests finds each name
  /// in the compiled code object). Each has a per-type weight loader there (32-bit reads).
  static let matrixCoreTypes: [GGMLType] = [
    .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs,
  ]
  /// The matrix-core kernels, by name.
  static var matrixCoreKernelNames: [String] { matrixCoreTypes.map { "mul_mat_q_\($0.name)" } }

  /// The geometry as the kernel source reads it (KernelBuild prepends it).
  static var sourceDefines: String {
    """
    #define QK_MMA_LANES \(MatrixCore.lanes)
    #define MMQ_Y \(MatrixCore.tileRows)
    #define MMQ_X \(MatrixCore.tileColumns)
    #define MMQ_NWARPS \(MatrixCore.warps)
    #define MMQ_KB \(MatrixCore.blocksPerStep)
    #define MMQ_SMALL_Y \(SmallBatch.tileRows)
    #define MMQ_SMALL_NWARPS \(SmallBatch.warps)
    #define MMQ_SMALL_X_LIST(F, name, sub) \(smallXList)

    """
  }

  /// MMQ_SMALL_X_LIST's body: `F(name, sub, X)` for each column tile.
  static var smallXList: String {
    SmallBatch.columnTiles.map { "F(name, sub, \($0))" }.joined(separator: " ")
  }

  /// Where a small-batch launch's partial sums start in a matmul's scratch: after its q8_1
  /// activations, 256-byte aligned.
  static func partialsOffset(q8Bytes: Int) -> Int { (q8Bytes + 255) / 256 * 256 }

  /// Compute capability of an NVIDIA architecture name ("sm_90" → 90, "sm_120" → 120).
  static func computeCapability(_ architecture: String) -> Int? {
    guard architecture.hasPrefix("sm_") else { return nil }
    return Int(architecture.dropFirst(3).prefix { $0.isNumber })
  }

  /// Whether `type` runs on the int8 matrix-core kernel on this device: NVIDIA sm_80+ (mma.sync
  /// m16n8k32 s8). Elsewhere the kernel's portable shuffle version would be correct (it is what the
  /// CPU emulation tests, at wave32 and wave64) but slower than `mul_mat_via_q8_1`, so it is not
  /// chosen; AMD MFMA / WMMA versions of the MMA primitive are future work.
  /// The tiles must also fit the device's shared memory (`maxSharedBytes`; consumer sm_86/sm_89 cards
  /// allow 99 KiB, so q6_K and q8_0 keep the dp4a kernel there).
  static func usesMatrixCores(
    _ type: GGMLType, vendor: GPUVendor, architecture: String, maxSharedBytes: Int = .max
  ) -> Bool {
    guard vendor == .cuda, matrixCoreTypes.contains(type) else { return false }
    return (computeCapability(architecture) ?? 0) >= 80 && sharedBytes(for: type) <= maxSharedBytes
  }
}

extension GPUBackend {
  /// `out[col, row] = Σ_j w[row, j] · x[col, j]` for `m` columns, `activations` already quantized to
  /// q8_1 blocks `[m, k / 32]`.
  func matMatViaQ8_1(
    type: GGMLType, weights w: DevicePointer, activations xq: DevicePointer, out y: DevicePointer, k: Int,
    n: Int, m: Int
  ) throws {
    var args = KernelArguments()
    args.append(w); args.append(xq); args.append(y); args.append(Int64(k)); args.append(Int64(n))
    args.append(Int64(m))
    // The kernel reads weight blocks with 16-bit loads: an odd start (never seen; blocks are even-sized)
    // keeps the byte-reading kernel.
    let vendor = context.api.vendor, arch = context.properties.architecture
    if configuration.matrixCores,
      GPUMatMat.usesMatrixCores(
        type, vendor: vendor, architecture: arch, maxSharedBytes: context.properties.maxSharedBytesPerBlock),
      w.address % 2 == 0
    {
      let g = GPUMatMat.MatrixCore.self
      try call { () throws(GPUError) in
        try context.launch(
          "mul_mat_q_\(type.name)", grid: (Self.blocks(n, g.tileRows), Self.blocks(m, g.tileColumns), 1),
          block: (g.threads, 1, 1), sharedBytes: GPUMatMat.sharedBytes(for: type), arguments: args)
      }
      return
    }
    try call { () throws(GPUError) in
      try context.launch(
        "mul_mat_via_q8_1_\(type.name)",
        grid: (Self.blocks(n, GPUMatMat.tileRows), Self.blocks(m, GPUMatMat.tileColumns), 1),
        block: (GPUMatMat.threads, 1, 1), arguments: args)
    }
  }

  /// `matMatViaQ8_1` for a decode batch on `mul_mat_q_<type>_n<X>` (`launch` from `smallBatchLaunch`):
  /// unsplit straight into `y`; split, the slices into `partials` (`launch.partialBytes` of scratch),
  /// then `mul_mat_q_reduce` adds them into `y`.
  func matMatSmallBatch(
    type: GGMLType, weights w: DevicePointer, activations xq: DevicePointer, out y: DevicePointer, k: Int,
    n: Int, m: Int, launch: GPUMatMat.SmallBatch.Launch, partials: DevicePointer
  ) throws {
    let g = GPUMatMat.SmallBatch.self
    var args = KernelArguments()
    args.append(w); args.append(xq); args.append(launch.splits > 1 ? partials : y); args.append(Int64(k))
    args.append(Int64(n)); args.append(Int64(m)); args.append(Int64(launch.stepsPerSplit))
    try call { () throws(GPUError) in
      try context.launch(
        "mul_mat_q_\(type.name)_n\(launch.tileColumns)", grid: launch.grid(rows: n, columns: m),
        block: (g.threads, 1, 1),
        sharedBytes: GPUMatMat.sharedBytes(for: type, rows: g.tileRows, columns: launch.tileColumns),
        arguments: args)
    }
    guard launch.splits > 1 else { return }
    var reduce = KernelArguments()
    reduce.append(partials); reduce.append(y); reduce.append(Int64(m * n));
    reduce.append(Int64(launch.splits))
    try call { () throws(GPUError) in
      try context.launch(
        "mul_mat_q_reduce", grid: (Self.blocks(m * n, 256), 1, 1), block: (256, 1, 1), arguments: reduce)
    }
  }
}
