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

  /// Dynamic shared memory of `mul_mat_q_<type>`: two buffers of `tileRows` raw weight slices and
  /// `tileColumns` raw q8_1 slices, then the activation sums — the layout mmq.cu's mmq_layout and
  /// mul_mat_q define (strides padded to ≡ 4 words mod 8).
  static func sharedBytes(for type: GGMLType) -> Int {
    let g = MatrixCore.self
    func pad(_ words: Int) -> Int { words + (12 - words % 8) % 8 }
    let raw = g.blocksPerStep * 32 / type.blockSize * type.typeSize
    let buffer = g.tileRows * pad((raw + 6) / 4) + g.tileColumns * pad(9 * g.blocksPerStep)
    return 4 * (2 * buffer + g.tileColumns * g.blocksPerStep * 2)
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

    """
  }

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
}
