// AVX2 block unpacking ("prep") and per-column dots, shared by the AVX2 and AVX-512 kernel files
// (an AVX-512 function may inline these AVX2 helpers; its target is a superset).
#ifndef QUANTA_KERNELS_AVX2_PREP_H
#define QUANTA_KERNELS_AVX2_PREP_H

#include "kernels_avx2.h"

#if defined(__x86_64__)

// fp16(a)·fp16(b) in f32: one vmovd + vcvtph2ps for both. (F16C's scalar _cvtsh_ss compiles to a
// vpinsrw that merges into whatever register is free, often the accumulator, serializing blocks.)
AVX2_INL float qk_fp16_pair_product(uint16_t a, uint16_t b) {
  const __m128 v = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)a | ((uint32_t)b << 16))));
  return _mm_cvtss_f32(_mm_mul_ss(v, _mm_movehdup_ps(v)));
}

// 7-bit sign fields (ggml's even-parity encoding of the i-quants) in bytes → the full sign bytes
// (bit 7 = parity of the 7 bits, ggml's ksigns_iq2xs).
AVX2_INL __m256i qk_ksigns_bytes(__m256i f) {
  const __m256i parity = _mm256_setr_epi8(0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0,
                                          0, 1, 0, 1, 1, 0);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i p = _mm256_xor_si256(_mm256_shuffle_epi8(parity, _mm256_and_si256(f, m4)),
                                     _mm256_shuffle_epi8(parity, _mm256_and_si256(_mm256_srli_epi16(f, 4), m4)));
  return _mm256_or_si256(f, _mm256_slli_epi16(p, 7));
}

// ---- 32-value blocks ----

// Scales stay as fp16 bits: both of a block pair convert in one vcvtph2ps (see qk_fp16_pair_product).
typedef struct { __m256i q, aq; uint16_t dh, mh; } p32;
typedef struct { __m256 v; float s; } acc_min;

AVX2_INL __m256 zero_ps(void) { return _mm256_setzero_ps(); }
AVX2_INL acc_min zero_min(void) { return (acc_min){_mm256_setzero_ps(), 0.0f}; }
AVX2_INL float hsum_min(acc_min a) { return qk_hsum_ps_avx2(a.v) + a.s; }

AVX2_INL __m256 dot_sym(const p32 *p, const block_q8_0 *y, __m256 acc) {
  const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
  const __m256i dot16 = _mm256_maddubs_epi16(p->aq, _mm256_sign_epi8(qy, p->q));
  const __m256 q = _mm256_cvtepi32_ps(_mm256_madd_epi16(dot16, _mm256_set1_epi16(1)));
  return _mm256_fmadd_ps(_mm256_set1_ps(qk_fp16_pair_product(p->dh, y->d)), q, acc);
}

AVX2_INL acc_min dot_min(const p32 *p, const block_q8_1 *y, acc_min acc) {
  const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
  const __m256i dot16 = _mm256_maddubs_epi16(p->q, qy);
  const __m256 q = _mm256_cvtepi32_ps(_mm256_madd_epi16(dot16, _mm256_set1_epi16(1)));
  acc.v = _mm256_fmadd_ps(_mm256_set1_ps(qk_fp16_pair_product(p->dh, y->d)), q, acc.v);
  acc.s += qk_fp16_pair_product(p->mh, y->s);
  return acc;
}

// 32 nibbles → 32 bytes in [0, 15], low nibbles first (ggml's bytes_from_nibbles_32).
AVX2_INL __m256i nibbles32(const uint8_t *qs) {
  const __m128i tmp = _mm_loadu_si128((const __m128i *)qs);
  const __m256i bytes = _mm256_setr_m128i(tmp, _mm_srli_epi16(tmp, 4));
  return _mm256_and_si256(bytes, _mm256_set1_epi8(0x0F));
}

// 32 bits → 32 bytes of 0x00 / 0xFF (ggml's bytes_from_bits_32).
AVX2_INL __m256i bits32(const uint8_t *qh) {
  uint32_t x32;
  memcpy(&x32, qh, 4);
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf);
  bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

AVX2_INL void prep_q4_0(p32 *p, const block_q4_0 *x) {
  p->q = _mm256_sub_epi8(nibbles32(x->qs), _mm256_set1_epi8(8));
  p->aq = _mm256_sign_epi8(p->q, p->q);
  p->dh = x->d;
}

