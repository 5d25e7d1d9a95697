// Row conversions between f32 and f16 (round to nearest even, as F16C's vcvtps2ph mode 0 and ggml's
// GGML_CPU_FP32_TO_FP16): F16C where the CPU has it, else the exact scalar code. For the KV cache
// and the f16 rounding steps of attention / the GELU table index, which otherwise cost a software
// conversion per value.
#include "kernels_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,f16c"))) static void to_f16_f16c(const float *x, uint16_t *y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) y[i] = qk_fp32_to_fp16(x[i]);
}

__attribute__((target("avx2,f16c"))) static void to_f32_f16c(const uint16_t *x, float *y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
  for (; i < n; ++i) y[i] = qk_fp16_to_fp32(x[i]);
}

__attribute__((target("avx2,f16c"))) static void round_f16c(const float *x, float *y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
  for (; i < n; ++i) y[i] = qk_fp16_to_fp32(qk_fp32_to_fp16(x[i]));
}

static int has_f16c(void) {
  static int cached = -1;  // benign race: every thread computes the same value
  if (cached < 0) {
    __builtin_cpu_init();
    cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
  }
  return cached;
}
#endif

void qk_fp32_to_fp16_row(const float *x, uint16_t *y, size_t n) {
#if defined(__x86_64__)
  if (has_f16c()) {
    to_f16_f16c(x, y, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) y[i] = qk_fp32_to_fp16(x[i]);
}

void qk_fp16_to_fp32_row(const uint16_t *x, float *y, size_t n) {
#if defined(__x86_64__)
  if (has_f16c()) {
    to_f32_f16c(x, y, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) y[i] = qk_fp16_to_fp32(x[i]);
}

void qk_round_to_fp16(const float *x, float *y, size_t n) {
#if defined(__x86_64__)
  if (has_f16c()) {
    round_f16c(x, y, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) y[i] = qk_fp16_to_fp32(qk_fp32_to_fp16(x[i]));
}
