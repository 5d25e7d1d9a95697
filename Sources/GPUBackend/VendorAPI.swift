/// Opaque device pointer (a CUdeviceptr / hipDeviceptr_t as an integer address).
public struct DevicePointer: Sendable, Hashable {
  public var address: UInt64
  public init(_ address: UInt64) { self.address = address }
  public static let null = DevicePointer(0)
  public func advanced(by bytes: Int) -> DevicePointer { DevicePointer(address &+ UInt64(bytes)) }
}

/// Opaque vendor handles (streams, events, modules, functions), kept as raw addresses so they
/// are `Sendable` values; only the vendor conformance that made one interprets it.
public struct VendorHandle: Sendable, Hashable {
  public var raw: UInt
  public init(_ raw: UInt) { self.raw = raw }
  public init(_ pointer: UnsafeMutableRawPointer?) { raw = UInt(bitPattern: pointer) }
  public var pointer: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: raw) }
  public static let null = VendorHandle(UInt(0))
}

/// Facts read from a device (never assumed: warp size and features come from the device).
public struct GPUDeviceProperties: Sendable, Hashable {
  public var index: Int
  public var name: String
  /// "sm_90", "gfx90a" (the base target, without feature suffixes).
  public var architecture: String
  /// The full target id as the runtime names it ("gfx90a:sramecc+:xnack-"), same as
  /// `architecture` on CUDA.
  public var targetID: String
  public var totalMemory: Int
  public var multiprocessors: Int
  public var warpSize: Int
  public var l2CacheBytes: Int?
  public var maxThreadsPerBlock: Int
  /// Most shared memory one CTA may use once a kernel opts in (`setMaxDynamicSharedBytes`); 48 KiB,
  /// the limit without opting in, where a vendor does not say.
  public var maxSharedBytesPerBlock: Int

  public init(
    index: Int, name: String, architecture: String, targetID: String, totalMemory: Int, multiprocessors: Int,
    warpSize: Int, l2CacheBytes: Int?, maxThreadsPerBlock: Int, maxSharedBytesPerBlock: Int = 48 * 1024
  ) {
    self.index = index
    self.name = name
    self.architecture = architecture
    self.targetID = targetID
    self.totalMemory = totalMemory
    self.multiprocessors = multiprocessors
    self.warpSize = warpSize
    self.l2CacheBytes = l2CacheBytes
    self.maxThreadsPerBlock = maxThreadsPerBlock
    self.maxSharedBytesPerBlock = maxSharedBytesPerBlock
  }
}

/// A compiled kernel module image: what NVRTC / hiprtc produced, or what the cache returns.
public struct CodeObject: Sendable, Hashable {
  public var architecture: String
  public var bytes: [UInt8]
  public init(architecture: String, bytes: [UInt8]) {
    self.architecture = architecture
    self.bytes = bytes
  }
}

