// AVX-512 (F/BW) integer dots of the i-quants (iq1_s, iq1_m, iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s)
// and the ternary types against q8_K. A super-block is 4 vectors of 64 weights. Grid rows are looked up as
// 16-bit codes held in registers (word permutes; gathers measured slower on Zen 4) and expanded back
// to bytes; signs become a 64-bit mask that negates the matching activation bytes; each vector then
// costs one maddubs + one madd (vpdpwssd with VNNI). Vector m holds 32-value chunks 2m (low half)
// and 2m+1 (high half), so adding the halves' int32 lanes gives exactly ggml's 8 AVX2 lanes
// (kernels_scalar_iq.c); the float steps are the AVX2 kernels', so results equal them bit for bit.
// iq1_s / iq1_m (a 2048-row grid) gather their rows.
#include "iq_tables.h"
#include "kernels_avx2_prep.h"
#include "kernels_iq.h"

#if defined(__x86_64__)

typedef struct {
  __m512i g[4];      // unsigned grid bytes, 64 values each
  __mmask64 neg[4];  // value is negative
  __m512i sc[4];     // int16 scale of each maddubs pair (chunk 2m: words 0-15, 2m+1: words 16-31)
  float d;
} pIQ512;

// Four 7-bit fields of each of 8 dwords (field l at bit 7l) → 32 bytes, dword c's fields at 4c..4c+3.
AVX512_INL __m256i fields7x4(__m256i aux) {
  const __m512i shifts = _mm512_setr_epi32(0, 7, 14, 21, 0, 7, 14, 21, 0, 7, 14, 21, 0, 7, 14, 21);
  const __m512i lo = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                              _mm512_castsi256_si512(aux));
  const __m512i hi = _mm512_permutexvar_epi32(_mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7),
                                              _mm512_castsi256_si512(aux));
  const __m512i m7 = _mm512_set1_epi32(127);
  const __m128i b0 = _mm512_cvtepi32_epi8(_mm512_and_si512(_mm512_srlv_epi32(lo, shifts), m7));
  const __m128i b1 = _mm512_cvtepi32_epi8(_mm512_and_si512(_mm512_srlv_epi32(hi, shifts), m7));
  return _mm256_setr_m128i(b0, b1);
}

// 32 sign bytes (byte g: values 8g..8g+7) → the 4 per-vector masks.
AVX512_INL void sign_masks(pIQ512 *p, __m256i s) {
  p->neg[0] = _cvtu64_mask64((uint64_t)_mm256_extract_epi64(s, 0));
  p->neg[1] = _cvtu64_mask64((uint64_t)_mm256_extract_epi64(s, 1));
  p->neg[2] = _cvtu64_mask64((uint64_t)_mm256_extract_epi64(s, 2));
  p->neg[3] = _cvtu64_mask64((uint64_t)_mm256_extract_epi64(s, 3));
}

// Per-chunk int16 scales (word 2c of s8 = scale of chunk c, c < 8) → the 4 scale vectors.
AVX512_INL void chunk_scales(pIQ512 *p, __m512i s8) {
  for (int m = 0; m < 4; ++m) {
    const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi16((short)(4 * m)), _mm256_set1_epi16((short)(4 * m + 2)), 1);
    p->sc[m] = _mm512_permutexvar_epi16(idx, s8);
  }
}

// Per-16-value int16 scales (word g = scale of values 16g..16g+15) → the 4 scale vectors.
AVX512_INL void half_scales(pIQ512 *p, __m256i s16) {
  const __m512i sz = _mm512_castsi256_si512(s16);
  for (int m = 0; m < 4; ++m) {
    const __m512i idx = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_setr_m128i(_mm_set1_epi16((short)(4 * m)), _mm_set1_epi16((short)(4 * m + 1)))),
        _mm256_setr_m128i(_mm_set1_epi16((short)(4 * m + 2)), _mm_set1_epi16((short)(4 * m + 3))), 1);
    p->sc[m] = _mm512_permutexvar_epi16(idx, sz);
  }
}

// ---- grids as 16-bit codes ----
// Every byte of an iq2 grid row is 8, 25 or 43 (a 2-bit code, 16 bits a row); of an iq3 row one of
// 8 values (3 bits, 12 a row). 64 codes are 2 vectors: one two-table word permute per 64 rows and a
// blend tree look up 32 indices at once; the codes expand back to grid bytes with shuffles and masks.
static uint16_t iq2xxs_codes[256], iq3xxs_codes[256], iq2xs_codes[512], iq2s_codes[1024], iq3s_codes[512];
static const uint8_t iq3xxs_values[16] = {4, 12, 20, 28, 36, 44, 52, 62};
static const uint8_t iq3s_values[16] = {1, 3, 5, 7, 9, 11, 13, 15};

