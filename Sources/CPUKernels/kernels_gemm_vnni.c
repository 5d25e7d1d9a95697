// AVX512-VNNI mat-mat for prompt batches (the table's `gemm` entries; cpu_kernels.h).
//
// A task's weight rows are repacked, 16 rows at a time, into a panel that a plain int8 GEMM can
// stream: per group of G values (the type's scale granularity: 32, or 16 for q6_K), G/4 vectors of
// 64 bytes where bytes 4r..4r+3 of vector s are the unsigned weights 4s..4s+3 of row r, then the 16
// rows' f32 group scales, then (types with mins) the 16 rows' f32 group offsets. One vpdpbusd of
// such a vector with an activation column's 4 values broadcast (an embedded-broadcast memory
// operand) adds 64 products to 16 rows' int32 sums at once; after a group the sums go to f32 and
// one FMA per column applies weight scale × activation scale. Each output row's sum therefore runs
// in its own lane: no horizontal reductions. The repack is amortized over every column of the task.
//
// Values: weights are stored unsigned, u = w + K (K = 8 q4_0, 16 q5_0, 32 q6_K, 128 q8_0/iq4_nl; 0
// for the min types q4_K/q5_K, whose nibbles are unsigned already). Σ(u − K)·y = Σu·y − K·Σy, so an
// offset type's int32 sum starts at −K·Σy (exact, from the activation's block sums), and a min type
// adds offset × (d_y·Σy) per group in f32.
//
// Numerics: exact integer sums per group, then f32 in group order per output: not ggml's summation
// order (its vec_dot / repacked gemm reduce lanes differently), so results differ from the tile
// kernels in the last bits; the tile kernels stay the ggml-exact path.
#include <pthread.h>
#include <stdlib.h>

#include "kernels_avx2.h"

#if defined(__x86_64__)

// ---- Per-thread panel buffer ----

static pthread_key_t panel_key;
static pthread_once_t panel_once = PTHREAD_ONCE_INIT;

typedef struct {
  size_t capacity;
  uint8_t *data;
} panel_buffer;

static void panel_free(void *p) {
  panel_buffer *b = p;
  free(b->data);
  free(b);
}

static void panel_key_init(void) { pthread_key_create(&panel_key, panel_free); }

// A 64-byte aligned per-thread buffer of at least `bytes` (NULL when out of memory).
static uint8_t *panel_scratch(size_t bytes) {
  pthread_once(&panel_once, panel_key_init);
  panel_buffer *b = pthread_getspecific(panel_key);
  if (!b) {
    b = calloc(1, sizeof *b);
    if (!b) return NULL;
    pthread_setspecific(panel_key, b);
  }
  if (b->capacity < bytes) {
    free(b->data);
    const size_t cap = (bytes + 4095) & ~(size_t)4095;
    b->data = aligned_alloc(64, cap);
    b->capacity = b->data ? cap : 0;
  }
  return b->data;
}

// ---- Weight repacking: up to 16 rows of nb blocks → panel ----

// Byte offsets of the 16 rows (rows past `rows` repeat the last one; their outputs are not stored).
VNNI_INL __m512i row_offsets(int rows, size_t ldX) {
  int32_t o[16];
  for (int r = 0; r < 16; ++r) o[r] = (int32_t)((size_t)(r < rows ? r : rows - 1) * ldX);
  return _mm512_loadu_si512((const void *)o);
}

#define GATHER(idx, base, off) _mm512_i32gather_epi32((idx), (const void *)((const char *)(base) + (off)), 1)

// f16 in the low 16 bits of each lane → f32.
VNNI_INL __m512 half_lo(__m512i v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)); }

// 4 bits b0..b3 (lane's low nibble, after a shift) → bit 4 of bytes 0..3.
VNNI_INL __m512i spread4(__m512i bits) {
  const __m512i x = _mm512_and_si512(bits, _mm512_set1_epi32(0xF));
  return _mm512_slli_epi32(
      _mm512_and_si512(_mm512_mullo_epi32(x, _mm512_set1_epi32(0x00204081)), _mm512_set1_epi32(0x01010101)), 4);
}

#define STORE_Q(p, s, v) _mm512_store_si512((void *)((p) + 64 * (s)), (v))
#define STORE_F(p, v) _mm512_store_ps((void *)(p), (v))

