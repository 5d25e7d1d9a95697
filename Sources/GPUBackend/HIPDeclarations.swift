// The HIP runtime and hiprtc C API as Quanta calls it, written once. Names are the C names so that
// scripts/check_hip_abi.py can turn every line below into static asserts and function-pointer
// assignments checked against AMD's own header (libamdhip64-dev). Keep one declaration per line.
// Struct layouts are avoided where an attribute call exists (they differ between ROCm versions).

// C type aliases (checked: same size as the header's types).
typealias hipError_t = Int32
typealias hipDevice_t = Int32
typealias hipDeviceAttribute_t = Int32
typealias hipMemcpyKind = Int32
typealias hiprtcResult = Int32
typealias hipStream_t = UnsafeMutableRawPointer?
typealias hipEvent_t = UnsafeMutableRawPointer?
typealias hipModule_t = UnsafeMutableRawPointer?
typealias hipFunction_t = UnsafeMutableRawPointer?
typealias hiprtcProgram = UnsafeMutableRawPointer?
typealias hipDeviceProp_t_ptr = UnsafeMutableRawPointer?
typealias hipStreamCaptureMode = Int32
typealias hipGraph_t = UnsafeMutableRawPointer?
typealias hipGraphExec_t = UnsafeMutableRawPointer?
typealias hipGraphNode_t = UnsafeMutableRawPointer?

// Functions.
typealias PFN_hipInit = @convention(c) (UInt32) -> hipError_t
typealias PFN_hipRuntimeGetVersion = @convention(c) (UnsafeMutablePointer<Int32>?) -> hipError_t
typealias PFN_hipDriverGetVersion = @convention(c) (UnsafeMutablePointer<Int32>?) -> hipError_t
typealias PFN_hipGetDeviceCount = @convention(c) (UnsafeMutablePointer<Int32>?) -> hipError_t
typealias PFN_hipDeviceGetAttribute =
  @convention(c) (UnsafeMutablePointer<Int32>?, hipDeviceAttribute_t, Int32) -> hipError_t
typealias PFN_hipDeviceGetName =
  @convention(c) (UnsafeMutablePointer<CChar>?, Int32, hipDevice_t) -> hipError_t
typealias PFN_hipDeviceTotalMem = @convention(c) (UnsafeMutablePointer<Int>?, hipDevice_t) -> hipError_t
typealias PFN_hipGetDeviceProperties = @convention(c) (hipDeviceProp_t_ptr, Int32) -> hipError_t
typealias PFN_hipSetDevice = @convention(c) (Int32) -> hipError_t
typealias PFN_hipMemGetInfo =
  @convention(c) (UnsafeMutablePointer<Int>?, UnsafeMutablePointer<Int>?) -> hipError_t
typealias PFN_hipMalloc = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int) -> hipError_t
typealias PFN_hipFree = @convention(c) (UnsafeMutableRawPointer?) -> hipError_t
typealias PFN_hipMemcpyAsync =
  @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, hipMemcpyKind, hipStream_t) -> hipError_t
typealias PFN_hipMemsetAsync =
  @convention(c) (UnsafeMutableRawPointer?, Int32, Int, hipStream_t) -> hipError_t
typealias PFN_hipStreamCreate = @convention(c) (UnsafeMutablePointer<hipStream_t>?) -> hipError_t
typealias PFN_hipStreamDestroy = @convention(c) (hipStream_t) -> hipError_t
typealias PFN_hipStreamSynchronize = @convention(c) (hipStream_t) -> hipError_t
typealias PFN_hipEventCreate = @convention(c) (UnsafeMutablePointer<hipEvent_t>?) -> hipError_t
typealias PFN_hipEventDestroy = @convention(c) (hipEvent_t) -> hipError_t
typealias PFN_hipEventRecord = @convention(c) (hipEvent_t, hipStream_t) -> hipError_t
typealias PFN_hipEventElapsedTime =
  @convention(c) (UnsafeMutablePointer<Float>?, hipEvent_t, hipEvent_t) -> hipError_t
typealias PFN_hipModuleLoadData =
  @convention(c) (UnsafeMutablePointer<hipModule_t>?, UnsafeRawPointer?) -> hipError_t
typealias PFN_hipModuleUnload = @convention(c) (hipModule_t) -> hipError_t
typealias PFN_hipModuleGetFunction =
  @convention(c) (UnsafeMutablePointer<hipFunction_t>?, hipModule_t, UnsafePointer<CChar>?) -> hipError_t
