// AVX-512 kernels.
// - AVX-512 F/BW: q2_K, q3_K, q4_K, q5_K, q6_K on 512-bit vectors: a super-block is 4 vectors of 64
//   weights, so each activation column costs 4 maddubs + 4 madd instead of 8 + 8; unpacked with
//   512-bit shifts and one word permute per scale vector (no scalar per-scale work). With VNNI,
//   vpdpwssd replaces each madd + add.
// - AVX512-VNNI: the 32-value types against q8_0 (q4_0, q5_0, q8_0, iq4_nl) and q8_1 (q4_1, q5_1)
//   with vpdpbusd (u8·s8 summed in fours into int32, in one instruction): mat-vec two blocks per
//   512-bit vector, full mat-mat tiles (q8_0 types) one block of two activation columns per vector.
// Every sum follows ggml's x86 order (cpu_kernels.h). Single-block tails reuse the AVX2 code
// (kernels_avx2_prep.h).
#include "kernels_avx2_prep.h"

#if defined(__x86_64__)

// Register tile of the VNNI pair kernels (16 zmm accumulators); 4x4 measured best of 2x4..6x2.
#ifndef VNNI_MR
#define VNNI_MR 4
#define VNNI_MC 4
#endif

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


// q4_K / q5_K scales and mins: ggml's 32-bit unpacking of the 12 packed bytes (get_scale_min_k4 for
// all eight at once), then one word permute per scale vector.
AVX512_INL void k4_scales_512(pK512 *p, const uint8_t *packed) {
  uint32_t u[4];
  memcpy(u, packed, 12);
  const uint32_t km1 = 0x3f3f3f3f, km2 = 0x0f0f0f0f, km3 = 0x03030303;
  u[3] = ((u[2] >> 4) & km2) | (((u[1] >> 6) & km3) << 4);
  const uint32_t mins_lo = u[1] & km1;
  u[1] = (u[2] & km2) | (((u[0] >> 6) & km3) << 4);
  u[2] = mins_lo;
  u[0] &= km1;
  // Words 0-7: the 8 scales; 8-15: the 8 mins.
  const __m256i sm = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)u));
  const __m512i smz = _mm512_castsi256_si512(sm);
  for (int j = 0; j < 4; ++j) {
    const __m512i idx = join256(_mm256_set1_epi16((short)(2 * j)), _mm256_set1_epi16((short)(2 * j + 1)));
    p->sc[j] = _mm512_permutexvar_epi16(idx, smz);
  }
  p->mb = _mm256_permutexvar_epi16(_mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15), sm);
}

AVX512_INL void prep_q4_K_512(pK512 *p, const block_q4_K *x) {
  // 32 bytes → 64: low nibbles are weights 64j..64j+31, high nibbles 64j+32..64j+63.
  const __m512i m4 = _mm512_set1_epi8(0xF);
  for (int j = 0; j < 4; ++j) {
    const __m512i bits = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * j)));
    p->q[j] = _mm512_and_si512(_mm512_srlv_epi64(bits, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4)), m4);
  }
  k4_scales_512(p, x->scales);
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
  p->int_bias = 0;
}

AVX512_INL void prep_q5_K_512(pK512 *p, const block_q5_K *x) {
  const __m512i m4 = _mm512_set1_epi8(0xF);
  for (int j = 0; j < 4; ++j) {
    const __m512i bits = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * j)));
    const __m512i q = _mm512_and_si512(_mm512_srlv_epi64(bits, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4)), m4);
    // Fifth bit of weight 64j+i (i < 32) is bit 2j of qh[i]; of weight 64j+32+i, bit 2j+1.
    const __m256i h = _mm256_loadu_si256((const __m256i *)x->qh);
    const __mmask32 lo = _mm256_test_epi8_mask(h, _mm256_set1_epi8((char)(1 << (2 * j))));
    const __mmask32 hi = _mm256_test_epi8_mask(h, _mm256_set1_epi8((char)(2 << (2 * j))));
    p->q[j] = _mm512_mask_blend_epi8((__mmask64)lo | ((__mmask64)hi << 32), q, _mm512_or_si512(q, _mm512_set1_epi8(0x10)));
  }
  k4_scales_512(p, x->scales);
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
  p->int_bias = 0;
}

AVX512_INL void prep_q6_K_512(pK512 *p, const block_q6_K *x) {
  const __m512i m4 = _mm512_set1_epi8(0xF);
  for (int k = 0; k < 2; ++k) {
    // ql[64k..64k+63] = [b1 | b2]; the high 2 bits come from qh[32k..32k+31], both halves.
    const __m512i b = _mm512_loadu_si512((const void *)(x->ql + 64 * k));
    const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qh + 32 * k)));
    const __m512i hA = _mm512_sllv_epi16(_mm512_and_si512(h, join256(_mm256_set1_epi8(3), _mm256_set1_epi8(12))),
                                         join256(_mm256_set1_epi16(4), _mm256_set1_epi16(2)));
    const __m512i hB = _mm512_srlv_epi16(
        _mm512_and_si512(h, join256(_mm256_set1_epi8(48), _mm256_set1_epi8((char)192))),
        join256(_mm256_set1_epi16(0), _mm256_set1_epi16(2)));
    p->q[2 * k] = _mm512_or_si512(_mm512_and_si512(b, m4), hA);
    p->q[2 * k + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(b, 4), m4), hB);
  }
  // Scale of 16-weight group g: lane L (words 8L..8L+7) of sc[j] is group 4j + L.
  const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
  const __m512i sz = _mm512_castsi256_si512(s16);
  for (int j = 0; j < 4; ++j) {
    const __m512i idx = join256(_mm256_setr_m128i(_mm_set1_epi16((short)(4 * j)), _mm_set1_epi16((short)(4 * j + 1))),
                                _mm256_setr_m128i(_mm_set1_epi16((short)(4 * j + 2)), _mm_set1_epi16((short)(4 * j + 3))));
    p->sc[j] = _mm512_permutexvar_epi16(idx, sz);
  }
  p->mb = _mm256_slli_epi16(s16, 5);  // 32·scale
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = 0.0f;
  p->int_bias = 1;
}

