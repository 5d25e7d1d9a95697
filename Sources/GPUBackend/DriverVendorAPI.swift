#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// A C entry point with the symbol it was loaded as: the name a failed call reports.
struct DriverCall<Function> {
  let name: String
  let function: Function
}

extension DynamicLibrary {
  /// `function(symbol)`, kept with its symbol.
  func call<Function>(_ symbol: String) throws(GPUError) -> DriverCall<Function> {
    DriverCall(name: symbol, function: try function(symbol))
  }
}

/// The CUDA driver API and HIP runtime entry points that have the same C signature and the same
/// role (HIP copied CUDA's). The `VendorAPI` methods that are nothing but one of these calls are
/// written once, in `DriverVendorAPI`'s extension below.
struct DriverCalls {
  // Typed with the CUDA aliases (CUDADeclarations.swift); the HIP aliases (HIPDeclarations.swift,
  // checked against AMD's header) are the same Swift types: `HIPVendorAPI.sameSignatures` compiles
  // only while they are.
  let deviceGetCount: DriverCall<PFN_cuDeviceGetCount>
  let memGetInfo: DriverCall<PFN_cuMemGetInfo_v2>
  let streamDestroy: DriverCall<PFN_cuStreamDestroy_v2>
  let streamSynchronize: DriverCall<PFN_cuStreamSynchronize>
  let eventDestroy: DriverCall<PFN_cuEventDestroy_v2>
  let eventRecord: DriverCall<PFN_cuEventRecord>
  let eventElapsedTime: DriverCall<PFN_cuEventElapsedTime>
  let moduleLoadData: DriverCall<PFN_cuModuleLoadData>
  let moduleUnload: DriverCall<PFN_cuModuleUnload>
  let moduleGetFunction: DriverCall<PFN_cuModuleGetFunction>
  let launchKernel: DriverCall<PFN_cuLaunchKernel>
  let streamBeginCapture: DriverCall<PFN_cuStreamBeginCapture_v2>
  let streamEndCapture: DriverCall<PFN_cuStreamEndCapture>
  let graphLaunch: DriverCall<PFN_cuGraphLaunch>
  let graphExecDestroy: DriverCall<PFN_cuGraphExecDestroy>
  let graphDestroy: DriverCall<PFN_cuGraphDestroy>

  /// The run-time compiler's calls (NVRTC / hiprtc).
  let compiler: RuntimeCompilerCalls

  /// Loads the calls from the `driver` (libcuda / libamdhip64) and `compiler` (NVRTC / hiprtc)
  /// libraries under `vendor`'s names: CUDA's on the left, HIP's on the right (one table, as ggml's
  /// vendors/hip.h maps the one onto the other).
  init(driver: DynamicLibrary, compiler rtc: DynamicLibrary, _ vendor: GPUVendor) throws(GPUError) {
    func call<F>(_ library: DynamicLibrary, _ cuda: String, _ hip: String) throws(GPUError) -> DriverCall<F> {
      try library.call(vendor == .cuda ? cuda : hip)
    }
    deviceGetCount = try call(driver, "cuDeviceGetCount", "hipGetDeviceCount")
    memGetInfo = try call(driver, "cuMemGetInfo_v2", "hipMemGetInfo")
    streamDestroy = try call(driver, "cuStreamDestroy_v2", "hipStreamDestroy")
    streamSynchronize = try call(driver, "cuStreamSynchronize", "hipStreamSynchronize")
    eventDestroy = try call(driver, "cuEventDestroy_v2", "hipEventDestroy")
    eventRecord = try call(driver, "cuEventRecord", "hipEventRecord")
    eventElapsedTime = try call(driver, "cuEventElapsedTime", "hipEventElapsedTime")
    moduleLoadData = try call(driver, "cuModuleLoadData", "hipModuleLoadData")
    moduleUnload = try call(driver, "cuModuleUnload", "hipModuleUnload")
    moduleGetFunction = try call(driver, "cuModuleGetFunction", "hipModuleGetFunction")
    launchKernel = try call(driver, "cuLaunchKernel", "hipModuleLaunchKernel")
    streamBeginCapture = try call(driver, "cuStreamBeginCapture_v2", "hipStreamBeginCapture")
    streamEndCapture = try call(driver, "cuStreamEndCapture", "hipStreamEndCapture")
    graphLaunch = try call(driver, "cuGraphLaunch", "hipGraphLaunch")
    graphExecDestroy = try call(driver, "cuGraphExecDestroy", "hipGraphExecDestroy")
    graphDestroy = try call(driver, "cuGraphDestroy", "hipGraphDestroy")
    compiler = RuntimeCompilerCalls(
      vendor: vendor, resultName: vendor == .cuda ? "nvrtcResult" : "hiprtcResult",
      createProgram: try call(rtc, "nvrtcCreateProgram", "hiprtcCreateProgram"),
      compileProgram: try call(rtc, "nvrtcCompileProgram", "hiprtcCompileProgram"),
      getProgramLogSize: try call(rtc, "nvrtcGetProgramLogSize", "hiprtcGetProgramLogSize"),
      getProgramLog: try call(rtc, "nvrtcGetProgramLog", "hiprtcGetProgramLog"),
      getCodeSize: try call(rtc, "nvrtcGetCUBINSize", "hiprtcGetCodeSize"),
      getCode: try call(rtc, "nvrtcGetCUBIN", "hiprtcGetCode"),
      destroyProgram: try call(rtc, "nvrtcDestroyProgram", "hiprtcDestroyProgram"),
      getErrorString: try call(rtc, "nvrtcGetErrorString", "hiprtcGetErrorString"))
  }
}