// q4_0 (18 B: d, qs[16]): u = nibble (value + 8).
VNNI_ATTR static void repack_q4_0(const char *x, size_t ldX, int rows, int nb, uint8_t *panel) {
  const __m512i idx = row_offsets(rows, ldX), m4 = _mm512_set1_epi8(0x0F);
  for (int b = 0; b < nb; ++b, panel += 32 * 16 + 64) {
    const char *base = x + (size_t)b * sizeof(block_q4_0);
    for (int j = 0; j < 4; ++j) {
      const __m512i g = GATHER(idx, base, 2 + 4 * j);
      STORE_Q(panel, j, _mm512_and_si512(g, m4));
      STORE_Q(panel, 4 + j, _mm512_and_si512(_mm512_srli_epi32(g, 4), m4));
    }
    STORE_F(panel + 512, half_lo(GATHER(idx, base, 0)));
  }
}

// q5_0 (22 B: d, qh[4], qs[16]): u = nibble | fifth bit << 4 (value + 16).
VNNI_ATTR static void repack_q5_0(const char *x, size_t ldX, int rows, int nb, uint8_t *panel) {
  const __m512i idx = row_offsets(rows, ldX), m4 = _mm512_set1_epi8(0x0F);
  for (int b = 0; b < nb; ++b, panel += 32 * 16 + 64) {
    const char *base = x + (size_t)b * sizeof(block_q5_0);
    const __m512i qh = GATHER(idx, base, 2);
    for (int j = 0; j < 4; ++j) {
      const __m512i g = GATHER(idx, base, 6 + 4 * j);
      STORE_Q(panel, j, _mm512_or_si512(_mm512_and_si512(g, m4), spread4(_mm512_srli_epi32(qh, 4 * j))));
      STORE_Q(panel, 4 + j,
              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(g, 4), m4), spread4(_mm512_srli_epi32(qh, 16 + 4 * j))));
    }
    STORE_F(panel + 512, half_lo(GATHER(idx, base, 0)));
  }
}

// q8_0 (34 B: d, qs[32]): u = value + 128.
VNNI_ATTR static void repack_q8_0(const char *x, size_t ldX, int rows, int nb, uint8_t *panel) {
  const __m512i idx = row_offsets(rows, ldX), flip = _mm512_set1_epi8((char)0x80);
  for (int b = 0; b < nb; ++b, panel += 32 * 16 + 64) {
    const char *base = x + (size_t)b * sizeof(block_q8_0);
    for (int s = 0; s < 8; ++s) STORE_Q(panel, s, _mm512_xor_si512(GATHER(idx, base, 2 + 4 * s), flip));
    STORE_F(panel + 512, half_lo(GATHER(idx, base, 0)));
  }
}

// iq4_nl (18 B: d, qs[16]): u = kvalues[nibble] + 128.
VNNI_ATTR static void repack_iq4_nl(const char *x, size_t ldX, int rows, int nb, uint8_t *panel) {
  const __m512i idx = row_offsets(rows, ldX), m4 = _mm512_set1_epi8(0x0F);
  const __m512i lut = _mm512_xor_si512(
      _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qk_kvalues_iq4nl)), _mm512_set1_epi8((char)0x80));
  for (int b = 0; b < nb; ++b, panel += 32 * 16 + 64) {
    const char *base = x + (size_t)b * sizeof(block_iq4_nl);
    for (int j = 0; j < 4; ++j) {
      const __m512i g = GATHER(idx, base, 2 + 4 * j);
      STORE_Q(panel, j, _mm512_shuffle_epi8(lut, _mm512_and_si512(g, m4)));
      STORE_Q(panel, 4 + j, _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi32(g, 4), m4)));
    }
    STORE_F(panel + 512, half_lo(GATHER(idx, base, 0)));
  }
}

