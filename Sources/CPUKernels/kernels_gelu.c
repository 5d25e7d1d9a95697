// GELU / GeGLU through ggml's f16 table (GGML_GELU_FP16, ggml-cpu/vec.h): the input rounded to f16
// indexes a 65,536-entry table of f16 results. AVX2 + F16C where the CPU has them (vcvtps2ph's
// round-to-nearest-even index, a dword gather of the table, vcvtph2ps), else scalar; both give
// the same bits for every non-NaN input.
#include "kernels_internal.h"

static inline float gelu_lookup(float x, const uint16_t *table) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return qk_fp16_to_fp32(table[qk_fp32_to_fp16(x)]);
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c"))) static void gelu_f16c(const float *g, const float *u, float *out,
                                                                 size_t n, const uint16_t *table) {
  const int *words = (const int *)table;  // table entries in pairs: entry 2j in the low half of word j
  const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256i idx = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
    const __m256i w = _mm256_i32gather_epi32(words, _mm256_srli_epi32(idx, 1), 4);
    const __m256i shift = _mm256_slli_epi32(_mm256_and_si256(idx, _mm256_set1_epi32(1)), 4);
    const __m256i bits = _mm256_and_si256(_mm256_srlv_epi32(w, shift), _mm256_set1_epi32(0xFFFF));
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(bits), _mm256_extracti128_si256(bits, 1));
    __m256 y = _mm256_cvtph_ps(packed);
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LE_OQ));
    y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, hi, _CMP_GE_OQ));
    if (u) y = _mm256_mul_ps(y, _mm256_loadu_ps(u + i));
    _mm256_storeu_ps(out + i, y);
  }
  for (; i < n; ++i) out[i] = u ? gelu_lookup(g[i], table) * u[i] : gelu_lookup(g[i], table);
}

static int has_avx2_f16c(void) {
  static int cached = -1;  // benign race: every thread computes the same value
  if (cached < 0) {
    __builtin_cpu_init();
    cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }
  return cached;
}
#endif

void qk_gelu_f16_table(const float *g, const float *u, float *out, size_t n, const uint16_t *table) {
#if defined(__x86_64__)
  if (has_avx2_f16c()) {
    gelu_f16c(g, u, out, n, table);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) out[i] = u ? gelu_lookup(g[i], table) * u[i] : gelu_lookup(g[i], table);
}
