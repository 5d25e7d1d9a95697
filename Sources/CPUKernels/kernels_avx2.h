// Shared helpers of the AVX2-family kernel files (x86-64 only).
#ifndef QUANTA_KERNELS_AVX2_H
#define QUANTA_KERNELS_AVX2_H

#include "kernels_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_ATTR __attribute__((target("avx2,fma,f16c")))
#define AVX2_INL static QK_ALWAYS_INLINE AVX2_ATTR
#define AVX512_ATTR __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define AVX512_INL static QK_ALWAYS_INLINE AVX512_ATTR
#define VNNI_ATTR __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define VNNI_INL static QK_ALWAYS_INLINE VNNI_ATTR

AVX2_INL float qk_hsum_ps_avx2(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

AVX2_INL int qk_hsum_epi32_avx2(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// The four int32 sums of t0..t3 (exact), as one vector [Σt0, Σt1, Σt2, Σt3].
AVX2_INL __m128i qk_hsum4_epi32_avx2(__m256i t0, __m256i t1, __m256i t2, __m256i t3) {
  const __m256i c = _mm256_hadd_epi32(_mm256_hadd_epi32(t0, t1), _mm256_hadd_epi32(t2, t3));
  return _mm_add_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
}

void qk_fill_avx2_legacy(qk_kernel_table *t);
void qk_fill_avx2_k(qk_kernel_table *t);
#endif

#endif
