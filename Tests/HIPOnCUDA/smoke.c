// Smoke test of the HIP-on-CUDA layer through AMD's own declarations: devices, properties, memory,
// a HIP-dialect kernel compiled by hiprtc, module load, launch, events, stream capture into a graph
// and replay, and the error mapping. One PASS/FAIL line per check, then "smoke: N passed, M failed".
//
//   smoke [path/to/prelude_hip.cuh]
//
// With a prelude path, the kernels compile on Quanta's own HIP prelude (Sources/GPUKernels/kernels/
// prelude_hip.cuh), as quanta does; without it, on a few lines using the same HIP names.
// Exit status: 0 all passed, 1 a check failed, 2 no CUDA driver / no device (nothing to test).

#include <hip/hip_runtime_api.h>
#include <hip/hiprtc.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static void check(int ok, const char* name, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(int ok, const char* name, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s %s: ", ok ? "PASS" : "FAIL", name);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if (ok)
    passed++;
  else
    failed++;
}

static int done(int code) {
  printf("smoke: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : code;
}

#define HIP_OK(call)                                                                                      \
  do {                                                                                                    \
    hipError_t e_ = (call);                                                                               \
    if (e_ != hipSuccess) {                                                                               \
      check(0, #call, "%s: %s", hipGetErrorName(e_), hipGetErrorString(e_));                              \
      return done(1);                                                                                     \
    }                                                                                                     \
  } while (0)

static const char builtin_prelude[] =
    "#define QK_KERNEL extern \"C\" __global__\n"
    "#define QK_DEVICE static __device__ __forceinline__\n"
    "QK_DEVICE float qk_shfl_xor(float v, int m, int w) { return __shfl_xor(v, m, w); }\n"
    "QK_DEVICE int ggml_cuda_dp4a(int a, int b, int c) {\n"
    "#if defined(__gfx1100__)\n"
    "  return __builtin_amdgcn_sudot4(true, a, true, b, c, false);\n"
    "#else\n"
    "  return __builtin_amdgcn_sdot4(a, b, c, false);\n"
    "#endif\n"
    "}\n";

static const char kernels[] =
    "\n#define QK_WARP_SIZE 32\n"
    "QK_KERNEL void axpy(float* y, const float* x, float a, int n) {\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  if (i < n) y[i] = a * x[i] + y[i];\n"
    "}\n"
    "QK_KERNEL void warp_ops(const float* x, float* sum, int* info, const int* p, const int* q) {\n"
    "  float v = x[threadIdx.x];\n"
    "  for (int m = 16; m > 0; m >>= 1) v += qk_shfl_xor(v, m, 32);\n"
    "  if (threadIdx.x == 0) { sum[0] = v; info[0] = warpSize; }\n"
    "  info[1 + threadIdx.x] = ggml_cuda_dp4a(p[threadIdx.x], q[threadIdx.x], 1);\n"
    "}\n";

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = 0;
  fclose(f);
  return s;
}

static int dot4_ref(int a, int b, int c) {
  for (int i = 0; i < 4; i++) c += (int)(signed char)(a >> (8 * i)) * (int)(signed char)(b >> (8 * i));
  return c;
}

int main(int argc, char** argv) {
  // Checks that need no GPU: the error table and the header layout Quanta reads.
  check(strcmp(hipGetErrorName(hipErrorOutOfMemory), "hipErrorOutOfMemory") == 0, "hipGetErrorName", "%s",
        hipGetErrorName(hipErrorOutOfMemory));
  check(strcmp(hipGetErrorName(hipErrorLaunchFailure), "hipErrorLaunchFailure") == 0, "hipGetErrorName(719)",
        "%s", hipGetErrorName(hipErrorLaunchFailure));
  check(strcmp(hiprtcGetErrorString(HIPRTC_ERROR_COMPILATION), "HIPRTC_ERROR_COMPILATION") == 0,
        "hiprtcGetErrorString", "%s", hiprtcGetErrorString(HIPRTC_ERROR_COMPILATION));
  check(offsetof(hipDeviceProp_t, gcnArchName) == 396, "offsetof(hipDeviceProp_t, gcnArchName)",
        "%zu (Quanta reads 396)", offsetof(hipDeviceProp_t, gcnArchName));

  hipError_t e = hipInit(0);
  if (e != hipSuccess) {
    printf("FAIL no CUDA driver: hipInit: %s: %s\n", hipGetErrorName(e), hipGetErrorString(e));
    failed++;
    printf("smoke: %d passed, %d failed\n", passed, failed);
    return 2;
  }
  int count = 0;
  e = hipGetDeviceCount(&count);
  if (e != hipSuccess || count < 1) {
    printf("FAIL no device: hipGetDeviceCount: %s: %s\n", hipGetErrorName(e), hipGetErrorString(e));
    failed++;
    printf("smoke: %d passed, %d failed\n", passed, failed);
    return 2;
  }
  check(1, "hipGetDeviceCount", "%d", count);
  int rv = 0;
  HIP_OK(hipRuntimeGetVersion(&rv));
  HIP_OK(hipSetDevice(0));

  // Properties, as HIPVendorAPI.properties reads them.
  char name[256] = {0};
  size_t total = 0;
  int warp = 0, l2 = 0, sms = 0, maxThreads = 0;
  HIP_OK(hipDeviceGetName(name, 255, 0));
  HIP_OK(hipDeviceTotalMem(&total, 0));
  HIP_OK(hipDeviceGetAttribute(&warp, hipDeviceAttributeWarpSize, 0));
  HIP_OK(hipDeviceGetAttribute(&l2, hipDeviceAttributeL2CacheSize, 0));
  HIP_OK(hipDeviceGetAttribute(&sms, hipDeviceAttributeMultiprocessorCount, 0));
  HIP_OK(hipDeviceGetAttribute(&maxThreads, hipDeviceAttributeMaxThreadsPerBlock, 0));
  static char propbuf[8192];  // HIPVendor passes an 8 KiB buffer
  hipDeviceProp_t* prop = (hipDeviceProp_t*)propbuf;
  HIP_OK(hipGetDeviceProperties(prop, 0));
  check(warp == 32 && prop->warpSize == 32, "warp size", "attribute %d, properties %d", warp, prop->warpSize);
  check(strncmp(prop->gcnArchName, "gfx", 3) == 0, "gcnArchName", "%s", prop->gcnArchName);
  check(strcmp(prop->name, name) == 0 && name[0], "name", "%s", name);
  check(total > 0 && prop->totalGlobalMem == total && sms > 0 && prop->multiProcessorCount == sms && l2 > 0 &&
            maxThreads >= 256,
        "device facts", "%.1f GiB, %d SMs, L2 %d KiB, %d threads/block, HIP version %d", total / 1073741824.0,
        sms, l2 / 1024, maxThreads, rv);
  size_t freeMem = 0, totalMem = 0;
  HIP_OK(hipMemGetInfo(&freeMem, &totalMem));
  check(freeMem > 0 && totalMem == total, "hipMemGetInfo", "free %zu of %zu", freeMem, totalMem);

  // Memory: memset, H2D, D2D, D2H.
  enum { N = 4096 };
  static float hx[N], hy[N];
  for (int i = 0; i < N; i++) hx[i] = (float)i;
  hipStream_t s = NULL;
  HIP_OK(hipStreamCreate(&s));
  void *dx = NULL, *dy = NULL, *dz = NULL;
  HIP_OK(hipMalloc(&dx, N * sizeof(float)));
  HIP_OK(hipMalloc(&dy, N * sizeof(float)));
  HIP_OK(hipMalloc(&dz, N * sizeof(float)));
  HIP_OK(hipMemsetAsync(dy, 0x3f, N * sizeof(float), s));
  HIP_OK(hipMemcpyAsync(hy, dy, N * sizeof(float), hipMemcpyDeviceToHost, s));
  HIP_OK(hipStreamSynchronize(s));
  int ok = 1;
  for (int i = 0; i < N; i++) {
    unsigned u;
    memcpy(&u, &hy[i], 4);
    ok &= u == 0x3f3f3f3fu;
  }
  check(ok, "hipMemsetAsync", "0x3f bytes read back");
  HIP_OK(hipMemcpyAsync(dx, hx, N * sizeof(float), hipMemcpyHostToDevice, s));
  HIP_OK(hipMemcpyAsync(dz, dx, N * sizeof(float), hipMemcpyDeviceToDevice, s));
  HIP_OK(hipMemcpyAsync(hy, dz, N * sizeof(float), hipMemcpyDeviceToHost, s));
  HIP_OK(hipStreamSynchronize(s));
  check(memcmp(hx, hy, sizeof hx) == 0, "hipMemcpyAsync H2D/D2D/D2H", "%d floats round trip", N);

  // hiprtc: HIP-dialect source, AMD options, as HIPVendorAPI.compile passes them.
  char* prelude = NULL;
  if (argc > 1) {
    prelude = read_file(argv[1]);
    check(prelude != NULL, "prelude", "%s", argv[1]);
    if (!prelude) return done(1);
  }
  const char* pre = prelude ? prelude : builtin_prelude;
  size_t srclen = strlen(pre) + sizeof kernels + 1;
  char* src = malloc(srclen);
  snprintf(src, srclen, "%s%s", pre, kernels);
  char arch[300];
  snprintf(arch, sizeof arch, "--offload-arch=%.255s", prop->gcnArchName);
  const char* opts[] = {arch, "-O3"};
  hiprtcProgram prog = NULL;
  hiprtcResult rr = hiprtcCreateProgram(&prog, src, "smoke_kernels.cu", 0, NULL, NULL);
  check(rr == HIPRTC_SUCCESS, "hiprtcCreateProgram", "%s", hiprtcGetErrorString(rr));
  if (rr != HIPRTC_SUCCESS) return done(1);
  rr = hiprtcCompileProgram(prog, 2, opts);
  size_t logSize = 0;
  hiprtcGetProgramLogSize(prog, &logSize);
  char* log = calloc(logSize + 1, 1);
  if (logSize) hiprtcGetProgramLog(prog, log);
  check(rr == HIPRTC_SUCCESS, "hiprtcCompileProgram", "%s (%s prelude, %s); log: %s", hiprtcGetErrorString(rr),
        prelude ? argv[1] : "built-in", arch, log);
  free(log);
  if (rr != HIPRTC_SUCCESS) return done(1);
  size_t codeSize = 0;
  if (hiprtcGetCodeSize(prog, &codeSize) != HIPRTC_SUCCESS || codeSize == 0) {
    check(0, "hiprtcGetCodeSize", "%zu", codeSize);
    return done(1);
  }
  char* code = malloc(codeSize);
  rr = hiprtcGetCode(prog, code);
  check(rr == HIPRTC_SUCCESS, "hiprtcGetCode", "%zu bytes (%s)", codeSize,
        codeSize > 4 && memcmp(code, "\x7f" "ELF", 4) == 0 ? "ELF: CUBIN" : "PTX text");
  hiprtcDestroyProgram(&prog);
  check(prog == NULL, "hiprtcDestroyProgram", "program handle cleared");

  // A compile error: HIPRTC_ERROR_COMPILATION and NVRTC's log.
  hiprtcProgram bad = NULL;
  hiprtcCreateProgram(&bad, "extern \"C\" __global__ void k() { this_is_not_declared(); }\n", "bad.cu", 0, NULL,
                      NULL);
  rr = hiprtcCompileProgram(bad, 2, opts);
  logSize = 0;
  hiprtcGetProgramLogSize(bad, &logSize);
  log = calloc(logSize + 1, 1);
  if (logSize) hiprtcGetProgramLog(bad, log);
  check(rr == HIPRTC_ERROR_COMPILATION && strstr(log, "this_is_not_declared") != NULL, "compile error",
        "%s, log of %zu bytes names the undefined function", hiprtcGetErrorString(rr), logSize);
  free(log);
  hiprtcDestroyProgram(&bad);

  // Module, functions, launches.
  hipModule_t mod = NULL;
  HIP_OK(hipModuleLoadData(&mod, code));
  hipFunction_t axpy = NULL, warp_ops = NULL, missing = NULL;
  HIP_OK(hipModuleGetFunction(&axpy, mod, "axpy"));
  HIP_OK(hipModuleGetFunction(&warp_ops, mod, "warp_ops"));
  e = hipModuleGetFunction(&missing, mod, "no_such_kernel");
  check(e == hipErrorNotFound, "missing kernel", "%s: %s", hipGetErrorName(e), hipGetErrorString(e));

  hipEvent_t e0 = NULL, e1 = NULL;
  HIP_OK(hipEventCreate(&e0));
  HIP_OK(hipEventCreate(&e1));
  HIP_OK(hipMemsetAsync(dy, 0, N * sizeof(float), s));
  float a = 2.0f;
  int n = N;
  void* args[] = {&dy, &dx, &a, &n};
  HIP_OK(hipEventRecord(e0, s));
  HIP_OK(hipModuleLaunchKernel(axpy, N / 256, 1, 1, 256, 1, 1, 0, s, args, NULL));
  HIP_OK(hipEventRecord(e1, s));
  HIP_OK(hipMemcpyAsync(hy, dy, N * sizeof(float), hipMemcpyDeviceToHost, s));
  HIP_OK(hipStreamSynchronize(s));
  ok = 1;
  for (int i = 0; i < N; i++) ok &= hy[i] == 2.0f * i;
  float ms = -1;
  HIP_OK(hipEventElapsedTime(&ms, e0, e1));
  check(ok, "hipModuleLaunchKernel", "axpy over %d floats", N);
  check(ms >= 0, "hipEventElapsedTime", "%.4f ms", ms);

  // Wave-level ops through the prelude: xor-shuffle reduction, dp4a, warpSize.
  int hp[32], hq[32], hinfo[33];
  float hsum = 0, ref = 0;
  for (int i = 0; i < 32; i++) {
    hp[i] = (int)(0x01fe7f80u * (unsigned)(i + 1));
    hq[i] = (int)(0x80ff017fu ^ (unsigned)(i * 0x01010101));
    ref += (float)i;
  }
  void *dp = NULL, *dq = NULL, *dinfo = NULL, *dsum = NULL;
  HIP_OK(hipMalloc(&dp, sizeof hp));
  HIP_OK(hipMalloc(&dq, sizeof hq));
  HIP_OK(hipMalloc(&dinfo, sizeof hinfo));
  HIP_OK(hipMalloc(&dsum, sizeof(float)));
  HIP_OK(hipMemcpyAsync(dp, hp, sizeof hp, hipMemcpyHostToDevice, s));
  HIP_OK(hipMemcpyAsync(dq, hq, sizeof hq, hipMemcpyHostToDevice, s));
  void* wargs[] = {&dx, &dsum, &dinfo, &dp, &dq};
  HIP_OK(hipModuleLaunchKernel(warp_ops, 1, 1, 1, 32, 1, 1, 0, s, wargs, NULL));
  HIP_OK(hipMemcpyAsync(hinfo, dinfo, sizeof hinfo, hipMemcpyDeviceToHost, s));
  HIP_OK(hipMemcpyAsync(&hsum, dsum, sizeof hsum, hipMemcpyDeviceToHost, s));
  HIP_OK(hipStreamSynchronize(s));
  check(hsum == ref, "__shfl_xor reduction", "sum %g (expected %g)", hsum, ref);
  check(hinfo[0] == 32, "warpSize in the kernel", "%d", hinfo[0]);
  ok = 1;
  for (int i = 0; i < 32; i++) ok &= hinfo[1 + i] == dot4_ref(hp[i], hq[i], 1);
  check(ok, "ggml_cuda_dp4a", "32 signed 4-way dot products");

  // Stream capture → graph → replay (HIPVendorAPI.beginCapture / endCapture / launchGraph).
  HIP_OK(hipMemsetAsync(dy, 0, N * sizeof(float), s));
  HIP_OK(hipStreamSynchronize(s));
  a = 1.0f;
  HIP_OK(hipStreamBeginCapture(s, hipStreamCaptureModeThreadLocal));
  for (int k = 0; k < 4; k++) HIP_OK(hipModuleLaunchKernel(axpy, N / 256, 1, 1, 256, 1, 1, 0, s, args, NULL));
  hipGraph_t graph = NULL;
  HIP_OK(hipStreamEndCapture(s, &graph));
  hipGraphExec_t exec = NULL;
  HIP_OK(hipGraphInstantiate(&exec, graph, NULL, NULL, 0));
  HIP_OK(hipGraphDestroy(graph));
  for (int r = 0; r < 3; r++) HIP_OK(hipGraphLaunch(exec, s));
  HIP_OK(hipMemcpyAsync(hy, dy, N * sizeof(float), hipMemcpyDeviceToHost, s));
  HIP_OK(hipStreamSynchronize(s));
  ok = 1;
  for (int i = 0; i < N; i++) ok &= hy[i] == 12.0f * i;
  check(ok, "graph capture and replay", "4 launches captured, replayed 3 times: y = 12·x (y[7] = %g)", hy[7]);
  HIP_OK(hipGraphExecDestroy(exec));

  // Error mapping.
  void* huge = NULL;
  e = hipMalloc(&huge, (size_t)1 << 50);
  check(e == hipErrorOutOfMemory, "out of memory", "%s: %s", hipGetErrorName(e), hipGetErrorString(e));
  e = hipSetDevice(count);
  check(e == hipErrorInvalidDevice, "device out of range", "%s", hipGetErrorName(e));
  HIP_OK(hipSetDevice(0));
  static unsigned char amd_elf[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 64};
  amd_elf[18] = 224;  // EM_AMDGPU
  hipModule_t amd = NULL;
  e = hipModuleLoadData(&amd, amd_elf);
  check(e == hipErrorNoBinaryForGpu, "AMD code object refused", "%s", hipGetErrorName(e));
  void* zero = (void*)1;
  e = hipMalloc(&zero, 0);
  check(e == hipSuccess && zero == NULL, "hipMalloc(0)", "null pointer, success");
  check(hipFree(NULL) == hipSuccess, "hipFree(NULL)", "success");

  HIP_OK(hipEventDestroy(e0));
  HIP_OK(hipEventDestroy(e1));
  HIP_OK(hipModuleUnload(mod));
  void* bufs[] = {dx, dy, dz, dp, dq, dinfo, dsum};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) HIP_OK(hipFree(bufs[i]));
  HIP_OK(hipStreamDestroy(s));
  printf("device: rocm:0 = %s, arch %s, warp %d (through HIP-on-CUDA)\n", name, prop->gcnArchName, warp);
  free(code);
  free(src);
  free(prelude);
  return done(0);
}
