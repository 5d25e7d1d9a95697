// Portable C integer dots of the i-quants (iq1_s, iq1_m, iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s) and
// the ternary types (tq1_0, tq2_0) against q8_K, in ggml's x86 summation order: the reference-order
// path the SIMD kernels (kernels_avx2_iq.c) are tested against bit for bit.
//
// ggml's AVX2 ggml_vec_dot_<type>_q8_K (arch/x86/quants.c, built by GCC as llama.cpp's x86 CPU
// backend is) keeps 8 float lanes. Per super-block, int32 lane l is the exact integer sum, over the
// eight 32-value chunks c, of scale·w·y for values 32c + 4l .. 32c + 4l + 3 (maddubs + madd order);
// then lane l += d_x·d_y · (float)lane, one FMA per super-block, and the result is
// factor · hsum_float_8 (factor 1/8 for the iq2 types, 1/4 for iq3_xxs, 1 for iq3_s). Differences
// per type:
// - iq1_s: the delta term Σ_chunk ±ls·(bsum 2c + bsum 2c+1) is a scalar int per super-block,
//   accumulated as s = fma(d_x·d_y, (float)int, s); result hsum + 1/8 · s.
// - iq1_m: a second set of 8 lanes holds Σ scale·(±1)·y (the delta signs); result
//   hsum(lanes) + 1/8 · hsum(delta lanes).
// - tq1_0, tq2_0: weights stay unsigned (0, 1, 2); lane l subtracts q8_K's bsums 2l and 2l+1, and
//   the lane update is one FMA of (float)lane and d_x·d_y (GCC contracts ggml's mul + add).
#include <math.h>

#include "iq_tables.h"
#include "kernels_iq.h"

// ---- unpacking: 256 integer weights, an integer scale per 16 values, delta signs per 8 ----

typedef struct {
  int8_t q[QK_K];  // signed weights (grid value · sign); tq: unsigned 0..2
  int16_t sc[16];  // integer scale of values 16g .. 16g + 15 (2·ls + 1; tq: 1)
  int8_t dl[32];   // iq1_s / iq1_m: delta sign (±1) of values 8g .. 8g + 7
  float d;
} prepIQ;

static QK_ALWAYS_INLINE void put_signed8(int8_t *q, const uint8_t *grid, uint8_t signs) {
  for (int j = 0; j < 8; ++j) q[j] = (int8_t)((signs >> j) & 1 ? -grid[j] : grid[j]);
}

