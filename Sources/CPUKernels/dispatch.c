// ISA detection and the per-ISA kernel tables. Tables are built once, on first use; each starts from
// the scalar entries and lets better ISA families override what they implement.
#include <pthread.h>

#include "kernels_iq.h"

static qk_kernel_table tables[QK_ISA_COUNT];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static const char *const isa_names[QK_ISA_COUNT] = {"scalar", "avx2", "avx512", "avx512_vnni", "neon"};

const char *qk_isa_unsupported_reason(qk_isa isa) {
  switch (isa) {
    case QK_ISA_SCALAR:
      return "";
#if defined(__x86_64__)
    case QK_ISA_AVX2:
      __builtin_cpu_init();
      return (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
                 ? ""
                 : "CPU lacks AVX2, FMA or F16C";
    case QK_ISA_AVX512:
      if (*qk_isa_unsupported_reason(QK_ISA_AVX2)) return "CPU lacks AVX2, FMA or F16C";
      return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
                 ? ""
                 : "CPU lacks AVX-512 F/BW/VL/DQ";
    case QK_ISA_AVX512_VNNI:
      if (*qk_isa_unsupported_reason(QK_ISA_AVX512)) return "CPU lacks AVX-512 F/BW/VL/DQ";
      return __builtin_cpu_supports("avx512vnni") ? "" : "CPU lacks AVX512-VNNI";
    case QK_ISA_NEON:
      return "NEON is an arm64 instruction set; this is an x86-64 build";
#elif defined(__aarch64__)
    case QK_ISA_NEON:
      return "";  // Advanced SIMD is mandatory on AArch64
    case QK_ISA_AVX2:
    case QK_ISA_AVX512:
    case QK_ISA_AVX512_VNNI:
      return "x86-64 instruction set; this is an arm64 build";
#else
    case QK_ISA_AVX2:
    case QK_ISA_AVX512:
    case QK_ISA_AVX512_VNNI:
    case QK_ISA_NEON:
      return "no SIMD kernels for this architecture";
#endif
    default:
      return "unknown ISA";
  }
}

int qk_isa_supported(qk_isa isa) { return *qk_isa_unsupported_reason(isa) == '\0'; }

qk_isa qk_best_isa(void) {
  static const qk_isa order[] = {QK_ISA_AVX512_VNNI, QK_ISA_AVX512, QK_ISA_AVX2, QK_ISA_NEON};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; ++i)
    if (qk_isa_supported(order[i])) return order[i];
  return QK_ISA_SCALAR;
}

static void build_tables(void) {
  for (int i = 0; i < QK_ISA_COUNT; ++i) {
    qk_kernel_table *t = &tables[i];
    memset(t, 0, sizeof *t);
    t->isa = (qk_isa)i;
    t->name = isa_names[i];
    for (int ty = 0; ty < QK_TYPE_COUNT; ++ty) {
      t->vec_dot_type[ty] = -1;
      t->impl_isa[ty] = (qk_isa)i;
    }
    if (!qk_isa_supported((qk_isa)i)) continue;
    qk_fill_scalar(t);
    qk_fill_scalar_iq(t);
    qk_fill_dequantizers(t);
#if defined(__x86_64__)
    if (i >= QK_ISA_AVX2 && i <= QK_ISA_AVX512_VNNI) qk_fill_avx2(t);
    if (i >= QK_ISA_AVX512 && i <= QK_ISA_AVX512_VNNI) {
      qk_fill_avx512(t);
      qk_fill_avx512_iq(t);
    }
    if (i == QK_ISA_AVX512_VNNI) {
      qk_fill_avx512_vnni(t);
      qk_fill_gemm_vnni(t);
    }
#endif
#if defined(__aarch64__)
    if (i == QK_ISA_NEON) qk_fill_neon(t);
#endif
  }
}

const qk_kernel_table *qk_kernels(qk_isa isa) {
  if ((int)isa < 0 || isa >= QK_ISA_COUNT || !qk_isa_supported(isa)) return NULL;
  pthread_once(&tables_once, build_tables);
  return &tables[isa];
}
