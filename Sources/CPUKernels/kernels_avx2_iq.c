// AVX2 integer dots of the i-quants and ternary types against q8_K. Each weight super-block is
// unpacked once per weight row (grid look-ups, sign bits to ±1 bytes, trits to bytes) into 8 vectors
// of 32 weights; every activation column then costs 8 maddubs + 8 madd, as the K-quants do. The int32
// lanes and float operations are ggml's (kernels_scalar_iq.c says which), so every result equals the
// scalar reference-order kernel bit for bit.
#include "iq_tables.h"
#include "kernels_avx2_prep.h"
#include "kernels_iq.h"

#if defined(__x86_64__)

// Sign bytes 4c .. 4c + 3 of s (bit j of byte g: value 8g + j is negative) → chunk c's 32 bytes of ±1.
AVX2_INL __m256i signs_chunk(__m256i s, int c) {
  const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
  const __m256i dword = _mm256_permutevar8x32_epi32(s, _mm256_set1_epi32(c));
  const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(dword, spread), bit);
  return _mm256_or_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(1));
}

// Four 7-bit sign fields (field l at bit 7l) of each of 8 dwords → 32 bytes, dword c's at 4c .. 4c + 3.
AVX2_INL __m256i fields7x4_avx2(__m256i aux) {
  const __m256i m7 = _mm256_set1_epi32(127);
  const __m256i f0 = _mm256_and_si256(aux, m7), f1 = _mm256_and_si256(_mm256_srli_epi32(aux, 7), m7);
  const __m256i f2 = _mm256_and_si256(_mm256_srli_epi32(aux, 14), m7);
  const __m256i f3 = _mm256_and_si256(_mm256_srli_epi32(aux, 21), m7);
  // Per 128-bit lane: bytes [f0 of 4 dwords, f1, f2, f3] → transposed to dword-major.
  const __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(f0, f1), _mm256_packus_epi32(f2, f3));
  const __m128i t = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm256_shuffle_epi8(b, _mm256_broadcastsi128_si256(t));
}

AVX2_INL __m256i grid64x4(const uint64_t *g, int i0, int i1, int i2, int i3) {
  return _mm256_setr_epi64x((long long)g[i0], (long long)g[i1], (long long)g[i2], (long long)g[i3]);
}

// ---- iq2 / iq3: pKs (kernels_avx2_prep.h): aq = |grid| bytes, q = ±1 signs, sc = 2·ls + 1 ----

AVX2_INL void prep_iq2_xxs(pKs *p, const block_iq2_xxs *x) {
  uint32_t aux[16];
  memcpy(aux, x->qs, 64);
  // Odd dwords: the sign fields (and the 4-bit scale) of each chunk.
  const __m256i odd = _mm256_setr_epi32((int)aux[1], (int)aux[3], (int)aux[5], (int)aux[7], (int)aux[9], (int)aux[11],
                                        (int)aux[13], (int)aux[15]);
  const __m256i s = qk_ksigns_bytes(fields7x4_avx2(odd));
  QK_UNROLL for (int c = 0; c < 8; ++c) {
    const uint8_t *i8 = (const uint8_t *)(aux + 2 * c);
    p->aq[c] = grid64x4(qk_iq2xxs_grid, i8[0], i8[1], i8[2], i8[3]);
    p->q[c] = signs_chunk(s, c);
    p->sc[c] = _mm256_set1_epi16((short)(2 * (aux[2 * c + 1] >> 28) + 1));
  }
  p->d = qk_fp16_to_fp32(x->d);
}

