import Foundation
import GGML
import QuantaCore

/// Device memory of a `GPUBackend` (a pooled block; returned to the pool on release).
public final class GPUBuffer: DeviceBuffer, @unchecked Sendable {
  // @unchecked: immutable after init (the memory itself follows DeviceBuffer's stream rule).
  public let gpu: GPUBackend
  public let pointer: DevicePointer
  public let byteCount: Int
  let sizeClass: Int
  public var backend: any ComputeBackend { gpu }
  public var hostAddress: UnsafeMutableRawPointer? { nil }
  public var isReadOnly: Bool { false }

  init(gpu: GPUBackend, pointer: DevicePointer, byteCount: Int, sizeClass: Int) {
    self.gpu = gpu
    self.pointer = pointer
    self.byteCount = byteCount
    self.sizeClass = sizeClass
  }
  deinit { gpu.context.release(pointer, sizeClass: sizeClass) }
}

/// The `ComputeBackend` for CUDA-family GPUs: the same class for `.cuda(i)` and `.rocm(i)`, the
/// vendor injected as a `VendorAPI`.
public final class GPUBackend: ComputeBackend, @unchecked Sendable {
  // @unchecked: immutable after init; GPUContext guards its own state.
  public let device: Device
  public let info: DeviceInfo
  public let context: GPUContext
  public let configuration: Configuration

  /// Choices a caller makes for a GPU backend (passed in: libraries read no environment).
  public struct Configuration: Sendable, Equatable {
    /// Run the prompt mat-mat on int8 matrix cores where the device has them (NVIDIA sm_80+); off, the
    /// portable kernel the ROCm path runs (scripts/rocm_on_cuda.sh compares the two vendors on the
    /// same kernels that way).
    public var matrixCores = true
    /// Launch each kernel as a programmatic dependent of the one before it where the device can
    /// (CUDA sm_90+): its launch overlaps the previous kernel's end, and every kernel waits for its
    /// predecessor inside. Off by default: on an H100 it took a 7B Q4_0 decode from 345 to 328 t/s
    /// and Gemma 3 270M from 891 to 906 (same binary and run), so it stays a measured option.
    public var dependentLaunches = false
    /// Run matmuls of 9…64 columns (batched decode) on the small-batch matrix-core kernels
    /// `mul_mat_q_<type>_n<X>` where the prompt mat-mat would run on matrix cores (GPUMatMat.SmallBatch);
    /// off, as `GPUMatVec.maxColumns`-column mat-vec launches. The CLI: QUANTA_SMALL_BATCH_MMQ=0 turns it
    /// off, so both paths can be timed with one binary.
    public var smallBatchMatMat = true
    /// Run one-column mat-vecs over short rows on `mul_mat_vec_q_<type>_1_short`, one wavefront per row
    /// (GPUMatVec.shortRows: Gemma 3 270M's k = 640 … 2048 and its 262144-row logits). On an H100 (same
    /// binary and run) it took Gemma 3 270M Q4_K_M decode from 1,040 to 1,115 t/s (the logits mat-vec from
    /// 161 to 90 µs) and left Llama 1B Q8_0 and 7B Q4_0 / Q4_K_M unchanged. The CLI:
    /// QUANTA_SHORT_ROW_MATVEC=0 turns it off, so both paths can be timed with one binary.
    public var shortRowMatVec = true
    /// Let a plan run a short-row mat-vec's neighbours inside it (`mul_mat_vec_q_<type>_1_short_chain`):
    /// the row chain after it (residual add, norms, q8_1) as its last CTA's tail and a gated activation
    /// before it as every CTA's head — up to three launches fewer per layer. Needs `shortRowMatVec`.
    /// Off by default: verified by the CPU emulation, NVRTC and the recording vendor, not yet on a GPU.
    /// The CLI: QUANTA_MATVEC_TAILS=1 turns it on.
    public var matVecTails = false
    /// Vendor library paths that replace the built-in search (the CLI: QUANTA_*_LIB).
    public var libraries = GPULibraryPaths()
    /// Where compiled kernels are cached; nil: `KernelCache.defaultDirectory` (the CLI:
    /// $QUANTA_CACHE/kernels when QUANTA_CACHE is set).
    public var kernelCacheDirectory: URL?
    public init(
      matrixCores: Bool = true, dependentLaunches: Bool = false, smallBatchMatMat: Bool = true,
      shortRowMatVec: Bool = true, matVecTails: Bool = false, libraries: GPULibraryPaths = .init(),
      kernelCacheDirectory: URL? = nil
    ) {
      self.matrixCores = matrixCores
      self.dependentLaunches = dependentLaunches
      self.smallBatchMatMat = smallBatchMatMat
      self.shortRowMatVec = shortRowMatVec
      self.matVecTails = matVecTails
      self.libraries = libraries
      self.kernelCacheDirectory = kernelCacheDirectory
    }
  }

