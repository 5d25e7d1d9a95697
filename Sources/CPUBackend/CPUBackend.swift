import CPUKernels
import GGML
import QuantaCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The CPU `ComputeBackend`: host memory, one thread pool, quantized matmul through the `CPUKernels`
/// SIMD tables (runtime ISA dispatch) and the dense ops of `CPUOps`.
///
/// Ops run synchronously on the calling thread plus the pool; `synchronize()` has nothing to wait for.
public final class CPUBackend: ComputeBackend {
  public struct Configuration: Sendable, Hashable {
    /// Threads including the caller; nil = the CPUs this process may run on.
    public var threadCount: Int?
    /// The instruction set of every kernel the backend runs (matmuls and dense ops); nil = the best
    /// this CPU supports. One this CPU or build cannot run makes `init` throw
    /// `.deviceUnavailable` with the reason. `info` still describes the CPU (its best set).
    public var instructionSet: CPUInstructionSet?

    public init(threadCount: Int? = nil, instructionSet: CPUInstructionSet? = nil) {
      self.threadCount = threadCount
      self.instructionSet = instructionSet
    }
  }

  public let device = Device.cpu
  public let info: DeviceInfo
  let pool: ThreadPool
  /// The kernel table of every op (the configured or best ISA).
  let kernels: KernelTable
  let scratch = ScratchArena()
  /// The last RoPE cos/sin table (see `rope`).
  let ropeMemo = RopeMemo()

  public init(configuration: Configuration = .init()) throws {
    let requested = configuration.threadCount ?? CPUBackend.availableCPUs
    guard requested >= 1 else {
      throw QuantaError.invalidArgument(op: "CPUBackend", reason: "threadCount \(requested) must be ≥ 1")
    }
    // More threads than usable CPUs only contend (thousands made no progress): capped; callers that
    // asked for more say so (ModelSettings.threadWarning).
    pool = try ThreadPool(threadCount: min(requested, CPUBackend.availableCPUs))
    kernels = try KernelTable(configuration.instructionSet ?? CPUBackend.bestInstructionSet, device: .cpu)
    info = CPUBackend.probe(isa: CPUBackend.bestInstructionSet)
  }

  /// Threads the pool runs on (the caller included).
  public var threadCount: Int { pool.activeThreads }

  // MARK: Instruction sets

  public static var bestInstructionSet: CPUInstructionSet { CPUInstructionSet(qk_best_isa()) }

  /// Nil when this CPU and build can run `isa`, else why not.
  public static func unsupportedReason(_ isa: CPUInstructionSet) -> String? {
    let reason = String(cString: qk_isa_unsupported_reason(isa.qkISA))
    return reason.isEmpty ? nil : reason
  }

  public static var supportedInstructionSets: [CPUInstructionSet] {
    CPUInstructionSet.allCases.filter { unsupportedReason($0) == nil }
  }

  /// CPUs this process may use: the online CPUs, fewer when the affinity mask or a cgroup CPU quota
  /// (v2 `cpu.max`, v1 `cpu.cfs_quota_us`: a container's `--cpus`) allows fewer. The pool never runs more threads.
  public static var availableCPUs: Int {
    var n = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    let affinity = Int(qk_affinity_cpu_count())
    if affinity > 0 { n = min(n, affinity) }
    if let quota = cgroupCPUQuota() ?? cgroupV1CPUQuota() { n = min(n, quota) }
    return n
  }

  /// ⌈cfs_quota_us / cfs_period_us⌉ of a cgroup v1 CPU controller (quota −1: no limit → nil).
  static func cgroupV1CPUQuota(
    quota: String? = smallFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
      ?? smallFile("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"),
    period: String? = smallFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
      ?? smallFile("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us")
  ) -> Int? {
    let number = { (t: String?) in
      t?.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.flatMap { Double($0) }
    }
    guard let q = number(quota), let p = number(period), q > 0, p > 0 else { return nil }
    return max(1, Int((q / p).rounded(.up)))
  }

  /// ⌈quota / period⌉ from /sys/fs/cgroup/cpu.max ("max 100000": no limit → nil).
  static func cgroupCPUQuota(_ text: String? = smallFile("/sys/fs/cgroup/cpu.max")) -> Int? {
    guard let parts = text?.split(whereSeparator: { $0 == " " || $0 == "\n" }), parts.count >= 2,
      let quota = Double(parts[0]), let period = Double(parts[1]), quota > 0, period > 0
    else { return nil }
    return max(1, Int((quota / period).rounded(.up)))
  }

