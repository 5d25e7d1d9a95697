// Prompt attention over an f16 KV cache for a block of queries (cpu_kernels.h,
// qk_attention_prompt_f16): each block of QK_ATT_KB keys is converted to f32 once for all the
// block's queries and heads (a per-query loop converts every visible key once per query), then an
// f32 online softmax per (query, head) as CPUOps' f32 attention path computes it.
#include <math.h>

#include "kernels_internal.h"

#define QK_ATT_KB 32  // keys per converted block: K and V of 32 × 256 f32 = 64 KiB, L2-resident

size_t qk_attention_prompt_scratch(int nq, int nh, int hd) {
  return (size_t)2 * QK_ATT_KB * hd + (size_t)nq * nh * (hd + 2) + QK_ATT_KB;
}

static inline float att_logit(float dot, float scale, float cap) {
  const float s = dot * scale;
  return cap > 0 ? cap * tanhf(s * (1.0f / cap)) : s;
}

// The kernel body, instantiated for a scalar and an AVX-512 build of its three vector steps.
#define QK_ATT_BODY(CONVERT, DOT, SCALE_ROW, AXPY)                                                        \
  const int kb = QK_ATT_KB;                                                                               \
  float *kf = scratch, *vf = kf + (size_t)kb * hd, *acc = vf + (size_t)kb * hd;                           \
  float *mx = acc + (size_t)nq * nh * hd, *sum = mx + (size_t)nq * nh, *s = sum + (size_t)nq * nh;        \
  int jlo = 1 << 30, jhi = 0;                                                                             \
  for (int t = 0; t < nq; ++t) {                                                                          \
    if (lo[t] < hi[t]) {                                                                                  \
      jlo = lo[t] < jlo ? lo[t] : jlo;                                                                    \
      jhi = hi[t] > jhi ? hi[t] : jhi;                                                                    \
    }                                                                                                     \
  }                                                                                                       \
  for (int i = 0; i < nq * nh; ++i) {                                                                     \
    mx[i] = -INFINITY;                                                                                    \
    sum[i] = 0;                                                                                           \
  }                                                                                                       \
  memset(acc, 0, sizeof(float) * (size_t)nq * nh * hd);                                                   \
  for (int j0 = jlo; j0 < jhi; j0 += kb) {                                                                \
    const int bn = jhi - j0 < kb ? jhi - j0 : kb;                                                         \
    for (int j = 0; j < bn; ++j) {                                                                        \
      CONVERT(k + (size_t)(j0 + j) * kvStride, kf + (size_t)j * hd, hd);                                  \
      CONVERT(v + (size_t)(j0 + j) * kvStride, vf + (size_t)j * hd, hd);                                  \
    }                                                                                                     \
    for (int t = 0; t < nq; ++t) {                                                                        \
      const int a = lo[t] > j0 ? lo[t] : j0, b = hi[t] < j0 + bn ? hi[t] : j0 + bn;                       \
      if (a >= b) continue;                                                                               \
      for (int h = 0; h < nh; ++h) {                                                                      \
        const float *qv = q + (size_t)t * qStride + (size_t)h * hd;                                       \
        const int i = t * nh + h;                                                                         \
        float bmax = -INFINITY;                                                                           \
        for (int j = a; j < b; ++j) {                                                                     \
          s[j - j0] = att_logit(DOT(qv, kf + (size_t)(j - j0) * hd, hd), scale, cap);                     \
          bmax = s[j - j0] > bmax ? s[j - j0] : bmax;                                                     \
        }                                                                                                 \
        float *ai = acc + (size_t)i * hd;                                                                 \
        if (bmax > mx[i]) {                                                                               \
          const float corr = expf(mx[i] - bmax); /* 0 on the first block (exp(-inf)) */                   \
          if (corr != 1.0f) {                                                                             \
            SCALE_ROW(ai, corr, hd);                                                                      \
            sum[i] *= corr;                                                                               \
          }                                                                                               \
          mx[i] = bmax;                                                                                   \
        }                                                                                                 \
        for (int j = a; j < b; ++j) {                                                                     \
          const float p = expf(s[j - j0] - mx[i]);                                                        \
          sum[i] += p;                                                                                    \
          s[j - j0] = p;                                                                                  \
        }                                                                                                 \
        AXPY(ai, s + (a - j0), vf + (size_t)(a - j0) * hd, b - a, hd);                                    \
      }                                                                                                   \
    }                                                                                                     \
  }                                                                                                       \
  for (int t = 0; t < nq; ++t)                                                                            \
    for (int h = 0; h < nh; ++h) {                                                                        \
      const int i = t * nh + h;                                                                           \
      const float inv = sum[i] > 0 ? 1.0f / sum[i] : 0.0f;                                                \
      float *o = out + (size_t)t * outStride + (size_t)h * hd;                                            \
      for (int c = 0; c < hd; ++c) o[c] = acc[(size_t)i * hd + c] * inv;                                  \
    }

