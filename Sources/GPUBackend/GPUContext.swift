import Synchronization

/// Kernel arguments packed the CUDA/HIP way: one 8-byte slot per parameter and an array of
/// pointers to the slots (`kernelParams`). Typed appends keep each slot's width right.
public struct KernelArguments: Sendable {
  private var slots: [UInt64] = []
  public init() {}
  public mutating func append(_ p: DevicePointer) { slots.append(p.address) }
  public mutating func append(_ v: Int64) { slots.append(UInt64(bitPattern: v)) }
  public mutating func append(_ v: Int32) { slots.append(UInt64(UInt32(bitPattern: v))) }
  public mutating func append(_ v: Float) { slots.append(UInt64(v.bitPattern)) }
  public var count: Int { slots.count }

  func withParameterPointers<R>(
    _ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws(GPUError) -> R
  )
    throws(GPUError) -> R
  {
    var storage = slots
    return try storage.withUnsafeMutableBufferPointer { (buf) throws(GPUError) -> R in
      var ptrs: [UnsafeMutableRawPointer?] = (0..<buf.count).map {
        UnsafeMutableRawPointer(buf.baseAddress! + $0)
      }
      return try ptrs.withUnsafeMutableBufferPointer { (p) throws(GPUError) -> R in try body(p.baseAddress!) }
    }
  }
}

/// The host implementation shared by both vendors: one device, one stream, a pooled allocator,
/// the kernel module (compiled or cached) and launches. Sticky faults mark it unusable.
public final class GPUContext: @unchecked Sendable {
  // @unchecked: mutable state lives in `state` (a Mutex); the rest is immutable after init.
  public let api: any VendorAPI
  public let deviceIndex: Int
  public let properties: GPUDeviceProperties
  public let cache: KernelCache
  let stream: VendorHandle

  private struct State {
    var free: [Int: [DevicePointer]] = [:]  // size class → blocks
    var pooledBytes = 0
    var sticky: String?
    var module: VendorHandle?
    var functions: [String: VendorHandle] = [:]
    /// Dynamic shared memory each function was allowed beyond 48 KiB.
    var sharedLimits: [String: Int] = [:]
  }
  private let state = Mutex(State())
  /// Bytes kept for reuse before the pool returns memory to the driver.
  public let poolLimit: Int
  /// Kernels launch as programmatic dependents of the kernel before them (CUDA sm_90+ with a CUDA 12+
  /// driver, when asked for): the next kernel's launch overlaps the end of the previous one. The module
  /// is then built with QK_DEPENDENT_LAUNCH (each kernel waits for its predecessor first); otherwise
  /// those waits are not compiled at all.
  public let dependentLaunches: Bool

  public init(
    api: any VendorAPI, device: Int, cache: KernelCache = KernelCache(), dependentLaunches: Bool = false
  ) throws(GPUError) {
    let count = try api.deviceCount()
    let visible = environment(api.vendor.visibleDevicesVariable)
    if count == 0 {
      throw .noDevice(
        vendor: api.vendor, reason: "the runtime reports 0 devices (\(api.versionDescription))",
        visibleDevices: visible)
    }
    guard device >= 0, device < count else {
      throw .deviceIndexOutOfRange(vendor: api.vendor, index: device, count: count, visibleDevices: visible)
    }
    try api.activate(device: device)
    let props = try api.properties(device: device)
    // Principle 3: the kernels are built for the device's own width; anything else is refused.
    guard props.warpSize == 32 || props.warpSize == 64 else {
      throw .unsupported(
        op: "open", type: "warp size \(props.warpSize)", device: "\(api.vendor.deviceKind):\(device)")
    }
    self.api = api
    self.deviceIndex = device
    self.properties = props
    self.cache = cache
    self.poolLimit = max(props.totalMemory / 8, 64 << 20)
    self.dependentLaunches =
      dependentLaunches && api.vendor == .cuda && api.hasDependentLaunch
      && (GPUMatMat.computeCapability(props.architecture) ?? 0) >= 90
    stream = try api.createStream()
  }

  deinit {
    let s = state.withLock { s -> State in
      let c = s; s = State(); return c
    }
    try? api.activate(device: deviceIndex)
    for (_, list) in s.free { for p in list { try? api.free(p) } }
    if let m = s.module { api.unloadModule(m) }
    api.destroyStream(stream)
  }