// q4_K / q5_K scales and mins of 16 rows (ggml's 32-bit unpacking, one lane per row): group g's
// scale is d·sc_g, its offset −dmin·m_g.
VNNI_INL void k4_group_scales(__m512i idx, const char *base, __m512 sw[8], __m512 mw[8]) {
  const __m512i dd = GATHER(idx, base, 0);
  const __m512 d = half_lo(dd), dmin = half_lo(_mm512_srli_epi32(dd, 16));
  const __m512i u0 = GATHER(idx, base, 4), u1 = GATHER(idx, base, 8), u2 = GATHER(idx, base, 12);
  const __m512i km1 = _mm512_set1_epi32(0x3f3f3f3f), km2 = _mm512_set1_epi32(0x0f0f0f0f),
                km3 = _mm512_set1_epi32(0x03030303);
  const __m512i sc_lo = _mm512_and_si512(u0, km1);
  const __m512i mn_lo = _mm512_and_si512(u1, km1);
  const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(u2, km2),
                                        _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), km3), 4));
  const __m512i mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), km2),
                                        _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), km3), 4));
  const __m512 nd = _mm512_sub_ps(_mm512_setzero_ps(), dmin);
  const __m512i ff = _mm512_set1_epi32(0xFF);
  for (int g = 0; g < 8; ++g) {
    const __m512i sv = g < 4 ? sc_lo : sc_hi, mv = g < 4 ? mn_lo : mn_hi;
    const int sh = 8 * (g % 4);
    sw[g] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(sv, sh), ff)));
    mw[g] = _mm512_mul_ps(nd, _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(mv, sh), ff)));
  }
}

// Group stride of the min types: 512 weight bytes, 16 scales, 16 offsets.
#define KSTRIDE (32 * 16 + 128)

// q4_K (144 B: d, dmin, scales[12], qs[128]): groups 2j / 2j+1 are the low / high nibbles of
// qs[32j..32j+31].
VNNI_ATTR static void repack_q4_K(const char *x, size_t ldX, int rows, int nb, uint8_t *panel) {
  const __m512i idx = row_offsets(rows, ldX), m4 = _mm512_set1_epi8(0x0F);
  for (int b = 0; b < nb; ++b, panel += 8 * KSTRIDE) {
    const char *base = x + (size_t)b * sizeof(block_q4_K);
    __m512 sw[8], mw[8];
    k4_group_scales(idx, base, sw, mw);
    for (int j = 0; j < 4; ++j) {
      uint8_t *lo = panel + (2 * j) * KSTRIDE, *hi = lo + KSTRIDE;
      for (int s = 0; s < 8; ++s) {
        const __m512i g = GATHER(idx, base, 16 + 32 * j + 4 * s);
        STORE_Q(lo, s, _mm512_and_si512(g, m4));
        STORE_Q(hi, s, _mm512_and_si512(_mm512_srli_epi32(g, 4), m4));
      }
      STORE_F(lo + 512, sw[2 * j]);
      STORE_F(lo + 576, mw[2 * j]);
      STORE_F(hi + 512, sw[2 * j + 1]);
      STORE_F(hi + 576, mw[2 * j + 1]);
    }
  }
}

// q5_K (176 B: d, dmin, scales[12], qh[32], qs[128]): as q4_K plus the fifth bits, bit 2j (group 2j)
// and 2j+1 (group 2j+1) of qh[i] for value i of the group.
VNNI_ATTR static void repack_q5_K(const char *x, size_t ldX, int rows, int nb, uint8_t *panel) {
  const __m512i idx = row_offsets(rows, ldX), m4 = _mm512_set1_epi8(0x0F), b1 = _mm512_set1_epi8(1);
  for (int b = 0; b < nb; ++b, panel += 8 * KSTRIDE) {
    const char *base = x + (size_t)b * sizeof(block_q5_K);
    __m512 sw[8], mw[8];
    k4_group_scales(idx, base, sw, mw);
    __m512i qh[8];
    for (int s = 0; s < 8; ++s) qh[s] = GATHER(idx, base, 16 + 4 * s);
    for (int j = 0; j < 4; ++j) {
      uint8_t *lo = panel + (2 * j) * KSTRIDE, *hi = lo + KSTRIDE;
      for (int s = 0; s < 8; ++s) {
        const __m512i g = GATHER(idx, base, 48 + 32 * j + 4 * s);
        const __m512i hlo = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[s], 2 * j), b1), 4);
        const __m512i hhi = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[s], 2 * j + 1), b1), 4);
        STORE_Q(lo, s, _mm512_or_si512(_mm512_and_si512(g, m4), hlo));
        STORE_Q(hi, s, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(g, 4), m4), hhi));
      }
      STORE_F(lo + 512, sw[2 * j]);
      STORE_F(lo + 576, mw[2 * j]);
      STORE_F(hi + 512, sw[2 * j + 1]);
      STORE_F(hi + 576, mw[2 * j + 1]);
    }
  }
}

