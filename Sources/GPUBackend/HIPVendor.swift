#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// HIP runtime + hiprtc, loaded with dlopen (ROCm). The runtime library of ROCm 5.x also exports
/// hiprtc; ROCm 6 ships it as libhiprtc.so.
public final class HIPVendorAPI: VendorAPI, @unchecked Sendable {
  // @unchecked: immutable function pointers after init; the HIP runtime is thread-safe.
  public let vendor = GPUVendor.hip
  public let versionDescription: String
  let runtime: DynamicLibrary
  let rtc: DynamicLibrary
  private let comgrTargets: [String]?

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
  private let hipGetDeviceCount: PFN_hipGetDeviceCount
  private let hipDeviceGetAttribute: PFN_hipDeviceGetAttribute
  private let hipDeviceGetName: PFN_hipDeviceGetName
  private let hipDeviceTotalMem: PFN_hipDeviceTotalMem
  private let hipGetDeviceProperties: PFN_hipGetDeviceProperties
  private let hipSetDevice: PFN_hipSetDevice
  private let hipMemGetInfo: PFN_hipMemGetInfo
  private let hipMalloc: PFN_hipMalloc
  private let hipFree: PFN_hipFree
  private let hipMemcpyAsync: PFN_hipMemcpyAsync
  private let hipMemsetAsync: PFN_hipMemsetAsync
  private let hipStreamCreate: PFN_hipStreamCreate
  private let hipStreamDestroy: PFN_hipStreamDestroy
  private let hipStreamSynchronize: PFN_hipStreamSynchronize
  private let hipEventCreate: PFN_hipEventCreate
  private let hipEventDestroy: PFN_hipEventDestroy
  private let hipEventRecord: PFN_hipEventRecord
  private let hipEventElapsedTime: PFN_hipEventElapsedTime
  private let hipModuleLoadData: PFN_hipModuleLoadData
  private let hipModuleUnload: PFN_hipModuleUnload
  private let hipModuleGetFunction: PFN_hipModuleGetFunction
  private let hipModuleLaunchKernel: PFN_hipModuleLaunchKernel
  private let hipGetErrorName: PFN_hipGetErrorName
  private let hipStreamBeginCapture: PFN_hipStreamBeginCapture
  private let hipStreamEndCapture: PFN_hipStreamEndCapture
  private let hipGraphInstantiate: PFN_hipGraphInstantiate
  private let hipGraphLaunch: PFN_hipGraphLaunch
  private let hipGraphExecDestroy: PFN_hipGraphExecDestroy
  private let hipGraphDestroy: PFN_hipGraphDestroy
  private let hipGetErrorString: PFN_hipGetErrorString
  private let hiprtcCreateProgram: PFN_hiprtcCreateProgram
  private let hiprtcCompileProgram: PFN_hiprtcCompileProgram
  private let hiprtcGetProgramLogSize: PFN_hiprtcGetProgramLogSize
  private let hiprtcGetProgramLog: PFN_hiprtcGetProgramLog
  private let hiprtcGetCodeSize: PFN_hiprtcGetCodeSize
  private let hiprtcGetCode: PFN_hiprtcGetCode
  private let hiprtcDestroyProgram: PFN_hiprtcDestroyProgram
  private let hiprtcGetErrorString: PFN_hiprtcGetErrorString

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
    hipGetDeviceCount = try rt.function("hipGetDeviceCount")
    hipDeviceGetAttribute = try rt.function("hipDeviceGetAttribute")
    hipDeviceGetName = try rt.function("hipDeviceGetName")
    hipDeviceTotalMem = try rt.function("hipDeviceTotalMem")
    hipGetDeviceProperties = try rt.function("hipGetDeviceProperties")
    hipSetDevice = try rt.function("hipSetDevice")
    hipMemGetInfo = try rt.function("hipMemGetInfo")
    hipMalloc = try rt.function("hipMalloc")
    hipFree = try rt.function("hipFree")
    hipMemcpyAsync = try rt.function("hipMemcpyAsync")
    hipMemsetAsync = try rt.function("hipMemsetAsync")
    hipStreamCreate = try rt.function("hipStreamCreate")
    hipStreamDestroy = try rt.function("hipStreamDestroy")
    hipStreamSynchronize = try rt.function("hipStreamSynchronize")
    hipEventCreate = try rt.function("hipEventCreate")
    hipEventDestroy = try rt.function("hipEventDestroy")
    hipEventRecord = try rt.function("hipEventRecord")
    hipEventElapsedTime = try rt.function("hipEventElapsedTime")
    hipModuleLoadData = try rt.function("hipModuleLoadData")
    hipModuleUnload = try rt.function("hipModuleUnload")
    hipModuleGetFunction = try rt.function("hipModuleGetFunction")
    hipModuleLaunchKernel = try rt.function("hipModuleLaunchKernel")
    hipGetErrorName = try rt.function("hipGetErrorName")
    hipStreamBeginCapture = try rt.function("hipStreamBeginCapture")
    hipStreamEndCapture = try rt.function("hipStreamEndCapture")
    hipGraphInstantiate = try rt.function("hipGraphInstantiate")
    hipGraphLaunch = try rt.function("hipGraphLaunch")
    hipGraphExecDestroy = try rt.function("hipGraphExecDestroy")
    hipGraphDestroy = try rt.function("hipGraphDestroy")
    hipGetErrorString = try rt.function("hipGetErrorString")
    hiprtcCreateProgram = try rtc.function("hiprtcCreateProgram")
    hiprtcCompileProgram = try rtc.function("hiprtcCompileProgram")
    hiprtcGetProgramLogSize = try rtc.function("hiprtcGetProgramLogSize")
    hiprtcGetProgramLog = try rtc.function("hiprtcGetProgramLog")
    hiprtcGetCodeSize = try rtc.function("hiprtcGetCodeSize")
    hiprtcGetCode = try rtc.function("hiprtcGetCode")
    hiprtcDestroyProgram = try rtc.function("hiprtcDestroyProgram")
    hiprtcGetErrorString = try rtc.function("hiprtcGetErrorString")
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

