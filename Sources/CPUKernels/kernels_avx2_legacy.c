// AVX2 + FMA + F16C kernels: 32-value block types (q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl), the
// activation quantizers, dense dots and the streaming read. Compiled for any x86-64 target through
// per-function target attributes; only called after a CPU feature check.
#include "kernels_avx2_prep.h"

#if defined(__x86_64__)

#include <math.h>

// ---- activation quantizers: byte for byte ggml's x86 quantize_row_q8_0 / _q8_1 / _q8_K ----
// Packs four vectors of 8 int32 (in range) to 32 int8 in order.
AVX2_INL __m256i pack_epi32_to_epi8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);
  const __m256i cd = _mm256_packs_epi32(c, d);
  const __m256i abcd = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

AVX2_INL float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}


// One 32-value block: returns qs and the int32 values (for sums); d written as fp16 by the caller.
AVX2_INL __m256i quantize32(const float *x, float *d_out, __m256i *sum32) {
  const __m256 absmask = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  for (int j = 0; j < 4; ++j) {
    v[j] = _mm256_loadu_ps(x + 8 * j);
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(absmask, v[j]));
  }
  // ggml multiplies by 127/amax (not 1/d); cvtps rounds half to even as its _mm256_round_ps does.
  const float maxv = hmax_ps(amax);
  const float d = maxv / 127.0f;
  const float id = maxv != 0.0f ? 127.0f / maxv : 0.0f;
  const __m256 vid = _mm256_set1_ps(id);
  __m256i i32[4];
  for (int j = 0; j < 4; ++j) i32[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], vid));
  *sum32 = _mm256_add_epi32(_mm256_add_epi32(i32[0], i32[1]), _mm256_add_epi32(i32[2], i32[3]));
  *d_out = d;
  return pack_epi32_to_epi8(i32[0], i32[1], i32[2], i32[3]);
}

AVX2_ATTR static void quantize_row_q8_0_avx2(const float *x, void *vy, int64_t k) {
  block_q8_0 *y = vy;
  for (int64_t i = 0; i < k / QK8_0; i++) {
    float d;
    __m256i sum;
    const __m256i q = quantize32(x + i * QK8_0, &d, &sum);
    y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256((__m256i *)y[i].qs, q);
  }
}

AVX2_ATTR static void quantize_row_q8_1_avx2(const float *x, void *vy, int64_t k) {
  block_q8_1 *y = vy;
  for (int64_t i = 0; i < k / QK8_1; i++) {
    float d;
    __m256i sum;
    const __m256i q = quantize32(x + i * QK8_1, &d, &sum);
    y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    y[i].s = _cvtss_sh((float)qk_hsum_epi32_avx2(sum) * d, _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256((__m256i *)y[i].qs, q);
  }
}

AVX2_ATTR static void quantize_row_q8_K_avx2(const float *x, void *vy, int64_t k) {
  block_q8_K *y = vy;
  const __m256 absmask = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
    __m256 vmax = _mm256_setzero_ps();
    for (int j = 0; j < QK_K; j += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(absmask, _mm256_loadu_ps(x + j)));
    const float amax = hmax_ps(vmax);
    if (amax == 0.0f) {
      memset(&y[i], 0, sizeof(block_q8_K));
      continue;
    }
    // The reference keeps the first value of largest magnitude (its sign picks the scale's sign).
    float max = 0.0f;
    for (int j = 0; j < QK_K; ++j)
      if (fabsf(x[j]) == amax) { max = x[j]; break; }
    const float iscale = -127.f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i lim = _mm256_set1_epi32(127);
    for (int g = 0; g < QK_K / 32; ++g) {
      __m256i q[4];
      // cvtps rounds half to even, as ggml's nearest_int does.
      for (int j = 0; j < 4; ++j)
        q[j] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + 32 * g + 8 * j))), lim);
      y[i].bsums[2 * g] = (int16_t)qk_hsum_epi32_avx2(_mm256_add_epi32(q[0], q[1]));
      y[i].bsums[2 * g + 1] = (int16_t)qk_hsum_epi32_avx2(_mm256_add_epi32(q[2], q[3]));
      _mm256_storeu_si256((__m256i *)(y[i].qs + 32 * g), pack_epi32_to_epi8(q[0], q[1], q[2], q[3]));
    }
    y[i].d = 1 / iscale;
  }
}