AVX2_INL void prep_q4_1(p32 *p, const block_q4_1 *x) {
  p->q = nibbles32(x->qs);
  p->dh = x->d;
  p->mh = x->m;
}

AVX2_INL void prep_q5_0(p32 *p, const block_q5_0 *x) {
  // A clear 5th bit means value - 16 < 0: set the high nibble to 0xF (two's complement).
  p->q = _mm256_or_si256(nibbles32(x->qs), _mm256_andnot_si256(bits32(x->qh), _mm256_set1_epi8((char)0xF0)));
  p->aq = _mm256_sign_epi8(p->q, p->q);
  p->dh = x->d;
}

AVX2_INL void prep_q5_1(p32 *p, const block_q5_1 *x) {
  p->q = _mm256_or_si256(nibbles32(x->qs), _mm256_and_si256(bits32(x->qh), _mm256_set1_epi8(0x10)));
  p->dh = x->d;
  p->mh = x->m;
}

AVX2_INL void prep_q8_0(p32 *p, const block_q8_0 *x) {
  p->q = _mm256_loadu_si256((const __m256i *)x->qs);
  p->aq = _mm256_sign_epi8(p->q, p->q);
  p->dh = x->d;
}

AVX2_INL void prep_iq4_nl(p32 *p, const block_iq4_nl *x) {
  const __m256i values = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qk_kvalues_iq4nl));
  p->q = _mm256_shuffle_epi8(values, nibbles32(x->qs));
  p->aq = _mm256_sign_epi8(p->q, p->q);
  p->dh = x->d;
}

// MXFP4: the iq4_nl scheme with the E2M1 table and an E8M0 scale (a float, not fp16 bits).
typedef struct { __m256i q, aq; float d; } p32f;

AVX2_INL void prep_mxfp4(p32f *p, const block_mxfp4 *x) {
  const __m256i values = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qk_kvalues_mxfp4));
  p->q = _mm256_shuffle_epi8(values, nibbles32(x->qs));
  p->aq = _mm256_sign_epi8(p->q, p->q);
  p->d = qk_e8m0_to_fp32_half(x->e);
}

AVX2_INL __m256 dot_sym_f(const p32f *p, const block_q8_0 *y, __m256 acc) {
  const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
  const __m256i dot16 = _mm256_maddubs_epi16(p->aq, _mm256_sign_epi8(qy, p->q));
  const __m256 q = _mm256_cvtepi32_ps(_mm256_madd_epi16(dot16, _mm256_set1_epi16(1)));
  return _mm256_fmadd_ps(_mm256_set1_ps(p->d * qk_fp16_to_fp32(y->d)), q, acc);
}

// ---- 256-value super-blocks against q8_K ----
// Each weight super-block is unpacked once (per weight row) to 8 vectors of 32 byte-sized weights plus
// 16-bit scale vectors; every activation column then costs 8 maddubs + 8 madd. Offsets (q3_K's -4,
// q6_K's -32) and mins go through q8_K's bsums, keeping the weights unsigned so maddubs needs no
// sign fix-up.

typedef struct {
  __m256i q[8];   // weights, 32 per vector in element order, unsigned
  __m256i sc[8];  // int16 scale for each maddubs pair lane of q[j]
  __m256i mb;     // int16 multiplier of each of the 16 bsums
  float d, dm;    // super-block scale, and the scale of the bsums term
  int int_bias;   // offsets (q3_K, q6_K): the bsums term is in units of d, subtract it exactly in int32
} pK;

typedef struct {
  __m256i q[8], aq[8];  // signed weights and their magnitudes
  __m256i sc[8];
  float d;
} pKs;


AVX2_INL __m256 dot_K(const pK *p, const block_q8_K *y, __m256 acc) {
  __m256i sumi = _mm256_setzero_si256();
  for (int j = 0; j < 8; ++j) {
    const __m256i qy = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * j));
    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p->sc[j], _mm256_maddubs_epi16(p->q[j], qy)));
  }
  const __m256i bias = _mm256_madd_epi16(p->mb, _mm256_loadu_si256((const __m256i *)y->bsums));
  if (p->int_bias) {
    // Weights and offset cancel largely; subtracting before the f32 conversion keeps it exact.
    return _mm256_fmadd_ps(_mm256_set1_ps(p->d * y->d), _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi, bias)), acc);
  }
  acc = _mm256_fmadd_ps(_mm256_set1_ps(p->d * y->d), _mm256_cvtepi32_ps(sumi), acc);
  return _mm256_fmadd_ps(_mm256_set1_ps(p->dm * y->d), _mm256_cvtepi32_ps(bias), acc);
}

