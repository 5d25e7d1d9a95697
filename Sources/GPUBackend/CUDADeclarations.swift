// The CUDA driver API and NVRTC as Quanta calls them, written once (C names; one per line).
typealias CUresult = Int32
typealias CUdevice = Int32
typealias CUdevice_attribute = Int32
typealias CUdeviceptr = UInt64
typealias nvrtcResult = Int32
typealias CUcontext = UnsafeMutableRawPointer?
typealias CUmodule = UnsafeMutableRawPointer?
typealias CUfunction = UnsafeMutableRawPointer?
typealias CUstream = UnsafeMutableRawPointer?
typealias CUevent = UnsafeMutableRawPointer?
typealias nvrtcProgram = UnsafeMutableRawPointer?
typealias CUgraph = UnsafeMutableRawPointer?
typealias CUgraphExec = UnsafeMutableRawPointer?

typealias PFN_cuInit = @convention(c) (UInt32) -> CUresult
typealias PFN_cuDriverGetVersion = @convention(c) (UnsafeMutablePointer<Int32>?) -> CUresult
typealias PFN_cuDeviceGetCount = @convention(c) (UnsafeMutablePointer<Int32>?) -> CUresult
typealias PFN_cuDeviceGet = @convention(c) (UnsafeMutablePointer<CUdevice>?, Int32) -> CUresult
typealias PFN_cuDeviceGetName = @convention(c) (UnsafeMutablePointer<CChar>?, Int32, CUdevice) -> CUresult
typealias PFN_cuDeviceGetAttribute =
  @convention(c) (UnsafeMutablePointer<Int32>?, CUdevice_attribute, CUdevice) -> CUresult
typealias PFN_cuDeviceTotalMem_v2 = @convention(c) (UnsafeMutablePointer<Int>?, CUdevice) -> CUresult
typealias PFN_cuDevicePrimaryCtxRetain =
  @convention(c) (UnsafeMutablePointer<CUcontext>?, CUdevice) -> CUresult
typealias PFN_cuCtxSetCurrent = @convention(c) (CUcontext) -> CUresult
typealias PFN_cuMemGetInfo_v2 =
  @convention(c) (UnsafeMutablePointer<Int>?, UnsafeMutablePointer<Int>?) -> CUresult
typealias PFN_cuMemAlloc_v2 = @convention(c) (UnsafeMutablePointer<CUdeviceptr>?, Int) -> CUresult
typealias PFN_cuMemFree_v2 = @convention(c) (CUdeviceptr) -> CUresult
typealias PFN_cuMemcpyHtoDAsync_v2 =
  @convention(c) (CUdeviceptr, UnsafeRawPointer?, Int, CUstream) -> CUresult
typealias PFN_cuMemcpyDtoHAsync_v2 =
  @convention(c) (UnsafeMutableRawPointer?, CUdeviceptr, Int, CUstream) -> CUresult
typealias PFN_cuMemcpyDtoDAsync_v2 = @convention(c) (CUdeviceptr, CUdeviceptr, Int, CUstream) -> CUresult
typealias PFN_cuMemsetD8Async = @convention(c) (CUdeviceptr, UInt8, Int, CUstream) -> CUresult
typealias PFN_cuStreamCreate = @convention(c) (UnsafeMutablePointer<CUstream>?, UInt32) -> CUresult
typealias PFN_cuStreamDestroy_v2 = @convention(c) (CUstream) -> CUresult
typealias PFN_cuStreamSynchronize = @convention(c) (CUstream) -> CUresult
typealias PFN_cuEventCreate = @convention(c) (UnsafeMutablePointer<CUevent>?, UInt32) -> CUresult
typealias PFN_cuEventDestroy_v2 = @convention(c) (CUevent) -> CUresult
typealias PFN_cuEventRecord = @convention(c) (CUevent, CUstream) -> CUresult
typealias PFN_cuEventElapsedTime = @convention(c) (UnsafeMutablePointer<Float>?, CUevent, CUevent) -> CUresult
typealias PFN_cuModuleLoadData =
  @convention(c) (UnsafeMutablePointer<CUmodule>?, UnsafeRawPointer?) -> CUresult
typealias PFN_cuModuleUnload = @convention(c) (CUmodule) -> CUresult
typealias PFN_cuModuleGetFunction =
  @convention(c) (UnsafeMutablePointer<CUfunction>?, CUmodule, UnsafePointer<CChar>?) -> CUresult
typealias PFN_cuLaunchKernel =
  @convention(c) (
    CUfunction, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, CUstream,
    UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
  ) -> CUresult
