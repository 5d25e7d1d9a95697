// HIP-on-CUDA: a test-only shared library that exports the HIP runtime and hiprtc functions
// Quanta's HIP vendor layer (Sources/GPUBackend/HIPVendor.swift) loads, declared by AMD's own
// headers (<hip/hip_runtime_api.h>, <hip/hiprtc.h>, compiled with -D__HIP_PLATFORM_AMD__) and
// implemented on the CUDA driver API and NVRTC, both opened with dlopen at first use. It lets
// `QUANTA_HIP_LIB=… QUANTA_HIPRTC_LIB=… quanta … --device rocm:0` run Quanta's ROCm host path on an
// NVIDIA GPU. See README.md (target mapping, error table, environment variables).
//
// Not part of the Swift product; built by build.sh. No cuda.h / nvrtc.h: the few driver and NVRTC
// prototypes and constants used are declared below (values from the CUDA documentation).

#define _GNU_SOURCE
#include <hip/hip_runtime_api.h>
#include <hip/hiprtc.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOC_EXPORT __attribute__((visibility("default")))
#define HOC_DEFAULT_GFX "gfx1100"
#define HOC_MAX_DEVICES 64

// ---- CUDA driver API: the subset used (opaque handles, int enums) -----------------------------

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st* CUcontext;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUstream_st* CUstream;
typedef struct CUevent_st* CUevent;
typedef struct CUgraph_st* CUgraph;
typedef struct CUgraphExec_st* CUgraphExec;

enum {
  CUDA_SUCCESS = 0,
  CU_STREAM_NON_BLOCKING = 0x1,
  CU_EVENT_DEFAULT = 0x0,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
};

struct cuda_api {
  CUresult (*cuInit)(unsigned int);
  CUresult (*cuDriverGetVersion)(int*);
  CUresult (*cuDeviceGetCount)(int*);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDeviceGetName)(char*, int, CUdevice);
  CUresult (*cuDeviceTotalMem_v2)(size_t*, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int*, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)(void);
  CUresult (*cuMemGetInfo_v2)(size_t*, size_t*);
  CUresult (*cuMemAlloc_v2)(CUdeviceptr*, size_t);
  CUresult (*cuMemFree_v2)(CUdeviceptr);
  CUresult (*cuMemcpyHtoDAsync_v2)(CUdeviceptr, const void*, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync_v2)(void*, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemcpyDtoDAsync_v2)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemcpyAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuStreamCreate)(CUstream*, unsigned int);
  CUresult (*cuStreamDestroy_v2)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuEventCreate)(CUevent*, unsigned int);
  CUresult (*cuEventDestroy_v2)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventElapsedTime)(float*, CUevent, CUevent);
  CUresult (*cuModuleLoadData)(CUmodule*, const void*);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
                             unsigned int, unsigned int, CUstream, void**, void**);
  CUresult (*cuStreamBeginCapture_v2)(CUstream, int);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph*);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec*, CUgraph, unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuGraphDestroy)(CUgraph);
  CUresult (*cuGetErrorName)(CUresult, const char**);
};

// ---- NVRTC: the subset used ---------------------------------------------------------------------

typedef int nvrtcResult;
typedef struct _nvrtcProgram* nvrtcProgram;

struct nvrtc_api {
  nvrtcResult (*nvrtcVersion)(int*, int*);
  nvrtcResult (*nvrtcCreateProgram)(nvrtcProgram*, const char*, const char*, int, const char* const*,
                                    const char* const*);
  nvrtcResult (*nvrtcCompileProgram)(nvrtcProgram, int, const char* const*);
  nvrtcResult (*nvrtcGetProgramLogSize)(nvrtcProgram, size_t*);
  nvrtcResult (*nvrtcGetProgramLog)(nvrtcProgram, char*);
  nvrtcResult (*nvrtcGetCUBINSize)(nvrtcProgram, size_t*);
  nvrtcResult (*nvrtcGetCUBIN)(nvrtcProgram, char*);
  nvrtcResult (*nvrtcGetPTXSize)(nvrtcProgram, size_t*);
  nvrtcResult (*nvrtcGetPTX)(nvrtcProgram, char*);
  nvrtcResult (*nvrtcDestroyProgram)(nvrtcProgram*);
  const char* (*nvrtcGetErrorString)(nvrtcResult);
  nvrtcResult (*nvrtcGetNumSupportedArchs)(int*);  // optional (NVRTC 11.2+)
  nvrtcResult (*nvrtcGetSupportedArchs)(int*);     // optional
};

// ---- state --------------------------------------------------------------------------------------

static struct cuda_api cu;
static struct nvrtc_api nv;
static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static pthread_once_t nvrtc_once = PTHREAD_ONCE_INIT;
static hipError_t cuda_status = hipErrorNotInitialized;  // result of loading libcuda + cuInit
static hiprtcResult nvrtc_status = HIPRTC_ERROR_INTERNAL_ERROR;
static char cuda_problem[1024];   // why the driver is unusable (library search, cuInit result)
static char nvrtc_problem[1024];  // why NVRTC is unusable
static char cuda_path[512], nvrtc_path[512];

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static CUcontext primary[HOC_MAX_DEVICES];

static __thread int tl_device = 0;  // the HIP "current device" of this thread
static __thread int tl_bound = 0;   // this thread has made a primary context current through us
static __thread hipError_t tl_last_code = hipSuccess;
static __thread char tl_last_text[768];  // detail for hipGetErrorString(tl_last_code)

static int verbose(void) {
  const char* v = getenv("HIP_ON_CUDA_VERBOSE");
  return v && *v && strcmp(v, "0") != 0;
}