// q2_K: 2-bit weights, a 4-bit scale and a 4-bit min per 16 values; the mins go through bsums
// (dm = −dmin).
AVX512_INL void prep_q2_K_512(pK512 *p, const block_q2_K *x) {
  const __m512i m3 = _mm512_set1_epi8(3);
  for (int m = 0; m < 4; ++m) {
    // Vector m = AVX2 vectors 2m, 2m+1: bit pairs 2j0, 2j0+2 of qs chunk k.
    const int k = m / 2, j0 = 2 * (m % 2);
    const __m512i b = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * k)));
    p->q[m] = _mm512_and_si512(
        _mm512_srlv_epi64(b, join256(_mm256_set1_epi64x(2 * j0), _mm256_set1_epi64x(2 * j0 + 2))), m3);
  }
  const __m128i s = _mm_loadu_si128((const __m128i *)x->scales);
  const __m256i s16 = _mm256_cvtepu8_epi16(_mm_and_si128(s, _mm_set1_epi8(0xF)));
  const __m512i sz = _mm512_castsi256_si512(s16);
  for (int j = 0; j < 4; ++j) {
    const __m512i idx = join256(_mm256_setr_m128i(_mm_set1_epi16((short)(4 * j)), _mm_set1_epi16((short)(4 * j + 1))),
                                _mm256_setr_m128i(_mm_set1_epi16((short)(4 * j + 2)), _mm_set1_epi16((short)(4 * j + 3))));
    p->sc[j] = _mm512_permutexvar_epi16(idx, sz);
  }
  p->mb = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), _mm_set1_epi8(0xF)));
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
  p->int_bias = 0;
}

// q3_K: 2 low bits from qs, the third from hmask (weight = that − 4; the −4 goes through bsums).
AVX512_INL void prep_q3_K_512(pK512 *p, const block_q3_K *x) {
  const __m512i m3 = _mm512_set1_epi8(3);
  const __m512i hbits = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x->hmask));
  for (int m = 0; m < 4; ++m) {
    // Vector m = AVX2 vectors 2m, 2m+1: bit pairs j0, j0+1 of qs chunk k.
    const int k = m / 2, j0 = 2 * (m % 2);
    const __m512i b = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * k)));
    const __m512i lo = _mm512_and_si512(
        _mm512_srlv_epi64(b, join256(_mm256_set1_epi64x(2 * j0), _mm256_set1_epi64x(2 * j0 + 2))), m3);
    const __mmask64 hi = _mm512_test_epi8_mask(
        hbits, join256(_mm256_set1_epi8((char)(1 << (4 * k + j0))), _mm256_set1_epi8((char)(1 << (4 * k + j0 + 1)))));
    p->q[m] = _mm512_mask_blend_epi8(hi, lo, _mm512_or_si512(lo, _mm512_set1_epi8(4)));
  }
  // 16 six-bit scales (ggml's 32-bit unpacking), offset 32 removed.
  uint32_t aux[4];
  memcpy(aux, x->scales, 12);
  const uint32_t km1 = 0x03030303, km2 = 0x0f0f0f0f, tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & km2) | (((tmp >> 4) & km1) << 4);
  aux[3] = ((aux[1] >> 4) & km2) | (((tmp >> 6) & km1) << 4);
  aux[0] = (aux[0] & km2) | (((tmp >> 0) & km1) << 4);
  aux[1] = (aux[1] & km2) | (((tmp >> 2) & km1) << 4);
  const __m256i s16 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)aux)), _mm256_set1_epi16(32));
  const __m512i sz = _mm512_castsi256_si512(s16);
  for (int j = 0; j < 4; ++j) {
    const __m512i idx = join256(_mm256_setr_m128i(_mm_set1_epi16((short)(4 * j)), _mm_set1_epi16((short)(4 * j + 1))),
                                _mm256_setr_m128i(_mm_set1_epi16((short)(4 * j + 2)), _mm_set1_epi16((short)(4 * j + 3))));
    p->sc[j] = _mm512_permutexvar_epi16(idx, sz);
  }
  p->mb = _mm256_slli_epi16(s16, 2);  // 4·scale
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = 0.0f;
  p->int_bias = 1;
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

// q6_K: ggml's 8 AVX2 lanes. Vector j holds 32-value chunks 2j (low half) and 2j+1 (high half), so
// adding the halves' int32 lanes gives exactly ggml's per-lane sums; then one 256-bit FMA.
#define QK_Q6K_LANES512(NAME, INL, MADD_ACC)                                                          \
  INL __m256 NAME(const pK512 *p, const block_q8_K *y, __m256 acc) {                                 \
    __m512i sumi = _mm512_setzero_si512();                                                           \
    for (int j = 0; j < 4; ++j) {                                                                    \
      const __m512i qy = _mm512_loadu_si512((const void *)(y->qs + 64 * j));                         \
      sumi = MADD_ACC(sumi, p->sc[j], _mm512_maddubs_epi16(p->q[j], qy));                            \
    }                                                                                                \
    const __m256i bias = _mm256_madd_epi16(p->mb, _mm256_loadu_si256((const __m256i *)y->bsums));   \
    const __m256i s8 = _mm256_sub_epi32(                                                             \
        _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1)), bias);   \
    return _mm256_fmadd_ps(_mm256_set1_ps(y->d * p->d), _mm256_cvtepi32_ps(s8), acc);                \
  }

