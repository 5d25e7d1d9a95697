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

// The f16 accumulator steps of ggml's CPU flash attention, on f32 storage holding f16 values:
// `acc = f16(acc · s)` (ggml_vec_scale_f16) and `acc = f16(fma(v, s, acc))` (ggml_vec_mad_f16,
// one fused rounding to f32, then to f16).
#if defined(__x86_64__)
__attribute__((target("avx2,f16c"))) static void acc_scale_f16c(float *acc, float s, size_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 r = _mm256_mul_ps(_mm256_loadu_ps(acc + i), vs);
    _mm256_storeu_ps(acc + i, _mm256_cvtph_ps(_mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT)));
  }
  for (; i < n; ++i) acc[i] = qk_fp16_to_fp32(qk_fp32_to_fp16(acc[i] * s));
}

__attribute__((target("avx2,fma,f16c"))) static void acc_mad_f16c(float *acc, const float *v, float s, size_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 r = _mm256_fmadd_ps(_mm256_loadu_ps(v + i), vs, _mm256_loadu_ps(acc + i));
    _mm256_storeu_ps(acc + i, _mm256_cvtph_ps(_mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT)));
  }
  for (; i < n; ++i) acc[i] = qk_fp16_to_fp32(qk_fp32_to_fp16(__builtin_fmaf(v[i], s, acc[i])));
}

static int has_f16c_fma(void) {
  static int cached = -1;  // benign race: every thread computes the same value
  if (cached < 0) {
    __builtin_cpu_init();
    cached = has_f16c() && __builtin_cpu_supports("fma");
  }
  return cached;
}
#endif

void qk_f16_acc_scale(float *acc, float s, size_t n) {
#if defined(__x86_64__)
  if (has_f16c()) {
    acc_scale_f16c(acc, s, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) acc[i] = qk_fp16_to_fp32(qk_fp32_to_fp16(acc[i] * s));
}

void qk_f16_acc_mad(float *acc, const float *v, float s, size_t n) {
#if defined(__x86_64__)
  if (has_f16c_fma()) {
    acc_mad_f16c(acc, v, s, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) acc[i] = qk_fp16_to_fp32(qk_fp32_to_fp16(__builtin_fmaf(v[i], s, acc[i])));
}