AVX2_INL __m256 dot_Ks(const pKs *p, const block_q8_K *y, __m256 acc) {
  __m256i sumi = _mm256_setzero_si256();
  for (int j = 0; j < 8; ++j) {
    const __m256i qy = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * j));
    const __m256i p16 = _mm256_maddubs_epi16(p->aq[j], _mm256_sign_epi8(qy, p->q[j]));
    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p->sc[j], p16));
  }
  return _mm256_fmadd_ps(_mm256_set1_ps(p->d * y->d), _mm256_cvtepi32_ps(sumi), acc);
}

// q4_K as ggml's repacked q4_K_8x8 kernels (cpu_kernels.h): integer sums folded in with one scalar
// FMA each, per super-block (gemv) or per 64 values (gemm, activation rows in full groups of four).
typedef struct { float a, m; } acc_q4K;

AVX2_INL acc_q4K zero_q4K(void) { return (acc_q4K){0.0f, 0.0f}; }
AVX2_INL float fin_q4K(acc_q4K a) { return a.a - a.m; }

// Per 32-value sub-block pair j (values 64j..64j+63): Σ scale·q·y as 8 int32 lanes.
AVX2_INL __m256i q4K_part64(const pK *p, const block_q8_K *y, int j) {
  const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j));
  const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j + 32));
  return _mm256_add_epi32(_mm256_madd_epi16(p->sc[2 * j], _mm256_maddubs_epi16(p->q[2 * j], y0)),
                          _mm256_madd_epi16(p->sc[2 * j + 1], _mm256_maddubs_epi16(p->q[2 * j + 1], y1)));
}

AVX2_INL acc_q4K dot_q4K_gemv(const pK *p, const block_q8_K *y, acc_q4K acc) {
  __m256i sumi = q4K_part64(p, y, 0);
  for (int j = 1; j < 4; ++j) sumi = _mm256_add_epi32(sumi, q4K_part64(p, y, j));
  // Lane l: min of sub-block l times its 32 values' bsum.
  const __m256i mins = _mm256_madd_epi16(p->mb, _mm256_loadu_si256((const __m256i *)y->bsums));
  acc.a = __builtin_fmaf((float)qk_hsum_epi32_avx2(sumi), p->d * y->d, acc.a);
  acc.m = __builtin_fmaf((float)qk_hsum_epi32_avx2(mins), -p->dm * y->d, acc.m);
  return acc;
}

AVX2_INL acc_q4K dot_q4K_gemm(const pK *p, const block_q8_K *y, acc_q4K acc) {
  int32_t s[4], m[8];
  _mm_storeu_si128((__m128i *)s, qk_hsum4_epi32_avx2(q4K_part64(p, y, 0), q4K_part64(p, y, 1),
                                                     q4K_part64(p, y, 2), q4K_part64(p, y, 3)));
  _mm256_storeu_si256((__m256i *)m,
                      _mm256_madd_epi16(p->mb, _mm256_loadu_si256((const __m256i *)y->bsums)));
  const float d = p->d * y->d, dmin = -p->dm * y->d;
  for (int j = 0; j < 4; ++j) {
    acc.a = __builtin_fmaf((float)s[j], d, acc.a);
    acc.m = __builtin_fmaf((float)(m[2 * j] + m[2 * j + 1]), dmin, acc.m);
  }
  return acc;
}

// ---- q4_K mat-vec, four super-blocks at a time (kernels_avx2_k.c, kernels_avx512.c) ----

// Folds four super-blocks' integer sums S and min sums M into acc = [a m · ·], in order:
// a += S_b·(d_b·d_y), m += M_b·(dmin_b·d_y). `dh`: the blocks' [d dmin] f16 pairs; `dy`: d_y of each
// block, twice.
AVX2_INL __m128 q4K_mv_fold4(__m128i S, __m128i M, __m128i dh, const float *dy, __m128 acc) {
  const __m256 f = _mm256_cvtepi32_ps(_mm256_setr_m128i(_mm_unpacklo_epi32(S, M), _mm_unpackhi_epi32(S, M)));
  const __m256 dd = _mm256_mul_ps(_mm256_cvtph_ps(dh), _mm256_loadu_ps(dy));
  const __m128 f01 = _mm256_castps256_ps128(f), f23 = _mm256_extractf128_ps(f, 1);
  const __m128 d01 = _mm256_castps256_ps128(dd), d23 = _mm256_extractf128_ps(dd, 1);
  acc = _mm_fmadd_ps(f01, d01, acc);
  acc = _mm_fmadd_ps(_mm_movehl_ps(f01, f01), _mm_movehl_ps(d01, d01), acc);
  acc = _mm_fmadd_ps(f23, d23, acc);
  return _mm_fmadd_ps(_mm_movehl_ps(f23, f23), _mm_movehl_ps(d23, d23), acc);
}

