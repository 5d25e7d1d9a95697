// A stand-in libcuda for testing the HIP-on-CUDA layer on a machine without a GPU (check_mock.sh):
// "device" memory is host memory, modules are what mock_nvrtc.c "compiles" (an ELF-like header and
// the source text), and the two kernels of smoke.c (axpy, warp_ops) run on the host. Stream capture
// records launches and a graph replays them. Not a CUDA emulator: just enough to drive every path of
// the layer and check its argument passing, copies and error mapping.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
#define EXPORT __attribute__((visibility("default")))

static int initialized, capturing;
static int ctx_token;
struct launch { void* f; unsigned gx, bx; void* args[8]; unsigned char slots[8][8]; };
struct graph { int n; struct launch l[64]; };
static struct graph recording;

EXPORT CUresult cuInit(unsigned int flags) { initialized = flags == 0; return flags ? 1 : 0; }
EXPORT CUresult cuDriverGetVersion(int* v) { *v = 13000; return 0; }
EXPORT CUresult cuDeviceGetCount(int* n) { if (!initialized) return 3; *n = 1; return 0; }
EXPORT CUresult cuDeviceGet(int* d, int i) { if (i != 0) return 101; *d = 0; return 0; }
EXPORT CUresult cuDeviceGetName(char* s, int len, int d) {
  (void)d;
  snprintf(s, (size_t)len, "Mock GPU (HIP-on-CUDA check)");
  return 0;
}
EXPORT CUresult cuDeviceTotalMem_v2(size_t* b, int d) { (void)d; *b = (size_t)80 << 30; return 0; }
EXPORT CUresult cuDeviceGetAttribute(int* v, int a, int d) {
  (void)d;
  switch (a) {
    case 1: *v = 1024; return 0;        // max threads per block
    case 10: *v = 32; return 0;         // warp size
    case 16: *v = 132; return 0;        // SMs
    case 38: *v = 50 << 20; return 0;   // L2
    case 75: *v = 9; return 0;          // compute capability
    case 76: *v = 0; return 0;
    default: *v = 1; return 0;
  }
}
EXPORT CUresult cuDevicePrimaryCtxRetain(void** c, int d) { (void)d; *c = &ctx_token; return 0; }
EXPORT CUresult cuCtxSetCurrent(void* c) { return c == &ctx_token ? 0 : 201; }
EXPORT CUresult cuCtxSynchronize(void) { return 0; }
EXPORT CUresult cuMemGetInfo_v2(size_t* f, size_t* t) { *f = (size_t)79 << 30; *t = (size_t)80 << 30; return 0; }
EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
  if (n == 0) return 1;
  if (n > ((size_t)1 << 40)) return 2;
  void* m = calloc(1, n);
  if (!m) return 2;
  *p = (CUdeviceptr)(uintptr_t)m;
  return 0;
}
EXPORT CUresult cuMemFree_v2(CUdeviceptr p) { if (!p) return 1; free((void*)(uintptr_t)p); return 0; }
EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void* s, size_t n, void* st) {
  (void)st; memcpy((void*)(uintptr_t)d, s, n); return 0;
}
EXPORT CUresult cuMemcpyDtoHAsync_v2(void* d, CUdeviceptr s, size_t n, void* st) {
  (void)st; memcpy(d, (void*)(uintptr_t)s, n); return 0;
}
EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void* st) {
  (void)st; memcpy((void*)(uintptr_t)d, (void*)(uintptr_t)s, n); return 0;
}
EXPORT CUresult cuMemcpyAsync(CUdeviceptr d, CUdeviceptr s, size_t n, void* st) {
  (void)st; memcpy((void*)(uintptr_t)d, (void*)(uintptr_t)s, n); return 0;
}
EXPORT CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void* st) {
  (void)st; memset((void*)(uintptr_t)d, v, n); return 0;
}
EXPORT CUresult cuStreamCreate(void** s, unsigned int flags) { *s = malloc(16); return flags == 1 ? 0 : 1; }
EXPORT CUresult cuStreamDestroy_v2(void* s) { free(s); return 0; }
EXPORT CUresult cuStreamSynchronize(void* s) { (void)s; return capturing ? 900 : 0; }
EXPORT CUresult cuEventCreate(void** e, unsigned int f) { (void)f; *e = malloc(16); return 0; }
EXPORT CUresult cuEventDestroy_v2(void* e) { free(e); return 0; }
EXPORT CUresult cuEventRecord(void* e, void* s) { (void)e; (void)s; return 0; }
EXPORT CUresult cuEventElapsedTime(float* ms, void* a, void* b) { (void)a; (void)b; *ms = 0.25f; return 0; }