static void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("hip_on_cuda: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

// ---- error mapping: CUresult → hipError_t -------------------------------------------------------

struct err_map { int cuda; hipError_t hip; };
static const struct err_map cuda_to_hip[] = {
    {0, hipSuccess},
    {1, hipErrorInvalidValue},
    {2, hipErrorOutOfMemory},
    {3, hipErrorNotInitialized},
    {4, hipErrorDeinitialized},
    {5, hipErrorProfilerDisabled},
    {6, hipErrorProfilerNotInitialized},
    {7, hipErrorProfilerAlreadyStarted},
    {8, hipErrorProfilerAlreadyStopped},
    {34, hipErrorInsufficientDriver},  // CUDA_ERROR_STUB_LIBRARY
    {36, hipErrorInsufficientDriver},  // CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER
    {46, hipErrorNoDevice},            // CUDA_ERROR_DEVICE_UNAVAILABLE
    {100, hipErrorNoDevice},
    {101, hipErrorInvalidDevice},
    {102, hipErrorInvalidDevice},  // CUDA_ERROR_DEVICE_NOT_LICENSED
    {200, hipErrorInvalidImage},
    {201, hipErrorInvalidContext},
    {202, hipErrorContextAlreadyCurrent},
    {205, hipErrorMapFailed},
    {206, hipErrorUnmapFailed},
    {207, hipErrorArrayIsMapped},
    {208, hipErrorAlreadyMapped},
    {209, hipErrorNoBinaryForGpu},
    {210, hipErrorAlreadyAcquired},
    {211, hipErrorNotMapped},
    {212, hipErrorNotMappedAsArray},
    {213, hipErrorNotMappedAsPointer},
    {214, hipErrorECCNotCorrectable},
    {215, hipErrorUnsupportedLimit},
    {216, hipErrorContextAlreadyInUse},
    {217, hipErrorPeerAccessUnsupported},
    {218, hipErrorInvalidKernelFile},  // CUDA_ERROR_INVALID_PTX
    {219, hipErrorInvalidGraphicsContext},
    {220, hipErrorECCNotCorrectable},  // CUDA_ERROR_NVLINK_UNCORRECTABLE (sticky hardware fault)
    {221, hipErrorNoBinaryForGpu},     // CUDA_ERROR_JIT_COMPILER_NOT_FOUND
    {222, hipErrorNoBinaryForGpu},     // CUDA_ERROR_UNSUPPORTED_PTX_VERSION
    {223, hipErrorNoBinaryForGpu},     // CUDA_ERROR_JIT_COMPILATION_DISABLED
    {224, hipErrorNotSupported},       // CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY
    {300, hipErrorInvalidSource},
    {301, hipErrorFileNotFound},
    {302, hipErrorSharedObjectSymbolNotFound},
    {303, hipErrorSharedObjectInitFailed},
    {304, hipErrorOperatingSystem},
    {400, hipErrorInvalidHandle},
    {401, hipErrorIllegalState},
    {402, hipErrorInvalidValue},  // CUDA_ERROR_LOSSY_QUERY
    {500, hipErrorNotFound},
    {600, hipErrorNotReady},
    {700, hipErrorIllegalAddress},
    {701, hipErrorLaunchOutOfResources},
    {702, hipErrorLaunchTimeOut},
    {703, hipErrorNotSupported},  // CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING
    {704, hipErrorPeerAccessAlreadyEnabled},
    {705, hipErrorPeerAccessNotEnabled},
    {708, hipErrorSetOnActiveProcess},  // CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE
    {709, hipErrorContextIsDestroyed},
    {710, hipErrorAssert},
    {711, hipErrorPeerAccessUnsupported},  // CUDA_ERROR_TOO_MANY_PEERS
    {712, hipErrorHostMemoryAlreadyRegistered},
    {713, hipErrorHostMemoryNotRegistered},
    // Sticky device faults without a HIP code of their own: hipErrorLaunchFailure, which Quanta
    // (HIPVendorAPI.isSticky) treats as context-poisoning, as CUDA does.
    {714, hipErrorLaunchFailure},  // CUDA_ERROR_HARDWARE_STACK_ERROR
    {715, hipErrorLaunchFailure},  // CUDA_ERROR_ILLEGAL_INSTRUCTION
    {716, hipErrorLaunchFailure},  // CUDA_ERROR_MISALIGNED_ADDRESS
    {717, hipErrorLaunchFailure},  // CUDA_ERROR_INVALID_ADDRESS_SPACE
    {718, hipErrorLaunchFailure},  // CUDA_ERROR_INVALID_PC
    {719, hipErrorLaunchFailure},
    {720, hipErrorCooperativeLaunchTooLarge},
    {800, hipErrorNotSupported},        // CUDA_ERROR_NOT_PERMITTED
    {801, hipErrorNotSupported},
    {802, hipErrorNoDevice},            // CUDA_ERROR_SYSTEM_NOT_READY (e.g. fabric manager down)
    {803, hipErrorInsufficientDriver},  // CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
    {804, hipErrorInsufficientDriver},  // CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE
    {900, hipErrorStreamCaptureUnsupported},
    {901, hipErrorStreamCaptureInvalidated},
    {902, hipErrorStreamCaptureMerge},
    {903, hipErrorStreamCaptureUnmatched},
    {904, hipErrorStreamCaptureUnjoined},
    {905, hipErrorStreamCaptureIsolation},
    {906, hipErrorStreamCaptureImplicit},
    {907, hipErrorCapturedEvent},
    {908, hipErrorStreamCaptureWrongThread},
    {910, hipErrorGraphExecUpdateFailure},
    {912, hipErrorInvalidConfiguration},  // CUDA_ERROR_INVALID_CLUSTER_SIZE
    {999, hipErrorUnknown},
};

static hipError_t map_cuda(CUresult r) {
  for (size_t i = 0; i < sizeof cuda_to_hip / sizeof cuda_to_hip[0]; i++)
    if (cuda_to_hip[i].cuda == r) return cuda_to_hip[i].hip;
  return hipErrorUnknown;  // MPS, CDP, timeouts, codes newer than this table
}

struct hip_name { hipError_t code; const char* name; const char* text; };
#define E(c, t) {c, #c, t}
static const struct hip_name hip_names[] = {
    E(hipSuccess, "no error"),
    E(hipErrorInvalidValue, "invalid argument"),
    E(hipErrorOutOfMemory, "out of memory"),
    E(hipErrorNotInitialized, "initialization error"),
    E(hipErrorDeinitialized, "driver shutting down"),
    E(hipErrorProfilerDisabled, "profiler disabled while using external profiling tool"),
    E(hipErrorProfilerNotInitialized, "profiler is not initialized"),
    E(hipErrorProfilerAlreadyStarted, "profiler already started"),
    E(hipErrorProfilerAlreadyStopped, "profiler already stopped"),
    E(hipErrorInvalidConfiguration, "invalid configuration argument"),
    E(hipErrorInvalidPitchValue, "invalid pitch argument"),
    E(hipErrorInvalidSymbol, "invalid device symbol"),
    E(hipErrorInvalidDevicePointer, "invalid device pointer"),
    E(hipErrorInvalidMemcpyDirection, "invalid copy direction for memcpy"),
    E(hipErrorInsufficientDriver, "driver version is insufficient for runtime version"),
    E(hipErrorMissingConfiguration, "__global__ function call is not configured"),
    E(hipErrorPriorLaunchFailure, "unspecified launch failure in prior launch"),
    E(hipErrorInvalidDeviceFunction, "invalid device function"),
    E(hipErrorNoDevice, "no ROCm-capable device is detected"),
    E(hipErrorInvalidDevice, "invalid device ordinal"),
    E(hipErrorInvalidImage, "device kernel image is invalid"),
    E(hipErrorInvalidContext, "invalid device context"),
    E(hipErrorContextAlreadyCurrent, "context is already current context"),
    E(hipErrorMapFailed, "mapping of buffer object failed"),
    E(hipErrorUnmapFailed, "unmapping of buffer object failed"),
    E(hipErrorArrayIsMapped, "array is mapped"),
    E(hipErrorAlreadyMapped, "resource already mapped"),
    E(hipErrorNoBinaryForGpu, "no kernel image is available for execution on the device"),
    E(hipErrorAlreadyAcquired, "resource already acquired"),
    E(hipErrorNotMapped, "resource not mapped"),
    E(hipErrorNotMappedAsArray, "resource not mapped as array"),
    E(hipErrorNotMappedAsPointer, "resource not mapped as pointer"),
    E(hipErrorECCNotCorrectable, "uncorrectable ECC error encountered"),
    E(hipErrorUnsupportedLimit, "limit is not supported on this architecture"),
    E(hipErrorContextAlreadyInUse, "exclusive-thread device already in use by a different thread"),
    E(hipErrorPeerAccessUnsupported, "peer access is not supported between these two devices"),
    E(hipErrorInvalidKernelFile, "invalid kernel file"),
    E(hipErrorInvalidGraphicsContext, "invalid OpenGL or DirectX context"),
    E(hipErrorInvalidSource, "device kernel image is invalid"),
    E(hipErrorFileNotFound, "file not found"),
    E(hipErrorSharedObjectSymbolNotFound, "shared object symbol not found"),
    E(hipErrorSharedObjectInitFailed, "shared object initialization failed"),
    E(hipErrorOperatingSystem, "OS call failed or operation not supported on this OS"),
    E(hipErrorInvalidHandle, "invalid resource handle"),
    E(hipErrorIllegalState, "the operation cannot be performed in the present state"),
    E(hipErrorNotFound, "named symbol not found"),
    E(hipErrorNotReady, "device not ready"),
    E(hipErrorIllegalAddress, "an illegal memory access was encountered"),
    E(hipErrorLaunchOutOfResources, "too many resources requested for launch"),
    E(hipErrorLaunchTimeOut, "the launch timed out and was terminated"),
    E(hipErrorPeerAccessAlreadyEnabled, "peer access is already enabled"),
    E(hipErrorPeerAccessNotEnabled, "peer access has not been enabled"),
    E(hipErrorSetOnActiveProcess, "cannot set while device is active in this process"),
    E(hipErrorContextIsDestroyed, "context is destroyed"),
    E(hipErrorAssert, "device-side assert triggered"),
    E(hipErrorHostMemoryAlreadyRegistered, "part or all of the requested memory range is already mapped"),
    E(hipErrorHostMemoryNotRegistered, "pointer does not correspond to a registered memory region"),
    E(hipErrorLaunchFailure, "unspecified launch failure"),
    E(hipErrorCooperativeLaunchTooLarge, "too many blocks in cooperative launch"),
    E(hipErrorNotSupported, "operation not supported"),
    E(hipErrorStreamCaptureUnsupported, "operation not permitted when stream is capturing"),
    E(hipErrorStreamCaptureInvalidated, "operation failed due to a previous error during capture"),
    E(hipErrorStreamCaptureMerge, "operation would result in a merge of separate capture sequences"),
    E(hipErrorStreamCaptureUnmatched, "capture was not ended in the same stream as it began"),
    E(hipErrorStreamCaptureUnjoined, "capturing stream has unjoined work"),
    E(hipErrorStreamCaptureIsolation, "dependency created on uncaptured work in another stream"),
    E(hipErrorStreamCaptureImplicit, "operation would make the legacy stream depend on a capturing blocking stream"),
    E(hipErrorCapturedEvent, "operation not permitted on an event last recorded in a capturing stream"),
    E(hipErrorStreamCaptureWrongThread, "attempt to terminate a thread-local capture sequence from another thread"),
    E(hipErrorGraphExecUpdateFailure, "the graph update was not performed because it included changes which violated constraints specific to instantiated graph update"),
    E(hipErrorUnknown, "unknown error"),
    E(hipErrorRuntimeMemory, "runtime memory call returned error"),
    E(hipErrorRuntimeOther, "runtime call other than memory returned error"),
};
#undef E

static const struct hip_name* find_name(hipError_t code) {
  for (size_t i = 0; i < sizeof hip_names / sizeof hip_names[0]; i++)
    if (hip_names[i].code == code) return &hip_names[i];
  return NULL;
}

// Remembers why `code` came back, for hipGetErrorString on this thread, and returns it.
static hipError_t fail_detail(hipError_t code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static hipError_t fail_detail(hipError_t code, const char* fmt, ...) {
  const struct hip_name* n = find_name(code);
  int k = snprintf(tl_last_text, sizeof tl_last_text, "%s [HIP-on-CUDA: ", n ? n->text : "unknown error");
  if (k < 0 || (size_t)k >= sizeof tl_last_text) k = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tl_last_text + k, sizeof tl_last_text - (size_t)k, fmt, ap);
  va_end(ap);
  size_t len = strlen(tl_last_text);
  if (len + 1 < sizeof tl_last_text) {
    tl_last_text[len] = ']';
    tl_last_text[len + 1] = 0;
  }
  tl_last_code = code;
  if (verbose()) note("%s -> %s", tl_last_text, n ? n->name : "?");
  return code;
}

// A driver result as a hipError_t; a failure keeps the CUDA call and error name for the message.
static hipError_t cuda_result(const char* call, CUresult r) {
  if (r == CUDA_SUCCESS) return hipSuccess;
  hipError_t h = map_cuda(r);
  const char* cname = NULL;
  if (!cu.cuGetErrorName || cu.cuGetErrorName(r, &cname) != CUDA_SUCCESS || !cname) cname = "CUresult";
  return fail_detail(h, "%s returned %s (%d)", call, cname, r);
}

// ---- library loading ----------------------------------------------------------------------------

static void* open_first(const char* what, const char* const* envs, const char* const* names, char* problem,
                        size_t problem_size, char* found, size_t found_size) {
  const char* list[24];
  size_t n = 0;
  for (size_t i = 0; envs[i]; i++) {
    const char* v = getenv(envs[i]);
    if (v && *v) {
      list[n++] = v;
      break;  // an override replaces the search, as in Quanta
    }
  }
  if (n == 0)
    for (size_t i = 0; names[i] && n < 24; i++) list[n++] = names[i];
  size_t used = (size_t)snprintf(problem, problem_size, "cannot load %s; tried:", what);
  for (size_t i = 0; i < n; i++) {
    dlerror();
    void* h = dlopen(list[i], RTLD_NOW | RTLD_LOCAL);
    if (h) {
      snprintf(found, found_size, "%s", list[i]);
      problem[0] = 0;
      return h;
    }
    const char* e = dlerror();
    if (used < problem_size)
      used += (size_t)snprintf(problem + used, problem_size - used, " %s (%s);", list[i], e ? e : "?");
  }
  return NULL;
}

#define LOAD(lib, table, name, required)                                                         \
  do {                                                                                           \
    *(void**)(&table.name) = dlsym(lib, #name);                                                  \
    if (!table.name && required) {                                                               \
      missing = #name;                                                                           \
    }                                                                                            \
  } while (0)

static void load_cuda(void) {
  static const char* const envs[] = {"HIP_ON_CUDA_LIBCUDA", "QUANTA_CUDA_LIB", NULL};
  static const char* const names[] = {
      "libcuda.so.1", "libcuda.so", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1",
      "/usr/local/cuda/lib64/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1", NULL};
  void* h = open_first("the CUDA driver (libcuda)", envs, names, cuda_problem, sizeof cuda_problem, cuda_path,
                       sizeof cuda_path);
  if (!h) {
    cuda_status = hipErrorInsufficientDriver;
    note("no CUDA driver: %s", cuda_problem);
    return;
  }
  const char* missing = NULL;
  LOAD(h, cu, cuInit, 1);
  LOAD(h, cu, cuDriverGetVersion, 1);
  LOAD(h, cu, cuDeviceGetCount, 1);
  LOAD(h, cu, cuDeviceGet, 1);
  LOAD(h, cu, cuDeviceGetName, 1);
  LOAD(h, cu, cuDeviceTotalMem_v2, 1);
  LOAD(h, cu, cuDeviceGetAttribute, 1);
  LOAD(h, cu, cuDevicePrimaryCtxRetain, 1);
  LOAD(h, cu, cuCtxSetCurrent, 1);
  LOAD(h, cu, cuCtxSynchronize, 1);
  LOAD(h, cu, cuMemGetInfo_v2, 1);
  LOAD(h, cu, cuMemAlloc_v2, 1);
  LOAD(h, cu, cuMemFree_v2, 1);
  LOAD(h, cu, cuMemcpyHtoDAsync_v2, 1);
  LOAD(h, cu, cuMemcpyDtoHAsync_v2, 1);
  LOAD(h, cu, cuMemcpyDtoDAsync_v2, 1);
  LOAD(h, cu, cuMemcpyAsync, 1);
  LOAD(h, cu, cuMemsetD8Async, 1);
  LOAD(h, cu, cuStreamCreate, 1);
  LOAD(h, cu, cuStreamDestroy_v2, 1);
  LOAD(h, cu, cuStreamSynchronize, 1);
  LOAD(h, cu, cuEventCreate, 1);
  LOAD(h, cu, cuEventDestroy_v2, 1);
  LOAD(h, cu, cuEventRecord, 1);
  LOAD(h, cu, cuEventElapsedTime, 0);
  if (!cu.cuEventElapsedTime) *(void**)(&cu.cuEventElapsedTime) = dlsym(h, "cuEventElapsedTime_v2");
  if (!cu.cuEventElapsedTime) missing = "cuEventElapsedTime";
  LOAD(h, cu, cuModuleLoadData, 1);
  LOAD(h, cu, cuModuleUnload, 1);
  LOAD(h, cu, cuModuleGetFunction, 1);
  LOAD(h, cu, cuLaunchKernel, 1);
  LOAD(h, cu, cuStreamBeginCapture_v2, 1);
  LOAD(h, cu, cuStreamEndCapture, 1);
  LOAD(h, cu, cuGraphInstantiateWithFlags, 1);
  LOAD(h, cu, cuGraphLaunch, 1);
  LOAD(h, cu, cuGraphExecDestroy, 1);
  LOAD(h, cu, cuGraphDestroy, 1);
  LOAD(h, cu, cuGetErrorName, 1);
  if (missing) {
    snprintf(cuda_problem, sizeof cuda_problem, "%s lacks %s (driver too old)", cuda_path, missing);
    cuda_status = hipErrorInsufficientDriver;
    note("%s", cuda_problem);
    return;
  }
  CUresult r = cu.cuInit(0);
  if (r != CUDA_SUCCESS) {
    const char* cname = NULL;
    if (cu.cuGetErrorName(r, &cname) != CUDA_SUCCESS || !cname) cname = "?";
    snprintf(cuda_problem, sizeof cuda_problem, "cuInit(0) in %s returned %s (%d)", cuda_path, cname, r);
    cuda_status = map_cuda(r);
    note("%s", cuda_problem);
    return;
  }
  cuda_status = hipSuccess;
  if (verbose()) note("CUDA driver: %s", cuda_path);
}

static void load_nvrtc(void) {
  static const char* const envs[] = {"HIP_ON_CUDA_NVRTC", "QUANTA_NVRTC_LIB", NULL};
  static const char* const names[] = {"libnvrtc.so",
                                      "libnvrtc.so.13",
                                      "libnvrtc.so.12",
                                      "libnvrtc.so.11.2",
                                      "/usr/local/cuda/lib64/libnvrtc.so",
                                      "/usr/local/cuda/lib64/libnvrtc.so.13",
                                      "/usr/local/cuda/lib64/libnvrtc.so.12",
                                      NULL};
  void* h = open_first("NVRTC (libnvrtc)", envs, names, nvrtc_problem, sizeof nvrtc_problem, nvrtc_path,
                       sizeof nvrtc_path);
  if (!h) {
    nvrtc_status = HIPRTC_ERROR_INTERNAL_ERROR;
    note("no NVRTC: %s", nvrtc_problem);
    return;
  }
  const char* missing = NULL;
  LOAD(h, nv, nvrtcVersion, 1);
  LOAD(h, nv, nvrtcCreateProgram, 1);
  LOAD(h, nv, nvrtcCompileProgram, 1);
  LOAD(h, nv, nvrtcGetProgramLogSize, 1);
  LOAD(h, nv, nvrtcGetProgramLog, 1);
  LOAD(h, nv, nvrtcGetCUBINSize, 1);
  LOAD(h, nv, nvrtcGetCUBIN, 1);
  LOAD(h, nv, nvrtcGetPTXSize, 1);
  LOAD(h, nv, nvrtcGetPTX, 1);
  LOAD(h, nv, nvrtcDestroyProgram, 1);
  LOAD(h, nv, nvrtcGetErrorString, 1);
  LOAD(h, nv, nvrtcGetNumSupportedArchs, 0);
  LOAD(h, nv, nvrtcGetSupportedArchs, 0);
  if (missing) {
    snprintf(nvrtc_problem, sizeof nvrtc_problem, "%s lacks %s (NVRTC older than 11.1)", nvrtc_path, missing);
    nvrtc_status = HIPRTC_ERROR_INTERNAL_ERROR;
    note("%s", nvrtc_problem);
    return;
  }
  nvrtc_status = HIPRTC_SUCCESS;
  if (verbose()) note("NVRTC: %s", nvrtc_path);
}
#undef LOAD

static hipError_t driver(void) {
  pthread_once(&cuda_once, load_cuda);
  if (cuda_status != hipSuccess) return fail_detail(cuda_status, "%s", cuda_problem);
  return hipSuccess;
}

static hiprtcResult rtc_library(void) {
  pthread_once(&nvrtc_once, load_nvrtc);
  return nvrtc_status;
}

// ---- devices and contexts -----------------------------------------------------------------------

// Device ordinal → CUdevice; the count and handles are read once (hipSetDevice runs before every
// Quanta op, graph captures included).
static int device_count = -1;
static CUdevice device_handles[HOC_MAX_DEVICES];
static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;

static hipError_t device_handle(int ordinal, CUdevice* out) {
  hipError_t e = driver();
  if (e != hipSuccess) return e;
  int n = __atomic_load_n(&device_count, __ATOMIC_ACQUIRE);
  if (n < 0) {
    pthread_mutex_lock(&devices_lock);
    if (device_count < 0) {
      int c = 0;
      e = cuda_result("cuDeviceGetCount", cu.cuDeviceGetCount(&c));
      for (int i = 0; e == hipSuccess && i < c && i < HOC_MAX_DEVICES; i++)
        e = cuda_result("cuDeviceGet", cu.cuDeviceGet(&device_handles[i], i));
      if (e == hipSuccess) __atomic_store_n(&device_count, c, __ATOMIC_RELEASE);
    }
    n = device_count;
    pthread_mutex_unlock(&devices_lock);
    if (e != hipSuccess) return e;
  }
  if (ordinal < 0 || ordinal >= n || ordinal >= HOC_MAX_DEVICES)
    return fail_detail(hipErrorInvalidDevice, "device %d of %d", ordinal, n);
  *out = device_handles[ordinal];
  return hipSuccess;
}

// Makes device `ordinal`'s primary context current on this thread (the HIP runtime's implicit
// per-device context).
static hipError_t bind_device(int ordinal) {
  CUdevice d;
  hipError_t e = device_handle(ordinal, &d);
  if (e != hipSuccess) return e;
  CUcontext c = __atomic_load_n(&primary[ordinal], __ATOMIC_ACQUIRE);
  if (!c) {
    pthread_mutex_lock(&ctx_lock);
    c = primary[ordinal];
    if (!c) {
      e = cuda_result("cuDevicePrimaryCtxRetain", cu.cuDevicePrimaryCtxRetain(&c, d));
      if (e == hipSuccess) __atomic_store_n(&primary[ordinal], c, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&ctx_lock);
  }
  if (e != hipSuccess) return e;
  e = cuda_result("cuCtxSetCurrent", cu.cuCtxSetCurrent(c));
  if (e != hipSuccess) return e;
  tl_device = ordinal;
  tl_bound = 1;
  return hipSuccess;
}

// Every call that needs a context: the thread's current device (0 until hipSetDevice).
static inline hipError_t ctx(void) {
  if (__builtin_expect(tl_bound, 1)) return hipSuccess;
  return bind_device(tl_device);
}

static const char* gfx_name(void) {
  const char* g = getenv("HIP_ON_CUDA_GFX");
  return (g && strncmp(g, "gfx", 3) == 0) ? g : HOC_DEFAULT_GFX;
}

// "gfx1100" → 11, 0; "gfx90a" → 9, 0 (what the HIP runtime reports as major/minor for the target).
static void gfx_version(int* major, int* minor, int* number) {
  const char* g = gfx_name() + 3;
  char digits[16] = {0};
  size_t n = 0;
  while (g[n] && g[n] != ':' && n < sizeof digits - 1) {
    digits[n] = g[n];
    n++;
  }
  *major = *minor = 0;
  *number = (int)strtol(digits, NULL, 10);
  if (n >= 3) {
    char maj[16] = {0};
    memcpy(maj, digits, n - 2);
    *major = (int)strtol(maj, NULL, 10);
    *minor = (int)strtol((char[]){digits[n - 2], 0}, NULL, 16);
  }
}

static int attr_or_zero(int attr, CUdevice d) {
  int v = 0;
  if (cu.cuDeviceGetAttribute(&v, attr, d) != CUDA_SUCCESS) v = 0;
  return v;
}

// hipDeviceAttribute_t → CUdevice_attribute (values from the CUDA documentation); -1: answered
// here (AMD-specific or target-derived); 0: not supported.
static int cuda_attribute(hipDeviceAttribute_t a) {
  switch (a) {
    case hipDeviceAttributeEccEnabled: return 32;
    case hipDeviceAttributeAsyncEngineCount: return 40;
    case hipDeviceAttributeCanMapHostMemory: return 19;
    case hipDeviceAttributeCanUseHostPointerForRegisteredMem: return 91;
    case hipDeviceAttributeClockRate: return 13;
    case hipDeviceAttributeComputeMode: return 20;
    case hipDeviceAttributeComputePreemptionSupported: return 90;
    case hipDeviceAttributeConcurrentKernels: return 31;
    case hipDeviceAttributeConcurrentManagedAccess: return 89;
    case hipDeviceAttributeCooperativeLaunch: return 95;
    case hipDeviceAttributeCooperativeMultiDeviceLaunch: return 96;
    case hipDeviceAttributeDeviceOverlap: return 15;
    case hipDeviceAttributeDirectManagedMemAccessFromHost: return 101;
    case hipDeviceAttributeGlobalL1CacheSupported: return 79;
    case hipDeviceAttributeHostNativeAtomicSupported: return 86;
    case hipDeviceAttributeIntegrated: return 18;
    case hipDeviceAttributeIsMultiGpuBoard: return 84;
    case hipDeviceAttributeKernelExecTimeout: return 17;
    case hipDeviceAttributeL2CacheSize: return 38;
    case hipDeviceAttributeLocalL1CacheSupported: return 80;
    case hipDeviceAttributeManagedMemory: return 83;
    case hipDeviceAttributeMaxBlocksPerMultiProcessor: return 106;
    case hipDeviceAttributeMaxBlockDimX: return 2;
    case hipDeviceAttributeMaxBlockDimY: return 3;
    case hipDeviceAttributeMaxBlockDimZ: return 4;
    case hipDeviceAttributeMaxGridDimX: return 5;
    case hipDeviceAttributeMaxGridDimY: return 6;
    case hipDeviceAttributeMaxGridDimZ: return 7;
    case hipDeviceAttributeMaxTexture1DWidth: return 21;
    case hipDeviceAttributeMaxTexture1DLinear: return 69;
    case hipDeviceAttributeMaxTexture2DWidth: return 22;
    case hipDeviceAttributeMaxTexture2DHeight: return 23;
    case hipDeviceAttributeMaxTexture3DWidth: return 24;
    case hipDeviceAttributeMaxTexture3DHeight: return 25;
    case hipDeviceAttributeMaxTexture3DDepth: return 26;
    case hipDeviceAttributeMaxThreadsPerBlock: return 1;
    case hipDeviceAttributeMaxThreadsPerMultiProcessor: return 39;
    case hipDeviceAttributeMaxPitch: return 11;
    case hipDeviceAttributeMemoryBusWidth: return 37;
    case hipDeviceAttributeMemoryClockRate: return 36;
    case hipDeviceAttributeMultiGpuBoardGroupID: return 85;
    case hipDeviceAttributeMultiprocessorCount: return 16;
    case hipDeviceAttributePhysicalMultiProcessorCount: return 16;
    case hipDeviceAttributePageableMemoryAccess: return 88;
    case hipDeviceAttributePageableMemoryAccessUsesHostPageTables: return 100;
    case hipDeviceAttributePciBusId: return 33;
    case hipDeviceAttributePciDeviceId: return 34;
    case hipDeviceAttributePciDomainID: return 50;
    case hipDeviceAttributePersistingL2CacheMaxSize: return 108;
    case hipDeviceAttributeMaxRegistersPerBlock: return 12;
    case hipDeviceAttributeMaxRegistersPerMultiprocessor: return 82;
    case hipDeviceAttributeMaxSharedMemoryPerBlock: return 8;
    case hipDeviceAttributeSharedMemPerBlockOptin: return 97;
    case hipDeviceAttributeSharedMemPerMultiprocessor: return 81;
    case hipDeviceAttributeMaxSharedMemoryPerMultiprocessor: return 81;
    case hipDeviceAttributeSingleToDoublePrecisionPerfRatio: return 87;
    case hipDeviceAttributeStreamPrioritiesSupported: return 78;
    case hipDeviceAttributeSurfaceAlignment: return 30;
    case hipDeviceAttributeTccDriver: return 35;
    case hipDeviceAttributeTextureAlignment: return 14;
    case hipDeviceAttributeTexturePitchAlignment: return 51;
    case hipDeviceAttributeTotalConstantMemory: return 9;
    case hipDeviceAttributeUnifiedAddressing: return 41;
    case hipDeviceAttributeWarpSize: return 10;
    case hipDeviceAttributeClockInstructionRate: return 13;
    case hipDeviceAttributeComputeCapabilityMajor:
    case hipDeviceAttributeComputeCapabilityMinor:
    case hipDeviceAttributeGcnArch:
    case hipDeviceAttributeIsLargeBar:
    case hipDeviceAttributeAsicRevision:
    case hipDeviceAttributeCooperativeMultiDeviceUnmatchedFunc:
    case hipDeviceAttributeCooperativeMultiDeviceUnmatchedGridDim:
    case hipDeviceAttributeCooperativeMultiDeviceUnmatchedBlockDim:
    case hipDeviceAttributeCooperativeMultiDeviceUnmatchedSharedMem:
    case hipDeviceAttributeFineGrainSupport:
      return -1;
    default: return 0;
  }
}

// ---- HIP runtime: init, devices ------------------------------------------------------------------

HOC_EXPORT hipError_t hipInit(unsigned int flags) {
  (void)flags;  // must be 0 for both runtimes; cuInit(0) ran when the driver loaded
  return driver();
}

HOC_EXPORT hipError_t hipRuntimeGetVersion(int* runtimeVersion) {
  if (!runtimeVersion) return fail_detail(hipErrorInvalidValue, "hipRuntimeGetVersion(NULL)");
  *runtimeVersion = HIP_VERSION;  // the HIP headers this layer was compiled against
  return hipSuccess;
}

HOC_EXPORT hipError_t hipDriverGetVersion(int* driverVersion) {
  if (!driverVersion) return fail_detail(hipErrorInvalidValue, "hipDriverGetVersion(NULL)");
  hipError_t e = driver();
  if (e != hipSuccess) return e;
  return cuda_result("cuDriverGetVersion", cu.cuDriverGetVersion(driverVersion));
}

HOC_EXPORT hipError_t hipGetDeviceCount(int* count) {
  if (!count) return fail_detail(hipErrorInvalidValue, "hipGetDeviceCount(NULL)");
  *count = 0;
  hipError_t e = driver();
  if (e != hipSuccess) return e;
  int n = 0;
  e = cuda_result("cuDeviceGetCount", cu.cuDeviceGetCount(&n));
  if (e != hipSuccess) return e;
  if (n == 0) return fail_detail(hipErrorNoDevice, "the CUDA driver reports 0 devices");
  *count = n;
  return hipSuccess;
}

HOC_EXPORT hipError_t hipSetDevice(int deviceId) {
  // Always (re)binds: another library in the process may have changed the current context.
  return bind_device(deviceId);
}

HOC_EXPORT hipError_t hipGetDevice(int* deviceId) {
  if (!deviceId) return fail_detail(hipErrorInvalidValue, "hipGetDevice(NULL)");
  *deviceId = tl_device;
  return hipSuccess;
}

HOC_EXPORT hipError_t hipDeviceSynchronize(void) {
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuCtxSynchronize", cu.cuCtxSynchronize());
}

HOC_EXPORT hipError_t hipDeviceGetAttribute(int* pi, hipDeviceAttribute_t attr, int deviceId) {
  if (!pi) return fail_detail(hipErrorInvalidValue, "hipDeviceGetAttribute(NULL)");
  CUdevice d;
  hipError_t e = device_handle(deviceId, &d);
  if (e != hipSuccess) return e;
  int ca = cuda_attribute(attr);
  if (ca > 0) return cuda_result("cuDeviceGetAttribute", cu.cuDeviceGetAttribute(pi, ca, d));
  if (ca == 0) return fail_detail(hipErrorInvalidValue, "device attribute %d has no CUDA equivalent", (int)attr);
  int major, minor, number;
  gfx_version(&major, &minor, &number);
  switch (attr) {
    case hipDeviceAttributeComputeCapabilityMajor: *pi = major; break;
    case hipDeviceAttributeComputeCapabilityMinor: *pi = minor; break;
    case hipDeviceAttributeGcnArch: *pi = number; break;
    default: *pi = 0; break;  // large BAR, ASIC revision, unmatched cooperative launches, fine grain
  }
  return hipSuccess;
}

HOC_EXPORT hipError_t hipDeviceGetName(char* name, int len, hipDevice_t device) {
  if (!name || len <= 0) return fail_detail(hipErrorInvalidValue, "hipDeviceGetName(NULL or len %d)", len);
  CUdevice d;
  hipError_t e = device_handle(device, &d);
  if (e != hipSuccess) return e;
  return cuda_result("cuDeviceGetName", cu.cuDeviceGetName(name, len, d));
}

HOC_EXPORT hipError_t hipDeviceTotalMem(size_t* bytes, hipDevice_t device) {
  if (!bytes) return fail_detail(hipErrorInvalidValue, "hipDeviceTotalMem(NULL)");
  CUdevice d;
  hipError_t e = device_handle(device, &d);
  if (e != hipSuccess) return e;
  return cuda_result("cuDeviceTotalMem_v2", cu.cuDeviceTotalMem_v2(bytes, d));
}

// Fills hipDeviceProp_t as the compiled-against header lays it out. gcnArchName is the reported
// AMD target (HIP_ON_CUDA_GFX, default gfx1100: a wave32 RDNA3 target, matching the NVIDIA warp).
HOC_EXPORT hipError_t hipGetDeviceProperties(hipDeviceProp_t* prop, int deviceId) {
  if (!prop) return fail_detail(hipErrorInvalidValue, "hipGetDeviceProperties(NULL)");
  CUdevice d;
  hipError_t e = device_handle(deviceId, &d);
  if (e != hipSuccess) return e;
  memset(prop, 0, sizeof *prop);
  e = cuda_result("cuDeviceGetName", cu.cuDeviceGetName(prop->name, (int)sizeof prop->name - 1, d));
  if (e != hipSuccess) return e;
  e = cuda_result("cuDeviceTotalMem_v2", cu.cuDeviceTotalMem_v2(&prop->totalGlobalMem, d));
  if (e != hipSuccess) return e;
  prop->sharedMemPerBlock = (size_t)attr_or_zero(8, d);
  prop->regsPerBlock = attr_or_zero(12, d);
  prop->warpSize = attr_or_zero(10, d);
  prop->maxThreadsPerBlock = attr_or_zero(1, d);
  for (int i = 0; i < 3; i++) {
    prop->maxThreadsDim[i] = attr_or_zero(2 + i, d);
    prop->maxGridSize[i] = attr_or_zero(5 + i, d);
  }
  prop->clockRate = attr_or_zero(13, d);
  prop->memoryClockRate = attr_or_zero(36, d);
  prop->memoryBusWidth = attr_or_zero(37, d);
  prop->totalConstMem = (size_t)attr_or_zero(9, d);
  gfx_version(&prop->major, &prop->minor, &prop->gcnArch);
  prop->multiProcessorCount = attr_or_zero(16, d);
  prop->l2CacheSize = attr_or_zero(38, d);
  prop->maxThreadsPerMultiProcessor = attr_or_zero(39, d);
  prop->computeMode = attr_or_zero(20, d);
  prop->clockInstructionRate = prop->clockRate;
  prop->arch.hasGlobalInt32Atomics = 1;
  prop->arch.hasGlobalFloatAtomicExch = 1;
  prop->arch.hasSharedInt32Atomics = 1;
  prop->arch.hasSharedFloatAtomicExch = 1;
  prop->arch.hasFloatAtomicAdd = 1;
  prop->arch.hasGlobalInt64Atomics = 1;
  prop->arch.hasSharedInt64Atomics = 1;
  prop->arch.hasDoubles = 1;
  prop->arch.hasWarpVote = 1;
  prop->arch.hasWarpBallot = 1;
  prop->arch.hasWarpShuffle = 1;
  prop->arch.hasFunnelShift = 1;
  prop->arch.hasThreadFenceSystem = 1;
  prop->arch.hasSyncThreadsExt = 1;
  prop->arch.has3dGrid = 1;
  prop->concurrentKernels = attr_or_zero(31, d);
  prop->pciDomainID = attr_or_zero(50, d);
  prop->pciBusID = attr_or_zero(33, d);
  prop->pciDeviceID = attr_or_zero(34, d);
  prop->maxSharedMemoryPerMultiProcessor = (size_t)attr_or_zero(81, d);
  prop->isMultiGpuBoard = attr_or_zero(84, d);
  prop->canMapHostMemory = attr_or_zero(19, d);
  snprintf(prop->gcnArchName, sizeof prop->gcnArchName, "%s", gfx_name());
  prop->integrated = attr_or_zero(18, d);
  prop->cooperativeLaunch = attr_or_zero(95, d);
  prop->cooperativeMultiDeviceLaunch = attr_or_zero(96, d);
  prop->maxTexture1DLinear = attr_or_zero(69, d);
  prop->maxTexture1D = attr_or_zero(21, d);
  prop->maxTexture2D[0] = attr_or_zero(22, d);
  prop->maxTexture2D[1] = attr_or_zero(23, d);
  prop->maxTexture3D[0] = attr_or_zero(24, d);
  prop->maxTexture3D[1] = attr_or_zero(25, d);
  prop->maxTexture3D[2] = attr_or_zero(26, d);
  prop->memPitch = (size_t)attr_or_zero(11, d);
  prop->textureAlignment = (size_t)attr_or_zero(14, d);
  prop->texturePitchAlignment = (size_t)attr_or_zero(51, d);
  prop->kernelExecTimeoutEnabled = attr_or_zero(17, d);
  prop->ECCEnabled = attr_or_zero(32, d);
  prop->tccDriver = attr_or_zero(35, d);
  prop->managedMemory = attr_or_zero(83, d);
  prop->directManagedMemAccessFromHost = attr_or_zero(101, d);
  prop->concurrentManagedAccess = attr_or_zero(89, d);
  prop->pageableMemoryAccess = attr_or_zero(88, d);
  prop->pageableMemoryAccessUsesHostPageTables = attr_or_zero(100, d);
  return hipSuccess;
}

// ---- memory -------------------------------------------------------------------------------------

HOC_EXPORT hipError_t hipMemGetInfo(size_t* free, size_t* total) {
  if (!free || !total) return fail_detail(hipErrorInvalidValue, "hipMemGetInfo(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuMemGetInfo_v2", cu.cuMemGetInfo_v2(free, total));
}

HOC_EXPORT hipError_t hipMalloc(void** ptr, size_t size) {
  if (!ptr) return fail_detail(hipErrorInvalidValue, "hipMalloc(NULL)");
  *ptr = NULL;
  if (size == 0) return hipSuccess;  // HIP: success with a null pointer (cuMemAlloc refuses 0)
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  CUdeviceptr p = 0;
  e = cuda_result("cuMemAlloc_v2", cu.cuMemAlloc_v2(&p, size));
  if (e == hipSuccess) *ptr = (void*)(uintptr_t)p;
  return e;
}

HOC_EXPORT hipError_t hipFree(void* ptr) {
  if (!ptr) return hipSuccess;  // HIP: freeing null is a no-op
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuMemFree_v2", cu.cuMemFree_v2((CUdeviceptr)(uintptr_t)ptr));
}

HOC_EXPORT hipError_t hipMemcpyAsync(void* dst, const void* src, size_t sizeBytes, hipMemcpyKind kind,
                                     hipStream_t stream) {
  if (sizeBytes == 0) return hipSuccess;
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  CUstream s = (CUstream)stream;
  switch (kind) {
    case hipMemcpyHostToDevice:
      return cuda_result("cuMemcpyHtoDAsync_v2", cu.cuMemcpyHtoDAsync_v2((CUdeviceptr)(uintptr_t)dst, src,
                                                                          sizeBytes, s));
    case hipMemcpyDeviceToHost:
      return cuda_result("cuMemcpyDtoHAsync_v2",
                         cu.cuMemcpyDtoHAsync_v2(dst, (CUdeviceptr)(uintptr_t)src, sizeBytes, s));
    case hipMemcpyDeviceToDevice:
      return cuda_result("cuMemcpyDtoDAsync_v2",
                         cu.cuMemcpyDtoDAsync_v2((CUdeviceptr)(uintptr_t)dst, (CUdeviceptr)(uintptr_t)src,
                                                 sizeBytes, s));
    case hipMemcpyHostToHost:
    case hipMemcpyDefault:  // unified addressing: the driver infers the direction
      return cuda_result("cuMemcpyAsync", cu.cuMemcpyAsync((CUdeviceptr)(uintptr_t)dst,
                                                           (CUdeviceptr)(uintptr_t)src, sizeBytes, s));
    default:
      return fail_detail(hipErrorInvalidMemcpyDirection, "hipMemcpyKind %d", (int)kind);
  }
}

HOC_EXPORT hipError_t hipMemsetAsync(void* dst, int value, size_t sizeBytes, hipStream_t stream) {
  if (sizeBytes == 0) return hipSuccess;
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuMemsetD8Async", cu.cuMemsetD8Async((CUdeviceptr)(uintptr_t)dst, (unsigned char)value,
                                                            sizeBytes, (CUstream)stream));
}

// ---- streams, events ----------------------------------------------------------------------------

HOC_EXPORT hipError_t hipStreamCreate(hipStream_t* stream) {
  if (!stream) return fail_detail(hipErrorInvalidValue, "hipStreamCreate(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  CUstream s = NULL;
  // Non-blocking, as Quanta's CUDA path creates its stream (CUDAVendor.createStream).
  e = cuda_result("cuStreamCreate", cu.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  *stream = (hipStream_t)s;
  return e;
}

HOC_EXPORT hipError_t hipStreamDestroy(hipStream_t stream) {
  if (!stream) return fail_detail(hipErrorInvalidHandle, "hipStreamDestroy(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuStreamDestroy_v2", cu.cuStreamDestroy_v2((CUstream)stream));
}

HOC_EXPORT hipError_t hipStreamSynchronize(hipStream_t stream) {
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuStreamSynchronize", cu.cuStreamSynchronize((CUstream)stream));
}

HOC_EXPORT hipError_t hipEventCreate(hipEvent_t* event) {
  if (!event) return fail_detail(hipErrorInvalidValue, "hipEventCreate(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  CUevent ev = NULL;
  e = cuda_result("cuEventCreate", cu.cuEventCreate(&ev, CU_EVENT_DEFAULT));
  *event = (hipEvent_t)ev;
  return e;
}

HOC_EXPORT hipError_t hipEventDestroy(hipEvent_t event) {
  if (!event) return fail_detail(hipErrorInvalidHandle, "hipEventDestroy(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuEventDestroy_v2", cu.cuEventDestroy_v2((CUevent)event));
}

HOC_EXPORT hipError_t hipEventRecord(hipEvent_t event, hipStream_t stream) {
  if (!event) return fail_detail(hipErrorInvalidHandle, "hipEventRecord(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuEventRecord", cu.cuEventRecord((CUevent)event, (CUstream)stream));
}

HOC_EXPORT hipError_t hipEventElapsedTime(float* ms, hipEvent_t start, hipEvent_t stop) {
  if (!ms) return fail_detail(hipErrorInvalidValue, "hipEventElapsedTime(NULL)");
  if (!start || !stop) return fail_detail(hipErrorInvalidHandle, "hipEventElapsedTime: null event");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuEventElapsedTime", cu.cuEventElapsedTime(ms, (CUevent)start, (CUevent)stop));
}

// ---- modules and launches -----------------------------------------------------------------------

HOC_EXPORT hipError_t hipModuleLoadData(hipModule_t* module, const void* image) {
  if (!module || !image) return fail_detail(hipErrorInvalidValue, "hipModuleLoadData(NULL)");
  *module = NULL;
  const unsigned char* b = image;
  // An AMD code object (ELF, e_machine EM_AMDGPU = 224) can only come from AMD's hiprtc or an AMD
  // cache entry: refuse it the way the HIP runtime refuses a binary for another GPU.
  if (b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F' && b[4] == 2 && b[18] == 224 && b[19] == 0) {
    note("hipModuleLoadData: refusing an AMD GPU code object (set QUANTA_HIPRTC_LIB to this library, fresh QUANTA_CACHE)");
    return fail_detail(hipErrorNoBinaryForGpu,
                       "an AMD GPU code object was passed in; this layer loads the CUBIN its own "
                       "hiprtcCompileProgram produces (set QUANTA_HIPRTC_LIB to this library and use a "
                       "fresh QUANTA_CACHE)");
  }
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  CUmodule m = NULL;
  e = cuda_result("cuModuleLoadData", cu.cuModuleLoadData(&m, image));
  *module = (hipModule_t)m;
  return e;
}

HOC_EXPORT hipError_t hipModuleUnload(hipModule_t module) {
  if (!module) return fail_detail(hipErrorInvalidHandle, "hipModuleUnload(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuModuleUnload", cu.cuModuleUnload((CUmodule)module));
}

HOC_EXPORT hipError_t hipModuleGetFunction(hipFunction_t* function, hipModule_t module, const char* kname) {
  if (!function || !kname) return fail_detail(hipErrorInvalidValue, "hipModuleGetFunction(NULL)");
  if (!module) return fail_detail(hipErrorInvalidHandle, "hipModuleGetFunction: null module");
  *function = NULL;
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  CUfunction f = NULL;
  CUresult r = cu.cuModuleGetFunction(&f, (CUmodule)module, kname);
  if (r != CUDA_SUCCESS) {
    const char* cname = NULL;
    if (cu.cuGetErrorName(r, &cname) != CUDA_SUCCESS || !cname) cname = "CUresult";
    return fail_detail(map_cuda(r), "cuModuleGetFunction(\"%s\") returned %s (%d)", kname, cname, r);
  }
  *function = (hipFunction_t)f;
  return hipSuccess;
}

HOC_EXPORT hipError_t hipModuleLaunchKernel(hipFunction_t f, unsigned int gridDimX, unsigned int gridDimY,
                                            unsigned int gridDimZ, unsigned int blockDimX,
                                            unsigned int blockDimY, unsigned int blockDimZ,
                                            unsigned int sharedMemBytes, hipStream_t stream,
                                            void** kernelParams, void** extra) {
  if (!f) return fail_detail(hipErrorInvalidResourceHandle, "hipModuleLaunchKernel: null function");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  void* cuda_extra[8];
  void** pass = NULL;
  if (extra) {
    // HIP_LAUNCH_PARAM_BUFFER_POINTER 0x01, _SIZE 0x02, _END 0x03 → CU_LAUNCH_PARAM_* 0x01, 0x02, 0x00.
    size_t i = 0;
    for (; i + 1 < sizeof cuda_extra / sizeof cuda_extra[0] && extra[i] != (void*)0x03; i++) {
      cuda_extra[i] = extra[i];
    }
    if (extra[i] != (void*)0x03) return fail_detail(hipErrorInvalidValue, "launch 'extra' list too long");
    cuda_extra[i] = (void*)0x00;
    pass = cuda_extra;
  }
  return cuda_result("cuLaunchKernel", cu.cuLaunchKernel((CUfunction)f, gridDimX, gridDimY, gridDimZ, blockDimX,
                                                         blockDimY, blockDimZ, sharedMemBytes, (CUstream)stream,
                                                         kernelParams, pass));
}

// ---- graphs (stream capture) -------------------------------------------------------------------

HOC_EXPORT hipError_t hipStreamBeginCapture(hipStream_t stream, hipStreamCaptureMode mode) {
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  // hipStreamCaptureModeGlobal/ThreadLocal/Relaxed = 0/1/2 = CU_STREAM_CAPTURE_MODE_* (same values).
  return cuda_result("cuStreamBeginCapture_v2", cu.cuStreamBeginCapture_v2((CUstream)stream, (int)mode));
}

HOC_EXPORT hipError_t hipStreamEndCapture(hipStream_t stream, hipGraph_t* pGraph) {
  if (!pGraph) return fail_detail(hipErrorInvalidValue, "hipStreamEndCapture(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  CUgraph g = NULL;
  e = cuda_result("cuStreamEndCapture", cu.cuStreamEndCapture((CUstream)stream, &g));
  *pGraph = (hipGraph_t)g;
  return e;
}

HOC_EXPORT hipError_t hipGraphInstantiate(hipGraphExec_t* pGraphExec, hipGraph_t graph, hipGraphNode_t* pErrorNode,
                                          char* pLogBuffer, size_t bufferSize) {
  if (!pGraphExec) return fail_detail(hipErrorInvalidValue, "hipGraphInstantiate(NULL)");
  if (pErrorNode) *pErrorNode = NULL;
  if (pLogBuffer && bufferSize) pLogBuffer[0] = 0;
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  CUgraphExec x = NULL;
  e = cuda_result("cuGraphInstantiateWithFlags", cu.cuGraphInstantiateWithFlags(&x, (CUgraph)graph, 0));
  *pGraphExec = (hipGraphExec_t)x;
  if (e != hipSuccess && pLogBuffer && bufferSize) snprintf(pLogBuffer, bufferSize, "%s", tl_last_text);
  return e;
}

HOC_EXPORT hipError_t hipGraphLaunch(hipGraphExec_t graphExec, hipStream_t stream) {
  if (!graphExec) return fail_detail(hipErrorInvalidValue, "hipGraphLaunch(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuGraphLaunch", cu.cuGraphLaunch((CUgraphExec)graphExec, (CUstream)stream));
}

HOC_EXPORT hipError_t hipGraphExecDestroy(hipGraphExec_t graphExec) {
  if (!graphExec) return fail_detail(hipErrorInvalidValue, "hipGraphExecDestroy(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuGraphExecDestroy", cu.cuGraphExecDestroy((CUgraphExec)graphExec));
}

HOC_EXPORT hipError_t hipGraphDestroy(hipGraph_t graph) {
  if (!graph) return fail_detail(hipErrorInvalidValue, "hipGraphDestroy(NULL)");
  hipError_t e = ctx();
  if (e != hipSuccess) return e;
  return cuda_result("cuGraphDestroy", cu.cuGraphDestroy((CUgraph)graph));
}

// ---- errors -------------------------------------------------------------------------------------

HOC_EXPORT const char* hipGetErrorName(hipError_t hip_error) {
  const struct hip_name* n = find_name(hip_error);
  return n ? n->name : "hipErrorUnknown";
}

// The HIP description; for the code this thread's last failing call returned, followed by the CUDA
// call and result behind it (the buffer is thread-local and lives until the next failure here).
HOC_EXPORT const char* hipGetErrorString(hipError_t hipError) {
  if (hipError != hipSuccess && hipError == tl_last_code && tl_last_text[0]) return tl_last_text;
  const struct hip_name* n = find_name(hipError);
  return n ? n->text : "unknown error";
}

// ---- code-object manager: which targets this layer's hiprtc compiles for ------------------------
// Quanta asks libamd_comgr (HIPVendorAPI.readComgrTargets) before compiling for a gfx target. This
// layer's hiprtc accepts any gfx name (it compiles for the NVIDIA device), so it can answer for itself:
// run_on_gpu.sh puts a libamd_comgr.so link to this library first on LD_LIBRARY_PATH. Built when
// AMD's amd_comgr.h is available (libamd-comgr-dev), with its declarations.
#ifdef HOC_WITH_COMGR
#define AMD_COMGR_EXPORT 1
#include <amd_comgr.h>

static const char* const comgr_isas[] = {
    "amdgcn-amd-amdhsa--gfx900",  "amdgcn-amd-amdhsa--gfx906",  "amdgcn-amd-amdhsa--gfx908",
    "amdgcn-amd-amdhsa--gfx90a",  "amdgcn-amd-amdhsa--gfx940",  "amdgcn-amd-amdhsa--gfx941",
    "amdgcn-amd-amdhsa--gfx942",  "amdgcn-amd-amdhsa--gfx1030", "amdgcn-amd-amdhsa--gfx1100",
    "amdgcn-amd-amdhsa--gfx1101", "amdgcn-amd-amdhsa--gfx1102", "amdgcn-amd-amdhsa--gfx1200",
    "amdgcn-amd-amdhsa--gfx1201",
};
static char comgr_own[128];  // the reported target, when it is not in the list above

static size_t comgr_count(void) {
  const size_t n = sizeof comgr_isas / sizeof comgr_isas[0];
  char want[128];
  snprintf(want, sizeof want, "amdgcn-amd-amdhsa--%s", gfx_name());
  char* colon = strchr(want + 19, ':');
  if (colon) *colon = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(comgr_isas[i], want) == 0) return n;
  memcpy(comgr_own, want, sizeof comgr_own);
  return n + 1;
}

amd_comgr_status_t amd_comgr_get_isa_count(size_t* count) {
  if (!count) return AMD_COMGR_STATUS_ERROR_INVALID_ARGUMENT;
  *count = comgr_count();
  return AMD_COMGR_STATUS_SUCCESS;
}

amd_comgr_status_t amd_comgr_get_isa_name(size_t index, const char** isa_name) {
  const size_t n = sizeof comgr_isas / sizeof comgr_isas[0];
  if (!isa_name || index >= comgr_count()) return AMD_COMGR_STATUS_ERROR_INVALID_ARGUMENT;
  *isa_name = index < n ? comgr_isas[index] : comgr_own;
  return AMD_COMGR_STATUS_SUCCESS;
}
#endif

// ---- hiprtc on NVRTC ----------------------------------------------------------------------------

// Prepended to every program: mapping_prelude.cuh (the HIP device names the HIP dialect uses,
// written in CUDA), turned into a C string by build.sh.
static const char mapping_prelude[] =
#include "hoc_mapping_prelude.inc"
    ;

struct _hiprtcProgram {
  nvrtcProgram prog;
  char* name;
  char* log;
  size_t log_size;  // including the terminating NUL
  char* code;
  size_t code_size;
};

static hiprtcResult map_nvrtc(nvrtcResult r) {
  // nvrtcResult 0…11 are hiprtcResult 0…11 (same names, same order); newer ones have no HIP twin.
  return (r >= 0 && r <= 11) ? (hiprtcResult)r : HIPRTC_ERROR_INTERNAL_ERROR;
}

static const char* rtc_names[] = {
    "HIPRTC_SUCCESS",
    "HIPRTC_ERROR_OUT_OF_MEMORY",
    "HIPRTC_ERROR_PROGRAM_CREATION_FAILURE",
    "HIPRTC_ERROR_INVALID_INPUT",
    "HIPRTC_ERROR_INVALID_PROGRAM",
    "HIPRTC_ERROR_INVALID_OPTION",
    "HIPRTC_ERROR_COMPILATION",
    "HIPRTC_ERROR_BUILTIN_OPERATION_FAILURE",
    "HIPRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION",
    "HIPRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION",
    "HIPRTC_ERROR_NAME_EXPRESSION_NOT_VALID",
    "HIPRTC_ERROR_INTERNAL_ERROR",
};

HOC_EXPORT const char* hiprtcGetErrorString(hiprtcResult result) {
  if ((int)result >= 0 && (size_t)result < sizeof rtc_names / sizeof rtc_names[0]) return rtc_names[result];
  return "Invalid HIPRTC error code";
}

HOC_EXPORT hiprtcResult hiprtcVersion(int* major, int* minor) {
  if (!major || !minor) return HIPRTC_ERROR_INVALID_INPUT;
  hiprtcResult r = rtc_library();
  if (r != HIPRTC_SUCCESS) return r;
  return map_nvrtc(nv.nvrtcVersion(major, minor));
}

static void set_log(struct _hiprtcProgram* p, const char* text) {
  free(p->log);
  p->log = strdup(text ? text : "");
  p->log_size = p->log ? strlen(p->log) + 1 : 0;
}

HOC_EXPORT hiprtcResult hiprtcCreateProgram(hiprtcProgram* prog, const char* src, const char* name, int numHeaders,
                                            const char** headers, const char** includeNames) {
  if (!prog || !src || numHeaders < 0 || (numHeaders > 0 && (!headers || !includeNames)))
    return HIPRTC_ERROR_INVALID_INPUT;
  *prog = NULL;
  hiprtcResult r = rtc_library();
  if (r != HIPRTC_SUCCESS) return r;
  const char* n = name ? name : "default_program";
  // mapping prelude, then the program with its own line numbers and file name (NVRTC's log then
  // points into the caller's source).
  size_t len = sizeof mapping_prelude + strlen(n) + strlen(src) + 64;
  char* text = malloc(len);
  if (!text) return HIPRTC_ERROR_OUT_OF_MEMORY;
  snprintf(text, len, "%s#line 1 \"%s\"\n%s", mapping_prelude, n, src);
  struct _hiprtcProgram* p = calloc(1, sizeof *p);
  if (!p) {
    free(text);
    return HIPRTC_ERROR_OUT_OF_MEMORY;
  }
  p->name = strdup(n);
  nvrtcResult nr = nv.nvrtcCreateProgram(&p->prog, text, n, numHeaders, headers, includeNames);
  free(text);
  if (nr != 0) {
    free(p->name);
    free(p);
    return map_nvrtc(nr);
  }
  set_log(p, "");
  *prog = p;
  return HIPRTC_SUCCESS;
}

HOC_EXPORT hiprtcResult hiprtcDestroyProgram(hiprtcProgram* prog) {
  if (!prog || !*prog) return HIPRTC_ERROR_INVALID_PROGRAM;
  struct _hiprtcProgram* p = *prog;
  if (p->prog) nv.nvrtcDestroyProgram(&p->prog);
  free(p->name);
  free(p->log);
  free(p->code);
  free(p);
  *prog = NULL;
  return HIPRTC_SUCCESS;
}

// The NVIDIA architecture to compile for: the current device's compute capability (HIP_ON_CUDA_SM
// overrides it, e.g. "sm_90", for compiling without a GPU).
static int target_sm(char* why, size_t why_size) {
  const char* env = getenv("HIP_ON_CUDA_SM");
  if (env && strncmp(env, "sm_", 3) == 0) return (int)strtol(env + 3, NULL, 10);
  CUdevice d;
  hipError_t e = device_handle(tl_device, &d);
  if (e != hipSuccess) {
    snprintf(why, why_size, "no device to compile for: %s (set HIP_ON_CUDA_SM=sm_XX)", tl_last_text);
    return -1;
  }
  int major = attr_or_zero(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
  int minor = attr_or_zero(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
  return major * 10 + minor;
}

// Options a HIP caller passes → NVRTC options. --offload-arch=gfxNNN[:features] selects nothing
// (the real target is the device's sm_XX) but defines __gfxNNN__ as hiprtc does; -O<n> is dropped
// (NVRTC optimizes by default); -ffast-math → --use_fast_math; -D/-U/-I/-std and anything else pass
// through (NVRTC rejects what it does not know: HIPRTC_ERROR_INVALID_OPTION).
HOC_EXPORT hiprtcResult hiprtcCompileProgram(hiprtcProgram prog, int numOptions, const char** options) {
  if (!prog) return HIPRTC_ERROR_INVALID_PROGRAM;
  if (numOptions < 0 || (numOptions > 0 && !options)) return HIPRTC_ERROR_INVALID_INPUT;
  struct _hiprtcProgram* p = prog;
  free(p->code);
  p->code = NULL;
  p->code_size = 0;
  char why[1024] = {0};
  int sm = target_sm(why, sizeof why);
  if (sm <= 0) {
    set_log(p, why);
    return HIPRTC_ERROR_INVALID_OPTION;
  }
  // Is sm_XX among NVRTC's targets? Else PTX for the newest one below it (the driver JITs it).
  int ptx_arch = 0;
  if (nv.nvrtcGetNumSupportedArchs && nv.nvrtcGetSupportedArchs) {
    int n = 0;
    if (nv.nvrtcGetNumSupportedArchs(&n) == 0 && n > 0 && n < 1024) {
      int archs[1024];
      int found = 0, best = 0;
      if (nv.nvrtcGetSupportedArchs(archs) == 0) {
        for (int i = 0; i < n; i++) {
          if (archs[i] == sm) found = 1;
          if (archs[i] < sm && archs[i] > best) best = archs[i];
        }
        if (!found) {
          if (!best) {
            snprintf(why, sizeof why, "hip_on_cuda: NVRTC (%s) supports no architecture up to sm_%d", nvrtc_path, sm);
            set_log(p, why);
            return HIPRTC_ERROR_INVALID_OPTION;
          }
          ptx_arch = best;
        }
      }
    }
  }
  const char** opts = calloc((size_t)numOptions + 4, sizeof *opts);
  char** owned = calloc((size_t)numOptions + 4, sizeof *owned);
  if (!opts || !owned) {
    free(opts);
    free(owned);
    return HIPRTC_ERROR_OUT_OF_MEMORY;
  }
  int n = 0, k = 0, have_std = 0;
  char arch_opt[64], gfx[64] = {0};
  if (ptx_arch)
    snprintf(arch_opt, sizeof arch_opt, "--gpu-architecture=compute_%d", ptx_arch);
  else
    snprintf(arch_opt, sizeof arch_opt, "--gpu-architecture=sm_%d", sm);
  opts[n++] = arch_opt;
  for (int i = 0; i < numOptions; i++) {
    const char* o = options[i];
    if (!o) continue;
    if (strncmp(o, "--offload-arch=", 15) == 0) {
      snprintf(gfx, sizeof gfx, "%s", o + 15);
      char* colon = strchr(gfx, ':');
      if (colon) *colon = 0;
      if (strncmp(gfx, "gfx", 3) == 0) {
        size_t need = strlen(gfx) + 16;
        owned[k] = malloc(need);
        if (owned[k]) {
          snprintf(owned[k], need, "-D__%s__=1", gfx);
          opts[n++] = owned[k++];
        }
      }
      continue;
    }
    if (o[0] == '-' && o[1] == 'O') continue;
    if (strcmp(o, "-ffast-math") == 0) {
      opts[n++] = "--use_fast_math";
      continue;
    }
    if (strncmp(o, "-std=", 5) == 0 || strncmp(o, "--std=", 6) == 0) have_std = 1;
    opts[n++] = o;
  }
  if (!have_std) opts[n++] = "--std=c++17";  // as Quanta's CUDA path compiles the same source
  nvrtcResult nr = nv.nvrtcCompileProgram(p->prog, n, opts);
  // Log: what was done, then NVRTC's own log.
  size_t nlog = 0;
  if (nv.nvrtcGetProgramLogSize(p->prog, &nlog) != 0) nlog = 0;
  size_t head_cap = 512 + (size_t)n * 64;
  for (int i = 0; i < n; i++) head_cap += strlen(opts[i]);
  char* full = malloc(head_cap + nlog + 1);
  if (full) {
    int used = snprintf(full, head_cap, "hip_on_cuda: %s %s for %s with NVRTC (%s), options:", p->name,
                        ptx_arch ? "compiled to PTX" : "compiled to CUBIN", strchr(arch_opt, '=') + 1, nvrtc_path);
    for (int i = 0; i < n && used > 0 && (size_t)used < head_cap; i++)
      used += snprintf(full + used, head_cap - (size_t)used, " %s", opts[i]);
    if (used > 0 && (size_t)used < head_cap) used += snprintf(full + used, head_cap - (size_t)used, "\n");
    if (used < 0 || (size_t)used >= head_cap) used = 0;
    full[used] = 0;
    if (nlog > 1 && nv.nvrtcGetProgramLog(p->prog, full + used) == 0)
      full[used + nlog - 1] = 0;
    else
      full[used] = 0;
    set_log(p, full);
    free(full);
  }
  for (int i = 0; i < k; i++) free(owned[i]);
  free(owned);
  free(opts);
  if (nr != 0) {
    if (verbose()) note("%s: %s\n%s", p->name, nv.nvrtcGetErrorString(nr), p->log ? p->log : "");
    return map_nvrtc(nr);
  }
  size_t size = 0;
  nr = ptx_arch ? nv.nvrtcGetPTXSize(p->prog, &size) : nv.nvrtcGetCUBINSize(p->prog, &size);
  if (nr != 0) return map_nvrtc(nr);
  if (size == 0) return HIPRTC_ERROR_INTERNAL_ERROR;
  p->code = malloc(size);
  if (!p->code) return HIPRTC_ERROR_OUT_OF_MEMORY;
  nr = ptx_arch ? nv.nvrtcGetPTX(p->prog, p->code) : nv.nvrtcGetCUBIN(p->prog, p->code);
  if (nr != 0) {
    free(p->code);
    p->code = NULL;
    return map_nvrtc(nr);
  }
  p->code_size = size;
  return HIPRTC_SUCCESS;
}

HOC_EXPORT hiprtcResult hiprtcGetProgramLogSize(hiprtcProgram prog, size_t* logSizeRet) {
  if (!prog) return HIPRTC_ERROR_INVALID_PROGRAM;
  if (!logSizeRet) return HIPRTC_ERROR_INVALID_INPUT;
  *logSizeRet = prog->log_size;
  return HIPRTC_SUCCESS;
}

HOC_EXPORT hiprtcResult hiprtcGetProgramLog(hiprtcProgram prog, char* log) {
  if (!prog) return HIPRTC_ERROR_INVALID_PROGRAM;
  if (!log) return HIPRTC_ERROR_INVALID_INPUT;
  if (prog->log_size) memcpy(log, prog->log, prog->log_size);
  return HIPRTC_SUCCESS;
}

HOC_EXPORT hiprtcResult hiprtcGetCodeSize(hiprtcProgram prog, size_t* codeSizeRet) {
  if (!prog) return HIPRTC_ERROR_INVALID_PROGRAM;
  if (!codeSizeRet) return HIPRTC_ERROR_INVALID_INPUT;
  *codeSizeRet = prog->code_size;
  return prog->code ? HIPRTC_SUCCESS : HIPRTC_ERROR_INVALID_PROGRAM;
}

HOC_EXPORT hiprtcResult hiprtcGetCode(hiprtcProgram prog, char* code) {
  if (!prog) return HIPRTC_ERROR_INVALID_PROGRAM;
  if (!code) return HIPRTC_ERROR_INVALID_INPUT;
  if (!prog->code) return HIPRTC_ERROR_INVALID_PROGRAM;
  memcpy(code, prog->code, prog->code_size);
  return HIPRTC_SUCCESS;
}