// q4_K: ggml's repacked-kernel sums (cpu_kernels.h). Vector j is exactly the 64 values of one gemm
// step; the mins come from the sub-blocks' bsums (lane l of the madd: sub-block l).
typedef struct { float a, m; } acc_q4K512;
AVX512_INL acc_q4K512 zero_q4K512(void) { return (acc_q4K512){0.0f, 0.0f}; }
AVX512_INL float fin_q4K512(acc_q4K512 a) { return a.a - a.m; }

// The gemm step's four sums s (one per 64 values) and the matching min sums, folded in order: the
// value and min chains run side by side as lanes 0 and 1 of one FMA per step.
AVX512_INL acc_q4K512 q4K_chain4(__m128i s, __m256i mb, const block_q8_K *y, float dx, float dminx,
                                 acc_q4K512 acc) {
  const __m256i mins8 = _mm256_madd_epi16(mb, _mm256_loadu_si256((const __m256i *)y->bsums));
  const __m256i h = _mm256_hadd_epi32(mins8, mins8);  // per half: [l0+l1, l2+l3, ..]
  const __m128i m = _mm_unpacklo_epi64(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  const __m128 fs = _mm_cvtepi32_ps(s), fm = _mm_cvtepi32_ps(m);
  const __m128 lo = _mm_unpacklo_ps(fs, fm), hi = _mm_unpackhi_ps(fs, fm);  // [s0 m0 s1 m1], [s2 m2 s3 m3]
  const __m128 dd = _mm_setr_ps(dx * y->d, dminx * y->d, 0.0f, 0.0f);
  __m128 a = _mm_setr_ps(acc.a, acc.m, 0.0f, 0.0f);
  a = _mm_fmadd_ps(lo, dd, a);
  a = _mm_fmadd_ps(_mm_movehl_ps(lo, lo), dd, a);
  a = _mm_fmadd_ps(hi, dd, a);
  a = _mm_fmadd_ps(_mm_movehl_ps(hi, hi), dd, a);
  acc.a = _mm_cvtss_f32(a);
  acc.m = _mm_cvtss_f32(_mm_movehdup_ps(a));
  return acc;
}

#define QK_Q4K512(SUFFIX, INL, MADD_ACC)                                                             \
  INL acc_q4K512 dot_q4K_gemv_##SUFFIX(const pK512 *p, const block_q8_K *y, acc_q4K512 acc) {        \
    __m512i sumi = _mm512_setzero_si512();                                                           \
    for (int j = 0; j < 4; ++j) {                                                                    \
      const __m512i qy = _mm512_loadu_si512((const void *)(y->qs + 64 * j));                         \
      sumi = MADD_ACC(sumi, p->sc[j], _mm512_maddubs_epi16(p->q[j], qy));                            \
    }                                                                                                \
    const __m256i mins = _mm256_madd_epi16(p->mb, _mm256_loadu_si256((const __m256i *)y->bsums));   \
    acc.a = __builtin_fmaf((float)_mm512_reduce_add_epi32(sumi), p->d * y->d, acc.a);               \
    acc.m = __builtin_fmaf((float)qk_hsum_epi32_avx2(mins), -p->dm * y->d, acc.m);                  \
    return acc;                                                                                      \
  }                                                                                                  \
  INL acc_q4K512 dot_q4K_gemm_##SUFFIX(const pK512 *p, const block_q8_K *y, acc_q4K512 acc) {        \
    __m256i t[4];                                                                                    \
    for (int j = 0; j < 4; ++j) {                                                                    \
      const __m512i qy = _mm512_loadu_si512((const void *)(y->qs + 64 * j));                         \
      const __m512i v = MADD_ACC(_mm512_setzero_si512(), p->sc[j], _mm512_maddubs_epi16(p->q[j], qy)); \
      t[j] = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));           \
    }                                                                                                \
    return q4K_chain4(qk_hsum4_epi32_avx2(t[0], t[1], t[2], t[3]), p->mb, y, p->d, -p->dm, acc);     \
  }

#define QK_MADD_ADD(acc, a, b) _mm512_add_epi32((acc), _mm512_madd_epi16((a), (b)))
#define QK_DPWSSD(acc, a, b) _mm512_dpwssd_epi32((acc), (a), (b))
QK_Q6K_LANES512(dot_q6K_lanes_avx512, AVX512_INL, QK_MADD_ADD)
QK_Q6K_LANES512(dot_q6K_lanes_vnni, VNNI_INL, QK_DPWSSD)
QK_Q4K512(avx512, AVX512_INL, QK_MADD_ADD)
QK_Q4K512(vnni, VNNI_INL, QK_DPWSSD)

QK_DEFINE_TILE(q2_K_q8_K_avx512, AVX512_ATTR, block_q2_K, block_q8_K, QK_K, pK512, acc512, prep_q2_K_512,
               zero_512, dot_K512, hsum_512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q3_K_q8_K_avx512, AVX512_ATTR, block_q3_K, block_q8_K, QK_K, pK512, acc512, prep_q3_K_512,
               zero_512, dot_K512, hsum_512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q4_K_q8_K_avx512, AVX512_ATTR, block_q4_K, block_q8_K, QK_K, pK512, acc_q4K512, prep_q4_K_512,
               zero_q4K512, dot_q4K_gemv_avx512, fin_q4K512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q4_K_q8_K_g4_avx512, AVX512_ATTR, block_q4_K, block_q8_K, QK_K, pK512, acc_q4K512, prep_q4_K_512,
               zero_q4K512, dot_q4K_gemm_avx512, fin_q4K512, QK_NO_TAIL, 4, 4)