// Modules: mock_nvrtc's image = 64-byte header (ELF magic, e_machine 190 = EM_CUDA) + source text.
struct module { char* text; };
struct function { struct module* m; char name[64]; };
EXPORT CUresult cuModuleLoadData(void** m, const void* image) {
  const unsigned char* b = image;
  if (memcmp(b, "\x7f" "ELF", 4) != 0 || b[18] != 190) return 200;  // CUDA_ERROR_INVALID_IMAGE
  struct module* mod = malloc(sizeof *mod);
  mod->text = strdup((const char*)b + 64);
  *m = mod;
  return 0;
}
EXPORT CUresult cuModuleUnload(void* m) { struct module* mod = m; free(mod->text); free(mod); return 0; }
EXPORT CUresult cuModuleGetFunction(void** f, void* m, const char* name) {
  struct module* mod = m;
  char pat[80];
  snprintf(pat, sizeof pat, " %s(", name);
  // Names made by macros (dequantize_block_##name##_f32 …) are not in the text: any name but
  // no_such_* is "found" (its launches are no-ops), so a Quanta run reaches every host path.
  if (!strstr(mod->text, pat) && strncmp(name, "no_such", 7) == 0) return 500;  // CUDA_ERROR_NOT_FOUND
  struct function* fn = calloc(1, sizeof *fn);
  fn->m = mod;
  snprintf(fn->name, sizeof fn->name, "%s", name);
  *f = fn;
  return 0;
}

static int dot4(int a, int b, int c) {
  for (int i = 0; i < 4; i++) c += (int)(signed char)(a >> (8 * i)) * (int)(signed char)(b >> (8 * i));
  return c;
}
static void run(struct launch* l) {
  struct function* fn = l->f;
  for (int i = 0; i < 8; i++) l->args[i] = l->slots[i];  // the copy's own slots (graphs copy launches)
  if (strcmp(fn->name, "axpy") == 0) {
    float* y; const float* x; float a; int n;
    memcpy(&y, l->args[0], 8); memcpy(&x, l->args[1], 8); memcpy(&a, l->args[2], 4); memcpy(&n, l->args[3], 4);
    for (unsigned i = 0; i < l->gx * l->bx && (int)i < n; i++) y[i] = a * x[i] + y[i];
  } else if (strcmp(fn->name, "warp_ops") == 0) {
    const float* x; float* sum; int* info; const int *p, *q;
    memcpy(&x, l->args[0], 8); memcpy(&sum, l->args[1], 8); memcpy(&info, l->args[2], 8);
    memcpy(&p, l->args[3], 8); memcpy(&q, l->args[4], 8);
    float s = 0;
    for (int i = 0; i < 32; i++) s += x[i];
    sum[0] = s;
    info[0] = 32;
    for (int i = 0; i < 32; i++) info[1 + i] = dot4(p[i], q[i], 1);
  }
}
EXPORT CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                               unsigned shared, void* stream, void** params, void** extra) {
  (void)gy; (void)gz; (void)by; (void)bz; (void)shared; (void)stream;
  if (!f) return 400;
  if (extra) return 1;
  struct launch l = {.f = f, .gx = gx, .bx = bx};
  const char* name = ((struct function*)f)->name;
  int nargs = strcmp(name, "axpy") == 0 ? 4 : strcmp(name, "warp_ops") == 0 ? 5 : 0;  // others: no-ops
  for (int i = 0; i < nargs; i++) memcpy(l.slots[i], params[i], 8);  // copied at launch, as CUDA does
  if (capturing) {
    if (recording.n == 64) return 2;
    recording.l[recording.n++] = l;
    return 0;
  }
  run(&l);
  return 0;
}
EXPORT CUresult cuStreamBeginCapture_v2(void* s, int mode) {
  (void)s;
  if (mode != 1) return 1;  // Quanta captures thread-local
  capturing = 1;
  recording.n = 0;
  return 0;
}
EXPORT CUresult cuStreamEndCapture(void* s, void** g) {
  (void)s;
  if (!capturing) return 401;
  capturing = 0;
  struct graph* copy = malloc(sizeof *copy);
  *copy = recording;
  *g = copy;
  return 0;
}
EXPORT CUresult cuGraphInstantiateWithFlags(void** x, void* g, unsigned long long flags) {
  if (flags) return 1;
  struct graph* copy = malloc(sizeof *copy);
  *copy = *(struct graph*)g;
  *x = copy;
  return 0;
}
EXPORT CUresult cuGraphLaunch(void* x, void* s) {
  (void)s;
  struct graph* g = x;
  for (int i = 0; i < g->n; i++) run(&g->l[i]);
  return 0;
}
EXPORT CUresult cuGraphExecDestroy(void* x) { free(x); return 0; }
EXPORT CUresult cuGraphDestroy(void* g) { free(g); return 0; }
EXPORT CUresult cuGetErrorName(CUresult r, const char** s) {
  switch (r) {
    case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
    case 200: *s = "CUDA_ERROR_INVALID_IMAGE"; return 0;
    case 500: *s = "CUDA_ERROR_NOT_FOUND"; return 0;
    default: *s = "CUDA_ERROR_(mock)"; return 0;
  }
}
