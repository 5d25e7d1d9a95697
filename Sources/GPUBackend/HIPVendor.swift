#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// HIP runtime + hiprtc, loaded with dlopen (ROCm). The runtime library of ROCm 5.x also exports
/// hiprtc; ROCm 6 ships it as libhiprtc.so.
public final class HIPVendorAPI: DriverVendorAPI, @unchecked Sendable {
  // @unchecked: immutable function pointers after init; the HIP runtime is thread-safe.
  public let vendor = GPUVendor.hip
  public let versionDescription: String
  let runtime: DynamicLibrary
  let rtc: DynamicLibrary
  private let comgrTargets: [String]?
  let calls: DriverCalls
  static let noDeviceResults = [
    HIPConst.hipErrorNoDevice, HIPConst.hipErrorInsufficientDriver, HIPConst.hipErrorNotInitialized,
  ]
  static let stickyResults = [
    HIPConst.hipErrorIllegalAddress, HIPConst.hipErrorLaunchFailure, HIPConst.hipErrorECCNotCorrectable,
  ]
  static let threadLocalCaptureMode = HIPConst.hipStreamCaptureModeThreadLocal

  static let runtimeCandidates = [
    "libamdhip64.so", "libamdhip64.so.6", "libamdhip64.so.5", "/opt/rocm/lib/libamdhip64.so",
    "/opt/rocm/lib/libamdhip64.so.6", "/opt/rocm/lib/libamdhip64.so.5",
  ]
  static let rtcCandidates = [
    "libhiprtc.so", "libhiprtc.so.6", "libhiprtc.so.5", "/opt/rocm/lib/libhiprtc.so",
    "/opt/rocm/lib/libhiprtc.so.6",
  ]
  static let comgrCandidates = [
    "libamd_comgr.so", "libamd_comgr.so.3", "libamd_comgr.so.2", "/opt/rocm/lib/libamd_comgr.so",
  ]

  private let hipInit: PFN_hipInit
  private let hipRuntimeGetVersion: PFN_hipRuntimeGetVersion
  private let hipDeviceGetAttribute: PFN_hipDeviceGetAttribute
  private let hipDeviceGetName: PFN_hipDeviceGetName
  private let hipDeviceTotalMem: PFN_hipDeviceTotalMem
  private let hipGetDeviceProperties: PFN_hipGetDeviceProperties
  private let hipSetDevice: PFN_hipSetDevice
  private let hipMalloc: PFN_hipMalloc
  private let hipFree: PFN_hipFree
  private let hipMemcpyAsync: PFN_hipMemcpyAsync
  private let hipMemsetAsync: PFN_hipMemsetAsync
  private let hipStreamCreate: PFN_hipStreamCreate
  private let hipEventCreate: PFN_hipEventCreate
  private let hipGetErrorName: PFN_hipGetErrorName
  private let hipGraphInstantiate: PFN_hipGraphInstantiate
  private let hipGetErrorString: PFN_hipGetErrorString

  /// Loads the libraries (`libraries.hipRuntime` / `.hiprtc` override the search; the CLI fills them
  /// from QUANTA_HIP_LIB / QUANTA_HIPRTC_LIB) and initializes the runtime. A runtime with no GPU
  /// loads fine; `deviceCount()` then says so.
  public init(libraries: GPULibraryPaths = .init()) throws(GPUError) {
    let rt = try DynamicLibrary.open(
      "HIP runtime (libamdhip64)", candidates: Self.runtimeCandidates, override: libraries.hipRuntime)
    runtime = rt
    do {
      rtc = try DynamicLibrary.open("hiprtc", candidates: Self.rtcCandidates, override: libraries.hiprtc)
    } catch {
      // ROCm 5.x: hiprtc lives in the runtime library itself.
      guard libraries.hiprtc == nil,
        rt.optionalFunction("hiprtcCompileProgram", as: PFN_hiprtcCompileProgram.self) != nil
      else { throw error }
      rtc = rt
    }
    hipInit = try rt.function("hipInit")
    hipRuntimeGetVersion = try rt.function("hipRuntimeGetVersion")
    hipDeviceGetAttribute = try rt.function("hipDeviceGetAttribute")
    hipDeviceGetName = try rt.function("hipDeviceGetName")
    hipDeviceTotalMem = try rt.function("hipDeviceTotalMem")
    hipGetDeviceProperties = try rt.function("hipGetDeviceProperties")
    hipSetDevice = try rt.function("hipSetDevice")
    hipMalloc = try rt.function("hipMalloc")
    hipFree = try rt.function("hipFree")
    hipMemcpyAsync = try rt.function("hipMemcpyAsync")
    hipMemsetAsync = try rt.function("hipMemsetAsync")
    hipStreamCreate = try rt.function("hipStreamCreate")
    hipEventCreate = try rt.function("hipEventCreate")
    hipGetErrorName = try rt.function("hipGetErrorName")
    hipGraphInstantiate = try rt.function("hipGraphInstantiate")
    hipGetErrorString = try rt.function("hipGetErrorString")
    calls = try DriverCalls(driver: rt, compiler: rtc, .hip)
    var v: Int32 = 0
    _ = hipRuntimeGetVersion(&v)
    versionDescription = "HIP \(v / 10_000_000).\(v / 100_000 % 100).\(v % 100_000) (\(rt.path))"
    comgrTargets = Self.readComgrTargets()
    // hipInit fails with hipErrorNoDevice on a machine without a GPU; deviceCount() reports that.
    _ = hipInit(0)
  }