AVX2_INL void prep_iq2_xs(pKs *p, const block_iq2_xs *x) {
  // Sign fields: the top 7 bits of each u16, as 32 bytes in order (packus interleaves the lanes).
  const __m256i v0 = _mm256_loadu_si256((const __m256i *)x->qs);
  const __m256i v1 = _mm256_loadu_si256((const __m256i *)(x->qs + 16));
  const __m256i packed = _mm256_packus_epi16(_mm256_srli_epi16(v0, 9), _mm256_srli_epi16(v1, 9));
  const __m256i f = _mm256_permute4x64_epi64(packed, 0xD8);
  const __m256i s = qk_ksigns_bytes(f);
  QK_UNROLL for (int c = 0; c < 8; ++c) {
    const uint16_t *v = x->qs + 4 * c;
    p->aq[c] = grid64x4(qk_iq2xs_grid, v[0] & 511, v[1] & 511, v[2] & 511, v[3] & 511);
    p->q[c] = signs_chunk(s, c);
    p->sc[c] = scale_pair(2 * (x->scales[c] & 0xF) + 1, 2 * (x->scales[c] >> 4) + 1);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

AVX2_INL void prep_iq2_s(pKs *p, const block_iq2_s *x) {
  const __m256i s = _mm256_loadu_si256((const __m256i *)(x->qs + QK_K / 8));
  QK_UNROLL for (int c = 0; c < 8; ++c) {
    const uint8_t *qs = x->qs + 4 * c;
    const int h = x->qh[c];
    p->aq[c] = grid64x4(qk_iq2s_grid, qs[0] | ((h << 8) & 0x300), qs[1] | ((h << 6) & 0x300),
                        qs[2] | ((h << 4) & 0x300), qs[3] | ((h << 2) & 0x300));
    p->q[c] = signs_chunk(s, c);
    p->sc[c] = scale_pair(2 * (x->scales[c] & 0xF) + 1, 2 * (x->scales[c] >> 4) + 1);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

AVX2_INL void prep_iq3_xxs(pKs *p, const block_iq3_xxs *x) {
  const uint32_t *g = qk_iq3xxs_grid;
  const __m256i gas = _mm256_loadu_si256((const __m256i *)(x->qs + QK_K / 4));  // signs and scale per chunk
  const __m256i s = qk_ksigns_bytes(fields7x4_avx2(gas));
  uint32_t aux[8];
  memcpy(aux, x->qs + QK_K / 4, 32);
  QK_UNROLL for (int c = 0; c < 8; ++c) {
    const uint8_t *q3 = x->qs + 8 * c;
    p->aq[c] = _mm256_setr_epi32((int)g[q3[0]], (int)g[q3[1]], (int)g[q3[2]], (int)g[q3[3]], (int)g[q3[4]],
                                 (int)g[q3[5]], (int)g[q3[6]], (int)g[q3[7]]);
    p->q[c] = signs_chunk(s, c);
    p->sc[c] = _mm256_set1_epi16((short)(2 * (aux[c] >> 28) + 1));
  }
  p->d = qk_fp16_to_fp32(x->d);
}

AVX2_INL void prep_iq3_s(pKs *p, const block_iq3_s *x) {
  const __m256i s = _mm256_loadu_si256((const __m256i *)x->signs);
  const uint32_t *g = qk_iq3s_grid;
  QK_UNROLL for (int c = 0; c < 8; ++c) {
    const uint8_t *qs = x->qs + 8 * c;
    const int h = x->qh[c];
    p->aq[c] = _mm256_setr_epi32((int)g[qs[0] | ((h << 8) & 256)], (int)g[qs[1] | ((h << 7) & 256)],
                                 (int)g[qs[2] | ((h << 6) & 256)], (int)g[qs[3] | ((h << 5) & 256)],
                                 (int)g[qs[4] | ((h << 4) & 256)], (int)g[qs[5] | ((h << 3) & 256)],
                                 (int)g[qs[6] | ((h << 2) & 256)], (int)g[qs[7] | ((h << 1) & 256)]);
    p->q[c] = signs_chunk(s, c);
    p->sc[c] = _mm256_set1_epi16((short)(2 * ((x->scales[c / 2] >> (4 * (c % 2))) & 0xF) + 1));
  }
  p->d = qk_fp16_to_fp32(x->d);
}

AVX2_INL float fin_8th(__m256 a) { return 0.125f * qk_hsum_ps_avx2(a); }
AVX2_INL float fin_4th(__m256 a) { return 0.25f * qk_hsum_ps_avx2(a); }

// ---- iq1_s / iq1_m: grid values −1, 0, 1 (q = grid, aq = |grid|) plus the delta term ----

typedef struct {
  pKs k;
  __m256i dl[8];  // iq1_m: ±1 delta sign of each value
  __m256i dsc;    // iq1_s: ±ls per bsum (16-value group)
} pIQ1;

typedef struct { __m256 a, b; float s; } accIQ1;

AVX2_INL accIQ1 zero_iq1(void) { return (accIQ1){_mm256_setzero_ps(), _mm256_setzero_ps(), 0.0f}; }
AVX2_INL float fin_iq1_s(accIQ1 a) { return qk_hsum_ps_avx2(a.a) + 0.125f * a.s; }
AVX2_INL float fin_iq1_m(accIQ1 a) { return qk_hsum_ps_avx2(a.a) + 0.125f * qk_hsum_ps_avx2(a.b); }

AVX2_INL void prep_iq1_s(pIQ1 *p, const block_iq1_s *x) {
  int16_t dsc[16];
  QK_UNROLL for (int c = 0; c < 8; ++c) {
    const uint8_t *qs = x->qs + 4 * c;
    const int h = x->qh[c];
    const __m256i g = grid64x4(qk_iq1s_grid, qs[0] | ((h << 8) & 0x700), qs[1] | ((h << 5) & 0x700),
                               qs[2] | ((h << 2) & 0x700), qs[3] | ((h >> 1) & 0x700));
    p->k.q[c] = g;
    p->k.aq[c] = _mm256_sign_epi8(g, g);
    const int ls = 2 * ((h >> 12) & 7) + 1;
    p->k.sc[c] = _mm256_set1_epi16((short)ls);
    dsc[2 * c] = dsc[2 * c + 1] = (int16_t)(h & 0x8000 ? -ls : ls);
  }
  p->dsc = _mm256_loadu_si256((const __m256i *)dsc);
  p->k.d = qk_fp16_to_fp32(x->d);
}

AVX2_INL void prep_iq1_m(pIQ1 *p, const block_iq1_m *x) {
  uint16_t sc[4];
  memcpy(sc, x->scales, 8);
  const uint16_t d16 =
      (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
  // Delta sign of 8-value group l: bit 3 (l even) or 7 (l odd) of qh[2c + l / 2].
  const __m256i spread = _mm256_setr_epi64x(0, 0, 0x0101010101010101, 0x0101010101010101);
  const __m256i bit = _mm256_setr_epi64x(0x0808080808080808, (long long)0x8080808080808080ULL, 0x0808080808080808,
                                         (long long)0x8080808080808080ULL);
  QK_UNROLL for (int c = 0; c < 8; ++c) {
    const uint8_t *qs = x->qs + 4 * c;
    const int h0 = x->qh[2 * c], h1 = x->qh[2 * c + 1];
    const __m256i g = grid64x4(qk_iq1s_grid, qs[0] | ((h0 << 8) & 0x700), qs[1] | ((h0 << 4) & 0x700),
                               qs[2] | ((h1 << 8) & 0x700), qs[3] | ((h1 << 4) & 0x700));
    p->k.q[c] = g;
    p->k.aq[c] = _mm256_sign_epi8(g, g);
    const __m256i hb = _mm256_shuffle_epi8(_mm256_set1_epi16((short)(h0 | h1 << 8)), spread);
    p->dl[c] = _mm256_or_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, bit), bit), _mm256_set1_epi8(1));
    p->k.sc[c] = scale_pair(2 * ((sc[c / 2] >> (6 * (c % 2))) & 7) + 1, 2 * ((sc[c / 2] >> (6 * (c % 2) + 3)) & 7) + 1);
  }
  p->k.d = qk_fp16_to_fp32(d16);
}

// Σ_c sc·(aq · sign(y, q)) as ggml's 8 int32 lanes.
AVX2_INL __m256i lanes_Ks(const pKs *p, const block_q8_K *y) {
  __m256i sumi = _mm256_setzero_si256();
  QK_UNROLL for (int c = 0; c < 8; ++c) {
    const __m256i qy = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * c));
    const __m256i p16 = _mm256_maddubs_epi16(p->aq[c], _mm256_sign_epi8(qy, p->q[c]));
    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p->sc[c], p16));
  }
  return sumi;
}