// Code of one grid row: `per` bytes, each one of values[0 .. 2^bits), `bits` bits each; −1 when a byte
// is outside the set.
static int32_t grid_code(uint64_t row, int per, const uint8_t *values, int bits) {
  int32_t c = 0;
  for (int j = 0; j < per; ++j) {
    const uint8_t b = (uint8_t)(row >> (8 * j));
    int v = 0;
    while (v < (1 << bits) && values[v] != b) ++v;
    if (v == 1 << bits) return -1;
    c |= v << (bits * j);
  }
  return c;
}

static int fill_codes(uint16_t *codes, int n, const uint64_t *g64, const uint32_t *g32, const uint8_t *values,
                      int bits) {
  for (int i = 0; i < n; ++i) {
    const int32_t c = g64 ? grid_code(g64[i], 8, values, bits) : grid_code(g32[i], 4, values, bits);
    if (c < 0) return 0;
    codes[i] = (uint16_t)c;
  }
  return 1;
}

// Builds the code tables from the grids (once, while the kernel tables are built); 0 when a grid
// byte is outside its value set.
static int build_codes(void) {
  static const uint8_t iq2_values[4] = {8, 25, 43, 0};
  return fill_codes(iq2xxs_codes, 256, qk_iq2xxs_grid, NULL, iq2_values, 2) &&
         fill_codes(iq2xs_codes, 512, qk_iq2xs_grid, NULL, iq2_values, 2) &&
         fill_codes(iq2s_codes, 1024, qk_iq2s_grid, NULL, iq2_values, 2) &&
         fill_codes(iq3xxs_codes, 256, NULL, qk_iq3xxs_grid, iq3xxs_values, 3) &&
         fill_codes(iq3s_codes, 512, NULL, qk_iq3s_grid, iq3s_values, 3);
}

// Codes of 32 word indices (0 .. entries − 1) from a table of `entries` (a power of 2, 64 .. 1024):
// one two-table word permute per 64 entries, then a blend tree on index bits 6, 7, ...
AVX512_INL __m512i codes_lut(__m512i idx, const uint16_t *tab, int entries) {
  const __m512i *t = (const __m512i *)tab;
  __m512i r[16];
  int n = entries / 64;
  for (int i = 0; i < n; ++i)
    r[i] = _mm512_permutex2var_epi16(_mm512_loadu_si512(t + 2 * i), idx, _mm512_loadu_si512(t + 2 * i + 1));
  for (int bit = 64; n > 1; bit <<= 1, n /= 2) {
    const __mmask32 hi = _mm512_test_epi16_mask(idx, _mm512_set1_epi16((short)bit));
    for (int i = 0; i < n / 2; ++i) r[i] = _mm512_mask_blend_epi16(hi, r[2 * i], r[2 * i + 1]);
  }
  return r[0];
}

// Words 0, 1, ..., 31.
AVX512_INL __m512i word_ramp(void) {
  return _mm512_setr_epi32(0x00010000, 0x00030002, 0x00050004, 0x00070006, 0x00090008, 0x000b000a, 0x000d000c,
                           0x000f000e, 0x00110010, 0x00130012, 0x00150014, 0x00170016, 0x00190018, 0x001b001a,
                           0x001d001c, 0x001f001e);
}

// Words w of the result = word first + w / per of v.
AVX512_INL __m512i spread_words(__m512i v, int first, int per) {
  const __m512i idx = per == 4 ? _mm512_srli_epi16(word_ramp(), 2) : _mm512_srli_epi16(word_ramp(), 1);
  return _mm512_permutexvar_epi16(_mm512_add_epi16(idx, _mm512_set1_epi16((short)first)), v);
}

// iq2 rows: grid bytes of codes 8m .. 8m + 7 (2 bits a byte: 8, 25, 43) → vector m's 64 weights.
AVX512_INL __m512i expand2(__m512i codes, int m) {
  // Qword k: code 8m + k, its low byte in bytes 0-3 and its high byte in 4-7; byte j keeps bits 2j.
  const __m512i lo_hi = _mm512_set4_epi32(0x09090909, 0x08080808, 0x01010101, 0x00000000);
  const __m512i v = _mm512_shuffle_epi8(spread_words(codes, 8 * m, 4), lo_hi);
  const __m512i bit_lo = _mm512_set1_epi64(0x4010040140100401LL);
  const __m512i bit_hi = _mm512_set1_epi64((long long)0x8020080280200802ULL);
  const __m512i g = _mm512_mask_blend_epi8(_mm512_test_epi8_mask(v, bit_lo), _mm512_set1_epi8(8), _mm512_set1_epi8(25));
  return _mm512_mask_mov_epi8(g, _mm512_test_epi8_mask(v, bit_hi), _mm512_set1_epi8(43));
}

