// RoPE rotation with a precomputed cos/sin row per token (CPUOps' rope cache): ggml's rope f32
// arithmetic per pair, y0 = fma(x0, c, −(x1·s)), y1 = fma(x0, s, x1·c), so every ISA gives the bits
// of the scalar code. NeoX pairs (i, i + nRot/2); normal pairs (2i, 2i+1). Values past nRot stay.
#include "kernels_internal.h"

#include <math.h>

static void rope_scalar(float *v, const float *c, const float *s, int half, int neox) {
  for (int i = 0; i < half; ++i) {
    float *a = neox ? v + i : v + 2 * i, *b = neox ? v + i + half : v + 2 * i + 1;
    const float x0 = *a, x1 = *b;
    *a = fmaf(x0, c[i], -(x1 * s[i]));
    *b = fmaf(x0, s[i], x1 * c[i]);
  }
}

#if defined(__x86_64__)
#include <immintrin.h>
#define ROPE512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))

ROPE512 static void rope_512(float *v, const float *c, const float *s, int half, int neox) {
  int i = 0;
  const __m512 neg = _mm512_set1_ps(-0.0f);  // exact negation (0 − p would turn −(+0) into +0)
  if (neox) {
    float *w = v + half;
    for (; i + 16 <= half; i += 16) {
      const __m512 x0 = _mm512_loadu_ps(v + i), x1 = _mm512_loadu_ps(w + i);
      const __m512 cv = _mm512_loadu_ps(c + i), sv = _mm512_loadu_ps(s + i);
      _mm512_storeu_ps(v + i, _mm512_fmadd_ps(x0, cv, _mm512_xor_ps(_mm512_mul_ps(x1, sv), neg)));
      _mm512_storeu_ps(w + i, _mm512_fmadd_ps(x0, sv, _mm512_mul_ps(x1, cv)));
    }
  } else {
    // 8 pairs per vector: x0 / x1 and c / s duplicated into both lanes of their pair.
    const __m512i pair = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i evens = _mm512_setr_epi32(0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14);
    const __m512i odds = _mm512_setr_epi32(1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15);
    const __mmask16 odd = 0xAAAA;
    for (; i + 8 <= half; i += 8) {
      const __m512 x = _mm512_loadu_ps(v + 2 * i);
      const __m512 x0 = _mm512_permutexvar_ps(evens, x), x1 = _mm512_permutexvar_ps(odds, x);
      const __m512 cd = _mm512_permutexvar_ps(pair, _mm512_castps256_ps512(_mm256_loadu_ps(c + i)));
      const __m512 sd = _mm512_permutexvar_ps(pair, _mm512_castps256_ps512(_mm256_loadu_ps(s + i)));
      const __m512 b = _mm512_mask_blend_ps(odd, cd, sd);
      const __m512 d = _mm512_mask_blend_ps(odd, _mm512_xor_ps(_mm512_mul_ps(x1, sd), neg),
                                            _mm512_mul_ps(x1, cd));
      _mm512_storeu_ps(v + 2 * i, _mm512_fmadd_ps(x0, b, d));
    }
  }
  // The rest, pair by pair (the same arithmetic).
  for (; i < half; ++i) {
    float *a = neox ? v + i : v + 2 * i, *bp = neox ? v + i + half : v + 2 * i + 1;
    const float x0 = *a, x1 = *bp;
    *a = fmaf(x0, c[i], -(x1 * s[i]));
    *bp = fmaf(x0, s[i], x1 * c[i]);
  }
}
#endif

void qk_rope_f32(qk_isa isa, float *x, size_t tokenStride, int nTokens, int nHead, int headDim, int nRot, int neox,
                 const float *cache) {
  const int half = nRot / 2;
  for (int t = 0; t < nTokens; ++t) {
    const float *c = cache + (size_t)t * nRot, *s = c + half;
    for (int h = 0; h < nHead; ++h) {
      float *v = x + (size_t)t * tokenStride + (size_t)h * headDim;
#if defined(__x86_64__)
      if ((isa == QK_ISA_AVX512 || isa == QK_ISA_AVX512_VNNI) && qk_isa_supported(isa)) {
        rope_512(v, c, s, half, neox);
        continue;
      }
#endif
      rope_scalar(v, c, s, half, neox);
    }
  }
}