// ---- 32-value blocks ----

QK_DEFINE_TILE(q4_0_q8_0_avx2, AVX2_ATTR, block_q4_0, block_q8_0, 32, p32, __m256, prep_q4_0, zero_ps, dot_sym,
               qk_hsum_ps_avx2, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q4_1_q8_1_avx2, AVX2_ATTR, block_q4_1, block_q8_1, 32, p32, acc_min, prep_q4_1, zero_min, dot_min,
               hsum_min, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q5_0_q8_0_avx2, AVX2_ATTR, block_q5_0, block_q8_0, 32, p32, __m256, prep_q5_0, zero_ps, dot_sym,
               qk_hsum_ps_avx2, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q5_1_q8_1_avx2, AVX2_ATTR, block_q5_1, block_q8_1, 32, p32, acc_min, prep_q5_1, zero_min, dot_min,
               hsum_min, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(q8_0_q8_0_avx2, AVX2_ATTR, block_q8_0, block_q8_0, 32, p32, __m256, prep_q8_0, zero_ps, dot_sym,
               qk_hsum_ps_avx2, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(iq4_nl_q8_0_avx2, AVX2_ATTR, block_iq4_nl, block_q8_0, 32, p32, __m256, prep_iq4_nl, zero_ps,
               dot_sym, qk_hsum_ps_avx2, QK_NO_TAIL, 4, 2)
QK_DEFINE_TILE(mxfp4_q8_0_avx2, AVX2_ATTR, block_mxfp4, block_q8_0, 32, p32f, __m256, prep_mxfp4, zero_ps,
               dot_sym_f, qk_hsum_ps_avx2, QK_NO_TAIL, 4, 2)

// ---- dense weights against f32 activations, 16 values per step in two chains ----

typedef struct { float v[16]; } f32x16_blk;
typedef struct { uint16_t v[16]; } u16x16_blk;
typedef struct { __m256 a, b; } ps2;

AVX2_INL ps2 zero_ps2(void) { return (ps2){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
AVX2_INL float hsum_ps2(ps2 a) { return qk_hsum_ps_avx2(_mm256_add_ps(a.a, a.b)); }
AVX2_INL void prep_f32(ps2 *p, const f32x16_blk *x) {
  p->a = _mm256_loadu_ps(x->v);
  p->b = _mm256_loadu_ps(x->v + 8);
}
AVX2_INL void prep_f16(ps2 *p, const u16x16_blk *x) {
  p->a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x->v));
  p->b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x->v + 8)));
}
AVX2_INL __m256 bf16x8(const uint16_t *v) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)v)), 16));
}
AVX2_INL void prep_bf16(ps2 *p, const u16x16_blk *x) {
  p->a = bf16x8(x->v);
  p->b = bf16x8(x->v + 8);
}
AVX2_INL ps2 dot_dense(const ps2 *p, const f32x16_blk *y, ps2 acc) {
  acc.a = _mm256_fmadd_ps(p->a, _mm256_loadu_ps(y->v), acc.a);
  acc.b = _mm256_fmadd_ps(p->b, _mm256_loadu_ps(y->v + 8), acc.b);
  return acc;
}
AVX2_INL float tail_f32(int rem, const f32x16_blk *x, const f32x16_blk *y) {
  float s = 0.0f;
  for (int j = 0; j < rem; ++j) s += x->v[j] * y->v[j];
  return s;
}
AVX2_INL float tail_f16(int rem, const u16x16_blk *x, const f32x16_blk *y) {
  float s = 0.0f;
  for (int j = 0; j < rem; ++j) s += qk_fp16_to_fp32(x->v[j]) * y->v[j];
  return s;
}
AVX2_INL float tail_bf16(int rem, const u16x16_blk *x, const f32x16_blk *y) {
  float s = 0.0f;
  for (int j = 0; j < rem; ++j) s += qk_bf16_to_fp32(x->v[j]) * y->v[j];
  return s;
}

