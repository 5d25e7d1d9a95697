import CPUKernels
import GGML
import QuantaCore

// Quantize, dequantize and matmul on the CPU.
//
// Matmul (x [m, k] f32, W [n, k] of `type`, out [m, n]):
// - integer path (types with a CPUKernels kernel): x quantized ONCE to the type's dot type (q8_0,
//   q8_1 or q8_K; dense weights dot f32 x directly), then tasks of (weight rows × x rows) through
//   the nr×nc tile kernel, which reuses each loaded weight block across the x rows of the tile.
//   Mat-vec (m = 1) is the same with one column: weight rows are split across threads.
// - gemm path (`.auto`, m ≥ `gemmMinRows`, types whose table has a `gemm` kernel: AVX512-VNNI): x
//   quantized once as above, each activation row's per-group side values computed once, then tasks
//   of (16-row weight strips × wide column panels) through the repacking mat-mat kernel. Not ggml's
//   summation order; `.integerDot` keeps the tile kernels (ggml's x86 sums bit for bit) at every m.
// - dequantize path (types without an integer kernel, or forced): a task dequantizes a few weight
//   rows to f32 (CPUKernels' C dequantizer where it has one, else the reference codec), then dots
//   them with every x row (f32 tile kernel).
extension CPUBackend {
  /// Weight rows a dequantize-path task converts at once: 16 × k floats of per-thread scratch.
  static let dequantizeRows = 16
  /// x rows a mat-mat task covers at most: 64 quantized rows (≈ 280 KB at k = 4096) stay in L2.
  static let matmatColumns = 64
  /// x rows from which `.auto` takes a type's gemm kernel. It repacks each 16-row weight strip
  /// once per task (gathers across rows), a cost per weight byte that the tile kernels do not pay:
  /// on cache-resident weights gemm wins from ~8 rows, but on a large matrix read from memory (the
  /// 262,144-row output layer in batched decode of 8 sequences) it halved the step rate at 8 rows;
  /// the break-even estimated from its repack share (~30 % at 128 rows) is ~20 rows.
  static let gemmMinRows = 32
  /// Activation bytes a gemm task's column panel may span (L2-resident; the weight panel is reused
  /// across all of them, so wider panels repack less).
  static let gemmPanelBytes = 2 << 20

  public func matmul(_ x: Tensor, weights: QTensor, options: QMatMulOptions, into out: Tensor) throws {
    let w = UnsafeRawPointer(try own(weights.buffer, "matmul").base + weights.byteOffset)
    let xs = UnsafePointer<Float>(
      (try own(x.buffer, "matmul").base + x.byteOffset).assumingMemoryBound(to: Float.self))
    let ys = (try own(out.buffer, "matmul").base + out.byteOffset).assumingMemoryBound(to: Float.self)
    try matmul(
      xs, m: x.shape[0], k: x.shape[1], weights: w, n: weights.shape[0], type: weights.type,
      rowBytes: weights.rowByteCount, options: options, out: ys)
  }

  /// `out [m, n] = x [m, k] · wᵀ` over raw memory: `n` weight rows of `rowBytes` each at `w` (a
  /// matrix, or one expert's rows of a stacked tensor: `matmulID`).
  func matmul(
    _ xs: UnsafePointer<Float>, m: Int, k: Int, weights w: UnsafeRawPointer, n: Int, type: GGMLType,
    rowBytes: Int, options: QMatMulOptions, out ys: UnsafeMutablePointer<Float>
  ) throws {
    let table = kernels
    let dotType = table.vecDotType(type)
    let tile = table.tile(type)
    let hasInteger = dotType >= 0 && tile != nil
    let integer: Bool
    switch options.path {
    case .auto: integer = hasInteger
    case .integerDot:
      guard hasInteger else {
        throw QuantaError.unsupported(op: "matmul(integerDot, \(table.isa))", type: type.name, device: device)
      }
      integer = true
    case .dequantize: integer = false
    }
    if integer, let tile {
      let tiles = TileKernels(plain: tile, groupsOf4: table.tileGroupsOf4(type) ?? tile)
      let gemm = options.path == .auto && m >= CPUBackend.gemmMinRows ? table.gemm(type) : nil
      try integerMatmul(
        xs, m: m, k: k, w: w, n: n, rowBytes: rowBytes, dotType: dotType, tile: tiles, gemm: gemm,
        table: table, out: ys)
    } else {
      try dequantizeMatmul(
        xs, m: m, k: k, w: w, n: n, type: type, rowBytes: rowBytes, table: table, out: ys)
    }
  }

