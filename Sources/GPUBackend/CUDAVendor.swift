import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// CUDA driver API + NVRTC, loaded with dlopen (`GPULibraryPaths.cudaDriver` / `.nvrtc` override the
/// search; the CLI fills them from QUANTA_CUDA_LIB / QUANTA_NVRTC_LIB).
public final class CUDAVendorAPI: DriverVendorAPI, @unchecked Sendable {
  // @unchecked: immutable after init; the driver API is thread-safe; `contexts` is written under lock.
  public let vendor = GPUVendor.cuda
  public let versionDescription: String
  let driver: DynamicLibrary
  let nvrtc: DynamicLibrary
  let driverVersion: Int32
  private let contexts = Mutex<[Int: CUcontextBox]>([:])

  static let driverCandidates = [
    "libcuda.so.1", "libcuda.so", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1",
    "/usr/local/cuda/lib64/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1",
  ]
  static let nvrtcCandidates = [
    "libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2",
    "/usr/local/cuda/lib64/libnvrtc.so",
    "/usr/local/cuda/lib64/libnvrtc.so.13", "/usr/local/cuda/lib64/libnvrtc.so.12",
  ]

  private let cuInit: PFN_cuInit
  private let cuDeviceGet: PFN_cuDeviceGet
  private let cuDeviceGetName: PFN_cuDeviceGetName
  private let cuDeviceGetAttribute: PFN_cuDeviceGetAttribute
  private let cuDeviceTotalMem: PFN_cuDeviceTotalMem_v2
  private let cuDevicePrimaryCtxRetain: PFN_cuDevicePrimaryCtxRetain
  private let cuCtxSetCurrent: PFN_cuCtxSetCurrent
  private let cuMemAlloc: PFN_cuMemAlloc_v2
  private let cuMemFree: PFN_cuMemFree_v2
  private let cuMemcpyHtoDAsync: PFN_cuMemcpyHtoDAsync_v2
  private let cuMemcpyDtoHAsync: PFN_cuMemcpyDtoHAsync_v2
  private let cuMemcpyDtoDAsync: PFN_cuMemcpyDtoDAsync_v2
  private let cuMemsetD8Async: PFN_cuMemsetD8Async
  private let cuStreamCreate: PFN_cuStreamCreate
  private let cuEventCreate: PFN_cuEventCreate
  private let cuFuncSetAttribute: PFN_cuFuncSetAttribute
  /// CUDA 12.0+ drivers; nil before (dependent launches then launch as plain ones).
  private let cuLaunchKernelEx: PFN_cuLaunchKernelEx?
  private let cuGraphInstantiateWithFlags: PFN_cuGraphInstantiateWithFlags
  private let cuGetErrorName: PFN_cuGetErrorName
  private let cuGetErrorString: PFN_cuGetErrorString
  private let supportedArchs: [String]?
  let calls: DriverCalls
  static let noDeviceResults = [CUDAConst.CUDA_ERROR_NO_DEVICE, CUDAConst.CUDA_ERROR_NOT_INITIALIZED]
  static let stickyResults = [
    CUDAConst.CUDA_ERROR_ILLEGAL_ADDRESS, CUDAConst.CUDA_ERROR_HARDWARE_STACK_ERROR,
    CUDAConst.CUDA_ERROR_ILLEGAL_INSTRUCTION, CUDAConst.CUDA_ERROR_MISALIGNED_ADDRESS,
    CUDAConst.CUDA_ERROR_LAUNCH_FAILED, CUDAConst.CUDA_ERROR_ECC_UNCORRECTABLE,
  ]
  static let threadLocalCaptureMode: Int32 = 1  // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL

  public init(libraries: GPULibraryPaths = .init()) throws(GPUError) {
    let d = try DynamicLibrary.open(
      "CUDA driver (libcuda)", candidates: Self.driverCandidates, override: libraries.cudaDriver)
    let n = try DynamicLibrary.open(
      "NVRTC (libnvrtc)", candidates: Self.nvrtcCandidates, override: libraries.nvrtc)
    driver = d
    nvrtc = n
    cuInit = try d.function("cuInit")
    let getVersion: PFN_cuDriverGetVersion = try d.function("cuDriverGetVersion")
    cuDeviceGet = try d.function("cuDeviceGet")
    cuDeviceGetName = try d.function("cuDeviceGetName")
    cuDeviceGetAttribute = try d.function("cuDeviceGetAttribute")
    cuDeviceTotalMem = try d.function("cuDeviceTotalMem_v2")
    cuDevicePrimaryCtxRetain = try d.function("cuDevicePrimaryCtxRetain")
    cuCtxSetCurrent = try d.function("cuCtxSetCurrent")
    cuMemAlloc = try d.function("cuMemAlloc_v2")
    cuMemFree = try d.function("cuMemFree_v2")
    cuMemcpyHtoDAsync = try d.function("cuMemcpyHtoDAsync_v2")
    cuMemcpyDtoHAsync = try d.function("cuMemcpyDtoHAsync_v2")
    cuMemcpyDtoDAsync = try d.function("cuMemcpyDtoDAsync_v2")
    cuMemsetD8Async = try d.function("cuMemsetD8Async")
    cuStreamCreate = try d.function("cuStreamCreate")
    cuEventCreate = try d.function("cuEventCreate")
    cuFuncSetAttribute = try d.function("cuFuncSetAttribute")
    cuLaunchKernelEx = d.optionalFunction("cuLaunchKernelEx", as: PFN_cuLaunchKernelEx.self)
    cuGraphInstantiateWithFlags = try d.function("cuGraphInstantiateWithFlags")
    cuGetErrorName = try d.function("cuGetErrorName")
    cuGetErrorString = try d.function("cuGetErrorString")
    calls = try DriverCalls(driver: d, compiler: n, .cuda)
    var v: Int32 = 0
    _ = getVersion(&v)
    driverVersion = v
    var major: Int32 = 0, minor: Int32 = 0
    if let ver = n.optionalFunction("nvrtcVersion", as: PFN_nvrtcVersion.self) { _ = ver(&major, &minor) }
    versionDescription =
      "CUDA driver \(v / 1000).\(v % 1000 / 10), NVRTC \(major).\(minor) (\(d.path), \(n.path))"
    if let num = n.optionalFunction("nvrtcGetNumSupportedArchs", as: PFN_nvrtcGetNumSupportedArchs.self),
      let list = n.optionalFunction("nvrtcGetSupportedArchs", as: PFN_nvrtcGetSupportedArchs.self)
    {
      var count: Int32 = 0
      _ = num(&count)
      var archs = [Int32](repeating: 0, count: Int(max(count, 0)))
      _ = list(&archs)
      supportedArchs = archs.map { "sm_\($0)" }
    } else {
      supportedArchs = nil
    }
    // B3: the entry points above need a CUDA 11 driver.
    if v > 0, v < CUDAConst.minimumDriverVersion {
      throw .driverTooOld(vendor: .cuda, version: Int(v), required: Int(CUDAConst.minimumDriverVersion))
    }
    _ = cuInit(0)
  }

  public func compilerTargets() -> [String]? { supportedArchs }

  func fail(_ call: String, _ code: CUresult) -> GPUError {
    var n: UnsafePointer<CChar>? = nil, s: UnsafePointer<CChar>? = nil
    _ = cuGetErrorName(code, &n)
    _ = cuGetErrorString(code, &s)
    return .apiCall(
      vendor: .cuda, call: call, code: code, name: n.map { String(cString: $0) } ?? "CUresult \(code)",
      message: s.map { String(cString: $0) } ?? "")
  }
  @inline(__always) func check(_ call: String, _ code: CUresult) throws(GPUError) {
    if code != CUDAConst.CUDA_SUCCESS { throw fail(call, code) }
  }

  private func handle(_ device: Int) throws(GPUError) -> CUdevice {
    var d: CUdevice = 0
    try check("cuDeviceGet", cuDeviceGet(&d, Int32(device)))
    return d
  }
  private func attribute(_ a: Int32, _ d: CUdevice) throws(GPUError) -> Int {
    var v: Int32 = 0
    try check("cuDeviceGetAttribute(\(a))", cuDeviceGetAttribute(&v, a, d))
    return Int(v)
  }

  public func properties(device: Int) throws(GPUError) -> GPUDeviceProperties {
    let d = try handle(device)
    var name = [CChar](repeating: 0, count: 256)
    try check("cuDeviceGetName", cuDeviceGetName(&name, 255, d))
    var total = 0
    try check("cuDeviceTotalMem_v2", cuDeviceTotalMem(&total, d))
    let major = try attribute(CUDAConst.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d)
    let minor = try attribute(CUDAConst.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d)
    let arch = "sm_\(major)\(minor)"
    let l2 = try attribute(CUDAConst.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, d)
    return GPUDeviceProperties(
      index: device, name: String(cString: name), architecture: arch, targetID: arch, totalMemory: total,
      multiprocessors: try attribute(CUDAConst.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d),
      warpSize: try attribute(CUDAConst.CU_DEVICE_ATTRIBUTE_WARP_SIZE, d), l2CacheBytes: l2 > 0 ? l2 : nil,
      maxThreadsPerBlock: try attribute(CUDAConst.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, d),
      maxSharedBytesPerBlock: try attribute(
        CUDAConst.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, d))
  }