// q6_K (210 B: ql[128], qh[64], scales[16], d): 16 groups of 16; value 128h + 32q + l is
// (ql[64h + 32(q&1) + l] nibble q>>1) | (qh[32h + l] bits 2q..2q+1) << 4, u = value + 32.
#define Q6STRIDE (16 * 16 + 64)
VNNI_ATTR static void repack_q6_K(const char *x, size_t ldX, int rows, int nb, uint8_t *panel) {
  const __m512i idx = row_offsets(rows, ldX), m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
  for (int b = 0; b < nb; ++b, panel += 16 * Q6STRIDE) {
    const char *base = x + (size_t)b * sizeof(block_q6_K);
    const __m512 d = half_lo(_mm512_srli_epi32(GATHER(idx, base, 206), 16));
    for (int i = 0; i < 4; ++i) {
      const __m512i sc = GATHER(idx, base, 192 + 4 * i);
      for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_srai_epi32(_mm512_slli_epi32(sc, 24 - 8 * k), 24);
        STORE_F(panel + (4 * i + k) * Q6STRIDE + 256, _mm512_mul_ps(d, _mm512_cvtepi32_ps(v)));
      }
    }
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < 8; ++t) {
        const __m512i qh = GATHER(idx, base, 128 + 32 * h + 4 * t);
        const __m512i l0 = GATHER(idx, base, 64 * h + 4 * t), l1 = GATHER(idx, base, 64 * h + 32 + 4 * t);
        for (int q = 0; q < 4; ++q) {
          const __m512i l = q & 1 ? l1 : l0;
          const __m512i lo = _mm512_and_si512(q >> 1 ? _mm512_srli_epi32(l, 4) : l, m4);
          const __m512i hi = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh, 2 * q), m3), 4);
          const int g = 8 * h + 2 * q + t / 4;
          STORE_Q(panel + g * Q6STRIDE, t % 4, _mm512_or_si512(lo, hi));
        }
      }
  }
}

// ---- Activation side: per column and group, the scale and the offset term ----

// q8_0 activations, groups of 32: d, and −K·Σy.
VNNI_INL void act_q8_0(int n, int nc, const void *y, size_t ldY, qk_gemm_act *info, int K) {
  const int nb = n / 32;
  const __m256i ones = _mm256_set1_epi8(1);
  for (int c = 0; c < nc; ++c) {
    const block_q8_0 *yb = (const block_q8_0 *)((const char *)y + (size_t)c * ldY);
    for (int b = 0; b < nb; ++b) {
      const __m256i q = _mm256_loadu_si256((const __m256i *)yb[b].qs);
      const int sum = qk_hsum_epi32_avx2(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, q));
      info[(size_t)c * nb + b] = (qk_gemm_act){qk_fp16_to_fp32(yb[b].d), -K * sum};
    }
  }
}

VNNI_ATTR static void act_k8(int n, int nc, const void *y, size_t ldY, qk_gemm_act *info) {
  act_q8_0(n, nc, y, ldY, info, 8);
}
VNNI_ATTR static void act_k16(int n, int nc, const void *y, size_t ldY, qk_gemm_act *info) {
  act_q8_0(n, nc, y, ldY, info, 16);
}
VNNI_ATTR static void act_k128(int n, int nc, const void *y, size_t ldY, qk_gemm_act *info) {
  act_q8_0(n, nc, y, ldY, info, 128);
}

// q8_K activations, groups of 32 (min types): d, and d·Σy as f32 bits.
static void act_q8_K_min32(int n, int nc, const void *y, size_t ldY, qk_gemm_act *info) {
  const int nb = n / QK_K;
  for (int c = 0; c < nc; ++c) {
    const block_q8_K *yb = (const block_q8_K *)((const char *)y + (size_t)c * ldY);
    for (int b = 0; b < nb; ++b)
      for (int g = 0; g < 8; ++g) {
        const float s = yb[b].d * (float)(yb[b].bsums[2 * g] + yb[b].bsums[2 * g + 1]);
        qk_gemm_act a = {yb[b].d, 0};
        memcpy(&a.c, &s, 4);
        info[(size_t)c * nb * 8 + 8 * b + g] = a;
      }
  }
}

// q8_K activations, groups of 16 (q6_K): d, and −32·Σy.
static void act_q8_K_k32(int n, int nc, const void *y, size_t ldY, qk_gemm_act *info) {
  const int nb = n / QK_K;
  for (int c = 0; c < nc; ++c) {
    const block_q8_K *yb = (const block_q8_K *)((const char *)y + (size_t)c * ldY);
    for (int b = 0; b < nb; ++b)
      for (int g = 0; g < 16; ++g) info[(size_t)c * nb * 16 + 16 * b + g] = (qk_gemm_act){yb[b].d, -32 * yb[b].bsums[g]};
  }
}