// iq3 rows: codes 16k .. 16k + 15 (3 bits a byte, values[code]) → 64 weights.
AVX512_INL __m512i expand3(__m512i codes, int k, const uint8_t *values) {
  // Dword i: code 16k + i in both words; fields 0, 2 from shifts 0, 6 and fields 1, 3 from 3, 9.
  const __m512i v = spread_words(codes, 16 * k, 2);
  const __m512i a = _mm512_srlv_epi16(v, _mm512_set1_epi32(0x00060000));
  const __m512i b = _mm512_srlv_epi16(v, _mm512_set1_epi32(0x00090003));
  const __m512i f =
      _mm512_and_si512(_mm512_mask_blend_epi8(0xAAAAAAAAAAAAAAAAULL, a, _mm512_slli_epi16(b, 8)), _mm512_set1_epi8(7));
  return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)values)), f);
}

// 2·ls + 1 of each chunk from ls in bits 28..31 of dword c.
AVX512_INL void top_nibble_scales(pIQ512 *p, __m256i a) {
  const __m256i ls = _mm256_add_epi32(_mm256_slli_epi32(_mm256_srli_epi32(a, 28), 1), _mm256_set1_epi32(1));
  chunk_scales(p, _mm512_castsi256_si512(ls));
}

// iq2_xs / iq2_s: 2·ls + 1 of each 16 values, ls the nibbles of scales[0..7] (low first).
AVX512_INL void nibble_half_scales(pIQ512 *p, const uint8_t *scales) {
  uint64_t s8;
  memcpy(&s8, scales, 8);
  const __m128i sb = _mm_set1_epi64x((long long)s8);
  const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(sb, _mm_set1_epi8(0xF)),
                                        _mm_and_si128(_mm_srli_epi16(sb, 4), _mm_set1_epi8(0xF)));
  half_scales(p, _mm256_add_epi16(_mm256_slli_epi16(_mm256_cvtepu8_epi16(nib), 1), _mm256_set1_epi16(1)));
}

AVX512_INL void prep_iq2_xxs_512(pIQ512 *p, const block_iq2_xxs *x) {
  // Index bytes: bytes 0-3 of dword 2c (chunk c); as 32 words in value order.
  const __m512i raw = _mm512_loadu_si512((const void *)x->qs);
  const __m512i codes = codes_lut(_mm512_cvtepu8_epi16(_mm512_cvtepi64_epi32(raw)), iq2xxs_codes, 256);
  for (int m = 0; m < 4; ++m) p->g[m] = expand2(codes, m);
  const __m256i a = _mm512_castsi512_si256(
      _mm512_permutexvar_epi32(_mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 0, 0, 0, 0, 0, 0, 0, 0), raw));
  sign_masks(p, qk_ksigns_bytes(fields7x4(a)));
  top_nibble_scales(p, a);
  p->d = qk_fp16_to_fp32(x->d);
}

AVX512_INL void prep_iq2_xs_512(pIQ512 *p, const block_iq2_xs *x) {
  const __m512i v = _mm512_loadu_si512((const void *)x->qs);  // 32 u16: index | sign field << 9
  const __m512i codes = codes_lut(_mm512_and_si512(v, _mm512_set1_epi16(511)), iq2xs_codes, 512);
  for (int m = 0; m < 4; ++m) p->g[m] = expand2(codes, m);
  sign_masks(p, qk_ksigns_bytes(_mm512_cvtepi16_epi8(_mm512_srli_epi16(v, 9))));
  nibble_half_scales(p, x->scales);
  p->d = qk_fp16_to_fp32(x->d);
}

// iq2_s's 32 grid indices: qs[4c + l] | (bits 2l, 2l+1 of qh[c]) << 8, as words.
AVX512_INL __m512i iq2_s_index(const block_iq2_s *x) {
  const __m512i lo = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)x->qs));
  uint64_t qh8;
  memcpy(&qh8, x->qh, 8);
  const __m512i h = _mm512_cvtepu8_epi16(_mm256_castsi128_si256(_mm_set1_epi64x((long long)qh8)));
  // Word 4c + l takes qh[c], shifted left by 8 − 2l.
  const __m512i hw = _mm512_permutexvar_epi16(
      _mm512_setr_epi32(0x00000000, 0x00000000, 0x00010001, 0x00010001, 0x00020002, 0x00020002, 0x00030003,
                        0x00030003, 0x00040004, 0x00040004, 0x00050005, 0x00050005, 0x00060006, 0x00060006,
                        0x00070007, 0x00070007),
      h);
  const __m512i sh = _mm512_set1_epi64(0x0002000400060008LL);
  return _mm512_or_si512(lo, _mm512_and_si512(_mm512_sllv_epi16(hw, sh), _mm512_set1_epi16(0x300)));
}