/// What a vendor over `DriverCalls` supplies: its calls, its error mapping and the few result codes
/// and steps where CUDA and HIP differ.
protocol DriverVendorAPI: VendorAPI {
  var calls: DriverCalls { get }
  /// Throws the vendor's typed error when `code` is not success.
  func check(_ call: String, _ code: Int32) throws(GPUError)
  /// `deviceGetCount` results that mean "no device" rather than a failure.
  static var noDeviceResults: [Int32] { get }
  /// Results after which the context is unusable (RELIABILITY.md B8).
  static var stickyResults: [Int32] { get }
  /// stream capture mode thread-local: other threads' unsafe calls do not break this capture.
  static var threadLocalCaptureMode: Int32 { get }
  /// Why the driver refused a module with `result`, when that means "no code for this device".
  func moduleRejection(_ result: Int32) -> String?
  /// An executable graph of the captured `graph`.
  func instantiate(_ graph: UnsafeMutableRawPointer?) throws(GPUError) -> UnsafeMutableRawPointer?
}

extension DriverVendorAPI {
  public func deviceCount() throws(GPUError) -> Int {
    var n: Int32 = 0
    let r = calls.deviceGetCount.function(&n)
    if Self.noDeviceResults.contains(r) { return 0 }
    try check(calls.deviceGetCount.name, r)
    return Int(n)
  }

  public func memoryInfo() throws(GPUError) -> (free: Int, total: Int) {
    var f = 0, t = 0
    try check(calls.memGetInfo.name, calls.memGetInfo.function(&f, &t))
    return (f, t)
  }

  public func destroyStream(_ stream: VendorHandle) { _ = calls.streamDestroy.function(stream.pointer) }
  public func synchronize(stream: VendorHandle) throws(GPUError) {
    try check(calls.streamSynchronize.name, calls.streamSynchronize.function(stream.pointer))
  }
  public func destroyEvent(_ event: VendorHandle) { _ = calls.eventDestroy.function(event.pointer) }
  public func record(event: VendorHandle, stream: VendorHandle) throws(GPUError) {
    try check(calls.eventRecord.name, calls.eventRecord.function(event.pointer, stream.pointer))
  }
  public func elapsedMilliseconds(from start: VendorHandle, to end: VendorHandle) throws(GPUError) -> Float {
    var ms: Float = 0
    try check(calls.eventElapsedTime.name, calls.eventElapsedTime.function(&ms, start.pointer, end.pointer))
    return ms
  }