QK_DEFINE_TILE(f32_f32_avx2, AVX2_ATTR, f32x16_blk, f32x16_blk, 16, ps2, ps2, prep_f32, zero_ps2, dot_dense,
               hsum_ps2, tail_f32, 2, 2)
QK_DEFINE_TILE(f16_f32_avx2, AVX2_ATTR, u16x16_blk, f32x16_blk, 16, ps2, ps2, prep_f16, zero_ps2, dot_dense,
               hsum_ps2, tail_f16, 2, 2)
QK_DEFINE_TILE(bf16_f32_avx2, AVX2_ATTR, u16x16_blk, f32x16_blk, 16, ps2, ps2, prep_bf16, zero_ps2, dot_dense,
               hsum_ps2, tail_bf16, 2, 2)

AVX2_ATTR static float stream_sum_avx2(const float *x, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  // Prefetched as far ahead as the kernels prefetch (QK_PF_DIST), so the reference is the bandwidth
  // a well-fed kernel can get, not the hardware prefetchers' alone.
  for (; i + 32 <= n; i += 32) {
    _mm_prefetch((const char *)(x + i) + QK_PF_DIST, _MM_HINT_T0);
    _mm_prefetch((const char *)(x + i) + QK_PF_DIST + 64, _MM_HINT_T0);
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
  }
  float s = qk_hsum_ps_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += x[i];
  return s;
}

void qk_fill_avx2_legacy(qk_kernel_table *t) {
  const qk_isa I = QK_ISA_AVX2;
  qk_set(t, QK_TYPE_Q4_0, q4_0_q8_0_avx2_vec_dot, q4_0_q8_0_avx2_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q4_1, q4_1_q8_1_avx2_vec_dot, q4_1_q8_1_avx2_tile, QK_TYPE_Q8_1, I);
  qk_set(t, QK_TYPE_Q5_0, q5_0_q8_0_avx2_vec_dot, q5_0_q8_0_avx2_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_Q5_1, q5_1_q8_1_avx2_vec_dot, q5_1_q8_1_avx2_tile, QK_TYPE_Q8_1, I);
  qk_set(t, QK_TYPE_Q8_0, q8_0_q8_0_avx2_vec_dot, q8_0_q8_0_avx2_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_IQ4_NL, iq4_nl_q8_0_avx2_vec_dot, iq4_nl_q8_0_avx2_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_MXFP4, mxfp4_q8_0_avx2_vec_dot, mxfp4_q8_0_avx2_tile, QK_TYPE_Q8_0, I);
  qk_set(t, QK_TYPE_F32, f32_f32_avx2_vec_dot, f32_f32_avx2_tile, QK_TYPE_F32, I);
  qk_set(t, QK_TYPE_F16, f16_f32_avx2_vec_dot, f16_f32_avx2_tile, QK_TYPE_F32, I);
  qk_set(t, QK_TYPE_BF16, bf16_f32_avx2_vec_dot, bf16_f32_avx2_tile, QK_TYPE_F32, I);
  t->quantize_q8_0 = quantize_row_q8_0_avx2;
  t->quantize_q8_1 = quantize_row_q8_1_avx2;
  t->quantize_q8_K = quantize_row_q8_K_avx2;
  t->stream_sum = stream_sum_avx2;
  t->tile_rows = 4;
  t->tile_cols = 2;
}

#endif
