// Shared by the quantized-kernel emulation tests (matvec_test.cpp, moe_test.cpp): a deterministic
// generator, random valid weight blocks, q8_1 activations as quantize_q8_1 writes them, double-precision
// decodes through the kernels' per-element decoders, and the normalized MSE. Include after the kernels.
#pragma once
#include <cmath>
#include <string>
#include <vector>
typedef void (*elem_fn)(const u8*, int, int&, float&, float&, float&);

static u64 rng_state = 0x9E3779B97F4A7C15ull;
static u32 rnd() { rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17; return (u32)(rng_state >> 11); }
static float urand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000000) / 1e6f; }
static void put_half(u8* p, float v) { const u16 h = f2h(v); p[0] = h & 0xff; p[1] = h >> 8; }
static float sane_scale() { return (rnd() & 1 ? -1.0f : 1.0f) * urand(0.002f, 0.05f); }

// A random valid block: random bytes, then every f16 field a sane scale (ggml-common.h offsets).
static void random_block(const std::string& t, u8* b, int bytes) {
  for (int i = 0; i < bytes; ++i) b[i] = (u8)rnd();
  int at[2] = {-1, -1};
  if (t == "q4_1" || t == "q5_1" || t == "q4_K" || t == "q5_K") { at[0] = 0; at[1] = 2; }
  else if (t == "q2_K") { at[0] = 80; at[1] = 82; }
  else if (t == "q3_K") at[0] = 108;
  else if (t == "q6_K") at[0] = 208;
  else if (t == "tq1_0") at[0] = 52;
  else if (t == "tq2_0") at[0] = 64;
  else if (t == "mxfp4") b[0] = (u8)(119 + rnd() % 8);  // e8m0 exponent: scales 2^-9 … 2^-2
  else if (t == "iq1_m") {                                 // the f16 scale is the top nibbles of scales[4] (u16)
    const u16 h = f2h(sane_scale());
    for (int i = 0; i < 4; ++i) b[48 + 2 * i + 1] = (u8)((b[48 + 2 * i + 1] & 0x0f) | (((h >> (4 * i)) & 0xf) << 4));
  } else at[0] = 0;  // { half d; … } first
  for (int f : at) if (f >= 0) put_half(b + f, sane_scale());
}

static double nmse(const float* a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return 1e30;
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den == 0 ? num : num / den;
}


// nrows rows of k weights of a type (qk values in `bytes` per block) at w, decoded to doubles.
static std::vector<double> decode_rows(elem_fn elem, const u8* w, s64 nrows, s64 k, int qk, int bytes) {
  const int nb = (int)(k / qk);
  std::vector<double> wd((size_t)nrows * k);
  for (s64 r = 0; r < nrows; ++r)
    for (int ib = 0; ib < nb; ++ib)
      for (int e = 0; e < qk; ++e) {
        int q; float a, bb, c;
        elem(w + (r * nb + ib) * bytes, e, q, a, bb, c);
        wd[r * k + ib * qk + e] = (double)a * ((double)q + c) + bb;
      }
  return wd;
}

// `cols` random q8_1 rows of k values into x8 (d = a random scale as f16, s = d · Σq) and their values.
static void random_q8_1(int cols, s64 k, std::vector<u8>& x8, std::vector<double>& xd) {
  const size_t col_bytes = (size_t)(k / 32) * 36;
  x8.assign((size_t)cols * col_bytes, 0);
  xd.assign((size_t)cols * k, 0);
  for (int c = 0; c < cols; ++c)
    for (s64 ib = 0; ib < k / 32; ++ib) {
      u8* blk = x8.data() + c * col_bytes + ib * 36;
      const float d = urand(0.004f, 0.02f);
      int sum = 0;
      for (int i = 0; i < 32; ++i) { const int q = (int)(rnd() % 255) - 127; blk[4 + i] = (u8)(s8)q; sum += q; }
      put_half(blk, d);
      put_half(blk + 2, d * (float)sum);
      for (int i = 0; i < 32; ++i) xd[c * k + ib * 32 + i] = (double)h2f(rd16(blk)) * (s8)blk[4 + i];
    }
}