  public func deviceCount() throws(GPUError) -> Int {
    var n: Int32 = 0
    let r = hipGetDeviceCount(&n)
    if r == HIPConst.hipErrorNoDevice || r == HIPConst.hipErrorInsufficientDriver
      || r == HIPConst.hipErrorNotInitialized
    {
      return 0
    }
    try check("hipGetDeviceCount", r)
    return Int(n)
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

  public func memoryInfo() throws(GPUError) -> (free: Int, total: Int) {
    var f = 0, t = 0
    try check("hipMemGetInfo", hipMemGetInfo(&f, &t))
    return (f, t)
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
  public func destroyStream(_ stream: VendorHandle) { _ = hipStreamDestroy(stream.pointer) }
  public func synchronize(stream: VendorHandle) throws(GPUError) {
    try check("hipStreamSynchronize", hipStreamSynchronize(stream.pointer))
  }
  public func createEvent() throws(GPUError) -> VendorHandle {
    var e: hipEvent_t = nil
    try check("hipEventCreate", hipEventCreate(&e))
    return VendorHandle(e)
  }
  public func destroyEvent(_ event: VendorHandle) { _ = hipEventDestroy(event.pointer) }
  public func record(event: VendorHandle, stream: VendorHandle) throws(GPUError) {
    try check("hipEventRecord", hipEventRecord(event.pointer, stream.pointer))
  }
  public func elapsedMilliseconds(from start: VendorHandle, to end: VendorHandle) throws(GPUError) -> Float {
    var ms: Float = 0
    try check("hipEventElapsedTime", hipEventElapsedTime(&ms, start.pointer, end.pointer))
    return ms
  }

  public func beginCapture(stream: VendorHandle) throws(GPUError) {
    try check(
      "hipStreamBeginCapture",
      hipStreamBeginCapture(stream.pointer, HIPConst.hipStreamCaptureModeThreadLocal))
  }
  public func endCapture(stream: VendorHandle) throws(GPUError) -> VendorHandle {
    var graph: hipGraph_t = nil
    try check("hipStreamEndCapture", hipStreamEndCapture(stream.pointer, &graph))
    defer { _ = hipGraphDestroy(graph) }
    var exec: hipGraphExec_t = nil
    try check("hipGraphInstantiate", hipGraphInstantiate(&exec, graph, nil, nil, 0))
    return VendorHandle(exec)
  }
  public func launchGraph(_ graph: VendorHandle, stream: VendorHandle) throws(GPUError) {
    try check("hipGraphLaunch", hipGraphLaunch(graph.pointer, stream.pointer))
  }
  public func destroyGraph(_ graph: VendorHandle) { _ = hipGraphExecDestroy(graph.pointer) }

  public func compile(source: String, name: String, architecture: String, options: [String]) throws(GPUError)
    -> CodeObject
  {
    let base = String(architecture.split(separator: ":").first ?? "")
    if let targets = comgrTargets, !targets.contains(base) {
      throw .noCodeForArchitecture(
        vendor: .hip, architecture: architecture, available: targets,
        detail: "the loaded hiprtc (\(versionDescription)) cannot compile for it")
    }
    var prog: hiprtcProgram = nil
    let created = source.withCString { s in
      name.withCString { n in hiprtcCreateProgram(&prog, s, n, 0, nil, nil) }
    }
    guard created == HIPConst.HIPRTC_SUCCESS else { throw rtcFail("hiprtcCreateProgram", created) }
    defer { _ = hiprtcDestroyProgram(&prog) }
    let all = ["--offload-arch=\(architecture)"] + options
    let cStrings = all.map { strdup($0) }
    defer { cStrings.forEach { cFree($0) } }
    var ptrs = cStrings.map { UnsafePointer<CChar>($0) }
    let r = hiprtcCompileProgram(prog, Int32(ptrs.count), &ptrs)
    var logSize = 0
    _ = hiprtcGetProgramLogSize(prog, &logSize)
    var log = [CChar](repeating: 0, count: max(logSize, 1) + 1)
    if logSize > 0 { _ = hiprtcGetProgramLog(prog, &log) }
    guard r == HIPConst.HIPRTC_SUCCESS else {
      throw .compileFailed(vendor: .hip, architecture: architecture, options: all, log: String(cString: log))
    }
    var size = 0
    guard hiprtcGetCodeSize(prog, &size) == 0, size > 0 else { throw rtcFail("hiprtcGetCodeSize", 0) }
    var code = [UInt8](repeating: 0, count: size)
    let got = code.withUnsafeMutableBytes {
      hiprtcGetCode(prog, $0.baseAddress!.assumingMemoryBound(to: CChar.self))
    }
    guard got == 0 else { throw rtcFail("hiprtcGetCode", got) }
    return CodeObject(architecture: architecture, bytes: code)
  }

  private func rtcFail(_ call: String, _ code: hiprtcResult) -> GPUError {
    .apiCall(
      vendor: .hip, call: call, code: code, name: "hiprtcResult \(code)",
      message: hiprtcGetErrorString(code).map { String(cString: $0) } ?? "")
  }

  public func loadModule(_ code: CodeObject) throws(GPUError) -> VendorHandle {
    var m: hipModule_t = nil
    let r = code.bytes.withUnsafeBytes { hipModuleLoadData(&m, $0.baseAddress) }
    if r == HIPConst.hipErrorNoBinaryForGpu {
      throw .noCodeForArchitecture(
        vendor: .hip, architecture: code.architecture, available: [code.architecture],
        detail: "the device rejected the code object (hipErrorNoBinaryForGpu)")
    }
    try check("hipModuleLoadData", r)
    return VendorHandle(m)
  }
  public func unloadModule(_ module: VendorHandle) { _ = hipModuleUnload(module.pointer) }
  public func function(_ module: VendorHandle, named: String) throws(GPUError) -> VendorHandle {
    var f: hipFunction_t = nil
    try check(
      "hipModuleGetFunction(\(named))", named.withCString { hipModuleGetFunction(&f, module.pointer, $0) })
    return VendorHandle(f)
  }
  public func launch(
    _ function: VendorHandle, grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int,
    stream: VendorHandle,
    arguments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  ) throws(GPUError) {
    try check(
      "hipModuleLaunchKernel",
      hipModuleLaunchKernel(
        function.pointer, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block.0), UInt32(block.1),
        UInt32(block.2), UInt32(sharedBytes), stream.pointer, arguments, nil))
  }
  public func isSticky(_ error: GPUError) -> Bool {
    guard case .apiCall(_, _, let code, _, _) = error else { return false }
    return code == HIPConst.hipErrorIllegalAddress || code == HIPConst.hipErrorLaunchFailure
      || code == HIPConst.hipErrorECCNotCorrectable
  }
}
