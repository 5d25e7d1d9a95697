// Portable C kernels: every type, the activation quantizers (ggml's x86 ones, byte for byte), dense
// dots and the streaming read. The legacy types, q4_K and q6_K sum exactly as ggml's x86 kernels do
// (cpu_kernels.h). The other ISAs fall back to these entries.
#include <math.h>

#include "kernels_scalar_prep.h"

// ---- activation quantizers (ggml's quantize_row_q8_0_ref / _q8_1_ref / _q8_K_ref) ----

// ggml's x86 activation quantizer (quantize_row_q8_0 / _q8_1 in ggml-cpu/arch/x86/quants.c): the
// multiplier is 127/amax (not 1/d) and rintf rounds half to even, as _mm256_round_ps does.
static QK_ALWAYS_INLINE float q8_block(const float *x, int8_t *qs, int *sum) {
  float amax = 0.0f;
  for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int s = 0;
  for (int j = 0; j < 32; j++) {
    qs[j] = (int8_t)rintf(x[j] * id);
    s += qs[j];
  }
  *sum = s;
  return d;
}

static void quantize_row_q8_0_scalar(const float *x, void *vy, int64_t k) {
  block_q8_0 *y = vy;
  for (int64_t i = 0; i < k / QK8_0; i++) {
    int sum;
    y[i].d = qk_fp32_to_fp16(q8_block(x + i * QK8_0, y[i].qs, &sum));
  }
}

static void quantize_row_q8_1_scalar(const float *x, void *vy, int64_t k) {
  block_q8_1 *y = vy;
  for (int64_t i = 0; i < k / QK8_1; i++) {
    int sum;
    const float d = q8_block(x + i * QK8_1, y[i].qs, &sum);
    y[i].d = qk_fp32_to_fp16(d);
    y[i].s = qk_fp32_to_fp16((float)sum * d);
  }
}

// ggml's nearest_int: round half to even through the 1.5 * 2^23 trick.
static inline int nearest_int(float fval) {
  float val = fval + 12582912.f;
  int i;
  memcpy(&i, &val, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}

static void quantize_row_q8_K_scalar(const float *x, void *vy, int64_t k) {
  block_q8_K *y = vy;
  for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
    float max = 0, amax = 0;
    for (int j = 0; j < QK_K; ++j) {
      const float ax = fabsf(x[j]);
      if (ax > amax) { amax = ax; max = x[j]; }
    }
    if (amax == 0.0f) {
      // ggml leaves bsums untouched here; zeros are their true value.
      memset(&y[i], 0, sizeof(block_q8_K));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; ++j) {
      const int v = nearest_int(iscale * x[j]);
      y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < QK_K / 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = (int16_t)sum;
    }
    y[i].d = 1 / iscale;
  }
}

// ---- 32-value blocks against q8_0 / q8_1 ----

static inline float zero_f(void) { return 0.0f; }
static inline float id_f(float a) { return a; }

// ggml's x86 summation (see cpu_kernels.h): 8 float lanes, each the int sum of 4 consecutive
// products, one FMA per block with d_x·d_y; hsum_float_8 at the end.
typedef struct { float v[8]; } lanes8;

static QK_ALWAYS_INLINE lanes8 zero_l8(void) { return (lanes8){{0}}; }

static QK_ALWAYS_INLINE float hsum_l8(lanes8 a) {
  const float s0 = a.v[0] + a.v[4], s1 = a.v[1] + a.v[5], s2 = a.v[2] + a.v[6], s3 = a.v[3] + a.v[7];
  const float t0 = s0 + s2, t1 = s1 + s3;
  return t0 + t1;
}

static QK_ALWAYS_INLINE lanes8 fma_lanes4(const int8_t *q, const int8_t *y, float d, lanes8 acc) {
  for (int l = 0; l < 8; ++l) {
    int s = 0;
    for (int j = 0; j < 4; ++j) s += q[4 * l + j] * y[4 * l + j];
    acc.v[l] = fmaf(d, (float)s, acc.v[l]);
  }
  return acc;
}

static QK_ALWAYS_INLINE lanes8 dot_sym_q8_0(const prep32 *p, const block_q8_0 *y, lanes8 acc) {
  const float d = p->d * qk_fp16_to_fp32(y->d);
  return fma_lanes4(p->q, y->qs, d, acc);
}

// q4_1 / q5_1 against q8_1: the lanes as above, plus ggml's scalar running sum of m_x·s_y.
typedef struct { lanes8 l; float s; } lanes8_min;