  /// The first `limit` bytes of a small text file (a cgroup, procfs or sysfs entry), nil when
  /// unreadable or empty.
  static func smallFile(_ path: String, limit: Int = 4096) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: limit)
    var total = 0
    while total < limit {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, limit - total) }
      if n <= 0 { break }
      total += n
    }
    return total > 0 ? String(decoding: buf[0..<total], as: UTF8.self) : nil
  }

  // MARK: Memory

  public func allocate(byteCount: Int) throws -> any DeviceBuffer {
    guard byteCount >= 0 else {
      throw QuantaError.invalidArgument(op: "allocate", reason: "negative size \(byteCount)")
    }
    guard let b = CPUBuffer(backend: self, byteCount: byteCount) else {
      throw QuantaError.outOfMemory(
        device: device, requestedBytes: byteCount, freeBytes: CPUBackend.availableMemory)
    }
    return b
  }

  public func makeBuffer(wrapping bytes: UnsafeRawBufferPointer, owner: any Sendable) throws
    -> any DeviceBuffer
  {
    guard bytes.baseAddress != nil else { return try allocate(byteCount: 0) }
    return CPUBuffer(backend: self, wrapping: bytes, owner: owner)
  }

  public func copy(_ source: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, at offset: Int) throws {
    let b = try own(buffer, "copy")
    guard !b.isReadOnly else {
      throw QuantaError.invalidBuffer(op: "copy", reason: "destination is read-only")
    }
    try checkRange(b, offset, source.count, "copy")
    if let src = source.baseAddress, source.count > 0 {
      (b.base + offset).copyMemory(from: src, byteCount: source.count)
    }
  }

  public func copy(_ buffer: any DeviceBuffer, at offset: Int, to destination: UnsafeMutableRawBufferPointer)
    throws
  {
    let b = try own(buffer, "copy")
    try checkRange(b, offset, destination.count, "copy")
    if let dst = destination.baseAddress, destination.count > 0 {
      dst.copyMemory(from: b.base + offset, byteCount: destination.count)
    }
  }

  public func synchronize() throws {}

  /// This backend's buffer (core guarantees it; a foreign one is reported, not trapped on).
  func own(_ buffer: any DeviceBuffer, _ op: String) throws -> CPUBuffer {
    guard let b = buffer as? CPUBuffer, b.backend === self else {
      throw QuantaError.invalidBuffer(op: op, reason: "buffer of \(buffer.device) given to the CPU backend")
    }
    return b
  }

  private func checkRange(_ b: CPUBuffer, _ offset: Int, _ count: Int, _ op: String) throws {
    guard offset >= 0, count >= 0, offset <= b.byteCount, count <= b.byteCount - offset else {
      throw QuantaError.invalidBuffer(
        op: op, reason: "\(count) bytes at \(offset) outside a buffer of \(b.byteCount)")
    }
  }

  // MARK: Device facts

  /// Host memory new allocations may take (`HostMemory`: RAM, cgroup and rlimits); nil if unknown.
  static var availableMemory: Int? { HostMemory.available() }

  public var availableMemory: Int? { CPUBackend.availableMemory }

  static func probe(isa: CPUInstructionSet) -> DeviceInfo {
    var name = "CPU"
    if let text = readText("/proc/cpuinfo"),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
      let colon = line.firstIndex(of: ":")
    {
      name = line[line.index(after: colon)...].trimmingSpaces
    }
    #if arch(x86_64)
      let arch = "x86_64"
    #elseif arch(arm64)
      let arch = "arm64"
    #else
      let arch = "unknown"
    #endif
    let caps: [CPUInstructionSet: DeviceCapability] = [
      .avx2: .avx2, .avx512: .avx512, .avx512VNNI: .avx512VNNI, .neon: .neon,
    ]
    let memory = sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
    return DeviceInfo(
      device: .cpu, name: name,
      architecture: isa == .scalar ? arch : "\(arch)+\(isa.rawValue.replacingUnderscores)",
      totalMemory: max(memory, 0), computeUnits: availableCPUs, warpSize: nil,
      lastLevelCacheBytes: lastLevelCache(),
      capabilities: Set(supportedInstructionSets.compactMap { caps[$0] }))
  }

  /// Size of the highest cache level sysfs lists for CPU 0.
  static func lastLevelCache() -> Int? {
    var best: (level: Int, bytes: Int)?
    for index in 0..<8 {
      let dir = "/sys/devices/system/cpu/cpu0/cache/index\(index)"
      guard let level = readText(dir + "/level").flatMap({ Int($0.trimmingSpaces) }),
        let size = readText(dir + "/size")?.trimmingSpaces, !size.isEmpty
      else { continue }
      var digits = Substring(size)
      var unit = 1
      switch size.last {
      case "K": unit = 1 << 10; digits = digits.dropLast()
      case "M": unit = 1 << 20; digits = digits.dropLast()
      case "G": unit = 1 << 30; digits = digits.dropLast()
      default: break
      }
      guard let n = Int(digits) else { continue }
      if best == nil || level > best!.level { best = (level, n * unit) }
    }
    return best?.bytes
  }

  static func readText(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = fread(&chunk, 1, chunk.count, f)
      if n <= 0 { break }
      bytes += chunk[0..<n]
      if bytes.count > 1 << 20 { break }  // /proc/cpuinfo of a large machine; the first CPU suffices
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

extension StringProtocol {
  var trimmingSpaces: String {
    String(
      drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: {
        $0 == " " || $0 == "\n" || $0 == "\t"
      }).reversed())
  }
  var replacingUnderscores: String { String(filter { $0 != "_" }) }
}

