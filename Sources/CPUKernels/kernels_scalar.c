// Portable C kernels: every type, the activation quantizers (ggml's *_ref, byte for byte), dense dots
// and the streaming read. The other ISAs fall back to these entries.
#include <math.h>

#include "kernels_scalar_prep.h"

const int8_t qk_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// ---- activation quantizers (ggml's quantize_row_q8_0_ref / _q8_1_ref / _q8_K_ref) ----

static void quantize_row_q8_0_scalar(const float *x, void *vy, int64_t k) {
  block_q8_0 *y = vy;
  for (int64_t i = 0; i < k / QK8_0; i++) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[i * QK8_0 + j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = qk_fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[i * QK8_0 + j] * id);
  }
}

static void quantize_row_q8_1_scalar(const float *x, void *vy, int64_t k) {
  block_q8_1 *y = vy;
  for (int64_t i = 0; i < k / QK8_1; i++) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_1; j++) amax = fmaxf(amax, fabsf(x[i * QK8_1 + j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = qk_fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < QK8_1; j++) {
      y[i].qs[j] = (int8_t)roundf(x[i * QK8_1 + j] * id);
      sum += y[i].qs[j];
    }
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

static QK_ALWAYS_INLINE int dot32(const int8_t *q, const int8_t *y) {
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += q[j] * y[j];
  return sum;
}

static QK_ALWAYS_INLINE float dot_sym_q8_0(const prep32 *p, const block_q8_0 *y, float acc) {
  return acc + (float)dot32(p->q, y->qs) * (p->d * qk_fp16_to_fp32(y->d));
}

static QK_ALWAYS_INLINE float dot_min_q8_1(const prep32 *p, const block_q8_1 *y, float acc) {
  return acc + (p->d * qk_fp16_to_fp32(y->d)) * (float)dot32(p->q, y->qs) + p->m * qk_fp16_to_fp32(y->s);
}

#define SC_ATTR
QK_DEFINE_TILE(q4_0_q8_0_scalar, SC_ATTR, block_q4_0, block_q8_0, 32, prep32, float, prep_q4_0, zero_f,
               dot_sym_q8_0, id_f, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q4_1_q8_1_scalar, SC_ATTR, block_q4_1, block_q8_1, 32, prep32, float, prep_q4_1, zero_f,
               dot_min_q8_1, id_f, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q5_0_q8_0_scalar, SC_ATTR, block_q5_0, block_q8_0, 32, prep32, float, prep_q5_0, zero_f,
               dot_sym_q8_0, id_f, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q5_1_q8_1_scalar, SC_ATTR, block_q5_1, block_q8_1, 32, prep32, float, prep_q5_1, zero_f,
               dot_min_q8_1, id_f, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q8_0_q8_0_scalar, SC_ATTR, block_q8_0, block_q8_0, 32, prep32, float, prep_q8_0, zero_f,
               dot_sym_q8_0, id_f, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(iq4_nl_q8_0_scalar, SC_ATTR, block_iq4_nl, block_q8_0, 32, prep32, float, prep_iq4_nl, zero_f,
               dot_sym_q8_0, id_f, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(mxfp4_q8_0_scalar, SC_ATTR, block_mxfp4, block_q8_0, 32, prep32, float, prep_mxfp4, zero_f,
               dot_sym_q8_0, id_f, QK_NO_TAIL, 4, 2)

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
QK_DEFINE_TILE(q4_K_q8_K_scalar, SC_ATTR, block_q4_K, block_q8_K, QK_K, prepK, float, prep_q4_K, zero_f, dot_K,
               id_f, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q5_K_q8_K_scalar, SC_ATTR, block_q5_K, block_q8_K, QK_K, prepK, float, prep_q5_K, zero_f, dot_K,
               id_f, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q6_K_q8_K_scalar, SC_ATTR, block_q6_K, block_q8_K, QK_K, prepK, float, prep_q6_K, zero_f, dot_K,
               id_f, QK_NO_TAIL, 2, 2)
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
