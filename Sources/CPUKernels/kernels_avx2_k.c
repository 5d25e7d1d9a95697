// AVX2 kernels for the 256-value super-block types against q8_K: q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs.
// Each weight super-block is unpacked once (per weight row) to 8 vectors of 32 byte-sized weights plus
// 16-bit scale vectors; every activation column then costs 8 maddubs + 8 madd.
// Offsets (q3_K's -4, q6_K's -32) and mins are applied through q8_K's bsums, keeping the weights
// unsigned so maddubs needs no sign fix-up. q4_K and q6_K sum exactly as ggml's x86 kernels
// (cpu_kernels.h): q6_K's dot_K lanes are ggml's ggml_vec_dot_q6_K_q8_K lanes.
#include "kernels_avx2_prep.h"
#include "kernels_iq.h"

#if defined(__x86_64__)

QK_DEFINE_TILE(q2_K_q8_K_avx2, AVX2_ATTR, block_q2_K, block_q8_K, QK_K, pK, __m256, prep_q2_K, zero_ps, dot_K,
               qk_hsum_ps_avx2, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q3_K_q8_K_avx2, AVX2_ATTR, block_q3_K, block_q8_K, QK_K, pK, __m256, prep_q3_K, zero_ps, dot_K,
               qk_hsum_ps_avx2, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q4_K_q8_K_avx2, AVX2_ATTR, block_q4_K, block_q8_K, QK_K, pK, acc_q4K, prep_q4_K, zero_q4K,
               dot_q4K_gemv, fin_q4K, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q4_K_q8_K_g4_avx2, AVX2_ATTR, block_q4_K, block_q8_K, QK_K, pK, acc_q4K, prep_q4_K, zero_q4K,
               dot_q4K_gemm, fin_q4K, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q5_K_q8_K_avx2, AVX2_ATTR, block_q5_K, block_q8_K, QK_K, pK, __m256, prep_q5_K, zero_ps, dot_K,
               qk_hsum_ps_avx2, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(q6_K_q8_K_avx2, AVX2_ATTR, block_q6_K, block_q8_K, QK_K, pK, __m256, prep_q6_K, zero_ps, dot_K,
               qk_hsum_ps_avx2, QK_NO_TAIL, 2, 2)
QK_DEFINE_TILE(iq4_xs_q8_K_avx2, AVX2_ATTR, block_iq4_xs, block_q8_K, QK_K, pKs, __m256, prep_iq4_xs, zero_ps,
               dot_Ks, qk_hsum_ps_avx2, QK_NO_TAIL, 2, 2)

// q4_K tile: a mat-vec four super-blocks at a time (q4K_mv2_group, kernels_avx2_prep.h).
QK_Q4K_MV_TILE(q4_K_q8_K_avx2_mv_tile, AVX2_ATTR, q4K_mv2_act, Q4K_MV2_MAX_BLOCKS, q4K_mv2_layout, q4K_mv2_group, pK,
               prep_q4_K, acc_q4K, dot_q4K_gemv, fin_q4K, q4_K_q8_K_avx2_tile)

void qk_fill_avx2_k(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_AVX2;
  qk_set(t, QK_TYPE_Q2_K, q2_K_q8_K_avx2_vec_dot, q2_K_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q3_K, q3_K_q8_K_avx2_vec_dot, q3_K_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q4_K, q4_K_q8_K_avx2_vec_dot, q4_K_q8_K_avx2_mv_tile, QK_TYPE_Q8_K, I);
  t->vec_dot_tile_g4[QK_TYPE_Q4_K] = q4_K_q8_K_g4_avx2_tile;
  qk_set(t, QK_TYPE_Q5_K, q5_K_q8_K_avx2_vec_dot, q5_K_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q6_K, q6_K_q8_K_avx2_vec_dot, q6_K_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ4_XS, iq4_xs_q8_K_avx2_vec_dot, iq4_xs_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
}

void qk_fill_avx2(qk_kernel_table *t) {
  qk_fill_avx2_legacy(t);
  qk_fill_avx2_k(t);
  qk_fill_avx2_iq(t);
}

#endif
