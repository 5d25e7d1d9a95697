import GGML

/// Mat-vec (decode) through q8_1 activations: `m` ≤ `maxColumns` activation columns.
/// Launch geometry of the mat-vec kernels (Sources/GPUKernels/kernels/kernels.cu).
enum GPUMatVec {
  /// Widest activation batch the mat-vec kernels take; wider goes to the mat-mat kernels.
  static let maxColumns = 8
  /// Weight rows per CTA (one wavefront per row).
  static let rowsPerBlock = 4
  /// Kernels defined for the mat-vec path, per type (`%` = type name).
  static let perTypeKernels = ["mul_mat_vec_via_q8_1_%"]
}

extension GPUBackend {
  /// `out[col, row] = Σ_j w[row, j] · x[col, j]` for `m` ≤ `GPUMatVec.maxColumns` columns, `activations`
  /// already quantized to q8_1 blocks `[m, k / 32]`.
  func matVecViaQ8_1(
    type: GGMLType, weights w: DevicePointer, activations xq: DevicePointer, out y: DevicePointer, k: Int, n: Int,
    m: Int
  ) throws {
    var args = KernelArguments()
    args.append(w); args.append(xq); args.append(y); args.append(Int64(k)); args.append(Int64(n))
    let warp = context.properties.warpSize
    let rows = GPUMatVec.rowsPerBlock
    try call { () throws(GPUError) in
      try context.launch(
        "mul_mat_vec_via_q8_1_\(type.name)", grid: (Self.blocks(n, rows), m, 1), block: (warp, rows, 1),
        arguments: args)
    }
  }
}