AVX2_INL accIQ1 dot_iq1_s(const pIQ1 *p, const block_q8_K *y, accIQ1 acc) {
  const float d = p->k.d * y->d;
  acc.a = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes_Ks(&p->k, y)), acc.a);
  const __m256i delta = _mm256_madd_epi16(p->dsc, _mm256_loadu_si256((const __m256i *)y->bsums));
  acc.s = __builtin_fmaf(d, (float)qk_hsum_epi32_avx2(delta), acc.s);
  return acc;
}

AVX2_INL accIQ1 dot_iq1_m(const pIQ1 *p, const block_q8_K *y, accIQ1 acc) {
  const __m256 d = _mm256_set1_ps(p->k.d * y->d);
  __m256i s1 = _mm256_setzero_si256(), s2 = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi8(1);
  QK_UNROLL for (int c = 0; c < 8; ++c) {
    const __m256i qy = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * c));
    const __m256i p1 = _mm256_maddubs_epi16(p->k.aq[c], _mm256_sign_epi8(qy, p->k.q[c]));
    const __m256i p2 = _mm256_maddubs_epi16(ones, _mm256_sign_epi8(qy, p->dl[c]));
    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p->k.sc[c], p1));
    s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(p->k.sc[c], p2));
  }
  acc.a = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s1), acc.a);
  acc.b = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s2), acc.b);
  return acc;
}