// ---- The micro-kernel: one 16-row panel × MC columns ----
// G: values per group; MIN: offsets in f32 (else the int32 start −K·Σy); YB/QO/GPB: the activation
// block's bytes, its qs offset and groups per block.
VNNI_INL void gemm_micro(const int MC, const int G, const int MIN, const int YB, const int QO, const int GPB,
                         int ng, const uint8_t *panel, const char *y, size_t ldY, const qk_gemm_act *info,
                         float *s, size_t ldS, __mmask16 mask) {
  const size_t gstride = (size_t)16 * G + (MIN ? 128 : 64);
  __m512 f[8];
  QK_UNROLL for (int c = 0; c < MC; ++c) f[c] = _mm512_setzero_ps();
  for (int g = 0; g < ng; ++g) {
    const uint8_t *pq = panel + (size_t)g * gstride;
    const size_t yoff = (size_t)(g / GPB) * YB + QO + (size_t)(g % GPB) * G;
    __m512i acc[8];
    QK_UNROLL for (int c = 0; c < MC; ++c)
      acc[c] = MIN ? _mm512_setzero_si512() : _mm512_set1_epi32(info[(size_t)c * ng + g].c);
    QK_UNROLL for (int st = 0; st < G / 4; ++st) {
      const __m512i a = _mm512_load_si512((const void *)(pq + 64 * st));
      QK_UNROLL for (int c = 0; c < MC; ++c) {
        int32_t v;
        memcpy(&v, y + (size_t)c * ldY + yoff + 4 * st, 4);
        acc[c] = _mm512_dpbusd_epi32(acc[c], a, _mm512_set1_epi32(v));
      }
    }
    const __m512 sw = _mm512_load_ps((const void *)(pq + 16 * G));
    QK_UNROLL for (int c = 0; c < MC; ++c) {
      const __m512 d = _mm512_mul_ps(sw, _mm512_set1_ps(info[(size_t)c * ng + g].d));
      f[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[c]), d, f[c]);
    }
    if (MIN) {
      const __m512 mw = _mm512_load_ps((const void *)(pq + 16 * G + 64));
      QK_UNROLL for (int c = 0; c < MC; ++c) {
        float o;
        memcpy(&o, &info[(size_t)c * ng + g].c, 4);
        f[c] = _mm512_fmadd_ps(mw, _mm512_set1_ps(o), f[c]);
      }
    }
  }
  QK_UNROLL for (int c = 0; c < MC; ++c) _mm512_mask_storeu_ps(s + (size_t)c * ldS, mask, f[c]);
}

#define GEMM_MC 8

// The repack gathers across 16 rows, a pattern the hardware prefetchers do not follow: the next
// strip's rows are requested while this strip's columns are computed (thousands of cycles), so its
// repack reads from cache instead of waiting on memory 16 rows at a time.
static inline void prefetch_strip(const char *x, size_t ldX, int rows, size_t rowBytes) {
  for (int r = 0; r < rows; ++r)
    for (size_t o = 0; o < rowBytes; o += 64) __builtin_prefetch(x + (size_t)r * ldX + o);
}