AVX512_INL void prep_iq2_s_512(pIQ512 *p, const block_iq2_s *x) {
  const __m512i codes = codes_lut(iq2_s_index(x), iq2s_codes, 1024);
  for (int m = 0; m < 4; ++m) p->g[m] = expand2(codes, m);
  sign_masks(p, _mm256_loadu_si256((const __m256i *)(x->qs + QK_K / 8)));
  nibble_half_scales(p, x->scales);
  p->d = qk_fp16_to_fp32(x->d);
}

AVX512_INL void prep_iq3_xxs_512(pIQ512 *p, const block_iq3_xxs *x) {
  for (int h = 0; h < 2; ++h) {
    const __m512i idx = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * h)));
    const __m512i codes = codes_lut(idx, iq3xxs_codes, 256);
    p->g[2 * h] = expand3(codes, 0, iq3xxs_values);
    p->g[2 * h + 1] = expand3(codes, 1, iq3xxs_values);
  }
  const __m256i a = _mm256_loadu_si256((const __m256i *)(x->qs + QK_K / 4));
  sign_masks(p, qk_ksigns_bytes(fields7x4(a)));
  top_nibble_scales(p, a);
  p->d = qk_fp16_to_fp32(x->d);
}

AVX512_INL void prep_iq3_s_512(pIQ512 *p, const block_iq3_s *x) {
  for (int h = 0; h < 2; ++h) {
    // Index of value-group k of chunk c: qs[8c + k] | (bit k of qh[c]) << 8; chunks 4h .. 4h + 3.
    const __m512i lo = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * h)));
    uint32_t qh4;
    memcpy(&qh4, x->qh + 4 * h, 4);
    const __m512i hb = _mm512_cvtepu8_epi16(_mm256_castsi128_si256(_mm_cvtsi32_si128((int)qh4)));
    const __m512i hw = _mm512_permutexvar_epi16(
        _mm512_setr_epi32(0, 0, 0, 0, 0x00010001, 0x00010001, 0x00010001, 0x00010001, 0x00020002, 0x00020002,
                          0x00020002, 0x00020002, 0x00030003, 0x00030003, 0x00030003, 0x00030003),
        hb);
    const __m512i sh = _mm512_broadcast_i32x4(_mm_setr_epi16(8, 7, 6, 5, 4, 3, 2, 1));
    const __m512i idx = _mm512_or_si512(lo, _mm512_and_si512(_mm512_sllv_epi16(hw, sh), _mm512_set1_epi16(256)));
    const __m512i codes = codes_lut(idx, iq3s_codes, 512);
    p->g[2 * h] = expand3(codes, 0, iq3s_values);
    p->g[2 * h + 1] = expand3(codes, 1, iq3s_values);
  }
  sign_masks(p, _mm256_loadu_si256((const __m256i *)x->signs));
  uint32_t s4;
  memcpy(&s4, x->scales, 4);
  const __m128i sb = _mm_cvtsi32_si128((int)s4);
  const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(sb, _mm_set1_epi8(0xF)),
                                        _mm_and_si128(_mm_srli_epi16(sb, 4), _mm_set1_epi8(0xF)));
  const __m256i ls = _mm256_add_epi32(_mm256_slli_epi32(_mm256_cvtepu8_epi32(nib), 1), _mm256_set1_epi32(1));
  chunk_scales(p, _mm512_castsi256_si512(ls));
  p->d = qk_fp16_to_fp32(x->d);
}

// Register tile of the mat-mat kernels: a weight super-block is unpacked once per row and reused
// across IQ512_MC activation columns (the unpacking costs more than a column's dot).
#define IQ512_MR 2
#define IQ512_MC 8

#define QK_IQ512_DOT(NAME, INL, MADD_ACC)                                                              \
  INL __m256 NAME(const pIQ512 *p, const block_q8_K *y, __m256 acc) {                                 \
    __m512i sumi = _mm512_setzero_si512();                                                            \
    for (int m = 0; m < 4; ++m) {                                                                     \
      const __m512i qy = _mm512_loadu_si512((const void *)(y->qs + 64 * m));                          \
      const __m512i sy = _mm512_mask_sub_epi8(qy, p->neg[m], _mm512_setzero_si512(), qy);            \
      sumi = MADD_ACC(sumi, p->sc[m], _mm512_maddubs_epi16(p->g[m], sy));                             \
    }                                                                                                 \
    const __m256i lanes = _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1)); \
    return _mm256_fmadd_ps(_mm256_set1_ps(p->d * y->d), _mm256_cvtepi32_ps(lanes), acc);             \
  }