// ---- tq1_0 / tq2_0: unsigned trits 0..2 in element order; −1 through the bsums ----

typedef struct { __m256i u[8]; float d; } pTQ;

AVX2_INL void prep_tq2_0(pTQ *p, const block_tq2_0 *x) {
  const __m256i m3 = _mm256_set1_epi8(3);
  QK_UNROLL for (int k = 0; k < 2; ++k) {
    const __m256i b = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * k));
    p->u[4 * k + 0] = _mm256_and_si256(b, m3);
    p->u[4 * k + 1] = _mm256_and_si256(_mm256_srli_epi16(b, 2), m3);
    p->u[4 * k + 2] = _mm256_and_si256(_mm256_srli_epi16(b, 4), m3);
    p->u[4 * k + 3] = _mm256_and_si256(_mm256_srli_epi16(b, 6), m3);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

AVX2_INL __m256i times3(__m256i q) { return _mm256_add_epi8(q, _mm256_add_epi8(q, q)); }

// Leading trit of q·3^n (mod 256) = floor(3q / 256): (q ≥ 86) + (q ≥ 171).
AVX2_INL __m256i top_trit(__m256i q) {
  const __m256i ge86 = _mm256_cmpeq_epi8(_mm256_max_epu8(q, _mm256_set1_epi8(86)), q);
  const __m256i ge171 = _mm256_cmpeq_epi8(_mm256_max_epu8(q, _mm256_set1_epi8((char)171)), q);
  return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge86), ge171);
}

AVX2_INL void prep_tq1_0(pTQ *p, const block_tq1_0 *x) {
  // Values 0..159: trit n of qs[m] is value 32n + m.
  __m256i q = _mm256_loadu_si256((const __m256i *)x->qs);
  QK_UNROLL for (int n = 0; n < 5; ++n) {
    p->u[n] = top_trit(q);
    q = times3(q);
  }
  // Values 160..239: trit n of qs[32 + m] is value 160 + 16n + m; 240..255: trit n of qh[j] is 240 + 4n + j.
  const __m128i t = _mm_loadu_si128((const __m128i *)(x->qs + 32));
  __m256i h = _mm256_setr_m128i(t, _mm_add_epi8(t, _mm_add_epi8(t, t)));  // [·1 | ·3]
  p->u[5] = top_trit(h);
  h = times3(times3(h));  // [·9 | ·27]
  p->u[6] = top_trit(h);
  h = times3(times3(h));  // [·81 | ·243]
  uint32_t qh;
  memcpy(&qh, x->qh, 4);
  const __m128i h0 = _mm_set1_epi32((int)qh), h1 = _mm_add_epi8(h0, _mm_add_epi8(h0, h0));
  const __m128i h2 = _mm_add_epi8(h1, _mm_add_epi8(h1, h1)), h3 = _mm_add_epi8(h2, _mm_add_epi8(h2, h2));
  const __m128i hq = _mm_blend_epi32(_mm_blend_epi32(h0, h1, 0x2), _mm_blend_epi32(h2, h3, 0x8), 0xC);
  p->u[7] = top_trit(_mm256_setr_m128i(_mm256_castsi256_si128(h), hq));
  p->d = qk_fp16_to_fp32(x->d);
}