// The gemm entry of one type: strips of 16 rows repacked into the per-thread panel, then the
// columns in groups of GEMM_MC (the last group with its own compile-time width).
#define QK_GEMM(NAME, REPACK, WBLK, WPER, G, MIN, YB, QO, GPB)                                                \
  VNNI_ATTR static void NAME(int n, int nr, int nc, const void *x, size_t ldX, const void *y, size_t ldY,   \
                             const qk_gemm_act *info, float *s, size_t ldS) {                               \
    const int nb = n / (WPER), ng = n / (G);                                                                \
    const size_t gstride = (size_t)16 * (G) + ((MIN) ? 128 : 64);                                           \
    uint8_t *panel = panel_scratch((size_t)ng * gstride);                                                   \
    if (!panel) {                                                                                           \
      for (int c = 0; c < nc; ++c)                                                                          \
        for (int r = 0; r < nr; ++r) s[(size_t)c * ldS + r] = __builtin_nanf("");                           \
      return;                                                                                               \
    }                                                                                                       \
    for (int r0 = 0; r0 < nr; r0 += 16) {                                                                   \
      const int rows = nr - r0 < 16 ? nr - r0 : 16;                                                         \
      REPACK((const char *)x + (size_t)r0 * ldX, ldX, rows, nb, panel);                                     \
      if (r0 + 16 < nr) prefetch_strip((const char *)x + (size_t)(r0 + 16) * ldX, ldX,                      \
                                       nr - r0 - 16 < 16 ? nr - r0 - 16 : 16, (size_t)nb * sizeof(WBLK));   \
      const __mmask16 mask = (__mmask16)((1u << rows) - 1);                                                 \
      for (int c0 = 0; c0 < nc; c0 += GEMM_MC) {                                                            \
        const char *yc = (const char *)y + (size_t)c0 * ldY;                                                \
        const qk_gemm_act *ic = info + (size_t)c0 * ng;                                                     \
        float *sc = s + (size_t)c0 * ldS + r0;                                                              \
        switch (nc - c0 < GEMM_MC ? nc - c0 : GEMM_MC) {                                                    \
          case 1: gemm_micro(1, G, MIN, YB, QO, GPB, ng, panel, yc, ldY, ic, sc, ldS, mask); break;         \
          case 2: gemm_micro(2, G, MIN, YB, QO, GPB, ng, panel, yc, ldY, ic, sc, ldS, mask); break;         \
          case 3: gemm_micro(3, G, MIN, YB, QO, GPB, ng, panel, yc, ldY, ic, sc, ldS, mask); break;         \
          case 4: gemm_micro(4, G, MIN, YB, QO, GPB, ng, panel, yc, ldY, ic, sc, ldS, mask); break;         \
          case 5: gemm_micro(5, G, MIN, YB, QO, GPB, ng, panel, yc, ldY, ic, sc, ldS, mask); break;         \
          case 6: gemm_micro(6, G, MIN, YB, QO, GPB, ng, panel, yc, ldY, ic, sc, ldS, mask); break;         \
          case 7: gemm_micro(7, G, MIN, YB, QO, GPB, ng, panel, yc, ldY, ic, sc, ldS, mask); break;         \
          default: gemm_micro(8, G, MIN, YB, QO, GPB, ng, panel, yc, ldY, ic, sc, ldS, mask); break;        \
        }                                                                                                   \
      }                                                                                                     \
    }                                                                                                       \
  }

QK_GEMM(gemm_q4_0, repack_q4_0, block_q4_0, 32, 32, 0, sizeof(block_q8_0), 2, 1)
QK_GEMM(gemm_q5_0, repack_q5_0, block_q5_0, 32, 32, 0, sizeof(block_q8_0), 2, 1)
QK_GEMM(gemm_q8_0, repack_q8_0, block_q8_0, 32, 32, 0, sizeof(block_q8_0), 2, 1)
QK_GEMM(gemm_iq4_nl, repack_iq4_nl, block_iq4_nl, 32, 32, 0, sizeof(block_q8_0), 2, 1)
QK_GEMM(gemm_q4_K, repack_q4_K, block_q4_K, QK_K, 32, 1, sizeof(block_q8_K), 4, 8)
QK_GEMM(gemm_q5_K, repack_q5_K, block_q5_K, QK_K, 32, 1, sizeof(block_q8_K), 4, 8)
QK_GEMM(gemm_q6_K, repack_q6_K, block_q6_K, QK_K, 16, 0, sizeof(block_q8_K), 4, 16)

static void set_gemm(qk_kernel_table *t, int type, qk_gemm_fn fn, qk_gemm_act_fn act, int group) {
  t->gemm[type] = fn;
  t->gemm_act[type] = act;
  t->gemm_group[type] = group;
}

void qk_fill_gemm_vnni(qk_kernel_table *t) {
  set_gemm(t, QK_TYPE_Q4_0, gemm_q4_0, act_k8, 32);
  set_gemm(t, QK_TYPE_Q5_0, gemm_q5_0, act_k16, 32);
  set_gemm(t, QK_TYPE_Q8_0, gemm_q8_0, act_k128, 32);
  set_gemm(t, QK_TYPE_IQ4_NL, gemm_iq4_nl, act_k128, 32);
  set_gemm(t, QK_TYPE_Q4_K, gemm_q4_K, act_q8_K_min32, 32);
  set_gemm(t, QK_TYPE_Q5_K, gemm_q5_K, act_q8_K_min32, 32);
  set_gemm(t, QK_TYPE_Q6_K, gemm_q6_K, act_q8_K_k32, 16);
}

#endif