// The group kernel of every x86 table's q4_K mat-vec (AVX2, AVX-512 and AVX512-VNNI, through
// QK_Q4K_MV_TILE below). The tile kernel (prep_q4_K, dot_q4K_gemv) unpacks each super-block's scales
// with scalar code (k4_common) and reduces its sums horizontally twice, ~110 instructions per 256
// weights. Here four super-blocks of a row go together: their scales and mins
// unpacked at once (ggml's get_scale_min_k4 on 32-bit lanes, one super-block per 128-bit lane), the
// scale words made by byte shuffles, their sums reduced together, the activation's bsum pairs and
// scales laid out once per call. Same integers and the gemv's float steps in order (a += S·(d·d_y),
// m += M·(dmin·d_y) per super-block, result a − m): bit-identical to vec_dot.
enum { Q4K_MV2_MAX_BLOCKS = 64 };  // 16,384 values

typedef struct {
  int16_t ybs[Q4K_MV2_MAX_BLOCKS][8];  // bsums[2j] + bsums[2j+1] (|·| ≤ 2·16·128: a word)
  float dy[Q4K_MV2_MAX_BLOCKS][2];     // d_y twice ([d dmin] pairs multiply by it)
} q4K_mv2_act;

AVX2_INL void q4K_mv2_layout(q4K_mv2_act *a, const block_q8_K *y, int nb) {
  for (int i = 0; i < nb; ++i) {
    const __m256i s32 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), _mm256_set1_epi16(1));
    _mm_storeu_si128((__m128i *)a->ybs[i], _mm_packs_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1)));
    a->dy[i][0] = a->dy[i][1] = y[i].d;
  }
}

// Scales and mins of two super-blocks (x[0] in the low 128-bit lane, x[1] in the high one), each
// lane [scales 0-3, scales 4-7, mins 0-3, mins 4-7] as bytes; `v` gets their first 16 bytes
// ([d|dmin, u0, u1, u2] per lane).
AVX2_INL __m256i q4K_mv2_sm(const block_q4_K *x, __m256i *v) {
  const __m256i km1 = _mm256_set1_epi32(0x3f3f3f3f), km2 = _mm256_set1_epi32(0x0f0f0f0f),
                km3 = _mm256_set1_epi32(0x03030303);
  *v = _mm256_setr_m128i(_mm_loadu_si128((const __m128i *)&x[0]), _mm_loadu_si128((const __m128i *)&x[1]));
  const __m256i A = _mm256_shuffle_epi32(*v, _MM_SHUFFLE(3, 2, 3, 1));  // [u0 u2 u1 u2]
  const __m256i B = _mm256_shuffle_epi32(*v, _MM_SHUFFLE(2, 2, 1, 1));  // [u0 u0 u1 u1]
  const __m256i hiA = _mm256_and_si256(_mm256_srlv_epi32(A, _mm256_setr_epi32(0, 0, 0, 4, 0, 0, 0, 4)), km2);
  const __m256i hiB = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(B, 6), km3), 4);
  return _mm256_blend_epi32(_mm256_and_si256(A, km1), _mm256_or_si256(hiA, hiB), 0xAA);
}

// Σ_j scale_j · Σ_{i in sub-block j} q_i·y_i of one super-block, as 8 int32 lanes. `sm`: its
// unpacked scales (bytes 0-7) in both 128-bit lanes.
AVX2_INL __m256i q4K_mv2_block(const block_q4_K *x, __m256i sm, const int8_t *y) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256i sumi = _mm256_setzero_si256();
  QK_UNROLL for (int j = 0; j < 4; ++j) {
    const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
    // Scale words of sub-blocks 2j and 2j+1: byte index, then a zero byte (0x80).
    const __m256i s0 = _mm256_shuffle_epi8(sm, _mm256_set1_epi16((short)(0x8000 | (2 * j))));
    const __m256i s1 = _mm256_shuffle_epi8(sm, _mm256_set1_epi16((short)(0x8000 | (2 * j + 1))));
    const __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(bits, m4), _mm256_loadu_si256((const __m256i *)(y + 64 * j)));
    const __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                            _mm256_loadu_si256((const __m256i *)(y + 64 * j + 32)));
    sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(s0, p0), _mm256_madd_epi16(s1, p1)));
  }
  return sumi;
}