  /// Runs a vendor call; a sticky fault (illegal address, device lost) poisons the context.
  func run<R>(_ body: () throws(GPUError) -> R) throws(GPUError) -> R {
    if let first = state.withLock({ $0.sticky }) {
      throw .contextUnusable(vendor: api.vendor, device: deviceIndex, firstError: first)
    }
    do {
      try api.activate(device: deviceIndex)
      return try body()
    } catch {
      if api.isSticky(error) {
        let text = error.description
        state.withLock { if $0.sticky == nil { $0.sticky = text } }
        throw .contextUnusable(vendor: api.vendor, device: deviceIndex, firstError: text)
      }
      if case .outOfMemory(let v, _, let req, let free) = error {
        throw .outOfMemory(vendor: v, device: deviceIndex, requestedBytes: req, freeBytes: free)
      }
      throw error
    }
  }

  /// Size classes: powers of two from 256 bytes to 1 MiB, then whole MiB.
  static func sizeClass(_ bytes: Int) -> Int {
    let b = max(bytes, 256)
    if b <= 1 << 20 { return 1 << (Int.bitWidth - (b - 1).leadingZeroBitCount) }
    return ((b + (1 << 20) - 1) >> 20) << 20
  }

  /// Device memory from the pool (or the driver). On exhaustion the pool is returned to the driver
  /// and the allocation retried once before `outOfMemory` (bytes requested and free).
  public func allocate(bytes: Int) throws(GPUError) -> (DevicePointer, Int) {
    let size = Self.sizeClass(bytes)
    if let p = state.withLock({ (s) -> DevicePointer? in
      guard var list = s.free[size], let p = list.popLast() else { return nil }
      s.free[size] = list
      s.pooledBytes -= size
      return p
    }) {
      return (p, size)
    }
    do {
      return (try run { () throws(GPUError) in try api.allocate(bytes: size) }, size)
    } catch .outOfMemory {
      trimPool()
      return (try run { () throws(GPUError) in try api.allocate(bytes: size) }, size)
    }
  }

  public func release(_ p: DevicePointer, sizeClass size: Int) {
    let keep = state.withLock { s -> Bool in
      guard s.sticky == nil, s.pooledBytes + size <= poolLimit else { return false }
      s.free[size, default: []].append(p)
      s.pooledBytes += size
      return true
    }
    if !keep { try? api.activate(device: deviceIndex); try? api.free(p) }
  }

  public func trimPool() {
    let lists = state.withLock { s -> [DevicePointer] in
      let all = s.free.values.flatMap { $0 }
      s.free = [:]
      s.pooledBytes = 0
      return all
    }
    try? api.activate(device: deviceIndex)
    for p in lists { try? api.free(p) }
  }

  /// Loads the kernel module for this device: from the disk cache when present, else compiled by
  /// NVRTC / hiprtc with the device's warp size and stored.
  public func kernel(_ name: String) throws(GPUError) -> VendorHandle {
    if let f = state.withLock({ $0.functions[name] }) { return f }
    let module: VendorHandle
    if let m = state.withLock({ $0.module }) {
      module = m
    } else {
      let compiler = KernelCompiler(api: api, cache: cache)
      // The base target ("gfx90a", not "gfx90a:sramecc+:xnack-"): its code runs on every feature variant
      // and shares the cache key with `quanta kernels --compile --arch gfx90a`.
      let built = try compiler.codeObject(
        architecture: properties.architecture, warpSize: properties.warpSize,
        dependentLaunch: dependentLaunches)
      let m = try run { () throws(GPUError) in try api.loadModule(built.code) }
      module = state.withLock { s in
        if let existing = s.module { return existing }
        s.module = m
        return m
      }
      if module != m { api.unloadModule(m) }
    }
    let f: VendorHandle
    do {
      f = try run { () throws(GPUError) in try api.function(module, named: name) }
    } catch .apiCall {
      throw .missingKernel(name: name, architecture: properties.targetID)
    }
    state.withLock { $0.functions[name] = f }
    return f
  }

  public func launch(
    _ name: String, grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int = 0,
    arguments: KernelArguments
  ) throws(GPUError) {
    let f = try kernel(name)
    if sharedBytes > 48 * 1024, state.withLock({ ($0.sharedLimits[name] ?? 0) < sharedBytes }) {
      try run { () throws(GPUError) in try api.setMaxDynamicSharedBytes(f, bytes: sharedBytes) }
      state.withLock { $0.sharedLimits[name] = sharedBytes }
    }
    try run { () throws(GPUError) in
      try arguments.withParameterPointers { (p) throws(GPUError) in
        if dependentLaunches {
          try api.launchDependent(
            f, grid: grid, block: block, sharedBytes: sharedBytes, stream: stream, arguments: p)
        } else {
          try api.launch(f, grid: grid, block: block, sharedBytes: sharedBytes, stream: stream, arguments: p)
        }
      }
    }
  }

  public func synchronize() throws(GPUError) {
    try run { () throws(GPUError) in try api.synchronize(stream: stream) }
  }
}