/// One ISA's kernel table (static, immutable C data).
struct KernelTable: @unchecked Sendable {
  // @unchecked: the table is built once by CPUKernels and never written afterwards.
  let isa: CPUInstructionSet
  let table: UnsafePointer<qk_kernel_table>

  init(_ isa: CPUInstructionSet, device: Device) throws {
    guard let t = qk_kernels(isa.qkISA) else {
      throw QuantaError.deviceUnavailable(
        device: device, reason: "\(isa) kernels: \(CPUBackend.unsupportedReason(isa) ?? "not built")")
    }
    self.isa = isa
    self.table = t
  }

  func vecDotType(_ type: GGMLType) -> Int32 { qk_table_vec_dot_type(table, Int32(type.rawValue)) }
  func tile(_ type: GGMLType) -> qk_tile_fn? { qk_table_vec_dot_tile(table, Int32(type.rawValue)) }
  /// The tile kernel for x rows in full groups of four, where ggml sums those differently (nil: `tile`).
  func tileGroupsOf4(_ type: GGMLType) -> qk_tile_fn? {
    qk_table_vec_dot_tile_g4(table, Int32(type.rawValue))
  }
  func quantizer(_ dotType: Int32) -> qk_quantize_fn? { qk_table_quantizer(table, dotType) }

  /// A type's prompt mat-mat kernel (`qk_gemm_fn`), its activation side values and their group size.
  struct Gemm {
    var run: qk_gemm_fn
    var act: qk_gemm_act_fn
    var group: Int
  }
  func gemm(_ type: GGMLType) -> Gemm? {
    let id = Int32(type.rawValue)
    guard let run = qk_table_gemm(table, id), let act = qk_table_gemm_act(table, id) else { return nil }
    return Gemm(run: run, act: act, group: Int(qk_table_gemm_group(table, id)))
  }

  /// A row dequantizer to f32 for `type`: the C kernel where the table has one (bit-equal), else
  /// the reference codec; nil when neither exists.
  func dequantizer(_ type: GGMLType) -> ((UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void)? {
    if let fast = qk_table_dequantize(table, Int32(type.rawValue)) {
      return { src, dst, k in fast(src, dst, Int64(k)) }
    }
    guard let codec = type.dequantizer else { return nil }
    return { src, dst, k in codec.dequantize(src, into: dst, count: k) }
  }
  var tileRows: Int { Int(max(table.pointee.tile_rows, 1)) }
  var tileCols: Int { Int(max(table.pointee.tile_cols, 1)) }
}

/// The last RoPE cos/sin table and what it was computed for (positions, parameters and frequency
/// factors by value): a hit returns the same floats a recomputation would.
final class RopeMemo: Sendable {
  struct Key: Equatable {
    var positions: [Int32]
    var parameters: RopeParameters
    var freqFactors: [Float]?
  }
  private let last = Mutex<(key: Key, cache: [Float])?>(nil)

  func cache(for key: Key, compute: () -> [Float]) -> [Float] {
    if let hit = last.withLock({ $0?.key == key ? $0?.cache : nil }) { return hit }
    let cache = compute()
    last.withLock { $0 = (key, cache) }
    return cache
  }
}

/// Reusable scratch memory: large scratch allocated per call would be mmapped and page-faulted on
/// every mat-vec. Buffers are handed out exclusively and returned after use.
final class ScratchArena: Sendable {
  private let free = Mutex<[ScratchBlock]>([])

  func with<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
    let needed = max(bytes, 64)
    let block: ScratchBlock = free.withLock { list in
      if let i = list.firstIndex(where: { $0.size >= needed }) { return list.remove(at: i) }
      return ScratchBlock(size: needed)
    }
    defer {
      free.withLock { list in
        list.append(block)
        // Keep the few largest; a burst of big calls does not pin memory forever beyond that.
        if list.count > 4 {
          list.sort { $0.size > $1.size }
          list.removeLast(list.count - 4)
        }
      }
    }
    return try body(block.base)
  }
}

/// One scratch allocation (64-byte aligned).
final class ScratchBlock: @unchecked Sendable {
  // @unchecked: owned by exactly one caller at a time (ScratchArena hands it out under its mutex).
  let base: UnsafeMutableRawPointer
  let size: Int
  init(size: Int) {
    self.size = size
    base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
  }
  deinit { base.deallocate() }
}