#define QK_MADD_ADD(acc, a, b) _mm512_add_epi32((acc), _mm512_madd_epi16((a), (b)))
#define QK_DPWSSD(acc, a, b) _mm512_dpwssd_epi32((acc), (a), (b))
QK_IQ512_DOT(dot_iq512, AVX512_INL, QK_MADD_ADD)
QK_IQ512_DOT(dot_iq512_vnni, VNNI_INL, QK_DPWSSD)

AVX512_INL __m256 zero_256(void) { return _mm256_setzero_ps(); }
AVX512_INL float fin_1_512(__m256 a) { return qk_hsum_ps_avx2(a); }
AVX512_INL float fin_8th_512(__m256 a) { return 0.125f * qk_hsum_ps_avx2(a); }
AVX512_INL float fin_4th_512(__m256 a) { return 0.25f * qk_hsum_ps_avx2(a); }

#define IQ_512(T, FIN)                                                                                 \
  QK_DEFINE_TILE(T##_q8_K_avx512, AVX512_ATTR, block_##T, block_q8_K, QK_K, pIQ512, __m256, prep_##T##_512, \
                 zero_256, dot_iq512, FIN, QK_NO_TAIL, IQ512_MR, IQ512_MC)                             \
  QK_DEFINE_TILE(T##_q8_K_vnni, VNNI_ATTR, block_##T, block_q8_K, QK_K, pIQ512, __m256, prep_##T##_512,    \
                 zero_256, dot_iq512_vnni, FIN, QK_NO_TAIL, IQ512_MR, IQ512_MC)
IQ_512(iq2_xxs, fin_8th_512)
IQ_512(iq2_xs, fin_8th_512)
IQ_512(iq2_s, fin_8th_512)
IQ_512(iq3_xxs, fin_4th_512)
IQ_512(iq3_s, fin_1_512)


// ---- tq1_0 / tq2_0: unsigned trits in element order, 64 per vector; −1 through the bsums ----

typedef struct { __m512i u[4]; float d; } pTQ512;

AVX512_INL __m512i times3_512(__m512i q) { return _mm512_add_epi8(q, _mm512_add_epi8(q, q)); }

// Leading trit of each byte q (= floor(3q / 256)): (q ≥ 86) + (q ≥ 171).
AVX512_INL __m512i top_trit_512(__m512i q) {
  const __m512i one = _mm512_set1_epi8(1);
  const __m512i t = _mm512_maskz_mov_epi8(_mm512_cmpge_epu8_mask(q, _mm512_set1_epi8(86)), one);
  return _mm512_mask_add_epi8(t, _mm512_cmpge_epu8_mask(q, _mm512_set1_epi8((char)171)), t, one);
}

AVX512_INL void prep_tq1_0_512(pTQ512 *p, const block_tq1_0 *x) {
  // Values 0..159: trit n of qs[m] is value 32n + m.
  const __m256i q = _mm256_loadu_si256((const __m256i *)x->qs);
  const __m512i a = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_add_epi8(q, _mm256_add_epi8(q, q)), 1);
  const __m512i b = times3_512(times3_512(a));  // [·9 | ·27]
  const __m512i c = times3_512(times3_512(b));  // [·81 | ·243]
  // Values 160..239: trit n of qs[32 + m] is 160 + 16n + m; 240..255: trit n of qh[j] is 240 + 4n + j.
  const __m128i t1 = _mm_loadu_si128((const __m128i *)(x->qs + 32));
  const __m128i t3 = _mm_add_epi8(t1, _mm_add_epi8(t1, t1)), t9 = _mm_add_epi8(t3, _mm_add_epi8(t3, t3));
  const __m128i t27 = _mm_add_epi8(t9, _mm_add_epi8(t9, t9)), t81 = _mm_add_epi8(t27, _mm_add_epi8(t27, t27));
  uint32_t qh;
  memcpy(&qh, x->qh, 4);
  const __m128i h0 = _mm_set1_epi32((int)qh), h1 = _mm_add_epi8(h0, _mm_add_epi8(h0, h0));
  const __m128i h2 = _mm_add_epi8(h1, _mm_add_epi8(h1, h1)), h3 = _mm_add_epi8(h2, _mm_add_epi8(h2, h2));
  const __m128i hq = _mm_blend_epi32(_mm_blend_epi32(h0, h1, 0x2), _mm_blend_epi32(h2, h3, 0x8), 0xC);
  const __m512i e = _mm512_inserti64x4(c, _mm256_setr_m128i(t1, t3), 1);  // chunks 4 | 5
  const __m512i f =
      _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_setr_m128i(t9, t27)), _mm256_setr_m128i(t81, hq), 1);
  p->u[0] = top_trit_512(a);
  p->u[1] = top_trit_512(b);
  p->u[2] = top_trit_512(e);
  p->u[3] = top_trit_512(f);
  p->d = qk_fp16_to_fp32(x->d);
}