QK_DEFINE_TILE(q5_K_q8_K_avx512, AVX512_ATTR, block_q5_K, block_q8_K, QK_K, pK512, acc512, prep_q5_K_512,
               zero_512, dot_K512, hsum_512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q6_K_q8_K_avx512, AVX512_ATTR, block_q6_K, block_q8_K, QK_K, pK512, __m256, prep_q6_K_512,
               _mm256_setzero_ps, dot_q6K_lanes_avx512, qk_hsum_ps_avx2, QK_NO_TAIL, 4, 2)

// AVX512-VNNI: vpdpwssd folds each scale multiply (madd) and the int32 add into one instruction;
// integer results are identical to dot_K512's.
VNNI_INL acc512 dot_K512_vnni(const pK512 *p, const block_q8_K *y, acc512 acc) {
  __m512i sumi = _mm512_setzero_si512();
  for (int j = 0; j < 4; ++j) {
    const __m512i qy = _mm512_loadu_si512((const void *)(y->qs + 64 * j));
    sumi = _mm512_dpwssd_epi32(sumi, p->sc[j], _mm512_maddubs_epi16(p->q[j], qy));
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

QK_DEFINE_TILE(q2_K_q8_K_vnni, VNNI_ATTR, block_q2_K, block_q8_K, QK_K, pK512, acc512, prep_q2_K_512, zero_512,
               dot_K512_vnni, hsum_512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q3_K_q8_K_vnni, VNNI_ATTR, block_q3_K, block_q8_K, QK_K, pK512, acc512, prep_q3_K_512, zero_512,
               dot_K512_vnni, hsum_512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q4_K_q8_K_vnni, VNNI_ATTR, block_q4_K, block_q8_K, QK_K, pK512, acc_q4K512, prep_q4_K_512,
               zero_q4K512, dot_q4K_gemv_vnni, fin_q4K512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q4_K_q8_K_g4_vnni, VNNI_ATTR, block_q4_K, block_q8_K, QK_K, pK512, acc_q4K512, prep_q4_K_512,
               zero_q4K512, dot_q4K_gemm_vnni, fin_q4K512, QK_NO_TAIL, 4, 4)
QK_DEFINE_TILE(q5_K_q8_K_vnni, VNNI_ATTR, block_q5_K, block_q8_K, QK_K, pK512, acc512, prep_q5_K_512, zero_512,
               dot_K512_vnni, hsum_512, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q6_K_q8_K_vnni, VNNI_ATTR, block_q6_K, block_q8_K, QK_K, pK512, __m256, prep_q6_K_512,
               _mm256_setzero_ps, dot_q6K_lanes_vnni, qk_hsum_ps_avx2, QK_NO_TAIL, 4, 2)

// q4_K tile of the AVX-512 table: a mat-vec through the 256-bit four-super-block group (27 GB/s
// against the 512-bit tile's 18 on one Zen 4 core, cache-resident: that tile unpacks each
// super-block's scales by scalar code), other shapes through the 512-bit tile.
QK_Q4K_MV_TILE(q4_K_q8_K_avx512_mv_tile, AVX512_ATTR, q4K_mv2_act, Q4K_MV2_MAX_BLOCKS, q4K_mv2_layout, q4K_mv2_group,
               pK, prep_q4_K, acc_q4K, dot_q4K_gemv, fin_q4K, q4_K_q8_K_avx512_tile)

void qk_fill_avx512(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_AVX512;
  qk_set(t, QK_TYPE_Q2_K, q2_K_q8_K_avx512_vec_dot, q2_K_q8_K_avx512_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q3_K, q3_K_q8_K_avx512_vec_dot, q3_K_q8_K_avx512_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q4_K, q4_K_q8_K_avx512_vec_dot, q4_K_q8_K_avx512_mv_tile, QK_TYPE_Q8_K, I);
  t->vec_dot_tile_g4[QK_TYPE_Q4_K] = q4_K_q8_K_g4_avx512_tile;
  qk_set(t, QK_TYPE_Q5_K, q5_K_q8_K_avx512_vec_dot, q5_K_q8_K_avx512_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q6_K, q6_K_q8_K_avx512_vec_dot, q6_K_q8_K_avx512_tile, QK_TYPE_Q8_K, I);
  t->tile_rows = 4;
  t->tile_cols = 2;
}

// ---- AVX512-VNNI: 32-value blocks against q8_0, two blocks per 512-bit vector ----
// A pair of blocks is the unit: 64 weights in one zmm (element order), one vpdpbusd, one convert,
// one FMA with the pair's scales (block 0 in lanes 0-7, block 1 in lanes 8-15). vpdpbusd takes
// unsigned × signed bytes, so one side is made unsigned and the offset removed exactly in int32
// through the accumulator input of the same vpdpbusd:
// - q4_0 / q5_0: weights stored unsigned (nibble, nibble | bit 4); value = u − K (8 or 16), so
//   Σ(u − K)·y = Σu·y − K·Σy, with −K·Σy (per lane) computed from the activation.
// - q8_0 / iq4_nl: signed weights; the activation is made unsigned (y + 128 = y ^ 0x80) and
//   Σ(y + 128)·w − 128·Σw = Σy·w, with −128·Σw computed once per weight block pair.
// An odd last block goes through the 256-bit single-block code (the TAIL of the tile macro).

typedef struct { block_q4_0 b[2]; } q4_0x2;
typedef struct { block_q5_0 b[2]; } q5_0x2;
typedef struct { block_q8_0 b[2]; } q8_0x2;
typedef struct { block_iq4_nl b[2]; } iq4_nlx2;
typedef struct { block_mxfp4 b[2]; } mxfp4x2;

typedef struct {
  __m512i q;     // 64 weights (unsigned for q4_0/q5_0, signed for q8_0/iq4_nl)
  __m512i bias;  // vpdpbusd accumulator start: −128·Σw per lane (signed types); unused otherwise
  __m512 d;      // weight scales: block 0 in lanes 0-7, block 1 in lanes 8-15
} pP;

VNNI_INL __m512 scale16(uint16_t a, uint16_t b) {
  const __m128 v = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)a | ((uint32_t)b << 16))));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                               _mm512_castps128_ps512(v));
}