  /// Opens `device` (`.cuda(i)` → CUDA, `.rocm(i)` → HIP): loads the vendor libraries (from
  /// `configuration.libraries` where set), checks the index, reads the device. `cache` nil: the cache
  /// in `configuration.kernelCacheDirectory`. Throws `GPUError` with the facts when any step fails.
  public convenience init(
    device: Device, cache: KernelCache? = nil, configuration: Configuration = .init()
  ) throws(GPUError) {
    let vendor: GPUVendor
    switch device.kind {
    case .cuda: vendor = .cuda
    case .rocm: vendor = .hip
    default: throw .unsupported(op: "open", type: "device kind", device: device.description)
    }
    try self.init(
      device: device, api: GPUDevices.loadAPI(vendor, libraries: configuration.libraries),
      cache: cache, configuration: configuration)
  }

  public init(
    device: Device, api: any VendorAPI, cache: KernelCache? = nil,
    configuration: Configuration = .init()
  ) throws(GPUError) {
    let ctx = try GPUContext(
      api: api, device: device.ordinal,
      cache: cache ?? KernelCache(directory: configuration.kernelCacheDirectory),
      dependentLaunches: configuration.dependentLaunches)
    let p = ctx.properties
    self.device = device
    self.context = ctx
    self.configuration = configuration
    self.info = DeviceInfo(
      device: device, name: p.name, architecture: p.targetID, totalMemory: p.totalMemory,
      computeUnits: p.multiprocessors, warpSize: p.warpSize, lastLevelCacheBytes: p.l2CacheBytes,
      capabilities: GPUArchitecture.capabilities(architecture: p.architecture))
  }

  /// A factory for `BackendRegistry.register(.cuda / .rocm)`.
  public static func factory(_ configuration: Configuration)
    -> @Sendable (Device) throws -> any ComputeBackend
  {
    { device in
      do { return try GPUBackend(device: device, configuration: configuration) } catch {
        throw QuantaError.deviceUnavailable(device: device, reason: "\(error)")
      }
    }
  }

  /// Converts vendor faults to the contract's errors where one fits (OOM, unsupported).
  func call<R>(_ body: () throws(GPUError) -> R) throws -> R {
    do { return try body() } catch {
      switch error {
      case .outOfMemory, .unsupported: throw error.asQuantaError(device: device)
      default: throw error
      }
    }
  }

  func gpuBuffer(_ b: any DeviceBuffer, _ op: String) throws -> GPUBuffer {
    guard let g = b as? GPUBuffer, g.gpu === self else {
      throw QuantaError.invalidBuffer(op: op, reason: "buffer does not belong to \(device)")
    }
    return g
  }
  func ptr(_ t: Tensor, _ op: String) throws -> DevicePointer {
    try gpuBuffer(t.buffer, op).pointer.advanced(by: t.byteOffset)
  }
  func ptr(_ q: QTensor, _ op: String) throws -> DevicePointer {
    try gpuBuffer(q.buffer, op).pointer.advanced(by: q.byteOffset)
  }

  // MARK: Memory

  public func allocate(byteCount: Int) throws -> any DeviceBuffer {
    try call { () throws(GPUError) -> any DeviceBuffer in
      let (p, size) = try context.allocate(bytes: max(byteCount, 1))
      let b = GPUBuffer(gpu: self, pointer: p, byteCount: byteCount, sizeClass: size)
      try context.run { () throws(GPUError) in
        try context.api.memset(p, value: 0, bytes: max(byteCount, 1), stream: context.stream)
      }
      return b
    }
  }

  public func makeBuffer(wrapping bytes: UnsafeRawBufferPointer, owner: any Sendable) throws
    -> any DeviceBuffer
  {
    let b = try allocate(byteCount: bytes.count)
    try copy(bytes, to: b, at: 0)
    return b
  }

  public func copy(_ source: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, at offset: Int) throws {
    let g = try gpuBuffer(buffer, "copy")
    guard let base = source.baseAddress, source.count > 0 else { return }
    try call { () throws(GPUError) in
      try context.run { () throws(GPUError) in
        try context.api.copyToDevice(
          g.pointer.advanced(by: offset), from: base, bytes: source.count, stream: context.stream)
        // The host bytes may go away after return: wait for the copy.
        try context.api.synchronize(stream: context.stream)
      }
    }
  }