AVX512_INL void prep_tq2_0_512(pTQ512 *p, const block_tq2_0 *x) {
  const __m512i m3 = _mm512_set1_epi8(3);
  for (int k = 0; k < 2; ++k) {
    // Vector 2k + j holds chunks 4k + 2j (bit pair 2j) and 4k + 2j + 1 (bit pair 2j + 1).
    const __m512i b = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * k)));
    p->u[2 * k] = _mm512_and_si512(_mm512_srlv_epi64(b, _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2)), m3);
    p->u[2 * k + 1] = _mm512_and_si512(_mm512_srlv_epi64(b, _mm512_setr_epi64(4, 4, 4, 4, 6, 6, 6, 6)), m3);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

AVX512_INL __m256 dot_tq512(const pTQ512 *p, const block_q8_K *y, __m256 acc) {
  // 16-bit sums as the AVX2 kernel: the two halves of each vector are chunks 2m and 2m + 1.
  __m512i s = _mm512_setzero_si512();
  for (int m = 0; m < 4; ++m)
    s = _mm512_add_epi16(s, _mm512_maddubs_epi16(p->u[m], _mm512_loadu_si512((const void *)(y->qs + 64 * m))));
  __m256i s16 = _mm256_add_epi16(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
  s16 = _mm256_sub_epi16(s16, _mm256_loadu_si256((const __m256i *)y->bsums));
  const __m256i lanes = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_set1_ps(p->d * y->d), acc);
}

QK_DEFINE_TILE(tq1_0_q8_K_avx512, AVX512_ATTR, block_tq1_0, block_q8_K, QK_K, pTQ512, __m256, prep_tq1_0_512,
               zero_256, dot_tq512, fin_1_512, QK_NO_TAIL, IQ512_MR, IQ512_MC)
QK_DEFINE_TILE(tq2_0_q8_K_avx512, AVX512_ATTR, block_tq2_0, block_q8_K, QK_K, pTQ512, __m256, prep_tq2_0_512,
               zero_256, dot_tq512, fin_1_512, QK_NO_TAIL, IQ512_MR, IQ512_MC)

// ---- iq1_s / iq1_m: grid values −1, 0, 1 from one 8-qword gather per vector ----
// (2048 grid rows: too many for the register codes.) maddubs needs an unsigned side: u = g + 1, and
// Σ g·y = Σ u·y − Σ y per maddubs pair, exact in int16.

typedef struct {
  __m512i u[4];       // grid value + 1 (0, 1, 2)
  __m512i sc[4];      // int16 scale of each pair (as pIQ512)
  __mmask64 neg[4];   // iq1_m: the value's delta is negative
  __m256i dsc;        // iq1_s: ±ls of each bsum (16-value group)
  float d;
} pIQ1_512;

typedef struct { __m256 a, b; float s; } accIQ1_512;

AVX512_INL accIQ1_512 zero_iq1_512(void) { return (accIQ1_512){_mm256_setzero_ps(), _mm256_setzero_ps(), 0.0f}; }
AVX512_INL float fin_iq1_s_512(accIQ1_512 a) { return qk_hsum_ps_avx2(a.a) + 0.125f * a.s; }
AVX512_INL float fin_iq1_m_512(accIQ1_512 a) { return qk_hsum_ps_avx2(a.a) + 0.125f * qk_hsum_ps_avx2(a.b); }

// Grid rows of 8 word indices → 64 values u = g + 1.
AVX512_INL __m512i iq1_rows(__m128i idx) {
  const __m512i g = _mm512_i64gather_epi64(_mm512_cvtepu16_epi64(idx), (const void *)qk_iq1s_grid, 8);
  return _mm512_add_epi8(g, _mm512_set1_epi8(1));
}

// Grid rows of 32 word indices → the 4 vectors of u.
AVX512_INL void iq1_grid(pIQ1_512 *p, __m512i idx) {
  p->u[0] = iq1_rows(_mm512_extracti32x4_epi32(idx, 0));
  p->u[1] = iq1_rows(_mm512_extracti32x4_epi32(idx, 1));
  p->u[2] = iq1_rows(_mm512_extracti32x4_epi32(idx, 2));
  p->u[3] = iq1_rows(_mm512_extracti32x4_epi32(idx, 3));
}