static QK_ALWAYS_INLINE lanes8_min zero_l8m(void) { return (lanes8_min){{{0}}, 0.0f}; }
static QK_ALWAYS_INLINE float hsum_l8m(lanes8_min a) { return hsum_l8(a.l) + a.s; }

static QK_ALWAYS_INLINE lanes8_min dot_min_q8_1(const prep32 *p, const block_q8_1 *y, lanes8_min acc) {
  const float d = p->d * qk_fp16_to_fp32(y->d);
  acc.l = fma_lanes4(p->q, y->qs, d, acc.l);
  const float ms = p->m * qk_fp16_to_fp32(y->s);
  acc.s = acc.s + ms;
  return acc;
}

#define SC_ATTR
QK_DEFINE_TILE(q4_0_q8_0_scalar, SC_ATTR, block_q4_0, block_q8_0, 32, prep32, lanes8, prep_q4_0, zero_l8,
               dot_sym_q8_0, hsum_l8, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q4_1_q8_1_scalar, SC_ATTR, block_q4_1, block_q8_1, 32, prep32, lanes8_min, prep_q4_1, zero_l8m,
               dot_min_q8_1, hsum_l8m, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q5_0_q8_0_scalar, SC_ATTR, block_q5_0, block_q8_0, 32, prep32, lanes8, prep_q5_0, zero_l8,
               dot_sym_q8_0, hsum_l8, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q5_1_q8_1_scalar, SC_ATTR, block_q5_1, block_q8_1, 32, prep32, lanes8_min, prep_q5_1, zero_l8m,
               dot_min_q8_1, hsum_l8m, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q8_0_q8_0_scalar, SC_ATTR, block_q8_0, block_q8_0, 32, prep32, lanes8, prep_q8_0, zero_l8,
               dot_sym_q8_0, hsum_l8, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(iq4_nl_q8_0_scalar, SC_ATTR, block_iq4_nl, block_q8_0, 32, prep32, lanes8, prep_iq4_nl, zero_l8,
               dot_sym_q8_0, hsum_l8, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(mxfp4_q8_0_scalar, SC_ATTR, block_mxfp4, block_q8_0, 32, prep32, lanes8, prep_mxfp4, zero_l8,
               dot_sym_q8_0, hsum_l8, QK_NO_TAIL, 4, 2)

// ---- 256-value super-blocks against q8_K ----
// Every K-type unpacks to: 256 integer weights, a scale per 16 values, and a multiplier per 16 values
// for q8_K's bsums (the mins / offsets term), so one dot serves them all.

static QK_ALWAYS_INLINE float dot_K(const prepK *p, const block_q8_K *y, float acc) {
  int sumi = 0, bias = 0;
  for (int g = 0; g < 16; ++g) {
    int s = 0;
    for (int l = 0; l < 16; ++l) s += p->q[16 * g + l] * y->qs[16 * g + l];
    sumi += p->sc[g] * s;
    bias += p->mb[g] * y->bsums[g];
  }
  return acc + (p->d * y->d) * (float)sumi + (p->dm * y->d) * (float)bias;
}

QK_DEFINE_TILE(q2_K_q8_K_scalar, SC_ATTR, block_q2_K, block_q8_K, QK_K, prepK, float, prep_q2_K, zero_f, dot_K,
               id_f, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q3_K_q8_K_scalar, SC_ATTR, block_q3_K, block_q8_K, QK_K, prepK, float, prep_q3_K, zero_f, dot_K,
               id_f, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q5_K_q8_K_scalar, SC_ATTR, block_q5_K, block_q8_K, QK_K, prepK, float, prep_q5_K, zero_f, dot_K,
               id_f, QK_NO_TAIL, 2, 2)

// q6_K as ggml's AVX2 ggml_vec_dot_q6_K_q8_K: lane l of a super-block is the int32 sum over the 8
// 32-value chunks of scale·u·y for values 4l..4l+3 of each chunk (u = q + 32, unsigned) minus
// 32·Σ scale·bsum of 16-value groups 2l and 2l+1; one FMA per lane per super-block.
static QK_ALWAYS_INLINE lanes8 dot_q6_K_lanes(const prepK *p, const block_q8_K *y, lanes8 acc) {
  const float d = y->d * p->d;
  for (int l = 0; l < 8; ++l) {
    int s = 0;
    for (int c = 0; c < 8; ++c)
      for (int b = 4 * l; b < 4 * l + 4; ++b) {
        const int e = 32 * c + b;
        s += p->sc[e / 16] * ((p->q[e] + 32) * y->qs[e]);
      }
    s -= 32 * (p->sc[2 * l] * y->bsums[2 * l] + p->sc[2 * l + 1] * y->bsums[2 * l + 1]);
    acc.v[l] = fmaf(d, (float)s, acc.v[l]);
  }
  return acc;
}

QK_DEFINE_TILE(q6_K_q8_K_scalar, SC_ATTR, block_q6_K, block_q8_K, QK_K, prepK, lanes8, prep_q6_K, zero_l8,
               dot_q6_K_lanes, hsum_l8, QK_NO_TAIL, 2, 2)

// q4_K as ggml's repacked q4_K_8x8 kernels: an integer sum and an integer min term per step (a
// super-block in its gemv, 64 values in its gemm), each folded in with one FMA; result acc − min.
typedef struct { float a, m; } acc_q4K;

static QK_ALWAYS_INLINE acc_q4K zero_q4K(void) { return (acc_q4K){0.0f, 0.0f}; }
static QK_ALWAYS_INLINE float fin_q4K(acc_q4K a) { return a.a - a.m; }

// Integer sums of values [64j, 64j + 64): scale·q·y and min·bsum (prep_q4_K's mb holds the mins,
// dm = −dmin).
static QK_ALWAYS_INLINE void q4K_sums64(const prepK *p, const block_q8_K *y, int j, int *sum, int *mins) {
  int s = 0, m = 0;
  for (int g = 4 * j; g < 4 * j + 4; ++g) {
    int t = 0;
    for (int l = 0; l < 16; ++l) t += p->q[16 * g + l] * y->qs[16 * g + l];
    s += p->sc[g] * t;
    m += p->mb[g] * y->bsums[g];
  }
  *sum = s;
  *mins = m;
}

static QK_ALWAYS_INLINE acc_q4K dot_q4K_gemv(const prepK *p, const block_q8_K *y, acc_q4K acc) {
  int s = 0, m = 0;
  for (int j = 0; j < 4; ++j) {
    int sj, mj;
    q4K_sums64(p, y, j, &sj, &mj);
    s += sj;
    m += mj;
  }
  acc.a = fmaf((float)s, p->d * y->d, acc.a);
  acc.m = fmaf((float)m, -p->dm * y->d, acc.m);
  return acc;
}

static QK_ALWAYS_INLINE acc_q4K dot_q4K_gemm(const prepK *p, const block_q8_K *y, acc_q4K acc) {
  const float d = p->d * y->d, dmin = -p->dm * y->d;
  for (int j = 0; j < 4; ++j) {
    int s, m;
    q4K_sums64(p, y, j, &s, &m);
    acc.a = fmaf((float)s, d, acc.a);
    acc.m = fmaf((float)m, dmin, acc.m);
  }
  return acc;
}

QK_DEFINE_TILE(q4_K_q8_K_scalar, SC_ATTR, block_q4_K, block_q8_K, QK_K, prepK, acc_q4K, prep_q4_K, zero_q4K,
               dot_q4K_gemv, fin_q4K, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q4_K_q8_K_g4_scalar, SC_ATTR, block_q4_K, block_q8_K, QK_K, prepK, acc_q4K, prep_q4_K, zero_q4K,
               dot_q4K_gemm, fin_q4K, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(iq4_xs_q8_K_scalar, SC_ATTR, block_iq4_xs, block_q8_K, QK_K, prepK, float, prep_iq4_xs, zero_f,
               dot_K, id_f, QK_NO_TAIL, 2, 2)

// ---- dense weights (f32, f16, bf16) against f32 activations, 8 values per step ----

typedef struct { float v[8]; } f32x8_blk;
typedef struct { uint16_t v[8]; } u16x8_blk;
typedef struct { float v[8]; } prepD;

static QK_ALWAYS_INLINE void prep_f32(prepD *p, const f32x8_blk *x) { memcpy(p->v, x->v, sizeof p->v); }
static QK_ALWAYS_INLINE void prep_f16(prepD *p, const u16x8_blk *x) {
  for (int j = 0; j < 8; ++j) p->v[j] = qk_fp16_to_fp32(x->v[j]);
}
static QK_ALWAYS_INLINE void prep_bf16(prepD *p, const u16x8_blk *x) {
  for (int j = 0; j < 8; ++j) p->v[j] = qk_bf16_to_fp32(x->v[j]);
}
static QK_ALWAYS_INLINE float dot_dense(const prepD *p, const f32x8_blk *y, float acc) {
  float s = 0.0f;
  for (int j = 0; j < 8; ++j) s += p->v[j] * y->v[j];
  return acc + s;
}
static QK_ALWAYS_INLINE float tail_f32(int rem, const f32x8_blk *x, const f32x8_blk *y) {
  float s = 0.0f;
  for (int j = 0; j < rem; ++j) s += x->v[j] * y->v[j];
  return s;
}
static QK_ALWAYS_INLINE float tail_f16(int rem, const u16x8_blk *x, const f32x8_blk *y) {
  float s = 0.0f;
  for (int j = 0; j < rem; ++j) s += qk_fp16_to_fp32(x->v[j]) * y->v[j];
  return s;
}
static QK_ALWAYS_INLINE float tail_bf16(int rem, const u16x8_blk *x, const f32x8_blk *y) {
  float s = 0.0f;
  for (int j = 0; j < rem; ++j) s += qk_bf16_to_fp32(x->v[j]) * y->v[j];
  return s;
}

QK_DEFINE_TILE(f32_f32_scalar, SC_ATTR, f32x8_blk, f32x8_blk, 8, prepD, float, prep_f32, zero_f, dot_dense, id_f,
               tail_f32, 4, 2)
QK_DEFINE_TILE(f16_f32_scalar, SC_ATTR, u16x8_blk, f32x8_blk, 8, prepD, float, prep_f16, zero_f, dot_dense, id_f,
               tail_f16, 4, 2)
QK_DEFINE_TILE(bf16_f32_scalar, SC_ATTR, u16x8_blk, f32x8_blk, 8, prepD, float, prep_bf16, zero_f, dot_dense,
               id_f, tail_bf16, 4, 2)

static float stream_sum_scalar(const float *x, size_t n) {
  float acc[8] = {0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += x[i + j];
  float s = 0.0f;
  for (; i < n; ++i) s += x[i];
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}

void qk_fill_scalar(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_SCALAR;
  qk_set(t, QK_TYPE_Q4_0, q4_0_q8_0_scalar_vec_dot, q4_0_q8_0_scalar_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q4_1, q4_1_q8_1_scalar_vec_dot, q4_1_q8_1_scalar_tile, QK_TYPE_Q8_1, I);
  qk_set(t, QK_TYPE_Q5_0, q5_0_q8_0_scalar_vec_dot, q5_0_q8_0_scalar_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q5_1, q5_1_q8_1_scalar_vec_dot, q5_1_q8_1_scalar_tile, QK_TYPE_Q8_1, I);
  qk_set(t, QK_TYPE_Q8_0, q8_0_q8_0_scalar_vec_dot, q8_0_q8_0_scalar_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_IQ4_NL, iq4_nl_q8_0_scalar_vec_dot, iq4_nl_q8_0_scalar_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_MXFP4, mxfp4_q8_0_scalar_vec_dot, mxfp4_q8_0_scalar_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q2_K, q2_K_q8_K_scalar_vec_dot, q2_K_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q3_K, q3_K_q8_K_scalar_vec_dot, q3_K_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q4_K, q4_K_q8_K_scalar_vec_dot, q4_K_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  t->vec_dot_tile_g4[QK_TYPE_Q4_K] = q4_K_q8_K_g4_scalar_tile;
  qk_set(t, QK_TYPE_Q5_K, q5_K_q8_K_scalar_vec_dot, q5_K_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q6_K, q6_K_q8_K_scalar_vec_dot, q6_K_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ4_XS, iq4_xs_q8_K_scalar_vec_dot, iq4_xs_q8_K_scalar_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_F32, f32_f32_scalar_vec_dot, f32_f32_scalar_tile, QK_TYPE_F32, I);
  qk_set(t, QK_TYPE_F16, f16_f32_scalar_vec_dot, f16_f32_scalar_tile, QK_TYPE_F32, I);
  qk_set(t, QK_TYPE_BF16, bf16_f32_scalar_vec_dot, bf16_f32_scalar_tile, QK_TYPE_F32, I);
  t->quantize_q8_0 = quantize_row_q8_0_scalar;
  t->quantize_q8_1 = quantize_row_q8_1_scalar;
  t->quantize_q8_K = quantize_row_q8_K_scalar;
  t->stream_sum = stream_sum_scalar;
  t->tile_rows = 4;
  t->tile_cols = 2;
}