static inline void att_convert_scalar(const uint16_t *x, float *y, int n) {
  for (int i = 0; i < n; ++i) y[i] = qk_fp16_to_fp32(x[i]);
}
static inline float att_dot_scalar(const float *a, const float *b, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
static inline void att_scale_scalar(float *a, float c, int n) {
  for (int i = 0; i < n; ++i) a[i] *= c;
}
// a[0..<hd] += Σ_j p[j] · v[j][0..<hd]
static inline void att_axpy_scalar(float *a, const float *p, const float *v, int count, int hd) {
  for (int j = 0; j < count; ++j)
    for (int c = 0; c < hd; ++c) a[c] += p[j] * v[(size_t)j * hd + c];
}

static void attention_scalar(int nq, int nh, int hd, const float *q, size_t qStride, const uint16_t *k,
                             const uint16_t *v, size_t kvStride, const int32_t *lo, const int32_t *hi, float scale,
                             float cap, float *out, size_t outStride, float *scratch) {
  QK_ATT_BODY(att_convert_scalar, att_dot_scalar, att_scale_scalar, att_axpy_scalar)
}

#if defined(__x86_64__)
#include <immintrin.h>
#define ATT512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))

ATT512 static inline void att_convert_512(const uint16_t *x, float *y, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
  for (; i < n; ++i) y[i] = qk_fp16_to_fp32(x[i]);
}
ATT512 static inline float att_dot_512(const float *a, const float *b, int n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}
ATT512 static inline void att_scale_512(float *a, float c, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(a + i, _mm512_mul_ps(_mm512_loadu_ps(a + i), _mm512_set1_ps(c)));
  for (; i < n; ++i) a[i] *= c;
}
ATT512 static inline void att_axpy_512(float *a, const float *p, const float *v, int count, int hd) {
  int c = 0;
  for (; c + 32 <= hd; c += 32) {
    __m512 a0 = _mm512_loadu_ps(a + c), a1 = _mm512_loadu_ps(a + c + 16);
    for (int j = 0; j < count; ++j) {
      const __m512 pj = _mm512_set1_ps(p[j]);
      a0 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + (size_t)j * hd + c), a0);
      a1 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + (size_t)j * hd + c + 16), a1);
    }
    _mm512_storeu_ps(a + c, a0);
    _mm512_storeu_ps(a + c + 16, a1);
  }
  for (; c < hd; ++c)
    for (int j = 0; j < count; ++j) a[c] += p[j] * v[(size_t)j * hd + c];
}

ATT512 static void attention_512(int nq, int nh, int hd, const float *q, size_t qStride, const uint16_t *k,
                                 const uint16_t *v, size_t kvStride, const int32_t *lo, const int32_t *hi,
                                 float scale, float cap, float *out, size_t outStride, float *scratch) {
  QK_ATT_BODY(att_convert_512, att_dot_512, att_scale_512, att_axpy_512)
}
#endif

void qk_attention_prompt_f16(qk_isa isa, int nq, int nh, int hd, const float *q, size_t qStride, const uint16_t *k,
                             const uint16_t *v, size_t kvStride, const int32_t *lo, const int32_t *hi, float scale,
                             float cap, float *out, size_t outStride, float *scratch) {
#if defined(__x86_64__)
  if ((isa == QK_ISA_AVX512 || isa == QK_ISA_AVX512_VNNI) && qk_isa_supported(isa)) {
    attention_512(nq, nh, hd, q, qStride, k, v, kvStride, lo, hi, scale, cap, out, outStride, scratch);
    return;
  }
#endif
  (void)isa;
  attention_scalar(nq, nh, hd, q, qStride, k, v, kvStride, lo, hi, scale, cap, out, outStride, scratch);
}
