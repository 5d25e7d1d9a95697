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

void qk_fill_avx2_legacy(qk_kernel_table *t);
void qk_fill_avx2_k(qk_kernel_table *t);
#endif

#endif