/// The small surface the shared host implementation needs from a vendor. Two conformances:
/// `CUDAVendorAPI` (driver API + NVRTC) and `HIPVendorAPI` (HIP runtime + hiprtc). Everything else
/// — memory pool, module cache, launches, ops — is written once over this protocol.
public protocol VendorAPI: AnyObject, Sendable {
  var vendor: GPUVendor { get }
  /// Runtime / driver version for diagnostics ("HIP 5.2.21153", "CUDA driver 12.8").
  var versionDescription: String { get }
  /// Devices the runtime shows (0 is a valid answer; a runtime error throws).
  func deviceCount() throws(GPUError) -> Int
  func properties(device: Int) throws(GPUError) -> GPUDeviceProperties
  /// Makes `device` current on the calling thread (context / hipSetDevice).
  func activate(device: Int) throws(GPUError)
  func memoryInfo() throws(GPUError) -> (free: Int, total: Int)
  func allocate(bytes: Int) throws(GPUError) -> DevicePointer
  func free(_ pointer: DevicePointer) throws(GPUError)
  func copyToDevice(_ dst: DevicePointer, from src: UnsafeRawPointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  func copyToHost(_ dst: UnsafeMutableRawPointer, from src: DevicePointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  func copyOnDevice(_ dst: DevicePointer, from src: DevicePointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  func memset(_ dst: DevicePointer, value: UInt8, bytes: Int, stream: VendorHandle) throws(GPUError)
  func createStream() throws(GPUError) -> VendorHandle
  func destroyStream(_ stream: VendorHandle)
  func synchronize(stream: VendorHandle) throws(GPUError)
  func createEvent() throws(GPUError) -> VendorHandle
  func destroyEvent(_ event: VendorHandle)
  func record(event: VendorHandle, stream: VendorHandle) throws(GPUError)
  func elapsedMilliseconds(from start: VendorHandle, to end: VendorHandle) throws(GPUError) -> Float
  /// Runtime compile of one source for `architecture` ("sm_90", "gfx90a") with `options`.
  func compile(source: String, name: String, architecture: String, options: [String]) throws(GPUError)
    -> CodeObject
  /// Targets the loaded runtime compiler can produce code for, when it can say (nil: unknown).
  func compilerTargets() -> [String]?
  func loadModule(_ code: CodeObject) throws(GPUError) -> VendorHandle
  func unloadModule(_ module: VendorHandle)
  func function(_ module: VendorHandle, named: String) throws(GPUError) -> VendorHandle
  /// Launches `function`; `arguments` points at one pointer per kernel parameter (the CUDA / HIP
  /// `kernelParams` convention).
  func launch(
    _ function: VendorHandle, grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int,
    stream: VendorHandle,
    arguments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  ) throws(GPUError)
  /// Lets `function` launch with up to `bytes` of dynamic shared memory (beyond the default 48 KiB, up
  /// to `GPUDeviceProperties.maxSharedBytesPerBlock`).
  func setMaxDynamicSharedBytes(_ function: VendorHandle, bytes: Int) throws(GPUError)
  /// Whether `launchDependent` can overlap a kernel with its predecessor (CUDA 12+ drivers).
  var hasDependentLaunch: Bool { get }
  /// Launches `function` as a programmatic dependent of the kernel before it in `stream` (CUDA
  /// sm_90+): it may be scheduled while that kernel finishes, and waits for it inside
  /// (qk_grid_dependency_sync, the first statement of every kernel). Vendors without it launch as
  /// `launch` does.
  func launchDependent(
    _ function: VendorHandle, grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int,
    stream: VendorHandle,
    arguments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  ) throws(GPUError)
  /// Starts recording the work issued to `stream` (from this thread) into a graph: nothing runs
  /// until the graph is launched. Allocation, synchronization and host copies are not allowed
  /// while recording.
  func beginCapture(stream: VendorHandle) throws(GPUError)
  /// Ends the recording on `stream` and instantiates it: an executable graph to launch any number
  /// of times (CUDA graphs / HIP graphs).
  func endCapture(stream: VendorHandle) throws(GPUError) -> VendorHandle
  /// Launches an executable graph on `stream` (ordered after the work issued before it).
  func launchGraph(_ graph: VendorHandle, stream: VendorHandle) throws(GPUError)
  func destroyGraph(_ graph: VendorHandle)
  /// True when `code` (a failing call's result) leaves the context unusable (RELIABILITY.md B8).
  func isSticky(_ error: GPUError) -> Bool
}

extension VendorAPI {
  /// Vendors whose kernels here never ask for more than 48 KiB need no opt-in.
  public func setMaxDynamicSharedBytes(_ function: VendorHandle, bytes: Int) throws(GPUError) {}
  public var hasDependentLaunch: Bool { false }
  public func launchDependent(
    _ function: VendorHandle, grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int,
    stream: VendorHandle,
    arguments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  ) throws(GPUError) {
    try launch(
      function, grid: grid, block: block, sharedBytes: sharedBytes, stream: stream, arguments: arguments)
  }
}