VNNI_INL __m512i load_pair32(const void *a, const void *b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                            _mm256_loadu_si256((const __m256i *)b), 1);
}

// Two blocks' 16 nibble bytes → 64 bytes in [0, 15]: block 0 low nibbles, block 0 high, block 1 low,
// block 1 high (= element order of the pair).
VNNI_INL __m512i nibbles_pair(const uint8_t *qs0, const uint8_t *qs1) {
  const __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qs0)),
                                            _mm_loadu_si128((const __m128i *)qs1), 1);
  __m512i u = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), _mm512_castsi256_si512(t));
  u = _mm512_srlv_epi64(u, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
  return _mm512_and_si512(u, _mm512_set1_epi8(0x0F));
}

VNNI_INL __m512i neg_sum128(__m512i w) {
  return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), w));
}

VNNI_INL void prep_q4_0x2(pP *p, const q4_0x2 *x) {
  p->q = nibbles_pair(x->b[0].qs, x->b[1].qs);
  p->d = scale16(x->b[0].d, x->b[1].d);
}

// Two q5 blocks' 5-bit unsigned values (nibble | qh bit << 4), element order of the pair.
VNNI_INL __m512i q5_pair(const uint8_t *qs0, const uint8_t *qh0, const uint8_t *qs1, const uint8_t *qh1) {
  uint32_t h0, h1;
  memcpy(&h0, qh0, 4);
  memcpy(&h1, qh1, 4);
  const __m512i n = nibbles_pair(qs0, qs1);
  return _mm512_mask_blend_epi8((__mmask64)h0 | ((__mmask64)h1 << 32), n, _mm512_or_si512(n, _mm512_set1_epi8(0x10)));
}

VNNI_INL void prep_q5_0x2(pP *p, const q5_0x2 *x) {
  p->q = q5_pair(x->b[0].qs, x->b[0].qh, x->b[1].qs, x->b[1].qh);
  p->d = scale16(x->b[0].d, x->b[1].d);
}

VNNI_INL void prep_q8_0x2(pP *p, const q8_0x2 *x) {
  p->q = load_pair32(x->b[0].qs, x->b[1].qs);
  p->bias = neg_sum128(p->q);
  p->d = scale16(x->b[0].d, x->b[1].d);
}

VNNI_INL void prep_iq4_nlx2(pP *p, const iq4_nlx2 *x) {
  const __m512i values = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qk_kvalues_iq4nl));
  p->q = _mm512_shuffle_epi8(values, nibbles_pair(x->b[0].qs, x->b[1].qs));
  p->bias = neg_sum128(p->q);
  p->d = scale16(x->b[0].d, x->b[1].d);
}

VNNI_INL void prep_mxfp4x2(pP *p, const mxfp4x2 *x) {
  const __m512i values = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qk_kvalues_mxfp4));
  p->q = _mm512_shuffle_epi8(values, nibbles_pair(x->b[0].qs, x->b[1].qs));
  p->bias = neg_sum128(p->q);
  const __m128 d = _mm_setr_ps(qk_e8m0_to_fp32_half(x->b[0].e), qk_e8m0_to_fp32_half(x->b[1].e), 0.0f, 0.0f);
  p->d = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), _mm512_castps128_ps512(d));
}

// ggml's summation (cpu_kernels.h) is one 8-lane chain, block after block: the pair's 16 lanes go
// in as two 256-bit FMAs, block 0 first.
VNNI_INL __m256 chain_pair(__m512 d, __m512 f, __m256 acc) {
  acc = _mm256_fmadd_ps(_mm512_castps512_ps256(d), _mm512_castps512_ps256(f), acc);
  return _mm256_fmadd_ps(_mm512_extractf32x8_ps(d, 1), _mm512_extractf32x8_ps(f, 1), acc);
}

// Unsigned weights u with value u − K.
VNNI_INL __m256 dot_u(const pP *p, const q8_0x2 *y, __m256 acc, int K) {
  const __m512i yq = load_pair32(y->b[0].qs, y->b[1].qs);
  const __m512i corr = _mm512_sub_epi32(_mm512_setzero_si512(),
                                        _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)K), yq));
  const __m512i s = _mm512_dpbusd_epi32(corr, p->q, yq);
  return chain_pair(_mm512_mul_ps(p->d, scale16(y->b[0].d, y->b[1].d)), _mm512_cvtepi32_ps(s), acc);
}
VNNI_INL __m256 dot_u8(const pP *p, const q8_0x2 *y, __m256 acc) { return dot_u(p, y, acc, 8); }
VNNI_INL __m256 dot_u16(const pP *p, const q8_0x2 *y, __m256 acc) { return dot_u(p, y, acc, 16); }

