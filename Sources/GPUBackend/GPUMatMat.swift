import GGML

/// Mat-mat (prompt) through q8_1 activations: more than `GPUMatVec.maxColumns` columns.
/// Launch geometry of the mat-mat kernels (Sources/GPUKernels/kernels/kernels.cu).
enum GPUMatMat {
  /// Weight rows × activation columns per CTA, and its threads (MMQ_TN, MMQ_TM, MMQ_THREADS).
  static let tileRows = 32
  static let tileColumns = 16
  static let threads = 128
  /// Kernels defined for the mat-mat path, per type (`%` = type name).
  static let perTypeKernels = ["mul_mat_via_q8_1_%"]
}

extension GPUBackend {
  /// `out[col, row] = Σ_j w[row, j] · x[col, j]` for `m` columns, `activations` already quantized to
  /// q8_1 blocks `[m, k / 32]`.
  func matMatViaQ8_1(
    type: GGMLType, weights w: DevicePointer, activations xq: DevicePointer, out y: DevicePointer, k: Int, n: Int,
    m: Int
  ) throws {
    var args = KernelArguments()
    args.append(w); args.append(xq); args.append(y); args.append(Int64(k)); args.append(Int64(n))
    args.append(Int64(m))
    try call { () throws(GPUError) in
      try context.launch(
        "mul_mat_via_q8_1_\(type.name)",
        grid: (Self.blocks(n, GPUMatMat.tileRows), Self.blocks(m, GPUMatMat.tileColumns), 1),
        block: (GPUMatMat.threads, 1, 1), arguments: args)
    }
  }
}