static QK_ALWAYS_INLINE void prep_iq2_xxs(prepIQ *p, const block_iq2_xxs *x) {
  for (int c = 0; c < 8; ++c) {
    uint32_t aux[2];
    memcpy(aux, x->qs + 4 * c, 8);
    const uint8_t *idx = (const uint8_t *)aux;
    for (int l = 0; l < 4; ++l)
      put_signed8(p->q + 32 * c + 8 * l, (const uint8_t *)(qk_iq2xxs_grid + idx[l]),
                  qk_ksigns_iq2xs[(aux[1] >> (7 * l)) & 127]);
    p->sc[2 * c] = p->sc[2 * c + 1] = (int16_t)(2 * (aux[1] >> 28) + 1);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_iq2_xs(prepIQ *p, const block_iq2_xs *x) {
  for (int c = 0; c < 8; ++c) {
    for (int l = 0; l < 4; ++l) {
      const uint16_t v = x->qs[4 * c + l];
      put_signed8(p->q + 32 * c + 8 * l, (const uint8_t *)(qk_iq2xs_grid + (v & 511)), qk_ksigns_iq2xs[v >> 9]);
    }
    p->sc[2 * c] = (int16_t)(2 * (x->scales[c] & 0xF) + 1);
    p->sc[2 * c + 1] = (int16_t)(2 * (x->scales[c] >> 4) + 1);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_iq2_s(prepIQ *p, const block_iq2_s *x) {
  const uint8_t *signs = x->qs + QK_K / 8;
  for (int c = 0; c < 8; ++c) {
    for (int l = 0; l < 4; ++l) {
      const int idx = x->qs[4 * c + l] | ((x->qh[c] << (8 - 2 * l)) & 0x300);
      put_signed8(p->q + 32 * c + 8 * l, (const uint8_t *)(qk_iq2s_grid + idx), signs[4 * c + l]);
    }
    p->sc[2 * c] = (int16_t)(2 * (x->scales[c] & 0xF) + 1);
    p->sc[2 * c + 1] = (int16_t)(2 * (x->scales[c] >> 4) + 1);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_iq3_xxs(prepIQ *p, const block_iq3_xxs *x) {
  const uint8_t *gas = x->qs + QK_K / 4;
  for (int c = 0; c < 8; ++c) {
    uint32_t aux;
    memcpy(&aux, gas + 4 * c, 4);
    for (int l = 0; l < 4; ++l) {
      uint8_t grid[8];
      memcpy(grid, qk_iq3xxs_grid + x->qs[8 * c + 2 * l], 4);
      memcpy(grid + 4, qk_iq3xxs_grid + x->qs[8 * c + 2 * l + 1], 4);
      put_signed8(p->q + 32 * c + 8 * l, grid, qk_ksigns_iq2xs[(aux >> (7 * l)) & 127]);
    }
    p->sc[2 * c] = p->sc[2 * c + 1] = (int16_t)(2 * (aux >> 28) + 1);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_iq3_s(prepIQ *p, const block_iq3_s *x) {
  for (int c = 0; c < 8; ++c) {
    for (int l = 0; l < 4; ++l) {
      uint8_t grid[8];
      for (int h = 0; h < 2; ++h) {
        const int k = 2 * l + h;
        const int idx = x->qs[8 * c + k] | ((x->qh[c] << (8 - k)) & 256);
        memcpy(grid + 4 * h, qk_iq3s_grid + idx, 4);
      }
      put_signed8(p->q + 32 * c + 8 * l, grid, x->signs[4 * c + l]);
    }
    const int ls = (x->scales[c / 2] >> (4 * (c % 2))) & 0xF;
    p->sc[2 * c] = p->sc[2 * c + 1] = (int16_t)(2 * ls + 1);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_iq1_s(prepIQ *p, const block_iq1_s *x) {
  for (int c = 0; c < 8; ++c) {
    const uint16_t h = x->qh[c];
    for (int l = 0; l < 4; ++l) {
      const int8_t *grid = (const int8_t *)(qk_iq1s_grid + (x->qs[4 * c + l] | (((h >> (3 * l)) & 7) << 8)));
      memcpy(p->q + 32 * c + 8 * l, grid, 8);
      p->dl[4 * c + l] = (int8_t)(h & 0x8000 ? -1 : 1);
    }
    p->sc[2 * c] = p->sc[2 * c + 1] = (int16_t)(2 * ((h >> 12) & 7) + 1);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_iq1_m(prepIQ *p, const block_iq1_m *x) {
  uint16_t sc[4];
  memcpy(sc, x->scales, 8);
  const uint16_t d16 =
      (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
  for (int c = 0; c < 8; ++c) {
    for (int l = 0; l < 4; ++l) {
      const uint8_t h = (uint8_t)(x->qh[2 * c + l / 2] >> (4 * (l % 2)));
      const int8_t *grid = (const int8_t *)(qk_iq1s_grid + (x->qs[4 * c + l] | ((h & 7) << 8)));
      memcpy(p->q + 32 * c + 8 * l, grid, 8);
      p->dl[4 * c + l] = (int8_t)(h & 8 ? -1 : 1);
    }
    p->sc[2 * c] = (int16_t)(2 * ((sc[c / 2] >> (6 * (c % 2))) & 7) + 1);
    p->sc[2 * c + 1] = (int16_t)(2 * ((sc[c / 2] >> (6 * (c % 2) + 3)) & 7) + 1);
  }
  p->d = qk_fp16_to_fp32(d16);
}

// Ternary digit n of a base-3 packed byte (ggml's ((uint8_t)(q·3^n) · 3) >> 8): 0, 1 or 2.
static QK_ALWAYS_INLINE int8_t trit(uint8_t q, int n) {
  static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};
  return (int8_t)(((uint16_t)(uint8_t)(q * pow3[n]) * 3) >> 8);
}

static QK_ALWAYS_INLINE void prep_tq1_0(prepIQ *p, const block_tq1_0 *x) {
  for (int n = 0; n < 5; ++n)
    for (int m = 0; m < 32; ++m) p->q[32 * n + m] = trit(x->qs[m], n);
  for (int n = 0; n < 5; ++n)
    for (int m = 0; m < 16; ++m) p->q[160 + 16 * n + m] = trit(x->qs[32 + m], n);
  for (int n = 0; n < 4; ++n)
    for (int j = 0; j < 4; ++j) p->q[240 + 4 * n + j] = trit(x->qh[j], n);
  for (int g = 0; g < 16; ++g) p->sc[g] = 1;
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_tq2_0(prepIQ *p, const block_tq2_0 *x) {
  for (int j = 0; j < 64; j += 32)
    for (int l = 0; l < 4; ++l)
      for (int m = 0; m < 32; ++m) p->q[4 * j + 32 * l + m] = (int8_t)((x->qs[j + m] >> (2 * l)) & 3);
  for (int g = 0; g < 16; ++g) p->sc[g] = 1;
  p->d = qk_fp16_to_fp32(x->d);
}

// ---- ggml's lanes ----

typedef struct { float v[8]; } lanes8;
typedef struct { lanes8 a, b; float s; } accIQ;  // lanes, iq1_m's delta lanes, iq1_s's delta sum

static QK_ALWAYS_INLINE accIQ zero_iq(void) { return (accIQ){{{0}}, {{0}}, 0.0f}; }

// ggml's hsum_float_8.
static QK_ALWAYS_INLINE float hsum8(lanes8 a) {
  const float s0 = a.v[0] + a.v[4], s1 = a.v[1] + a.v[5], s2 = a.v[2] + a.v[6], s3 = a.v[3] + a.v[7];
  return (s0 + s2) + (s1 + s3);
}

// Int32 lane l of a super-block: Σ_c Σ_{b = 4l}^{4l+3} sc·q·y over value 32c + b.
static QK_ALWAYS_INLINE int lane_sum(const prepIQ *p, const int8_t *y, int l) {
  int s = 0;
  for (int c = 0; c < 8; ++c)
    for (int b = 4 * l; b < 4 * l + 4; ++b) {
      const int e = 32 * c + b;
      s += p->sc[e / 16] * (p->q[e] * y[e]);
    }
  return s;
}

static QK_ALWAYS_INLINE accIQ dot_iq(const prepIQ *p, const block_q8_K *y, accIQ acc) {
  const float d = p->d * y->d;
  for (int l = 0; l < 8; ++l) acc.a.v[l] = fmaf(d, (float)lane_sum(p, y->qs, l), acc.a.v[l]);
  return acc;
}

static QK_ALWAYS_INLINE accIQ dot_iq1_s(const prepIQ *p, const block_q8_K *y, accIQ acc) {
  acc = dot_iq(p, y, acc);
  int delta = 0;
  for (int c = 0; c < 8; ++c) delta += (y->bsums[2 * c] + y->bsums[2 * c + 1]) * p->dl[4 * c] * p->sc[2 * c];
  acc.s = fmaf(p->d * y->d, (float)delta, acc.s);
  return acc;
}

static QK_ALWAYS_INLINE accIQ dot_iq1_m(const prepIQ *p, const block_q8_K *y, accIQ acc) {
  acc = dot_iq(p, y, acc);
  const float d = p->d * y->d;
  for (int l = 0; l < 8; ++l) {
    int s = 0;
    for (int c = 0; c < 8; ++c)
      for (int b = 4 * l; b < 4 * l + 4; ++b) {
        const int e = 32 * c + b;
        s += p->sc[e / 16] * (p->dl[e / 8] * y->qs[e]);
      }
    acc.b.v[l] = fmaf(d, (float)s, acc.b.v[l]);
  }
  return acc;
}

static QK_ALWAYS_INLINE accIQ dot_tq(const prepIQ *p, const block_q8_K *y, accIQ acc) {
  const float d = p->d * y->d;
  for (int l = 0; l < 8; ++l) {
    const int s = lane_sum(p, y->qs, l) - y->bsums[2 * l] - y->bsums[2 * l + 1];
    acc.a.v[l] = fmaf((float)s, d, acc.a.v[l]);
  }
  return acc;
}

static QK_ALWAYS_INLINE float fin_1(accIQ a) { return hsum8(a.a); }
static QK_ALWAYS_INLINE float fin_8th(accIQ a) { return 0.125f * hsum8(a.a); }
static QK_ALWAYS_INLINE float fin_4th(accIQ a) { return 0.25f * hsum8(a.a); }
static QK_ALWAYS_INLINE float fin_iq1_s(accIQ a) { return hsum8(a.a) + 0.125f * a.s; }
static QK_ALWAYS_INLINE float fin_iq1_m(accIQ a) { return hsum8(a.a) + 0.125f * hsum8(a.b); }

#define IQ_SCALAR(T, DOT, FIN)                                                                          \
  QK_DEFINE_TILE(T##_q8_K_scalar, , block_##T, block_q8_K, QK_K, prepIQ, accIQ, prep_##T, zero_iq, DOT, FIN, \
                 QK_NO_TAIL, 2, 2)
IQ_SCALAR(iq2_xxs, dot_iq, fin_8th)
IQ_SCALAR(iq2_xs, dot_iq, fin_8th)
IQ_SCALAR(iq2_s, dot_iq, fin_8th)
IQ_SCALAR(iq3_xxs, dot_iq, fin_4th)
IQ_SCALAR(iq3_s, dot_iq, fin_1)
IQ_SCALAR(iq1_s, dot_iq1_s, fin_iq1_s)
IQ_SCALAR(iq1_m, dot_iq1_m, fin_iq1_m)
IQ_SCALAR(tq1_0, dot_tq, fin_1)
IQ_SCALAR(tq2_0, dot_tq, fin_1)

void qk_fill_scalar_iq(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_SCALAR;
  qk_set(t, QK_TYPE_IQ2_XXS, iq2_xxs_q8_K_scalar_vec_dot, iq2_xxs_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ2_XS, iq2_xs_q8_K_scalar_vec_dot, iq2_xs_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ2_S, iq2_s_q8_K_scalar_vec_dot, iq2_s_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ3_XXS, iq3_xxs_q8_K_scalar_vec_dot, iq3_xxs_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ3_S, iq3_s_q8_K_scalar_vec_dot, iq3_s_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ1_S, iq1_s_q8_K_scalar_vec_dot, iq1_s_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ1_M, iq1_m_q8_K_scalar_vec_dot, iq1_m_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_TQ1_0, tq1_0_q8_K_scalar_vec_dot, tq1_0_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_TQ2_0, tq2_0_q8_K_scalar_vec_dot, tq2_0_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
}