typealias PFN_hipModuleLaunchKernel =
  @convention(c) (
    hipFunction_t, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, hipStream_t,
    UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
  ) -> hipError_t
typealias PFN_hipStreamBeginCapture = @convention(c) (hipStream_t, hipStreamCaptureMode) -> hipError_t
typealias PFN_hipStreamEndCapture =
  @convention(c) (hipStream_t, UnsafeMutablePointer<hipGraph_t>?) -> hipError_t
typealias PFN_hipGraphInstantiate =
  @convention(c) (
    UnsafeMutablePointer<hipGraphExec_t>?, hipGraph_t, UnsafeMutablePointer<hipGraphNode_t>?,
    UnsafeMutablePointer<CChar>?, Int
  ) -> hipError_t
typealias PFN_hipGraphLaunch = @convention(c) (hipGraphExec_t, hipStream_t) -> hipError_t
typealias PFN_hipGraphExecDestroy = @convention(c) (hipGraphExec_t) -> hipError_t
typealias PFN_hipGraphDestroy = @convention(c) (hipGraph_t) -> hipError_t
typealias PFN_hipGetErrorName = @convention(c) (hipError_t) -> UnsafePointer<CChar>?
typealias PFN_hipGetErrorString = @convention(c) (hipError_t) -> UnsafePointer<CChar>?
typealias PFN_hiprtcVersion =
  @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?) -> hiprtcResult
typealias PFN_hiprtcCreateProgram =
  @convention(c) (
    UnsafeMutablePointer<hiprtcProgram>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32,
    UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafeMutablePointer<UnsafePointer<CChar>?>?
  ) -> hiprtcResult
typealias PFN_hiprtcCompileProgram =
  @convention(c) (hiprtcProgram, Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> hiprtcResult
typealias PFN_hiprtcGetProgramLogSize =
  @convention(c) (hiprtcProgram, UnsafeMutablePointer<Int>?) -> hiprtcResult
typealias PFN_hiprtcGetProgramLog =
  @convention(c) (hiprtcProgram, UnsafeMutablePointer<CChar>?) -> hiprtcResult
typealias PFN_hiprtcGetCodeSize = @convention(c) (hiprtcProgram, UnsafeMutablePointer<Int>?) -> hiprtcResult
typealias PFN_hiprtcGetCode = @convention(c) (hiprtcProgram, UnsafeMutablePointer<CChar>?) -> hiprtcResult
typealias PFN_hiprtcDestroyProgram = @convention(c) (UnsafeMutablePointer<hiprtcProgram>?) -> hiprtcResult
typealias PFN_hiprtcGetErrorString = @convention(c) (hiprtcResult) -> UnsafePointer<CChar>?

/// Enum values and struct facts Quanta relies on (checked against the header).
enum HIPConst {
  static let hipSuccess: Int32 = 0
  static let hipErrorOutOfMemory: Int32 = 2
  static let hipErrorNotInitialized: Int32 = 3
  static let hipErrorInsufficientDriver: Int32 = 35
  static let hipErrorNoDevice: Int32 = 100
  static let hipErrorInvalidDevice: Int32 = 101
  static let hipErrorNoBinaryForGpu: Int32 = 209
  static let hipErrorECCNotCorrectable: Int32 = 214
  static let hipErrorIllegalAddress: Int32 = 700
  static let hipErrorLaunchFailure: Int32 = 719
  static let hipStreamCaptureModeThreadLocal: Int32 = 1
  static let hipMemcpyHostToDevice: Int32 = 1
  static let hipMemcpyDeviceToHost: Int32 = 2
  static let hipMemcpyDeviceToDevice: Int32 = 3
  static let hipDeviceAttributeL2CacheSize: Int32 = 19
  static let hipDeviceAttributeMaxThreadsPerBlock: Int32 = 56
  static let hipDeviceAttributeMultiprocessorCount: Int32 = 63
  static let hipDeviceAttributeWarpSize: Int32 = 87
  static let HIPRTC_SUCCESS: Int32 = 0
  static let HIPRTC_ERROR_COMPILATION: Int32 = 6
  // hipDeviceProp_t (ROCm 5.x layout, the one `hipGetDeviceProperties` fills): only the name and
  // gcnArchName strings are read, and gcnArchName is verified to start with "gfx" before use.
  static let offsetof_hipDeviceProp_t_name = 0
  static let offsetof_hipDeviceProp_t_gcnArchName = 396
  static let sizeof_hipDeviceProp_t = 792
}