  public func loadModule(_ code: CodeObject) throws(GPUError) -> VendorHandle {
    var m: UnsafeMutableRawPointer? = nil
    let r = code.bytes.withUnsafeBytes { calls.moduleLoadData.function(&m, $0.baseAddress) }
    if let detail = moduleRejection(r) {
      throw .noCodeForArchitecture(
        vendor: vendor, architecture: code.architecture, available: [code.architecture], detail: detail)
    }
    try check(calls.moduleLoadData.name, r)
    return VendorHandle(m)
  }
  public func unloadModule(_ module: VendorHandle) { _ = calls.moduleUnload.function(module.pointer) }
  public func function(_ module: VendorHandle, named: String) throws(GPUError) -> VendorHandle {
    var f: UnsafeMutableRawPointer? = nil
    try check(
      "\(calls.moduleGetFunction.name)(\(named))",
      named.withCString { calls.moduleGetFunction.function(&f, module.pointer, $0) })
    return VendorHandle(f)
  }
  public func launch(
    _ function: VendorHandle, grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int,
    stream: VendorHandle,
    arguments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  ) throws(GPUError) {
    try check(
      calls.launchKernel.name,
      calls.launchKernel.function(
        function.pointer, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block.0), UInt32(block.1),
        UInt32(block.2), UInt32(sharedBytes), stream.pointer, arguments, nil))
  }

  public func beginCapture(stream: VendorHandle) throws(GPUError) {
    try check(
      calls.streamBeginCapture.name,
      calls.streamBeginCapture.function(stream.pointer, Self.threadLocalCaptureMode))
  }
  public func endCapture(stream: VendorHandle) throws(GPUError) -> VendorHandle {
    var graph: UnsafeMutableRawPointer? = nil
    try check(calls.streamEndCapture.name, calls.streamEndCapture.function(stream.pointer, &graph))
    defer { _ = calls.graphDestroy.function(graph) }
    return VendorHandle(try instantiate(graph))
  }
  public func launchGraph(_ graph: VendorHandle, stream: VendorHandle) throws(GPUError) {
    try check(calls.graphLaunch.name, calls.graphLaunch.function(graph.pointer, stream.pointer))
  }
  public func destroyGraph(_ graph: VendorHandle) { _ = calls.graphExecDestroy.function(graph.pointer) }

  public func isSticky(_ error: GPUError) -> Bool {
    guard case .apiCall(_, _, let code, _, _) = error else { return false }
    return Self.stickyResults.contains(code)
  }
}

/// NVRTC and hiprtc: one program life cycle under two prefixes (hiprtc copied nvrtc's API).
struct RuntimeCompilerCalls {
  let vendor: GPUVendor
  /// "nvrtcResult" / "hiprtcResult": how an error names a code.
  let resultName: String
  let createProgram: DriverCall<PFN_nvrtcCreateProgram>
  let compileProgram: DriverCall<PFN_nvrtcCompileProgram>
  let getProgramLogSize: DriverCall<PFN_nvrtcGetProgramLogSize>
  let getProgramLog: DriverCall<PFN_nvrtcGetProgramLog>
  /// nvrtcGetCUBINSize / hiprtcGetCodeSize, then nvrtcGetCUBIN / hiprtcGetCode.
  let getCodeSize: DriverCall<PFN_nvrtcGetCUBINSize>
  let getCode: DriverCall<PFN_nvrtcGetCUBIN>
  let destroyProgram: DriverCall<PFN_nvrtcDestroyProgram>
  let getErrorString: DriverCall<PFN_nvrtcGetErrorString>

  /// Compiles `source` with `options` (the target option first) into a code object for `architecture`.
  func compile(source: String, name: String, architecture: String, options all: [String]) throws(GPUError)
    -> CodeObject
  {
    var prog: UnsafeMutableRawPointer? = nil
    let created = source.withCString { s in
      name.withCString { n in createProgram.function(&prog, s, n, 0, nil, nil) }
    }
    guard created == 0 else { throw fail(createProgram.name, created) }  // NVRTC_SUCCESS, HIPRTC_SUCCESS
    defer { _ = destroyProgram.function(&prog) }
    let cStrings = all.map { strdup($0) }
    defer { cStrings.forEach { cFree($0) } }
    var ptrs = cStrings.map { UnsafePointer<CChar>($0) }
    let r = compileProgram.function(prog, Int32(ptrs.count), &ptrs)
    var logSize = 0
    _ = getProgramLogSize.function(prog, &logSize)
    var log = [CChar](repeating: 0, count: max(logSize, 1) + 1)
    if logSize > 0 { _ = getProgramLog.function(prog, &log) }
    guard r == 0 else {
      throw .compileFailed(
        vendor: vendor, architecture: architecture, options: all, log: String(cString: log))
    }
    var size = 0
    guard getCodeSize.function(prog, &size) == 0, size > 0 else { throw fail(getCodeSize.name, 0) }
    var code = [UInt8](repeating: 0, count: size)
    let got = code.withUnsafeMutableBytes {
      getCode.function(prog, $0.baseAddress!.assumingMemoryBound(to: CChar.self))
    }
    guard got == 0 else { throw fail(getCode.name, got) }
    return CodeObject(architecture: architecture, bytes: code)
  }

  private func fail(_ call: String, _ code: Int32) -> GPUError {
    .apiCall(
      vendor: vendor, call: call, code: code, name: "\(resultName) \(code)",
      message: getErrorString.function(code).map { String(cString: $0) } ?? "")
  }
}