  /// The ISAs the code-object manager (hiprtc's compiler back end) supports. hiprtc of ROCm 5.2
  /// aborts the process on a target it does not know, so Quanta asks first.
  private static func readComgrTargets() -> [String]? {
    typealias Count = @convention(c) (UnsafeMutablePointer<Int>?) -> Int32
    typealias Name = @convention(c) (Int, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32
    guard let lib = try? DynamicLibrary.open("amd_comgr", candidates: comgrCandidates, override: nil),
      let count = lib.optionalFunction("amd_comgr_get_isa_count", as: Count.self),
      let name = lib.optionalFunction("amd_comgr_get_isa_name", as: Name.self)
    else { return nil }
    var n = 0
    guard count(&n) == 0 else { return nil }
    var out: [String] = []
    for i in 0..<n {
      var p: UnsafePointer<CChar>? = nil
      if name(i, &p) == 0, let p {
        // "amdgcn-amd-amdhsa--gfx90a" → "gfx90a"
        let full = String(cString: p)
        out.append(String(full.split(separator: "-").last ?? Substring(full)))
      }
    }
    return out
  }

  public func compilerTargets() -> [String]? { comgrTargets }

  func fail(_ call: String, _ code: hipError_t) -> GPUError {
    if code == HIPConst.hipErrorOutOfMemory {
      return .outOfMemory(vendor: .hip, device: -1, requestedBytes: 0, freeBytes: nil)
    }
    let name = hipGetErrorName(code).map { String(cString: $0) } ?? "hipError \(code)"
    let text = hipGetErrorString(code).map { String(cString: $0) } ?? ""
    return .apiCall(vendor: .hip, call: call, code: code, name: name, message: text)
  }

  @inline(__always) func check(_ call: String, _ code: hipError_t) throws(GPUError) {
    if code != HIPConst.hipSuccess { throw fail(call, code) }
  }

  private func attribute(_ attr: Int32, _ device: Int) throws(GPUError) -> Int {
    var v: Int32 = 0
    try check("hipDeviceGetAttribute(\(attr))", hipDeviceGetAttribute(&v, attr, Int32(device)))
    return Int(v)
  }

  public func properties(device: Int) throws(GPUError) -> GPUDeviceProperties {
    var nameBuf = [CChar](repeating: 0, count: 256)
    try check("hipDeviceGetName", hipDeviceGetName(&nameBuf, 255, Int32(device)))
    var total = 0
    try check("hipDeviceTotalMem", hipDeviceTotalMem(&total, Int32(device)))
    let target = try gcnArchName(device)
    let warp = try attribute(HIPConst.hipDeviceAttributeWarpSize, device)
    let l2 = try attribute(HIPConst.hipDeviceAttributeL2CacheSize, device)
    return GPUDeviceProperties(
      index: device, name: String(cString: nameBuf),
      architecture: String(target.split(separator: ":").first ?? ""),
      targetID: target, totalMemory: total,
      multiprocessors: try attribute(HIPConst.hipDeviceAttributeMultiprocessorCount, device), warpSize: warp,
      l2CacheBytes: l2 > 0 ? l2 : nil,
      maxThreadsPerBlock: try attribute(HIPConst.hipDeviceAttributeMaxThreadsPerBlock, device))
  }

  /// gcnArchName from hipDeviceProp_t: read at the ROCm 5.x offset when it holds "gfx…", else found
  /// by scanning (ROCm 6 grew the struct). The buffer is larger than any known layout.
  private func gcnArchName(_ device: Int) throws(GPUError) -> String {
    var buf = [UInt8](repeating: 0, count: 8192)
    let r = buf.withUnsafeMutableBytes { hipGetDeviceProperties($0.baseAddress, Int32(device)) }
    try check("hipGetDeviceProperties", r)
    func string(at o: Int) -> String? {
      // The name starts with "gfx".
      guard o + 3 < buf.count, buf[o] == 0x67, buf[o + 1] == 0x66, buf[o + 2] == 0x78 else { return nil }
      let end = buf[o...].firstIndex(of: 0) ?? buf.count
      return String(decoding: buf[o..<end], as: UTF8.self)
    }
    if let s = string(at: HIPConst.offsetof_hipDeviceProp_t_gcnArchName) { return s }
    for o in 256..<buf.count - 4 where buf[o - 1] == 0 { if let s = string(at: o) { return s } }
    throw .apiCall(
      vendor: .hip, call: "hipGetDeviceProperties", code: 0, name: "noArchName",
      message: "no gcnArchName found")
  }

  public func activate(device: Int) throws(GPUError) {
    try check("hipSetDevice", hipSetDevice(Int32(device)))
  }

  public func allocate(bytes: Int) throws(GPUError) -> DevicePointer {
    var p: UnsafeMutableRawPointer? = nil
    let r = hipMalloc(&p, bytes)
    if r == HIPConst.hipErrorOutOfMemory {
      throw .outOfMemory(
        vendor: .hip, device: -1, requestedBytes: bytes, freeBytes: (try? memoryInfo())?.free)
    }
    try check("hipMalloc", r)
    return DevicePointer(UInt64(UInt(bitPattern: p)))
  }

  public func free(_ pointer: DevicePointer) throws(GPUError) { try check("hipFree", hipFree(raw(pointer))) }

  private func raw(_ p: DevicePointer) -> UnsafeMutableRawPointer? {
    UnsafeMutableRawPointer(bitPattern: UInt(p.address))
  }

  public func copyToDevice(_ dst: DevicePointer, from src: UnsafeRawPointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  {
    try check(
      "hipMemcpyAsync(H2D)",
      hipMemcpyAsync(raw(dst), src, bytes, HIPConst.hipMemcpyHostToDevice, stream.pointer))
  }
  public func copyToHost(
    _ dst: UnsafeMutableRawPointer, from src: DevicePointer, bytes: Int, stream: VendorHandle
  )
    throws(GPUError)
  {
    try check(
      "hipMemcpyAsync(D2H)",
      hipMemcpyAsync(dst, UnsafeRawPointer(raw(src)), bytes, HIPConst.hipMemcpyDeviceToHost, stream.pointer))
  }
  public func copyOnDevice(_ dst: DevicePointer, from src: DevicePointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  {
    try check(
      "hipMemcpyAsync(D2D)",
      hipMemcpyAsync(
        raw(dst), UnsafeRawPointer(raw(src)), bytes, HIPConst.hipMemcpyDeviceToDevice, stream.pointer))
  }
  public func memset(_ dst: DevicePointer, value: UInt8, bytes: Int, stream: VendorHandle) throws(GPUError) {
    try check("hipMemsetAsync", hipMemsetAsync(raw(dst), Int32(value), bytes, stream.pointer))
  }
  public func createStream() throws(GPUError) -> VendorHandle {
    var s: hipStream_t = nil
    try check("hipStreamCreate", hipStreamCreate(&s))
    return VendorHandle(s)
  }
  public func createEvent() throws(GPUError) -> VendorHandle {
    var e: hipEvent_t = nil
    try check("hipEventCreate", hipEventCreate(&e))
    return VendorHandle(e)
  }
  func instantiate(_ graph: hipGraph_t) throws(GPUError) -> hipGraphExec_t {
    var exec: hipGraphExec_t = nil
    try check("hipGraphInstantiate", hipGraphInstantiate(&exec, graph, nil, nil, 0))
    return exec
  }

  public func compile(source: String, name: String, architecture: String, options: [String]) throws(GPUError)
    -> CodeObject
  {
    let base = String(architecture.split(separator: ":").first ?? "")
    if let targets = comgrTargets, !targets.contains(base) {
      throw .noCodeForArchitecture(
        vendor: .hip, architecture: architecture, available: targets,
        detail: "the loaded hiprtc (\(versionDescription)) cannot compile for it")
    }
    return try calls.compiler.compile(
      source: source, name: name, architecture: architecture,
      options: ["--offload-arch=\(architecture)"] + options)
  }

  /// Never called: compiles only while the HIP declarations of the shared calls have the CUDA types
  /// that `DriverCalls` is declared with.
  private static func sameSignatures(_ c: DriverCalls) -> (
    PFN_hipGetDeviceCount, PFN_hipMemGetInfo, PFN_hipStreamDestroy, PFN_hipStreamSynchronize,
    PFN_hipEventDestroy,
    PFN_hipEventRecord, PFN_hipEventElapsedTime, PFN_hipModuleLoadData, PFN_hipModuleUnload,
    PFN_hipModuleGetFunction, PFN_hipModuleLaunchKernel, PFN_hipStreamBeginCapture, PFN_hipStreamEndCapture,
    PFN_hipGraphLaunch, PFN_hipGraphExecDestroy, PFN_hipGraphDestroy
  ) {
    (
      c.deviceGetCount.function, c.memGetInfo.function, c.streamDestroy.function,
      c.streamSynchronize.function,
      c.eventDestroy.function, c.eventRecord.function, c.eventElapsedTime.function, c.moduleLoadData.function,
      c.moduleUnload.function, c.moduleGetFunction.function, c.launchKernel.function,
      c.streamBeginCapture.function, c.streamEndCapture.function, c.graphLaunch.function,
      c.graphExecDestroy.function, c.graphDestroy.function
    )
  }

  func moduleRejection(_ result: hipError_t) -> String? {
    result == HIPConst.hipErrorNoBinaryForGpu
      ? "the device rejected the code object (hipErrorNoBinaryForGpu)" : nil
  }
}