// Super-blocks x[0..3] · the activation's blocks i..i+3, folded into acc = [a m · ·] in order.
AVX2_INL __m128 q4K_mv2_group(const block_q4_K *x, const q4K_mv2_act *a, const block_q8_K *y, int i, __m128 acc) {
  QK_UNROLL for (int o = 0; o < 4 * (int)sizeof(block_q4_K); o += 64) __builtin_prefetch((const char *)x + QK_PF_DIST + o);
  __m256i v01, v23;
  const __m256i sm01 = q4K_mv2_sm(x, &v01), sm23 = q4K_mv2_sm(x + 2, &v23);
  // M: Σ_j min_j · (bsums[2j] + bsums[2j+1]) per super-block.
  const __m256i mins = _mm256_setr_epi8(8, -128, 9, -128, 10, -128, 11, -128, 12, -128, 13, -128, 14, -128, 15, -128,
                                        8, -128, 9, -128, 10, -128, 11, -128, 12, -128, 13, -128, 14, -128, 15, -128);
  const __m256i mm01 = _mm256_madd_epi16(_mm256_shuffle_epi8(sm01, mins), _mm256_loadu_si256((const __m256i *)a->ybs[i]));
  const __m256i mm23 = _mm256_madd_epi16(_mm256_shuffle_epi8(sm23, mins), _mm256_loadu_si256((const __m256i *)a->ybs[i + 2]));
  __m256i h = _mm256_hadd_epi32(mm01, mm23);  // [M0 halves, M2 halves | M1 halves, M3 halves]
  h = _mm256_hadd_epi32(h, h);                // [M0 M2 · · | M1 M3 · ·]
  const __m128i M = _mm_unpacklo_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  const __m128i S = qk_hsum4_epi32_avx2(q4K_mv2_block(&x[0], _mm256_permute2x128_si256(sm01, sm01, 0x00), y[i].qs),
                                        q4K_mv2_block(&x[1], _mm256_permute2x128_si256(sm01, sm01, 0x11), y[i + 1].qs),
                                        q4K_mv2_block(&x[2], _mm256_permute2x128_si256(sm23, sm23, 0x00), y[i + 2].qs),
                                        q4K_mv2_block(&x[3], _mm256_permute2x128_si256(sm23, sm23, 0x11), y[i + 3].qs));
  // The four super-blocks' [d dmin] f16 pairs (first 32 bits of each).
  const __m256i lanes0 = _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4);
  const __m128i dh = _mm_unpacklo_epi64(_mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v01, lanes0)),
                                        _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v23, lanes0)));
  return q4K_mv_fold4(S, M, dh, a->dy[i], acc);
}