AVX512_INL void prep_iq1_s_512(pIQ1_512 *p, const block_iq1_s *x) {
  // Index of group k = 4c + l: qs[k] | (bits 3l..3l+2 of qh[c]) << 8.
  const __m512i lo = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)x->qs));
  const __m512i h = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)x->qh));
  const __m512i hw = _mm512_permutexvar_epi16(_mm512_srli_epi16(word_ramp(), 2), h);
  const __m512i sh = _mm512_set1_epi64(0x0009000600030000LL);
  const __m512i hi = _mm512_and_si512(_mm512_srlv_epi16(hw, sh), _mm512_set1_epi16(7));
  iq1_grid(p, _mm512_or_si512(lo, _mm512_slli_epi16(hi, 8)));
  int16_t dsc[16];
  int32_t ls[8];
  for (int c = 0; c < 8; ++c) {
    ls[c] = 2 * ((x->qh[c] >> 12) & 7) + 1;
    dsc[2 * c] = dsc[2 * c + 1] = (int16_t)(x->qh[c] & 0x8000 ? -ls[c] : ls[c]);
  }
  p->dsc = _mm256_loadu_si256((const __m256i *)dsc);
  pIQ512 t;
  chunk_scales(&t, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)ls)));
  for (int m = 0; m < 4; ++m) p->sc[m] = t.sc[m];
  p->d = qk_fp16_to_fp32(x->d);
}

AVX512_INL void prep_iq1_m_512(pIQ1_512 *p, const block_iq1_m *x) {
  // Group k = 4c + l: nibble k % 2 of qh[k / 2]: bits 0-2 index bits 8-10, bit 3 the delta sign.
  const __m512i lo = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)x->qs));
  const __m512i h = _mm512_cvtepu8_epi16(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)x->qh)));
  const __m512i hw = _mm512_permutexvar_epi16(_mm512_srli_epi16(word_ramp(), 1), h);
  const __m512i nib = _mm512_srlv_epi16(hw, _mm512_set1_epi32(0x00040000));
  iq1_grid(p, _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(nib, _mm512_set1_epi16(7)), 8)));
  const __mmask32 neg = _mm512_test_epi16_mask(nib, _mm512_set1_epi16(8));
  for (int m = 0; m < 4; ++m)
    p->neg[m] = _mm512_movepi8_mask(_mm512_movm_epi64((__mmask8)(neg >> (8 * m))));
  uint16_t sc[4];
  memcpy(sc, x->scales, 8);
  int16_t s16[16];
  for (int c = 0; c < 8; ++c) {
    s16[2 * c] = (int16_t)(2 * ((sc[c / 2] >> (6 * (c % 2))) & 7) + 1);
    s16[2 * c + 1] = (int16_t)(2 * ((sc[c / 2] >> (6 * (c % 2) + 3)) & 7) + 1);
  }
  pIQ512 t;
  half_scales(&t, _mm256_loadu_si256((const __m256i *)s16));
  for (int m = 0; m < 4; ++m) p->sc[m] = t.sc[m];
  const uint16_t d16 = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
  p->d = qk_fp16_to_fp32(d16);
}