  public func copy(_ buffer: any DeviceBuffer, at offset: Int, to destination: UnsafeMutableRawBufferPointer)
    throws
  {
    let g = try gpuBuffer(buffer, "copy")
    guard let base = destination.baseAddress, destination.count > 0 else { return }
    try call { () throws(GPUError) in
      try context.run { () throws(GPUError) in
        try context.api.copyToHost(
          base, from: g.pointer.advanced(by: offset), bytes: destination.count, stream: context.stream)
        try context.api.synchronize(stream: context.stream)
      }
    }
  }

  public func synchronize() throws { try call { () throws(GPUError) in try context.synchronize() } }

  // MARK: Quantized ops

  func checkType(_ op: String, _ type: GGMLType) throws {
    guard KernelBuild.types.contains(type) else {
      throw QuantaError.unsupported(op: op, type: type.name, device: device)
    }
  }

  static func blocks(_ n: Int, _ per: Int) -> Int { (n + per - 1) / per }

  public func dequantize(_ q: QTensor, into out: Tensor) throws {
    // bf16 outputs and dense (f32/f16/bf16) storage: GPUDenseOps.swift.
    if out.dtype == .bf16 || DType(q.type) != nil { return try dequantizeDense(q, into: out) }
    try checkType("dequantize", q.type)
    guard out.dtype == .f32 || out.dtype == .f16 else {
      throw QuantaError.unsupported(op: "dequantize to \(out.dtype)", type: q.type.name, device: device)
    }
    let n = q.count
    guard n > 0 else { return }
    var args = KernelArguments()
    args.append(try ptr(q, "dequantize"))
    args.append(try ptr(out, "dequantize"))
    args.append(Int64(n))
    let name = "dequantize_block_\(q.type.name)_\(out.dtype == .f32 ? "f32" : "f16")"
    try call { () throws(GPUError) in
      try context.launch(name, grid: (Self.blocks(n / 8, 256), 1, 1), block: (256, 1, 1), arguments: args)
    }
  }

  /// x f32 `[m, k]` → q8_1 blocks `[m, k/32]` at `xq`.
  func quantizeQ8_1(_ x: Tensor, k: Int, m: Int, into xq: DevicePointer) throws {
    var args = KernelArguments()
    args.append(try ptr(x, "quantize_q8_1"))
    args.append(xq)
    args.append(Int64(m * k))
    try call { () throws(GPUError) in
      try context.launch(
        "quantize_q8_1", grid: (Self.blocks(m * k, 256), 1, 1), block: (256, 1, 1), arguments: args)
    }
  }

  /// Bytes of q8_1 activations a matmul of `x` through `weights` needs (0: none).
  static func matmulScratchBytes(_ x: Tensor, weights: QTensor, options: QMatMulOptions) -> Int {
    guard DType(weights.type) == nil, options.path != .dequantize else { return 0 }
    let k = weights.rowLength
    return x.count / max(k, 1) * (k / 32) * 36
  }

  /// Bytes of scratch a matmul needs on this device: its q8_1 activations (`matmulScratchBytes`), then,
  /// for a split-k small-batch mat-mat, the partial sums at `GPUMatMat.partialsOffset`.
  func matmulScratchBytesWithPartials(_ x: Tensor, weights: QTensor, options: QMatMulOptions) -> Int {
    let q8 = Self.matmulScratchBytes(x, weights: weights, options: options)
    let k = weights.rowLength, n = weights.rowCount
    guard q8 > 0, k > 0, let launch = smallBatchLaunch(weights.type, k: k, n: n, m: x.count / k) else {
      return q8
    }
    let partials = launch.partialBytes(rows: n, columns: x.count / k)
    return partials > 0 ? GPUMatMat.partialsOffset(q8Bytes: q8) + partials : q8
  }

  /// The small-batch mat-mat launch of `n` rows × `m` columns × `k` on this device and configuration;
  /// nil where the matmul runs otherwise (also where the launch would not fill the device:
  /// `GPUMatMat.SmallBatch.minimumFill`).
  func smallBatchLaunch(_ type: GGMLType, k: Int, n: Int, m: Int) -> GPUMatMat.SmallBatch.Launch? {
    guard k % 32 == 0,
      GPUMatMat.SmallBatch.applies(
        type, columns: m, enabled: configuration.matrixCores && configuration.smallBatchMatMat,
        vendor: context.api.vendor, architecture: context.properties.architecture,
        maxSharedBytes: context.properties.maxSharedBytesPerBlock)
    else { return nil }
    let sms = context.properties.multiprocessors
    let launch = GPUMatMat.SmallBatch.launch(rows: n, columns: m, k: k, multiprocessors: sms)
    return launch.fills(rows: n, columns: m, multiprocessors: sms) ? launch : nil
  }