// Signed weights: the activation goes unsigned.
VNNI_INL __m256 dot_s(const pP *p, const q8_0x2 *y, __m256 acc) {
  const __m512i yu = _mm512_xor_si512(load_pair32(y->b[0].qs, y->b[1].qs), _mm512_set1_epi8((char)0x80));
  const __m512i s = _mm512_dpbusd_epi32(p->bias, yu, p->q);
  return chain_pair(_mm512_mul_ps(p->d, scale16(y->b[0].d, y->b[1].d)), _mm512_cvtepi32_ps(s), acc);
}

// The odd last block, 256-bit, continuing the same chain.
VNNI_INL __m256 dot_sym_vnni(const p32 *p, const block_q8_0 *y, __m256 acc) {
  const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
  const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), p->aq, _mm256_sign_epi8(qy, p->q));
  return _mm256_fmadd_ps(_mm256_set1_ps(qk_fp16_pair_product(p->dh, y->d)), _mm256_cvtepi32_ps(s), acc);
}
#define QK_PAIR_FIN_G(NAME, BLK, YBLK, ACC_T, PREP1, DOT1, HSUM)                                    \
  VNNI_INL float NAME(ACC_T acc, int rem, const BLK *x, const YBLK *y) {                             \
    if (rem != 0) {                                                                                  \
      p32 p;                                                                                         \
      PREP1(&p, &x->b[0]);                                                                           \
      acc = DOT1(&p, &y->b[0], acc);                                                                 \
    }                                                                                                \
    return HSUM(acc);                                                                                \
  }
#define QK_PAIR_FIN(NAME, BLK, PREP1) QK_PAIR_FIN_G(NAME, BLK, q8_0x2, __m256, PREP1, dot_sym_vnni, qk_hsum_ps_avx2)
QK_PAIR_FIN(fin_q4_0x2, q4_0x2, prep_q4_0)
QK_PAIR_FIN(fin_q5_0x2, q5_0x2, prep_q5_0)
QK_PAIR_FIN(fin_q8_0x2, q8_0x2, prep_q8_0)
QK_PAIR_FIN(fin_iq4_nlx2, iq4_nlx2, prep_iq4_nl)
VNNI_INL float fin_mxfp4x2(__m256 acc, int rem, const mxfp4x2 *x, const q8_0x2 *y) {
  if (rem != 0) {
    p32f p;
    prep_mxfp4(&p, &x->b[0]);
    acc = dot_sym_f(&p, &y->b[0], acc);
  }
  return qk_hsum_ps_avx2(acc);
}

QK_DEFINE_TILE_FIN(q4_0_q8_0_vnni, VNNI_ATTR, q4_0x2, q8_0x2, 64, pP, __m256, prep_q4_0x2, _mm256_setzero_ps,
                   dot_u8, fin_q4_0x2, VNNI_MR, VNNI_MC)
QK_DEFINE_TILE_FIN(q5_0_q8_0_vnni, VNNI_ATTR, q5_0x2, q8_0x2, 64, pP, __m256, prep_q5_0x2, _mm256_setzero_ps,
                   dot_u16, fin_q5_0x2, VNNI_MR, VNNI_MC)
QK_DEFINE_TILE_FIN(q8_0_q8_0_vnni, VNNI_ATTR, q8_0x2, q8_0x2, 64, pP, __m256, prep_q8_0x2, _mm256_setzero_ps,
                   dot_s, fin_q8_0x2, VNNI_MR, VNNI_MC)
QK_DEFINE_TILE_FIN(iq4_nl_q8_0_vnni, VNNI_ATTR, iq4_nlx2, q8_0x2, 64, pP, __m256, prep_iq4_nlx2,
                   _mm256_setzero_ps, dot_s, fin_iq4_nlx2, VNNI_MR, VNNI_MC)
QK_DEFINE_TILE_FIN(mxfp4_q8_0_vnni, VNNI_ATTR, mxfp4x2, q8_0x2, 64, pP, __m256, prep_mxfp4x2, _mm256_setzero_ps,
                   dot_s, fin_mxfp4x2, VNNI_MR, VNNI_MC)

// q4_1 / q5_1 against q8_1: unsigned weights (no offset), so vpdpbusd gives the lanes directly; the
// min term is ggml's scalar running sum of m_x·s_y, block 0 then block 1 (as dot_min).
typedef struct { block_q4_1 b[2]; } q4_1x2;
typedef struct { block_q5_1 b[2]; } q5_1x2;
typedef struct { block_q8_1 b[2]; } q8_1x2;
typedef struct { __m512i q; __m512 d; uint16_t mh[2]; } pP1;

VNNI_INL void prep_q4_1x2(pP1 *p, const q4_1x2 *x) {
  p->q = nibbles_pair(x->b[0].qs, x->b[1].qs);
  p->d = scale16(x->b[0].d, x->b[1].d);
  p->mh[0] = x->b[0].m;
  p->mh[1] = x->b[1].m;
}

VNNI_INL void prep_q5_1x2(pP1 *p, const q5_1x2 *x) {
  p->q = q5_pair(x->b[0].qs, x->b[0].qh, x->b[1].qs, x->b[1].qh);
  p->d = scale16(x->b[0].d, x->b[1].d);
  p->mh[0] = x->b[0].m;
  p->mh[1] = x->b[1].m;
}

VNNI_INL acc_min dot_min_pair(const pP1 *p, const q8_1x2 *y, acc_min acc) {
  const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), p->q, load_pair32(y->b[0].qs, y->b[1].qs));
  acc.v = chain_pair(_mm512_mul_ps(p->d, scale16(y->b[0].d, y->b[1].d)), _mm512_cvtepi32_ps(s), acc.v);
  acc.s += qk_fp16_pair_product(p->mh[0], y->b[0].s);
  acc.s += qk_fp16_pair_product(p->mh[1], y->b[1].s);
  return acc;
}