  private func integerMatmul(
    _ x: UnsafePointer<Float>, m: Int, k: Int, w: UnsafeRawPointer, n: Int, rowBytes: Int, dotType: Int32,
    tile: TileKernels, gemm: KernelTable.Gemm?, table: KernelTable, out: UnsafeMutablePointer<Float>
  ) throws {
    if dotType == Int32(QK_TYPE_F32) {
      tiles(
        x: UnsafeRawPointer(x), ldY: k * 4, m: m, k: k, w: w, n: n, rowBytes: rowBytes, tile: tile,
        table: table, out: out)
      return
    }
    guard let dot = GGMLType(rawValue: UInt32(dotType)), let quantize = table.quantizer(dotType),
      let yRowBytes = dot.byteCount(forElements: k)
    else {
      throw QuantaError.unsupported(
        op: "matmul(activation type \(dotType))", type: "\(k) values", device: device)
    }
    scratch.with(bytes: m * yRowBytes) { y in
      if let gemm {
        gemmTasks(
          gemm, x: x, quantize: quantize, y: y, ldY: yRowBytes, m: m, k: k, w: w, n: n, rowBytes: rowBytes,
          out: out)
        return
      }
      // Quantize every x row once; rows are independent.
      pool.parallelFor(count: m, chunk: pool.chunk(for: m, perThread: 2)) { rows, _ in
        for r in rows { quantize(x + r * k, y + r * yRowBytes, Int64(k)) }
      }
      tiles(
        x: UnsafeRawPointer(y), ldY: yRowBytes, m: m, k: k, w: w, n: n, rowBytes: rowBytes, tile: tile,
        table: table, out: out)
    }
  }

  /// The gemm path: each x row quantized into `y` and its per-group side values computed (one pass
  /// over the rows), then (strip × panel) tasks.
  private func gemmTasks(
    _ gemm: KernelTable.Gemm, x: UnsafePointer<Float>, quantize: qk_quantize_fn, y: UnsafeMutableRawPointer,
    ldY: Int, m: Int, k: Int, w: UnsafeRawPointer, n: Int, rowBytes: Int, out: UnsafeMutablePointer<Float>
  ) {
    let groups = k / gemm.group
    scratch.with(bytes: m * groups * MemoryLayout<qk_gemm_act>.stride) { raw in
      let info = raw.bindMemory(to: qk_gemm_act.self, capacity: m * groups)
      pool.parallelFor(count: m, chunk: pool.chunk(for: m, perThread: 2)) { rows, _ in
        for r in rows { quantize(x + r * k, y + r * ldY, Int64(k)) }
        gemm.act(Int32(k), Int32(rows.count), y + rows.lowerBound * ldY, ldY, info + rows.lowerBound * groups)
      }
      let y = UnsafeRawPointer(y)
      // As few column panels as the budget allows, of equal width (a multiple of the kernel's 8).
      let widest = max(8, CPUBackend.gemmPanelBytes / max(ldY, 1))
      let panels = (m + widest - 1) / widest
      let cols = min(m, ((m + panels - 1) / panels + 7) / 8 * 8)
      let colChunks = (m + cols - 1) / cols
      let rows = min(n, pool.chunk(for: n, perThread: max(1, 4 / colChunks), minimum: 16, multiple: 16))
      let rowChunks = (n + rows - 1) / rows
      pool.parallelFor(tasks: rowChunks * colChunks) { task, _ in
        let r0 = (task % rowChunks) * rows
        let c0 = (task / rowChunks) * cols
        gemm.run(
          Int32(k), Int32(min(rows, n - r0)), Int32(min(cols, m - c0)), w + r0 * rowBytes, rowBytes,
          y + c0 * ldY, ldY, info + c0 * groups, out + c0 * n + r0, n)
      }
    }
  }

  /// The tile kernels of one weight type: ggml (whose sums the kernels reproduce) sums x rows
  /// 0 ..< m − m % 4 of some types differently from the rest (its repacked gemm vs gemv).
  struct TileKernels {
    var plain: qk_tile_fn
    var groupsOf4: qk_tile_fn
  }

  /// Splits `[m, n]` into tasks of (weight rows × x rows) for the tile kernel.
  private func tiles(
    x y: UnsafeRawPointer, ldY: Int, m: Int, k: Int, w: UnsafeRawPointer, n: Int, rowBytes: Int,
    tile: TileKernels,
    table: KernelTable, out: UnsafeMutablePointer<Float>
  ) {
    // The tile kernel keeps an MR-row weight strip in L1 and streams the task's columns past it from
    // L2: at most `matmatColumns`, fewer for long rows (≤ 256 KiB of activations).
    let panel = max(
      table.tileCols,
      min(CPUBackend.matmatColumns, (256 << 10) / max(ldY, 1)) / table.tileCols * table.tileCols)
    let cols = min(m, panel)
    let colChunks = (m + cols - 1) / cols
    // Rows per task: ~8 tasks per thread over all column chunks (balance), a multiple of the
    // micro-tile, at least 16 rows so a task is worth its atomic increment.
    let perThread = max(1, 8 / colChunks)
    let rows = min(n, pool.chunk(for: n, perThread: perThread, minimum: 16, multiple: table.tileRows))
    let rowChunks = (n + rows - 1) / rows
    let grouped = m - m % 4
    pool.parallelFor(tasks: rowChunks * colChunks) { task, _ in
      let r0 = (task % rowChunks) * rows
      let c0 = (task / rowChunks) * cols
      let nr = min(rows, n - r0)
      let nc = min(cols, m - c0)
      // x rows below `grouped` take the groups-of-4 kernel, the rest the plain one.
      let split = min(max(grouped - c0, 0), nc)
      if split > 0 {
        tile.groupsOf4(
          Int32(k), Int32(nr), Int32(split), w + r0 * rowBytes, rowBytes, y + c0 * ldY, ldY,
          out + c0 * n + r0, n)
      }
      if split < nc {
        let c1 = c0 + split
        tile.plain(
          Int32(k), Int32(nr), Int32(nc - split), w + r0 * rowBytes, rowBytes, y + c1 * ldY, ldY,
          out + c1 * n + r0, n)
      }
    }
  }

