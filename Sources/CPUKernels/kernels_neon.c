// NEON (AArch64 Advanced SIMD, baseline ARMv8: no dotprod/i8mm needed) kernels for q4_0, q8_0 against
// q8_0 and q4_K, q6_K against q8_K. The weights are unpacked by the portable code
// (kernels_scalar_prep.h); the integer dots are vectorized with widening multiplies (vmull_s8) and
// pairwise accumulation (vpadalq_s16). Other types use the scalar entries on arm64.
// Compile-checked for aarch64 only: no arm64 machine was available to run them.
#include "kernels_scalar_prep.h"

#if defined(__aarch64__)

#include <arm_neon.h>

static inline float zero_f(void) { return 0.0f; }
static inline float id_f(float a) { return a; }

// Σ a[i]·b[i] over 16 int8 pairs, added to acc as 4 int32 lanes. |a·b| ≤ 128·127, and pairs are
// summed only after widening to 32 bits, so nothing saturates.
static QK_ALWAYS_INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  return vpadalq_s16(acc, vmull_high_s8(a, b));
}

static QK_ALWAYS_INLINE float dot_sym_neon(const prep32 *p, const block_q8_0 *y, float acc) {
  int32x4_t s = vdupq_n_s32(0);
  s = dot16(s, vld1q_s8(p->q), vld1q_s8(y->qs));
  s = dot16(s, vld1q_s8(p->q + 16), vld1q_s8(y->qs + 16));
  return acc + (float)vaddvq_s32(s) * (p->d * qk_fp16_to_fp32(y->d));
}

QK_DEFINE_TILE(q4_0_q8_0_neon, , block_q4_0, block_q8_0, 32, prep32, float, prep_q4_0, zero_f, dot_sym_neon, id_f,
               QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q8_0_q8_0_neon, , block_q8_0, block_q8_0, 32, prep32, float, prep_q8_0, zero_f, dot_sym_neon, id_f,
               QK_NO_TAIL, 4, 2)

// K-quants: per 16 weights an int32 sum times its 16-bit scale; the bsums term with one widening
// multiply-accumulate over the 16 multipliers.
static QK_ALWAYS_INLINE float dot_K_neon(const prepK *p, const block_q8_K *y, float acc) {
  int32x4_t sumi = vdupq_n_s32(0);
  for (int g = 0; g < 16; ++g) {
    const int32x4_t s = dot16(vdupq_n_s32(0), vld1q_s8(p->q + 16 * g), vld1q_s8(y->qs + 16 * g));
    sumi = vmlaq_n_s32(sumi, s, p->sc[g]);
  }
  const int16x8_t mb0 = vld1q_s16(p->mb), mb1 = vld1q_s16(p->mb + 8);
  const int16x8_t bs0 = vld1q_s16(y->bsums), bs1 = vld1q_s16(y->bsums + 8);
  int32x4_t bias = vmull_s16(vget_low_s16(mb0), vget_low_s16(bs0));
  bias = vmlal_high_s16(bias, mb0, bs0);
  bias = vmlal_s16(bias, vget_low_s16(mb1), vget_low_s16(bs1));
  bias = vmlal_high_s16(bias, mb1, bs1);
  return acc + (p->d * y->d) * (float)vaddvq_s32(sumi) + (p->dm * y->d) * (float)vaddvq_s32(bias);
}

QK_DEFINE_TILE(q4_K_q8_K_neon, , block_q4_K, block_q8_K, QK_K, prepK, float, prep_q4_K, zero_f, dot_K_neon, id_f,
               QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q6_K_q8_K_neon, , block_q6_K, block_q8_K, QK_K, prepK, float, prep_q6_K, zero_f, dot_K_neon, id_f,
               QK_NO_TAIL, 2, 2)

void qk_fill_neon(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_NEON;
  qk_set(t, QK_TYPE_Q4_0, q4_0_q8_0_neon_vec_dot, q4_0_q8_0_neon_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q8_0, q8_0_q8_0_neon_vec_dot, q8_0_q8_0_neon_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q4_K, q4_K_q8_K_neon_vec_dot, q4_K_q8_K_neon_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q6_K, q6_K_q8_K_neon_vec_dot, q6_K_q8_K_neon_tile, QK_TYPE_Q8_K, I);
  t->tile_rows = 4;
  t->tile_cols = 2;
}

#endif