#define QK_PAIR_FIN_MIN(NAME, BLK, PREP1) QK_PAIR_FIN_G(NAME, BLK, q8_1x2, acc_min, PREP1, dot_min, hsum_min)
QK_PAIR_FIN_MIN(fin_q4_1x2, q4_1x2, prep_q4_1)
QK_PAIR_FIN_MIN(fin_q5_1x2, q5_1x2, prep_q5_1)

QK_DEFINE_TILE_FIN(q4_1_q8_1_vnni, VNNI_ATTR, q4_1x2, q8_1x2, 64, pP1, acc_min, prep_q4_1x2, zero_min,
                   dot_min_pair, fin_q4_1x2, VNNI_MR, VNNI_MC)
QK_DEFINE_TILE_FIN(q5_1_q8_1_vnni, VNNI_ATTR, q5_1x2, q8_1x2, 64, pP1, acc_min, prep_q5_1x2, zero_min,
                   dot_min_pair, fin_q5_1x2, VNNI_MR, VNNI_MC)

// Mat-mat on column pairs: a zmm holds one block of two activation columns (lanes 0-7: column c,
// 8-15: column c+1) against the same weight block in both halves, so each of ggml's per-block FMAs
// (cpu_kernels.h) is one 512-bit FMA doing two outputs' work. The activation side of a block (two
// columns' values and scales) is loaded once and reused across the MR weight rows. Full 4×4 tiles
// go through here; ragged edges through the pair kernels above (same sums, bit for bit).
typedef struct { __m512i y, corr; __m512 dy; } ycp;

VNNI_INL ycp load_ycp(const block_q8_0 *a, const block_q8_0 *b) {
  ycp v;
  v.y = load_pair32(a->qs, b->qs);
  v.dy = scale16(a->d, b->d);
  return v;
}

VNNI_INL __m512 dot_cp(const p32 *p, const ycp *y, __m512 acc) {
  const __m512i w = _mm512_broadcast_i64x4(p->q);
  const __m512i aw = _mm512_broadcast_i64x4(p->aq);
  const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, _mm512_mask_sub_epi8(
      y->y, _mm512_movepi8_mask(w), _mm512_setzero_si512(), y->y));
  const __m512 d = _mm512_mul_ps(_mm512_set1_ps(qk_fp16_to_fp32(p->dh)), y->dy);
  return _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc);
}

#define QK_CP_TILE(NAME, WBLK, PREP_T, PREP1, LOADY, DOT, FALLBACK)                                   \
  /* 4 weight rows × NP column pairs. */                                                             \
  VNNI_INL void NAME##_micro(const int NP, int nb, const char *xr, size_t ldX, const char *yc,        \
                             size_t ldY, float *s, size_t ldS) {                                     \
    __m512 acc[4][2];                                                                                \
    QK_UNROLL for (int r = 0; r < 4; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();               \
    for (int i = 0; i < nb; ++i) {                                                                   \
      ycp yv[2];                                                                                     \
      QK_UNROLL for (int cp = 0; cp < NP; ++cp)                                                      \
        yv[cp] = LOADY((const block_q8_0 *)(yc + (size_t)(2 * cp) * ldY) + i,                        \
                       (const block_q8_0 *)(yc + (size_t)(2 * cp + 1) * ldY) + i);                   \
      QK_UNROLL for (int r = 0; r < 4; ++r) {                                                        \
        const WBLK *xb = (const WBLK *)(xr + (size_t)r * ldX) + i;                                   \
        __builtin_prefetch((const char *)xb + QK_PF_DIST);                                           \
        PREP_T p;                                                                                    \
        PREP1(&p, xb);                                                                               \
        QK_UNROLL for (int cp = 0; cp < NP; ++cp) acc[r][cp] = DOT(&p, &yv[cp], acc[r][cp]);         \
      }                                                                                              \
    }                                                                                                \
    QK_UNROLL for (int r = 0; r < 4; ++r)                                                            \
      QK_UNROLL for (int cp = 0; cp < NP; ++cp) {                                                    \
        s[(size_t)(2 * cp) * ldS + r] = qk_hsum_ps_avx2(_mm512_castps512_ps256(acc[r][cp]));         \
        s[(size_t)(2 * cp + 1) * ldS + r] = qk_hsum_ps_avx2(_mm512_extractf32x8_ps(acc[r][cp], 1));  \
      }                                                                                              \
  }                                                                                                  \
  /* Full 4-row strips: 4-column tiles, then a last column pair (batched decode of 2-3 sequences */  \
  /* and ragged panels); a last odd column and the last rows through FALLBACK. */                    \
  VNNI_ATTR static void NAME(int n, int nr, int nc, const void *x, size_t ldX, const void *y, size_t ldY,   \
                             float *s, size_t ldS) {                                                   \
    if (nc == 1) { /* mat-vec: the fallback's streams */                                              \
      FALLBACK(n, nr, 1, x, ldX, y, ldY, s, ldS);                                                      \
      return;                                                                                          \
    }                                                                                                  \
    const int nb = n / 32;                                                                             \
    const int nr4 = nr / 4 * 4, nc4 = nc / 4 * 4, nc2 = nc / 2 * 2;                                    \
    for (int r0 = 0; r0 < nr4; r0 += 4) {                                                              \
      const char *xr = (const char *)x + (size_t)r0 * ldX;                                             \
      for (int c0 = 0; c0 < nc4; c0 += 4)                                                              \
        NAME##_micro(2, nb, xr, ldX, (const char *)y + (size_t)c0 * ldY, ldY, s + (size_t)c0 * ldS + r0, ldS); \
      if (nc4 < nc2)                                                                                   \
        NAME##_micro(1, nb, xr, ldX, (const char *)y + (size_t)nc4 * ldY, ldY, s + (size_t)nc4 * ldS + r0, ldS); \
      if (nc2 < nc)                                                                                    \
        FALLBACK(n, 4, nc - nc2, xr, ldX, (const char *)y + (size_t)nc2 * ldY, ldY, s + (size_t)nc2 * ldS + r0, ldS); \
    }                                                                                                  \
    if (nr4 < nr) FALLBACK(n, nr - nr4, nc, (const char *)x + (size_t)nr4 * ldX, ldX, y, ldY, s + nr4, ldS); \
  }
// q5_0: the weights stay unsigned (u = value + 16, one mask blend from qh) and −16·Σy, a per-lane
// property of the activation block, is loaded with it as the vpdpbusd accumulator start.
typedef struct { __m256i u; uint16_t dh; } p5u;

VNNI_INL void prep_q5_0u(p5u *p, const block_q5_0 *x) {
  uint32_t qh;
  memcpy(&qh, x->qh, 4);
  const __m256i n = nibbles32(x->qs);
  p->u = _mm256_mask_blend_epi8(_cvtu32_mask32(qh), n, _mm256_or_si256(n, _mm256_set1_epi8(0x10)));
  p->dh = x->d;
}

VNNI_INL ycp load_ycp16(const block_q8_0 *a, const block_q8_0 *b) {
  ycp v = load_ycp(a, b);
  v.corr = _mm512_sub_epi32(_mm512_setzero_si512(),
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(16), v.y));
  return v;
}