// The q4_K tile with its own mat-vec: ATTR static void NAME(tile arguments) takes one activation row
// (decode) four super-blocks at a time through GROUP(x, act, y, i, acc) after laying the activation
// out once (ACT_T, LAYOUT), the last nb % 4 super-blocks of a row through the gemv step (PREP_T,
// PREP, DOT on ACC_T {a, m}, FIN), rows in QK_MV_STREAMS streams as the tile driver takes them (rows
// r, r + h from parts a page apart); other shapes, and rows over MAXB super-blocks, through FALLBACK.
#define QK_Q4K_MV_TILE(NAME, ATTR, ACT_T, MAXB, LAYOUT, GROUP, PREP_T, PREP, ACC_T, DOT, FIN, FALLBACK)             \
  ATTR static QK_ALWAYS_INLINE void NAME##_rows(const int K, int nb, const char *x, size_t ldX, const ACT_T *a,    \
                                                const block_q8_K *y, float *s, size_t ldS) {                     \
    __m128 acc[QK_MV_STREAMS];                                                                                 \
    QK_UNROLL for (int q = 0; q < K; ++q) acc[q] = _mm_setzero_ps();                                           \
    const int nb4 = nb / 4 * 4;                                                                                \
    for (int i = 0; i < nb4; i += 4)                                                                           \
      QK_UNROLL for (int q = 0; q < K; ++q) acc[q] = GROUP((const block_q4_K *)(x + (size_t)q * ldX) + i, a, y, i, acc[q]); \
    QK_UNROLL for (int q = 0; q < K; ++q) {                                                                    \
      const block_q4_K *xr = (const block_q4_K *)(x + (size_t)q * ldX);                                        \
      ACC_T t = {_mm_cvtss_f32(acc[q]), _mm_cvtss_f32(_mm_movehdup_ps(acc[q]))};                               \
      for (int i = nb4; i < nb; ++i) {                                                                         \
        PREP_T p;                                                                                              \
        PREP(&p, xr + i);                                                                                      \
        t = DOT(&p, y + i, t);                                                                                 \
      }                                                                                                        \
      s[(size_t)q * ldS] = FIN(t);                                                                             \
    }                                                                                                          \
  }                                                                                                            \
  ATTR static void NAME(int n, int nr, int nc, const void *x, size_t ldX, const void *y, size_t ldY, float *s,   \
                        size_t ldS) {                                                                          \
    const int nb = n / QK_K;                                                                                   \
    if (nc != 1 || nb > (MAXB)) {                                                                              \
      FALLBACK(n, nr, nc, x, ldX, y, ldY, s, ldS);                                                             \
      return;                                                                                                  \
    }                                                                                                          \
    ACT_T a;                                                                                                   \
    const block_q8_K *yb = (const block_q8_K *)y;                                                              \
    LAYOUT(&a, yb, nb);                                                                                        \
    const int h = (size_t)(nr / QK_MV_STREAMS) * ldX >= QK_MV_STREAM_GAP ? nr / QK_MV_STREAMS : 0;             \
    for (int r = 0; r < h; ++r)                                                                                \
      NAME##_rows(QK_MV_STREAMS, nb, (const char *)x + (size_t)r * ldX, ldX * (size_t)h, &a, yb, s + r, (size_t)h); \
    for (int r = h * QK_MV_STREAMS; r < nr; ++r)                                                               \
      NAME##_rows(1, nb, (const char *)x + (size_t)r * ldX, 0, &a, yb, s + r, 0);                              \
  }

// Scale vector for a 32-weight vector whose two halves of 16 have scales a and b.
AVX2_INL __m256i scale_pair(int a, int b) {
  return _mm256_setr_m128i(_mm_set1_epi16((short)a), _mm_set1_epi16((short)b));
}

// Bytes of `bits` where (bits & mask) == mask become `value`, others 0.
AVX2_INL __m256i bit_to(__m256i bits, int mask, int value) {
  const __m256i m = _mm256_set1_epi8((char)mask);
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bits, m), m), _mm256_set1_epi8((char)value));
}

AVX2_INL void prep_q2_K(pK *p, const block_q2_K *x) {
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int k = 0; k < 2; ++k) {
    const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * k));
    p->q[4 * k + 0] = _mm256_and_si256(bits, m3);
    p->q[4 * k + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 2), m3);
    p->q[4 * k + 2] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m3);
    p->q[4 * k + 3] = _mm256_and_si256(_mm256_srli_epi16(bits, 6), m3);
  }
  for (int j = 0; j < 8; ++j) p->sc[j] = scale_pair(x->scales[2 * j] & 0xF, x->scales[2 * j + 1] & 0xF);
  const __m128i s = _mm_loadu_si128((const __m128i *)x->scales);
  p->mb = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), _mm_set1_epi8(0x0F)));
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
  p->int_bias = 0;
}

// q3_K's 16 six-bit scales, offset removed.
static inline void q3_K_scales(const uint8_t *s, int8_t out[16]) {
  for (int g = 0; g < 16; ++g) {
    const int low = g < 8 ? (s[g] & 0xF) : (s[g - 8] >> 4);
    const int high = (s[8 + (g % 4)] >> (2 * (g / 4))) & 3;
    out[g] = (int8_t)((low | (high << 4)) - 32);
  }
}

