import CPUKernels
import GGML
import QuantaCore

// What `quanta bench matmul` (the QuantaBench module) reads from the CPU backend besides the
// `ComputeBackend` contract: the reference bandwidth, the kernel a matmul runs, the pool's
// dispatch cost. Inference never calls these.
extension CPUBackend {
  /// Which kernel `matmul` runs for `type` with this backend's kernels (`Configuration.instructionSet`)
  /// under `options`: "<ISA of the implementation>·<activation type>" on the integer path (e.g.
  /// "avx512_vnni·q8_0"), "dequant·f32 <ISA>" on the dequantize path, "unsupported" when
  /// `.integerDot` is forced on a type without an integer kernel.
  public func matmulKernelName(for type: GGMLType, options: QMatMulOptions) -> String {
    let table = kernels
    let dot = table.vecDotType(type)
    if options.path != .dequantize, dot >= 0, table.tile(type) != nil {
      let impl = CPUInstructionSet(qk_table_impl_isa(table.table, Int32(type.rawValue)))
      let activation = GGMLType(rawValue: UInt32(dot))?.name ?? "?"
      return "\(impl)·\(activation)"
    }
    return options.path == .integerDot ? "unsupported" : "dequant·f32 \(table.isa)"
  }

  /// The memory bandwidth `quanta bench matmul` compares its mat-vec rates with, in bytes per
  /// second: all threads summing disjoint slices of a `bytes` buffer (larger than the last-level
  /// cache) with the streaming kernel of the CPU's best instruction set (a backend forced to other
  /// kernels still measures the machine), the median of `iterations` passes.
  public func measureReferenceBandwidth(bytes: Int, iterations: Int) throws -> Double {
    let count = max(bytes / 4, 1 << 16)
    let buffer = try allocate(byteCount: count * 4)
    let base = (buffer.hostAddress!).assumingMemoryBound(to: Float.self)
    for i in stride(from: 0, to: count, by: 1024) { base[i] = Float(i & 7) }  // touch every page
    let best = CPUBackend.bestInstructionSet
    let table = best == kernels.isa ? kernels : try KernelTable(best, device: device)
    guard let stream = table.table.pointee.stream_sum else {
      throw QuantaError.unsupported(op: "streamingRead", type: "f32", device: device)
    }
    // 1 MiB slices: long runs per thread as a mat-vec task has (64 KiB slices measured ~10% lower:
    // every slice restarts the prefetch stream), still 64+ per thread to balance.
    let chunk = 1 << 18
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: pool.activeThreads * 16)
    defer { sink.deallocate() }
    func pass() {
      pool.parallelFor(count: count, chunk: chunk) { range, thread in
        sink[thread * 16] += stream(base + range.lowerBound, range.count)
      }
    }
    pass()
    // The median pass: timed like the kernels (over many calls), robust to a burst from other
    // processes; the fastest pass ran up to 1.4x the kernels' mean on this shared VM.
    let clock = ContinuousClock()
    var times: [Double] = []
    for _ in 0..<max(iterations, 1) {
      let start = clock.now
      pass()
      let d = (clock.now - start).components
      times.append(Double(d.seconds) + Double(d.attoseconds) * 1e-18)
    }
    times.sort()
    return Double(count * 4) / times[times.count / 2]
  }

  /// Seconds per `parallelFor` of one empty task per thread: the fixed cost every op pays for
  /// using the pool (decode runs hundreds of small ops per token).
  public func measureDispatchOverhead(iterations: Int = 20000) -> Double {
    let clock = ContinuousClock()
    let tasks = pool.activeThreads
    pool.parallelFor(tasks: tasks) { _, _ in }
    let start = clock.now
    for _ in 0..<iterations { pool.parallelFor(tasks: tasks) { _, _ in } }
    let d = (clock.now - start).components
    return (Double(d.seconds) + Double(d.attoseconds) * 1e-18) / Double(iterations)
  }
}