  public func activate(device: Int) throws(GPUError) {
    let ctx: CUcontext = try contexts.withLock { (m) throws(GPUError) -> CUcontext in
      if let c = m[device] { return c.context }
      var c: CUcontext = nil
      try check("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain(&c, try handle(device)))
      m[device] = CUcontextBox(context: c)
      return c
    }
    try check("cuCtxSetCurrent", cuCtxSetCurrent(ctx))
  }

  public func allocate(bytes: Int) throws(GPUError) -> DevicePointer {
    var p: CUdeviceptr = 0
    let r = cuMemAlloc(&p, bytes)
    if r == CUDAConst.CUDA_ERROR_OUT_OF_MEMORY {
      throw .outOfMemory(
        vendor: .cuda, device: -1, requestedBytes: bytes, freeBytes: (try? memoryInfo())?.free)
    }
    try check("cuMemAlloc_v2", r)
    return DevicePointer(p)
  }
  public func free(_ pointer: DevicePointer) throws(GPUError) {
    try check("cuMemFree_v2", cuMemFree(pointer.address))
  }
  public func copyToDevice(_ dst: DevicePointer, from src: UnsafeRawPointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  { try check("cuMemcpyHtoDAsync_v2", cuMemcpyHtoDAsync(dst.address, src, bytes, stream.pointer)) }
  public func copyToHost(
    _ dst: UnsafeMutableRawPointer, from src: DevicePointer, bytes: Int, stream: VendorHandle
  )
    throws(GPUError)
  { try check("cuMemcpyDtoHAsync_v2", cuMemcpyDtoHAsync(dst, src.address, bytes, stream.pointer)) }
  public func copyOnDevice(_ dst: DevicePointer, from src: DevicePointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  { try check("cuMemcpyDtoDAsync_v2", cuMemcpyDtoDAsync(dst.address, src.address, bytes, stream.pointer)) }
  public func memset(_ dst: DevicePointer, value: UInt8, bytes: Int, stream: VendorHandle) throws(GPUError) {
    try check("cuMemsetD8Async", cuMemsetD8Async(dst.address, value, bytes, stream.pointer))
  }
  public func createStream() throws(GPUError) -> VendorHandle {
    var s: CUstream = nil
    try check("cuStreamCreate", cuStreamCreate(&s, 1))  // CU_STREAM_NON_BLOCKING
    return VendorHandle(s)
  }
  public func createEvent() throws(GPUError) -> VendorHandle {
    var e: CUevent = nil
    try check("cuEventCreate", cuEventCreate(&e, 0))
    return VendorHandle(e)
  }

  public func compile(source: String, name: String, architecture: String, options: [String]) throws(GPUError)
    -> CodeObject
  {
    if let archs = supportedArchs, !archs.contains(architecture) {
      throw .noCodeForArchitecture(
        vendor: .cuda, architecture: architecture, available: archs,
        detail: "the loaded NVRTC (\(versionDescription)) cannot target it")
    }
    return try calls.compiler.compile(
      source: source, name: name, architecture: architecture,
      options: ["--gpu-architecture=\(architecture)"] + options)
  }

  func moduleRejection(_ result: CUresult) -> String? {
    guard
      result == CUDAConst.CUDA_ERROR_NO_BINARY_FOR_GPU
        || result == CUDAConst.CUDA_ERROR_UNSUPPORTED_PTX_VERSION
    else { return nil }
    return "the driver rejected the module (\(fail(calls.moduleLoadData.name, result)))"
  }
  public func setMaxDynamicSharedBytes(_ function: VendorHandle, bytes: Int) throws(GPUError) {
    try check(
      "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES, \(bytes))",
      cuFuncSetAttribute(
        function.pointer, CUDAConst.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, Int32(bytes)))
  }
  public var hasDependentLaunch: Bool { cuLaunchKernelEx != nil }
  public func launchDependent(
    _ function: VendorHandle, grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int,
    stream: VendorHandle,
    arguments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  ) throws(GPUError) {
    guard let cuLaunchKernelEx else {
      return try launch(
        function, grid: grid, block: block, sharedBytes: sharedBytes, stream: stream, arguments: arguments)
    }
    var attribute = CUlaunchAttribute(id: CUDAConst.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION)
    attribute.value.0 = 1  // programmaticStreamSerializationAllowed (the union's first int)
    try withUnsafeMutablePointer(to: &attribute) { (attr) throws(GPUError) in
      var config = CUlaunchConfig(
        gridDimX: UInt32(grid.0), gridDimY: UInt32(grid.1), gridDimZ: UInt32(grid.2),
        blockDimX: UInt32(block.0),
        blockDimY: UInt32(block.1), blockDimZ: UInt32(block.2), sharedMemBytes: UInt32(sharedBytes),
        hStream: stream.pointer, attrs: attr, numAttrs: 1)
      try withUnsafePointer(to: &config) { (c) throws(GPUError) in
        try check("cuLaunchKernelEx", cuLaunchKernelEx(UnsafeRawPointer(c), function.pointer, arguments, nil))
      }
    }
  }
  func instantiate(_ graph: CUgraph) throws(GPUError) -> CUgraphExec {
    var exec: CUgraphExec = nil
    try check("cuGraphInstantiateWithFlags", cuGraphInstantiateWithFlags(&exec, graph, 0))
    return exec
  }
}

/// A CUcontext kept in a lock-protected map.
struct CUcontextBox: @unchecked Sendable { let context: CUcontext }
