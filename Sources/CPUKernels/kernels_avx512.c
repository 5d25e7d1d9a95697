// AVX-512 kernels.
// - AVX-512 F/BW: q4_K, q5_K, q6_K on 512-bit vectors: a super-block is 4 vectors of 64 weights, so
//   each activation column costs 4 maddubs + 4 madd instead of 8 + 8.
// - AVX512-VNNI (+VL): the 32-value symmetric types (q4_0, q5_0, q8_0, iq4_nl) with vpdpbusd, which
//   does maddubs + madd (u8·s8 summed in fours into int32) in one instruction.
// The unpacking is the AVX2 code (kernels_avx2_prep.h), widened here.
#include "kernels_avx2_prep.h"

#if defined(__x86_64__)

// ---- AVX-512 F/BW: K-quants ----

typedef struct {
  __m512i q[4];   // 64 unsigned weights each, element order
  __m512i sc[4];  // int16 scale of each maddubs pair lane
  __m256i mb;     // int16 multiplier of each bsum
  float d, dm;
  int int_bias;  // as pK
} pK512;

AVX512_INL __m512i join256(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

AVX512_INL void widen(pK512 *p, const pK *t) {
  for (int j = 0; j < 4; ++j) {
    p->q[j] = join256(t->q[2 * j], t->q[2 * j + 1]);
    p->sc[j] = join256(t->sc[2 * j], t->sc[2 * j + 1]);
  }
  p->mb = t->mb;
  p->d = t->d;
  p->dm = t->dm;
  p->int_bias = t->int_bias;
}

AVX512_INL void prep_q4_K_512(pK512 *p, const block_q4_K *x) {
  // Two nibble planes of 32 bytes → one 64-byte vector: low nibbles are weights 64j..64j+31.
  const __m512i m4 = _mm512_set1_epi8(0xF);
  for (int j = 0; j < 4; ++j) {
    const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
    p->q[j] = _mm512_and_si512(join256(bits, _mm256_srli_epi16(bits, 4)), m4);
  }
  pK t;
  k4_common(&t, x->scales);
  for (int j = 0; j < 4; ++j) p->sc[j] = join256(t.sc[2 * j], t.sc[2 * j + 1]);
  p->mb = t.mb;
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
  p->int_bias = 0;
}

AVX512_INL void prep_q5_K_512(pK512 *p, const block_q5_K *x) {
  pK t;
  prep_q5_K(&t, x);
  widen(p, &t);
}

AVX512_INL void prep_q6_K_512(pK512 *p, const block_q6_K *x) {
  pK t;
  prep_q6_K(&t, x);
  widen(p, &t);
}

typedef struct { __m512 v; } acc512;

AVX512_INL acc512 zero_512(void) { return (acc512){_mm512_setzero_ps()}; }
AVX512_INL float hsum_512(acc512 a) { return _mm512_reduce_add_ps(a.v); }

AVX512_INL acc512 dot_K512(const pK512 *p, const block_q8_K *y, acc512 acc) {
  __m512i sumi = _mm512_setzero_si512();
  for (int j = 0; j < 4; ++j) {
    const __m512i qy = _mm512_loadu_si512((const void *)(y->qs + 64 * j));
    sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(p->sc[j], _mm512_maddubs_epi16(p->q[j], qy)));
  }
  const __m256i bias = _mm256_madd_epi16(p->mb, _mm256_loadu_si256((const __m256i *)y->bsums));
  if (p->int_bias) {
    sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(bias));
    acc.v = _mm512_fmadd_ps(_mm512_set1_ps(p->d * y->d), _mm512_cvtepi32_ps(sumi), acc.v);
    return acc;
  }
  acc.v = _mm512_fmadd_ps(_mm512_set1_ps(p->d * y->d), _mm512_cvtepi32_ps(sumi), acc.v);
  acc.v = _mm512_fmadd_ps(_mm512_set1_ps(p->dm * y->d), _mm512_cvtepi32_ps(_mm512_zextsi256_si512(bias)), acc.v);
  return acc;
}

QK_DEFINE_TILE(q4_K_q8_K_avx512, AVX512_ATTR, block_q4_K, block_q8_K, QK_K, pK512, acc512, prep_q4_K_512,
               zero_512, dot_K512, hsum_512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q5_K_q8_K_avx512, AVX512_ATTR, block_q5_K, block_q8_K, QK_K, pK512, acc512, prep_q5_K_512,
               zero_512, dot_K512, hsum_512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q6_K_q8_K_avx512, AVX512_ATTR, block_q6_K, block_q8_K, QK_K, pK512, acc512, prep_q6_K_512,
               zero_512, dot_K512, hsum_512, QK_NO_TAIL, 4, 2)

void qk_fill_avx512(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_AVX512;
  qk_set(t, QK_TYPE_Q4_K, q4_K_q8_K_avx512_vec_dot, q4_K_q8_K_avx512_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q5_K, q5_K_q8_K_avx512_vec_dot, q5_K_q8_K_avx512_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q6_K, q6_K_q8_K_avx512_vec_dot, q6_K_q8_K_avx512_tile, QK_TYPE_Q8_K, I);
  t->tile_rows = 4;
  t->tile_cols = 2;
}

// ---- AVX512-VNNI: symmetric 32-value blocks against q8_0 ----

VNNI_INL __m256 dot_sym_vnni(const p32 *p, const block_q8_0 *y, __m256 acc) {
  const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
  const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), p->aq, _mm256_sign_epi8(qy, p->q));
  return _mm256_fmadd_ps(_mm256_set1_ps(qk_fp16_pair_product(p->dh, y->d)), _mm256_cvtepi32_ps(s), acc);
}

QK_DEFINE_TILE(q4_0_q8_0_vnni, VNNI_ATTR, block_q4_0, block_q8_0, 32, p32, __m256, prep_q4_0, zero_ps,
               dot_sym_vnni, qk_hsum_ps_avx2, QK_NO_TAIL, 4, 4)
QK_DEFINE_TILE(q5_0_q8_0_vnni, VNNI_ATTR, block_q5_0, block_q8_0, 32, p32, __m256, prep_q5_0, zero_ps,
               dot_sym_vnni, qk_hsum_ps_avx2, QK_NO_TAIL, 4, 4)
QK_DEFINE_TILE(q8_0_q8_0_vnni, VNNI_ATTR, block_q8_0, block_q8_0, 32, p32, __m256, prep_q8_0, zero_ps,
               dot_sym_vnni, qk_hsum_ps_avx2, QK_NO_TAIL, 4, 4)
QK_DEFINE_TILE(iq4_nl_q8_0_vnni, VNNI_ATTR, block_iq4_nl, block_q8_0, 32, p32, __m256, prep_iq4_nl, zero_ps,
               dot_sym_vnni, qk_hsum_ps_avx2, QK_NO_TAIL, 4, 4)

void qk_fill_avx512_vnni(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_AVX512_VNNI;
  qk_set(t, QK_TYPE_Q4_0, q4_0_q8_0_vnni_vec_dot, q4_0_q8_0_vnni_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q5_0, q5_0_q8_0_vnni_vec_dot, q5_0_q8_0_vnni_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q8_0, q8_0_q8_0_vnni_vec_dot, q8_0_q8_0_vnni_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_IQ4_NL, iq4_nl_q8_0_vnni_vec_dot, iq4_nl_q8_0_vnni_tile, QK_TYPE_Q8_0, I);
}

#endif