  private func dequantizeMatmul(
    _ x: UnsafePointer<Float>, m: Int, k: Int, w: UnsafeRawPointer, n: Int, type: GGMLType, rowBytes: Int,
    table: KernelTable, out: UnsafeMutablePointer<Float>
  ) throws {
    guard let dequantizeRow = table.dequantizer(type) else {
      throw QuantaError.unsupported(op: "matmul", type: type.name, device: device)
    }
    let f32Tile = table.tile(.f32)
    let rows = CPUBackend.dequantizeRows
    let threads = pool.threadCount
    scratch.with(bytes: threads * rows * k * 4) { raw in
      let perThread = raw.assumingMemoryBound(to: Float.self)
      pool.parallelFor(count: n, chunk: rows) { r, thread in
        let wf = perThread + thread * rows * k
        for i in r { dequantizeRow(w + i * rowBytes, wf + (i - r.lowerBound) * k, k) }
        var c0 = 0
        while c0 < m {
          let nc = min(CPUBackend.matmatColumns, m - c0)
          if let f32Tile {
            f32Tile(
              Int32(k), Int32(r.count), Int32(nc), wf, k * 4, x + c0 * k, k * 4, out + c0 * n + r.lowerBound,
              n)
          } else {
            for c in c0..<c0 + nc {
              for i in 0..<r.count {
                var s: Float = 0
                for j in 0..<k { s += wf[i * k + j] * x[c * k + j] }
                out[c * n + r.lowerBound + i] = s
              }
            }
          }
          c0 += nc
        }
      }
    }
  }

  public func quantize(_ x: Tensor, into q: QTensor) throws {
    let src = (try own(x.buffer, "quantize").base + x.byteOffset).assumingMemoryBound(to: Float.self)
    let dst = try own(q.buffer, "quantize").base + q.byteOffset
    guard let codec = q.type.quantizer else {
      throw QuantaError.unsupported(op: "quantize", type: q.type.name, device: device)
    }
    let (rows, k, rowBytes) = (q.rowCount, q.rowLength, q.rowByteCount)
    pool.parallelFor(count: rows, chunk: pool.chunk(for: rows)) { r, _ in
      for i in r { codec.quantize(src + i * k, into: dst + i * rowBytes, count: k) }
    }
  }

  public func dequantize(_ q: QTensor, into out: Tensor) throws {
    let src = UnsafeRawPointer(try own(q.buffer, "dequantize").base + q.byteOffset)
    let dst = try own(out.buffer, "dequantize").base + out.byteOffset
    guard let codec = q.type.dequantizer, let dequantizeRow = kernels.dequantizer(q.type) else {
      throw QuantaError.unsupported(op: "dequantize", type: q.type.name, device: device)
    }
    let (rows, k, rowBytes) = (q.rowCount, q.rowLength, q.rowByteCount)
    switch out.dtype {
    case .f32:
      let f = dst.assumingMemoryBound(to: Float.self)
      pool.parallelFor(count: rows, chunk: pool.chunk(for: rows)) { r, _ in
        for i in r { dequantizeRow(src + i * rowBytes, f + i * k, k) }
      }
    case .f16, .bf16:
      let h = dst.assumingMemoryBound(to: UInt16.self)
      let toHalf = out.dtype == .f16 ? fp32ToFp16 : fp32ToBf16
      scratch.with(bytes: pool.threadCount * k * 4) { raw in
        let tmp = raw.assumingMemoryBound(to: Float.self)
        pool.parallelFor(count: rows, chunk: pool.chunk(for: rows)) { r, thread in
          let row = tmp + thread * k
          for i in r {
            codec.dequantize(src + i * rowBytes, into: row, count: k)
            for j in 0..<k { h[i * k + j] = toHalf(row[j]) }
          }
        }
      }
    }
  }
}
