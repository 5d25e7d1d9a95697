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