AVX2_INL __m256 dot_tq(const pTQ *p, const block_q8_K *y, __m256 acc) {
  // 16-bit sums: |Σ| ≤ 8 chunks · 2 products · 2 · 127, and the bsum (≤ 16 · 127) fits too.
  __m256i s = _mm256_setzero_si256();
  QK_UNROLL for (int c = 0; c < 8; ++c)
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(p->u[c], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * c))));
  s = _mm256_sub_epi16(s, _mm256_loadu_si256((const __m256i *)y->bsums));
  const __m256i lanes = _mm256_madd_epi16(s, _mm256_set1_epi16(1));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_set1_ps(p->d * y->d), acc);
}

// Register tiles (MR rows × MC columns): a super-block is unpacked once per row and reused across
// the MC activation columns (the unpacking costs more than a column's dot).
#define IQ_AVX2(T, PREP_T, ACC_T, ZERO, DOT, FIN, MR, MC)                                               \
  QK_DEFINE_TILE(T##_q8_K_avx2, AVX2_ATTR, block_##T, block_q8_K, QK_K, PREP_T, ACC_T, prep_##T, ZERO, DOT, \
                 FIN, QK_NO_TAIL, MR, MC)
IQ_AVX2(iq2_xxs, pKs, __m256, zero_ps, dot_Ks, fin_8th, 1, 8)
IQ_AVX2(iq2_xs, pKs, __m256, zero_ps, dot_Ks, fin_8th, 1, 8)
IQ_AVX2(iq2_s, pKs, __m256, zero_ps, dot_Ks, fin_8th, 1, 8)
IQ_AVX2(iq3_xxs, pKs, __m256, zero_ps, dot_Ks, fin_4th, 1, 8)
IQ_AVX2(iq3_s, pKs, __m256, zero_ps, dot_Ks, qk_hsum_ps_avx2, 1, 8)
IQ_AVX2(iq1_s, pIQ1, accIQ1, zero_iq1, dot_iq1_s, fin_iq1_s, 1, 4)
IQ_AVX2(iq1_m, pIQ1, accIQ1, zero_iq1, dot_iq1_m, fin_iq1_m, 1, 4)
IQ_AVX2(tq1_0, pTQ, __m256, zero_ps, dot_tq, qk_hsum_ps_avx2, 2, 4)
IQ_AVX2(tq2_0, pTQ, __m256, zero_ps, dot_tq, qk_hsum_ps_avx2, 2, 4)

void qk_fill_avx2_iq(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_AVX2;
  qk_set(t, QK_TYPE_IQ2_XXS, iq2_xxs_q8_K_avx2_vec_dot, iq2_xxs_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ2_XS, iq2_xs_q8_K_avx2_vec_dot, iq2_xs_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ2_S, iq2_s_q8_K_avx2_vec_dot, iq2_s_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ3_XXS, iq3_xxs_q8_K_avx2_vec_dot, iq3_xxs_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ3_S, iq3_s_q8_K_avx2_vec_dot, iq3_s_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ1_S, iq1_s_q8_K_avx2_vec_dot, iq1_s_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_IQ1_M, iq1_m_q8_K_avx2_vec_dot, iq1_m_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_TQ1_0, tq1_0_q8_K_avx2_vec_dot, tq1_0_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
  qk_set(t, QK_TYPE_TQ2_0, tq2_0_q8_K_avx2_vec_dot, tq2_0_q8_K_avx2_tile, QK_TYPE_Q8_K, I);
}

#endif