  public func matmul(_ x: Tensor, weights: QTensor, options: QMatMulOptions, into out: Tensor) throws {
    let bytes = matmulScratchBytesWithPartials(x, weights: weights, options: options)
    // The scratch returns to the pool on release; the one stream orders its reuse after this matmul.
    let xq = bytes > 0 ? try gpuBuffer(allocate(byteCount: bytes), "matmul") : nil
    try withExtendedLifetime(xq) {
      try matmul(
        x, weights: weights, options: options, into: out, scratch: xq?.pointer ?? .null, quantized: false)
    }
  }

  /// The matmul with its scratch given (`matmulScratchBytesWithPartials`); `quantized`: the scratch already
  /// holds `x` quantized (a plan's q/k/v or gate/up projections share one input).
  func matmul(
    _ x: Tensor, weights: QTensor, options: QMatMulOptions, into out: Tensor, scratch xq: DevicePointer,
    quantized: Bool
  ) throws {
    // f32/f16/bf16 weights: GPUDenseOps.swift.
    if DType(weights.type) != nil { return try denseMatmul(x, weights: weights, into: out) }
    try checkType("matmul", weights.type)
    let k = weights.rowLength, n = weights.rowCount
    let m = x.count / max(k, 1)
    guard m > 0, n > 0, k > 0 else { return }
    let w = try ptr(weights, "matmul"), y = try ptr(out, "matmul")
    let t = weights.type.name
    let warp = context.properties.warpSize
    if options.path == .dequantize {
      // The generic mat-vec family's geometry (MMV_ROWS in kernels.cu).
      let rows = GPUMatVec.fallbackRowsPerBlock
      var args = KernelArguments()
      args.append(w); args.append(try ptr(x, "matmul")); args.append(y); args.append(Int64(k));
      args.append(Int64(n))
      try call { () throws(GPUError) in
        try context.launch(
          "dequantize_mul_mat_vec_\(t)", grid: (Self.blocks(n, rows), m, 1), block: (warp, rows, 1),
          arguments: args
        )
      }
      return
    }
    if !quantized { try quantizeQ8_1(x, k: k, m: m, into: xq) }
    let rowBytes = k / 32 * 36  // one column's q8_1 blocks in the scratch
    if m <= GPUMatVec.maxColumns {
      try matVecViaQ8_1(type: weights.type, weights: w, activations: xq, out: y, k: k, n: n, m: m)
    } else if let launch = smallBatchLaunch(weights.type, k: k, n: n, m: m), w.address % 2 == 0 {
      // Batched decode of 9…64 sequences on the small-batch matrix-core kernel (SmallBatch.applies).
      try matMatSmallBatch(
        type: weights.type, weights: w, activations: xq, out: y, k: k, n: n, m: m, launch: launch,
        partials: xq.advanced(by: GPUMatMat.partialsOffset(q8Bytes: m * rowBytes)))
    } else if m <= GPUMatVec.maxSplitColumns {
      // Batched decode of 9…64 sequences: mat-vec launches of up to maxColumns columns each.
      var c0 = 0
      while c0 < m {
        let c = min(GPUMatVec.maxColumns, m - c0)
        try matVecViaQ8_1(
          type: weights.type, weights: w, activations: xq.advanced(by: c0 * rowBytes),
          out: y.advanced(by: c0 * n * 4), k: k, n: n, m: c)
        c0 += c
      }
    } else {
      try matMatViaQ8_1(type: weights.type, weights: w, activations: xq, out: y, k: k, n: n, m: m)
    }
  }

  public func getRows(_ table: QTensor, ids: [Int32], into out: Tensor) throws {
    try checkType("getRows", table.type)
    guard !ids.isEmpty else { return }
    let idBuf = try upload(ids, "getRows")
    try withExtendedLifetime(idBuf) { try getRows(table, ids: idBuf.pointer, count: ids.count, into: out) }
  }

  /// Quantized getRows with `count` ids already on the device.
  func getRows(_ table: QTensor, ids: DevicePointer, count: Int, into out: Tensor) throws {
    try checkType("getRows", table.type)
    let k = table.rowLength
    var args = KernelArguments()
    args.append(try ptr(table, "getRows"))
    args.append(ids)
    args.append(try ptr(out, "getRows"))
    args.append(Int64(k))
    try call { () throws(GPUError) in
      try context.launch(
        "get_rows_\(table.type.name)", grid: (Self.blocks(k / 8, 256), count, 1), block: (256, 1, 1),
        arguments: args)
    }
  }
}
