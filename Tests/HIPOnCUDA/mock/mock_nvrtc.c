// A stand-in libnvrtc for check_mock.sh: "compiles" by checking what the HIP-on-CUDA layer passes —
// the mapping prelude in front of the program, an sm_XX target, the AMD target macro, no AMD-only
// options — and returns an image mock_cuda.c loads (a 64-byte ELF-like header, e_machine 190, then
// the source text). A program naming `this_is_not_declared` fails with NVRTC_ERROR_COMPILATION and
// a log. MOCK_NVRTC_TRACE=FILE appends each compile's options to FILE.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))
typedef int nvrtcResult;
struct prog { char* src; char* log; char* image; size_t image_size; };

EXPORT nvrtcResult nvrtcVersion(int* major, int* minor) { *major = 13; *minor = 0; return 0; }
EXPORT nvrtcResult nvrtcGetNumSupportedArchs(int* n) { *n = 3; return 0; }
EXPORT nvrtcResult nvrtcGetSupportedArchs(int* a) { a[0] = 80; a[1] = 89; a[2] = 90; return 0; }
EXPORT const char* nvrtcGetErrorString(nvrtcResult r) { return r == 6 ? "NVRTC_ERROR_COMPILATION" : "NVRTC_(mock)"; }

EXPORT nvrtcResult nvrtcCreateProgram(struct prog** p, const char* src, const char* name, int nh, const char* const* h,
                                      const char* const* hn) {
  (void)name; (void)h; (void)hn;
  if (!p || !src || nh < 0) return 3;
  *p = calloc(1, sizeof **p);
  (*p)->src = strdup(src);
  (*p)->log = strdup("");
  return 0;
}
EXPORT nvrtcResult nvrtcDestroyProgram(struct prog** p) {
  free((*p)->src); free((*p)->log); free((*p)->image); free(*p); *p = NULL;
  return 0;
}

static nvrtcResult bad(struct prog* p, const char* why) {
  free(p->log);
  p->log = strdup(why);
  return 5;  // NVRTC_ERROR_INVALID_OPTION
}

EXPORT nvrtcResult nvrtcCompileProgram(struct prog* p, int n, const char* const* opts) {
  const char* trace = getenv("MOCK_NVRTC_TRACE");
  FILE* t = trace ? fopen(trace, "a") : NULL;
  int arch = 0, std17 = 0, gfx = 0;
  for (int i = 0; i < n; i++) {
    if (t) fprintf(t, "%s%s", i ? " " : "", opts[i]);
    if (strncmp(opts[i], "--gpu-architecture=sm_", 22) == 0 || strncmp(opts[i], "--gpu-architecture=compute_", 27) == 0)
      arch = 1;
    else if (strcmp(opts[i], "--std=c++17") == 0)
      std17 = 1;
    else if (strncmp(opts[i], "-D__gfx", 7) == 0)
      gfx = 1;
    else if (strncmp(opts[i], "--offload-arch", 14) == 0 || strncmp(opts[i], "-O", 2) == 0)
      return bad(p, "mock nvrtc: AMD-only option passed through");
  }
  if (t) { fputc('\n', t); fclose(t); }
  if (!arch || !std17 || !gfx) return bad(p, "mock nvrtc: missing --gpu-architecture, --std=c++17 or -D__gfx…__");
  if (strncmp(p->src, "// ---- HIP-on-CUDA mapping prelude", 35) != 0 || !strstr(p->src, "\n#line 1 \""))
    return bad(p, "mock nvrtc: the mapping prelude is not in front of the program");
  if (strstr(p->src, "this_is_not_declared")) {
    free(p->log);
    p->log = strdup("bad.cu(1): error: identifier \"this_is_not_declared\" is undefined\n1 error detected\n");
    return 6;
  }
  size_t len = strlen(p->src) + 1;
  p->image = calloc(1, 64 + len);
  memcpy(p->image, "\x7f" "ELF", 4);
  p->image[4] = 2;
  p->image[18] = (char)190;  // EM_CUDA
  memcpy(p->image + 64, p->src, len);
  p->image_size = 64 + len;
  return 0;
}
EXPORT nvrtcResult nvrtcGetProgramLogSize(struct prog* p, size_t* n) { *n = strlen(p->log) + 1; return 0; }
EXPORT nvrtcResult nvrtcGetProgramLog(struct prog* p, char* s) { strcpy(s, p->log); return 0; }
EXPORT nvrtcResult nvrtcGetCUBINSize(struct prog* p, size_t* n) { *n = p->image_size; return p->image ? 0 : 4; }
EXPORT nvrtcResult nvrtcGetCUBIN(struct prog* p, char* c) { memcpy(c, p->image, p->image_size); return 0; }
EXPORT nvrtcResult nvrtcGetPTXSize(struct prog* p, size_t* n) { return nvrtcGetCUBINSize(p, n); }
EXPORT nvrtcResult nvrtcGetPTX(struct prog* p, char* c) { return nvrtcGetCUBIN(p, c); }