// ggml's 8 lanes from a vector of chunk pairs: low half + high half.
AVX512_INL __m256i halves8(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

#define QK_IQ1_512_DOTS(SUFFIX, INL, MADD_ACC)                                                          \
  INL accIQ1_512 dot_iq1_s_##SUFFIX(const pIQ1_512 *p, const block_q8_K *y, accIQ1_512 acc) {           \
    const __m512i ones = _mm512_set1_epi8(1);                                                           \
    __m512i sumi = _mm512_setzero_si512();                                                              \
    for (int m = 0; m < 4; ++m) {                                                                       \
      const __m512i qy = _mm512_loadu_si512((const void *)(y->qs + 64 * m));                            \
      const __m512i sy = _mm512_maddubs_epi16(ones, qy);                                                \
      sumi = MADD_ACC(sumi, p->sc[m], _mm512_sub_epi16(_mm512_maddubs_epi16(p->u[m], qy), sy));         \
    }                                                                                                   \
    const float d = p->d * y->d;                                                                        \
    acc.a = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(halves8(sumi)), acc.a);              \
    const __m256i delta = _mm256_madd_epi16(p->dsc, _mm256_loadu_si256((const __m256i *)y->bsums));    \
    acc.s = __builtin_fmaf(d, (float)qk_hsum_epi32_avx2(delta), acc.s);                                 \
    return acc;                                                                                         \
  }                                                                                                     \
  INL accIQ1_512 dot_iq1_m_##SUFFIX(const pIQ1_512 *p, const block_q8_K *y, accIQ1_512 acc) {           \
    const __m512i ones = _mm512_set1_epi8(1);                                                           \
    __m512i s1 = _mm512_setzero_si512(), s2 = _mm512_setzero_si512();                                   \
    for (int m = 0; m < 4; ++m) {                                                                       \
      const __m512i qy = _mm512_loadu_si512((const void *)(y->qs + 64 * m));                            \
      const __m512i sy = _mm512_maddubs_epi16(ones, qy);                                                \
      s1 = MADD_ACC(s1, p->sc[m], _mm512_sub_epi16(_mm512_maddubs_epi16(p->u[m], qy), sy));             \
      const __m512i dy = _mm512_mask_sub_epi8(qy, p->neg[m], _mm512_setzero_si512(), qy);               \
      s2 = MADD_ACC(s2, p->sc[m], _mm512_maddubs_epi16(ones, dy));                                      \
    }                                                                                                   \
    const __m256 d = _mm256_set1_ps(p->d * y->d);                                                       \
    acc.a = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(halves8(s1)), acc.a);                                \
    acc.b = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(halves8(s2)), acc.b);                                \
    return acc;                                                                                         \
  }
QK_IQ1_512_DOTS(avx512, AVX512_INL, QK_MADD_ADD)
QK_IQ1_512_DOTS(vnni, VNNI_INL, QK_DPWSSD)

#define IQ1_512(T)                                                                                      \
  QK_DEFINE_TILE(T##_q8_K_avx512, AVX512_ATTR, block_##T, block_q8_K, QK_K, pIQ1_512, accIQ1_512,           \
                 prep_##T##_512, zero_iq1_512, dot_##T##_avx512, fin_##T##_512, QK_NO_TAIL, 2, 4)        \
  QK_DEFINE_TILE(T##_q8_K_vnni, VNNI_ATTR, block_##T, block_q8_K, QK_K, pIQ1_512, accIQ1_512, prep_##T##_512, \
                 zero_iq1_512, dot_##T##_vnni, fin_##T##_512, QK_NO_TAIL, 2, 4)
IQ1_512(iq1_s)
IQ1_512(iq1_m)

#define IQ_SET(T, ID, SUFFIX, ISA) \
  qk_set(t, ID, T##_q8_K_##SUFFIX##_vec_dot, T##_q8_K_##SUFFIX##_tile, QK_TYPE_Q8_K, ISA)

// The grid kernels for a table: VNNI's vpdpwssd where the table has it, else madd + add.
#define IQ_SET_GRIDS(SUFFIX, ISA)                   \
  do {                                              \
    IQ_SET(iq2_xxs, QK_TYPE_IQ2_XXS, SUFFIX, ISA);  \
    IQ_SET(iq2_xs, QK_TYPE_IQ2_XS, SUFFIX, ISA);    \
    IQ_SET(iq2_s, QK_TYPE_IQ2_S, SUFFIX, ISA);      \
    IQ_SET(iq3_xxs, QK_TYPE_IQ3_XXS, SUFFIX, ISA);  \
    IQ_SET(iq3_s, QK_TYPE_IQ3_S, SUFFIX, ISA);      \
  } while (0)
#define IQ_SET_IQ1(SUFFIX, ISA)                     \
  do {                                              \
    IQ_SET(iq1_s, QK_TYPE_IQ1_S, SUFFIX, ISA);      \
    IQ_SET(iq1_m, QK_TYPE_IQ1_M, SUFFIX, ISA);      \
  } while (0)

void qk_fill_avx512_iq(qk_kernel_table *t) {
  IQ_SET(tq1_0, QK_TYPE_TQ1_0, avx512, QK_ISA_AVX512);
  IQ_SET(tq2_0, QK_TYPE_TQ2_0, avx512, QK_ISA_AVX512);
  if (t->isa == QK_ISA_AVX512_VNNI)
    IQ_SET_IQ1(vnni, QK_ISA_AVX512_VNNI);
  else
    IQ_SET_IQ1(avx512, QK_ISA_AVX512);
  // The grids' code tables hold what ggml's grids do (else the AVX2 grid kernels stay).
  if (!build_codes()) return;
  if (t->isa == QK_ISA_AVX512_VNNI)
    IQ_SET_GRIDS(vnni, QK_ISA_AVX512_VNNI);
  else
    IQ_SET_GRIDS(avx512, QK_ISA_AVX512);
}

#endif