/// CUlaunchAttribute (cuda.h): an id, 4 bytes of padding, a 64-byte value union.
struct CUlaunchAttribute {
  var id: UInt32
  var pad: UInt32 = 0
  var value: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
}
/// CUlaunchConfig (cuda.h): grid, block, dynamic shared bytes, stream, attributes.
struct CUlaunchConfig {
  var gridDimX: UInt32, gridDimY: UInt32, gridDimZ: UInt32
  var blockDimX: UInt32, blockDimY: UInt32, blockDimZ: UInt32
  var sharedMemBytes: UInt32
  var hStream: CUstream
  var attrs: UnsafeMutablePointer<CUlaunchAttribute>?
  var numAttrs: UInt32
}
/// The config is a `CUlaunchConfig` (a Swift struct is not a C type, so passed as a raw pointer).
typealias PFN_cuFuncSetAttribute = @convention(c) (CUfunction, Int32, Int32) -> CUresult
typealias PFN_cuLaunchKernelEx =
  @convention(c) (
    UnsafeRawPointer?, CUfunction, UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    UnsafeMutablePointer<UnsafeMutableRawPointer?>?
  ) -> CUresult
typealias PFN_cuStreamBeginCapture_v2 = @convention(c) (CUstream, Int32) -> CUresult
typealias PFN_cuStreamEndCapture = @convention(c) (CUstream, UnsafeMutablePointer<CUgraph>?) -> CUresult
typealias PFN_cuGraphInstantiateWithFlags =
  @convention(c) (UnsafeMutablePointer<CUgraphExec>?, CUgraph, UInt64) -> CUresult
typealias PFN_cuGraphLaunch = @convention(c) (CUgraphExec, CUstream) -> CUresult
typealias PFN_cuGraphExecDestroy = @convention(c) (CUgraphExec) -> CUresult
typealias PFN_cuGraphDestroy = @convention(c) (CUgraph) -> CUresult
typealias PFN_cuGetErrorName =
  @convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> CUresult
typealias PFN_cuGetErrorString =
  @convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> CUresult
typealias PFN_nvrtcVersion =
  @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?) -> nvrtcResult
typealias PFN_nvrtcCreateProgram =
  @convention(c) (
    UnsafeMutablePointer<nvrtcProgram>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32,
    UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafeMutablePointer<UnsafePointer<CChar>?>?
  ) -> nvrtcResult
typealias PFN_nvrtcCompileProgram =
  @convention(c) (nvrtcProgram, Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> nvrtcResult
typealias PFN_nvrtcGetProgramLogSize =
  @convention(c) (nvrtcProgram, UnsafeMutablePointer<Int>?) -> nvrtcResult
typealias PFN_nvrtcGetProgramLog = @convention(c) (nvrtcProgram, UnsafeMutablePointer<CChar>?) -> nvrtcResult
typealias PFN_nvrtcGetCUBINSize = @convention(c) (nvrtcProgram, UnsafeMutablePointer<Int>?) -> nvrtcResult
typealias PFN_nvrtcGetCUBIN = @convention(c) (nvrtcProgram, UnsafeMutablePointer<CChar>?) -> nvrtcResult
typealias PFN_nvrtcDestroyProgram = @convention(c) (UnsafeMutablePointer<nvrtcProgram>?) -> nvrtcResult
typealias PFN_nvrtcGetErrorString = @convention(c) (nvrtcResult) -> UnsafePointer<CChar>?
typealias PFN_nvrtcGetNumSupportedArchs = @convention(c) (UnsafeMutablePointer<Int32>?) -> nvrtcResult
typealias PFN_nvrtcGetSupportedArchs = @convention(c) (UnsafeMutablePointer<Int32>?) -> nvrtcResult

enum CUDAConst {
  static let CUDA_SUCCESS: Int32 = 0
  static let CUDA_ERROR_OUT_OF_MEMORY: Int32 = 2
  static let CUDA_ERROR_NOT_INITIALIZED: Int32 = 3
  static let CUDA_ERROR_NO_DEVICE: Int32 = 100
  static let CUDA_ERROR_INVALID_DEVICE: Int32 = 101
  static let CUDA_ERROR_NO_BINARY_FOR_GPU: Int32 = 209
  static let CUDA_ERROR_ECC_UNCORRECTABLE: Int32 = 214
  static let CUDA_ERROR_UNSUPPORTED_PTX_VERSION: Int32 = 222
  static let CUDA_ERROR_ILLEGAL_ADDRESS: Int32 = 700
  static let CUDA_ERROR_HARDWARE_STACK_ERROR: Int32 = 714
  static let CUDA_ERROR_ILLEGAL_INSTRUCTION: Int32 = 715
  static let CUDA_ERROR_MISALIGNED_ADDRESS: Int32 = 716
  static let CUDA_ERROR_LAUNCH_FAILED: Int32 = 719
  static let CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: Int32 = 803
  static let CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: Int32 = 1
  static let CU_DEVICE_ATTRIBUTE_WARP_SIZE: Int32 = 10
  static let CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: Int32 = 16
  static let CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: Int32 = 38
  static let CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: Int32 = 75
  static let CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: Int32 = 76
  static let CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: Int32 = 97
  /// CUfunction_attribute: the most dynamic shared memory a launch of the function may ask for.
  static let CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: Int32 = 8
  static let NVRTC_SUCCESS: Int32 = 0
  /// CUlaunchAttributeID: the kernel resolves its stream dependency itself (griddepcontrol.wait).
  static let CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: UInt32 = 6
  /// cuLaunchKernel and friends need CUDA 11.0+ drivers (the _v2 entry points and NVRTC CUBIN output).
  static let minimumDriverVersion: Int32 = 11000
}