AVX2_INL void prep_q3_K(pK *p, const block_q3_K *x) {
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i hbits = _mm256_loadu_si256((const __m256i *)x->hmask);
  for (int k = 0; k < 2; ++k) {
    const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * k));
    // Weight = (low 2 bits | high bit << 2) - 4; the -4 goes through bsums.
    p->q[4 * k + 0] = _mm256_or_si256(_mm256_and_si256(bits, m3), bit_to(hbits, 1 << (4 * k + 0), 4));
    p->q[4 * k + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 2), m3), bit_to(hbits, 1 << (4 * k + 1), 4));
    p->q[4 * k + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m3), bit_to(hbits, 1 << (4 * k + 2), 4));
    p->q[4 * k + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 6), m3), bit_to(hbits, 1 << (4 * k + 3), 4));
  }
  int8_t sc[16];
  q3_K_scales(x->scales, sc);
  for (int j = 0; j < 8; ++j) p->sc[j] = scale_pair(sc[2 * j], sc[2 * j + 1]);
  p->mb = _mm256_slli_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)), 2);  // 4·scale
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = 0.0f;
  p->int_bias = 1;
}

// q4_K / q5_K: 8 six-bit scales and mins (ggml's get_scale_min_k4 for all j at once).
static inline void k4_scales_mins(const uint8_t *q, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      sc[j] = q[j] & 63;
      mn[j] = q[j + 4] & 63;
    } else {
      sc[j] = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
      mn[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
  }
}

AVX2_INL void k4_common(pK *p, const uint8_t *scales) {
  uint8_t sc[8], mn[8];
  k4_scales_mins(scales, sc, mn);
  for (int j = 0; j < 8; ++j) p->sc[j] = _mm256_set1_epi16(sc[j]);
  int64_t m64;
  memcpy(&m64, mn, 8);
  const __m128i dup = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  p->mb = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_cvtsi64_si128(m64), dup));
}

AVX2_INL void prep_q4_K(pK *p, const block_q4_K *x) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  for (int j = 0; j < 4; ++j) {
    const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
    p->q[2 * j] = _mm256_and_si256(bits, m4);
    p->q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
  }
  k4_common(p, x->scales);
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
  p->int_bias = 0;
}

AVX2_INL void prep_q5_K(pK *p, const block_q5_K *x) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i hbits = _mm256_loadu_si256((const __m256i *)x->qh);
  for (int j = 0; j < 4; ++j) {
    const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
    p->q[2 * j] = _mm256_or_si256(_mm256_and_si256(bits, m4), bit_to(hbits, 1 << (2 * j), 16));
    p->q[2 * j + 1] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), bit_to(hbits, 1 << (2 * j + 1), 16));
  }
  k4_common(p, x->scales);
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
  p->int_bias = 0;
}

AVX2_INL void prep_q6_K(pK *p, const block_q6_K *x) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  for (int k = 0; k < 2; ++k) {
    const __m256i b1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * k));
    const __m256i b2 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * k + 32));
    const __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * k));
    const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(3)), 4);
    const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(12)), 2);
    const __m256i h2 = _mm256_and_si256(hb, _mm256_set1_epi8(48));
    const __m256i h3 = _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8((char)192)), 2);
    p->q[4 * k + 0] = _mm256_or_si256(_mm256_and_si256(b1, m4), h0);
    p->q[4 * k + 1] = _mm256_or_si256(_mm256_and_si256(b2, m4), h1);
    p->q[4 * k + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), h2);
    p->q[4 * k + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), h3);
  }
  for (int j = 0; j < 8; ++j) p->sc[j] = scale_pair(x->scales[2 * j], x->scales[2 * j + 1]);
  p->mb = _mm256_slli_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales)), 5);  // 32·scale
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = 0.0f;
  p->int_bias = 1;
}

AVX2_INL void prep_iq4_xs(pKs *p, const block_iq4_xs *x) {
  const __m256i values = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qk_kvalues_iq4nl));
  const __m256i m4 = _mm256_set1_epi8(0xF);
  for (int ib = 0; ib < 8; ++ib) {
    const __m128i tmp = _mm_loadu_si128((const __m128i *)(x->qs + 16 * ib));
    const __m256i idx = _mm256_and_si256(_mm256_setr_m128i(tmp, _mm_srli_epi16(tmp, 4)), m4);
    p->q[ib] = _mm256_shuffle_epi8(values, idx);
    p->aq[ib] = _mm256_sign_epi8(p->q[ib], p->q[ib]);
    const int ls = ((x->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((x->scales_h >> (2 * ib)) & 3) << 4);
    p->sc[ib] = _mm256_set1_epi16((short)(ls - 32));
  }
  p->d = qk_fp16_to_fp32(x->d);
}

#endif

#endif