VNNI_INL __m512 dot_cp_u(const p5u *p, const ycp *y, __m512 acc) {
  const __m512i s = _mm512_dpbusd_epi32(y->corr, _mm512_broadcast_i64x4(p->u), y->y);
  const __m512 d = _mm512_mul_ps(_mm512_set1_ps(qk_fp16_to_fp32(p->dh)), y->dy);
  return _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc);
}

QK_CP_TILE(q4_0_q8_0_cp_tile, block_q4_0, p32, prep_q4_0, load_ycp, dot_cp, q4_0_q8_0_vnni_tile)
QK_CP_TILE(q5_0_q8_0_cp_tile, block_q5_0, p5u, prep_q5_0u, load_ycp16, dot_cp_u, q5_0_q8_0_vnni_tile)
QK_CP_TILE(q8_0_q8_0_cp_tile, block_q8_0, p32, prep_q8_0, load_ycp, dot_cp, q8_0_q8_0_vnni_tile)
QK_CP_TILE(iq4_nl_q8_0_cp_tile, block_iq4_nl, p32, prep_iq4_nl, load_ycp, dot_cp, iq4_nl_q8_0_vnni_tile)

// ---- Mat-vec (one activation row) of q4_K ----
// Four super-blocks at a time through the 256-bit group kernel (q4K_mv2_group, kernels_avx2_prep.h),
// compiled here for AVX512-VNNI: 26.5-27.1 GB/s on one Zen 4 core (cache-resident) against 25.8 for
// the 512-bit version of the same scheme it replaces (two sub-block pairs per vector, the activation
// laid out in the nibbles' order). Bit-identical to vec_dot.
QK_Q4K_MV_TILE(q4_K_q8_K_vnni_mv_tile, VNNI_ATTR, q4K_mv2_act, Q4K_MV2_MAX_BLOCKS, q4K_mv2_layout, q4K_mv2_group,
               pK512, prep_q4_K_512, acc_q4K512, dot_q4K_gemv_vnni, fin_q4K512, q4_K_q8_K_vnni_tile)

void qk_fill_avx512_vnni(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_AVX512_VNNI;
  qk_set(t, QK_TYPE_Q4_0, q4_0_q8_0_vnni_vec_dot, q4_0_q8_0_cp_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q5_0, q5_0_q8_0_vnni_vec_dot, q5_0_q8_0_cp_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q4_1, q4_1_q8_1_vnni_vec_dot, q4_1_q8_1_vnni_tile, QK_TYPE_Q8_1, I);
  qk_set(t, QK_TYPE_Q5_1, q5_1_q8_1_vnni_vec_dot, q5_1_q8_1_vnni_tile, QK_TYPE_Q8_1, I);
  qk_set(t, QK_TYPE_Q8_0, q8_0_q8_0_vnni_vec_dot, q8_0_q8_0_cp_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_IQ4_NL, iq4_nl_q8_0_vnni_vec_dot, iq4_nl_q8_0_cp_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_MXFP4, mxfp4_q8_0_vnni_vec_dot, mxfp4_q8_0_vnni_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q2_K, q2_K_q8_K_vnni_vec_dot, q2_K_q8_K_vnni_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q3_K, q3_K_q8_K_vnni_vec_dot, q3_K_q8_K_vnni_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q4_K, q4_K_q8_K_vnni_vec_dot, q4_K_q8_K_vnni_mv_tile, QK_TYPE_Q8_K, I);
  t->vec_dot_tile_g4[QK_TYPE_Q4_K] = q4_K_q8_K_g4_vnni_tile;
  qk_set(t, QK_TYPE_Q5_K, q5_K_q8_K_vnni_vec_dot, q5_K_q8_K_vnni_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_Q6_K, q6_K_q8_K_vnni_vec_dot, q6_K_q8_K_vnni_tile, QK_TYPE_Q8_K, I);
  t->tile_cols = VNNI_MC;  // a multiple of the K-quant tiles' 2 columns too
}

#endif
