// Per-type element decoders: element `e` (0 ≤ e < QK) of one block as w = a·(q + c) + b with q an
// integer. Formulas and operation order follow ggml's dequantize_row_* (the reference), so that
// a·q (+ b) in uncontracted float arithmetic reproduces the reference bit for bit. Blocks and
// field offsets are ggml-common.h's (sizes in QTYPE_LIST below).

QK_DEVICE int grid_byte_u64(u64 row, int j) { return (int)((row >> (8 * j)) & 0xff); }
QK_DEVICE int grid_byte_u32(u32 row, int j) { return (int)((row >> (8 * j)) & 0xff); }
QK_DEVICE int sign_of(u32 signs, int j) { return (signs >> j) & 1 ? -1 : 1; }

// block_q4_0 { half d; u8 qs[16]; }
QK_DEVICE void elem_q4_0(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int j = e & 15;
  q = (e < 16 ? (x[2 + j] & 0xf) : (x[2 + j] >> 4)) - 8;
  a = rdh(x); b = 0.0f; c = 0.0f;
}
// block_q4_1 { half d; half m; u8 qs[16]; }
QK_DEVICE void elem_q4_1(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int j = e & 15;
  q = e < 16 ? (x[4 + j] & 0xf) : (x[4 + j] >> 4);
  a = rdh(x); b = rdh(x + 2); c = 0.0f;
}
// block_q5_0 { half d; u8 qh[4]; u8 qs[16]; }
QK_DEVICE void elem_q5_0(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const u32 qh = rd32(x + 2);
  const int j = e & 15;
  if (e < 16) q = ((x[6 + j] & 0xf) | (((qh >> j) << 4) & 0x10)) - 16;
  else q = ((x[6 + j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
  a = rdh(x); b = 0.0f; c = 0.0f;
}
// block_q5_1 { half d; half m; u8 qh[4]; u8 qs[16]; }
QK_DEVICE void elem_q5_1(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const u32 qh = rd32(x + 4);
  const int j = e & 15;
  if (e < 16) q = (x[8 + j] & 0xf) | (((qh >> j) << 4) & 0x10);
  else q = (x[8 + j] >> 4) | ((qh >> (j + 12)) & 0x10);
  a = rdh(x); b = rdh(x + 2); c = 0.0f;
}
// block_q8_0 { half d; s8 qs[32]; }
QK_DEVICE void elem_q8_0(const u8* x, int e, int& q, float& a, float& b, float& c) {
  q = (s8)x[2 + e];
  a = rdh(x); b = 0.0f; c = 0.0f;
}
// block_q2_K { u8 scales[16]; u8 qs[64]; half d; half dmin; }
QK_DEVICE void elem_q2_K(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int n = e / 128, r = e % 128, j = r / 32, hi = (r % 32) / 16, l = r % 16;
  const int sc = x[n * 8 + j * 2 + hi];
  q = (x[16 + n * 32 + hi * 16 + l] >> (2 * j)) & 3;
  a = rdh(x + 80) * (float)(sc & 0xf);
  b = -(rdh(x + 82) * (float)(sc >> 4));
  c = 0.0f;
}
// block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d; }
QK_DEVICE void elem_q3_K(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int n = e / 128, r = e % 128, j = r / 32, hi = (r % 32) / 16, l = r % 16;
  const int is = n * 8 + j * 2 + hi;
  const u8* s = x + 96;
  const int lo4 = is < 8 ? (s[is] & 0xf) : (s[is - 8] >> 4);
  const int hi2 = (s[8 + (is % 4)] >> (2 * (is / 4))) & 3;
  const int scale = (lo4 | (hi2 << 4)) - 32;
  const int m = 1 << (n * 4 + j);
  q = ((x[32 + n * 32 + hi * 16 + l] >> (2 * j)) & 3) - ((x[hi * 16 + l] & m) ? 0 : 4);
  a = rdh(x + 108) * (float)scale; b = 0.0f; c = 0.0f;
}
QK_DEVICE void get_scale_min_k4(int j, const u8* q, int& d, int& m) {
  if (j < 4) { d = q[j] & 63; m = q[j + 4] & 63; }
  else { d = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4); m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4); }
}
// block_q4_K { half d; half dmin; u8 scales[12]; u8 qs[128]; }
QK_DEVICE void elem_q4_K(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ch = e / 64, hi = (e % 64) / 32, l = e % 32;
  int sc, mn;
  get_scale_min_k4(2 * ch + hi, x + 4, sc, mn);
  q = (x[16 + ch * 32 + l] >> (4 * hi)) & 0xf;
  a = rdh(x) * (float)sc; b = -(rdh(x + 2) * (float)mn); c = 0.0f;
}
// block_q5_K { half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }
QK_DEVICE void elem_q5_K(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ch = e / 64, hi = (e % 64) / 32, l = e % 32;
  int sc, mn;
  get_scale_min_k4(2 * ch + hi, x + 4, sc, mn);
  q = ((x[48 + ch * 32 + l] >> (4 * hi)) & 0xf) + ((x[16 + l] & (1 << (2 * ch + hi))) ? 16 : 0);
  a = rdh(x) * (float)sc; b = -(rdh(x + 2) * (float)mn); c = 0.0f;
}
// block_q6_K { u8 ql[128]; u8 qh[64]; s8 scales[16]; half d; }
QK_DEVICE void elem_q6_K(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int n = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
  const int lo = (x[n * 64 + l + (quarter & 1) * 32] >> (4 * (quarter >> 1))) & 0xf;
  const int hi = (x[128 + n * 32 + l] >> (2 * quarter)) & 3;
  q = (lo | (hi << 4)) - 32;
  const int sc = (s8)x[192 + n * 8 + l / 16 + 2 * quarter];
  a = rdh(x + 208) * (float)sc; b = 0.0f; c = 0.0f;
}
// block_iq4_nl { half d; u8 qs[16]; }
QK_DEVICE void elem_iq4_nl(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int j = e & 15;
  q = kvalues_iq4nl[e < 16 ? (x[2 + j] & 0xf) : (x[2 + j] >> 4)];
  a = rdh(x); b = 0.0f; c = 0.0f;
}
// block_iq4_xs { half d; u16 scales_h; u8 scales_l[4]; u8 qs[128]; }
QK_DEVICE void elem_iq4_xs(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ib = e / 32, j = e % 32;
  const int ls = ((x[4 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (((rd16(x + 2) >> (2 * ib)) & 3) << 4);
  const u8 v = x[8 + ib * 16 + (j & 15)];
  q = kvalues_iq4nl[j < 16 ? (v & 0xf) : (v >> 4)];
  a = rdh(x) * (float)(ls - 32); b = 0.0f; c = 0.0f;
}
// block_mxfp4 { u8 e; u8 qs[16]; }
QK_DEVICE void elem_mxfp4(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int j = e & 15;
  q = kvalues_mxfp4[e < 16 ? (x[1 + j] & 0xf) : (x[1 + j] >> 4)];
  a = e8m0_to_fp32_half(x[0]); b = 0.0f; c = 0.0f;
}
// block_tq1_0 { u8 qs[48]; u8 qh[4]; half d; } — base-3 digits, 5 (or 4) per byte.
QK_DEVICE void elem_tq1_0(const u8* x, int e, int& q, float& a, float& b, float& c) {
  int byte, n;
  if (e < 160) { n = e / 32; byte = x[e % 32]; }
  else if (e < 240) { n = (e - 160) / 16; byte = x[32 + (e - 160) % 16]; }
  else { n = (e - 240) / 4; byte = x[48 + (e - 240) % 4]; }
  const int pow3[6] = {1, 3, 9, 27, 81, 243};
  const u32 v = (u8)(byte * pow3[n]);
  q = (int)((v * 3) >> 8) - 1;
  a = rdh(x + 52); b = 0.0f; c = 0.0f;
}
// block_tq2_0 { u8 qs[64]; half d; }
QK_DEVICE void elem_tq2_0(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ch = e / 128, l = (e % 128) / 32, m = e % 32;
  q = ((x[ch * 32 + m] >> (2 * l)) & 3) - 1;
  a = rdh(x + 64); b = 0.0f; c = 0.0f;
}
// block_iq2_xxs { half d; u16 qs[32]; }
QK_DEVICE void elem_iq2_xxs(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ib32 = e / 32, l = (e % 32) / 8, j = e % 8;
  const u8* g = x + 2 + 8 * ib32;
  const u32 aux1 = rd32(g + 4);
  const u32 signs = ksigns_iq2xs[(aux1 >> (7 * l)) & 127];
  q = grid_byte_u64(iq2xxs_grid[g[l]], j) * sign_of(signs, j);
  a = rdh(x) * (0.5f + (float)(aux1 >> 28)) * 0.25f; b = 0.0f; c = 0.0f;
}
// block_iq2_xs { half d; u16 qs[32]; u8 scales[8]; }
QK_DEVICE void elem_iq2_xs(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ib32 = e / 32, l = (e % 32) / 8, j = e % 8;
  const u32 v = rd16(x + 2 + 2 * (4 * ib32 + l));
  const u32 signs = ksigns_iq2xs[v >> 9];
  q = grid_byte_u64(iq2xs_grid[v & 511], j) * sign_of(signs, j);
  const int s = x[66 + ib32];
  a = rdh(x) * (0.5f + (float)(l < 2 ? (s & 0xf) : (s >> 4))) * 0.25f; b = 0.0f; c = 0.0f;
}
// block_iq2_s { half d; u8 qs[64]; u8 qh[8]; u8 scales[8]; } (qs: 32 grid indices, then 32 sign bytes)
QK_DEVICE void elem_iq2_s(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ib32 = e / 32, l = (e % 32) / 8, j = e % 8;
  const int idx = x[2 + 4 * ib32 + l] | ((x[66 + ib32] << (8 - 2 * l)) & 0x300);
  const u32 signs = x[2 + 32 + 4 * ib32 + l];
  q = grid_byte_u64(iq2s_grid[idx], j) * sign_of(signs, j);
  const int s = x[74 + ib32];
  a = rdh(x) * (0.5f + (float)(l < 2 ? (s & 0xf) : (s >> 4))) * 0.25f; b = 0.0f; c = 0.0f;
}
// block_iq3_xxs { half d; u8 qs[96]; } (qs: 64 grid indices, then 8 u32 of scales and signs)
QK_DEVICE void elem_iq3_xxs(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ib32 = e / 32, l = (e % 32) / 8, j = e % 8;
  const u32 aux = rd32(x + 2 + 64 + 4 * ib32);
  const u32 signs = ksigns_iq2xs[(aux >> (7 * l)) & 127];
  const int idx = x[2 + 8 * ib32 + 2 * l + (j >> 2)];
  q = grid_byte_u32(iq3xxs_grid[idx], j & 3) * sign_of(signs, j);
  a = rdh(x) * (0.5f + (float)(aux >> 28)) * 0.5f; b = 0.0f; c = 0.0f;
}
// block_iq3_s { half d; u8 qs[64]; u8 qh[8]; u8 signs[32]; u8 scales[4]; }
QK_DEVICE void elem_iq3_s(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ib32 = e / 32, l = (e % 32) / 8, j = e % 8;
  const int qh = x[66 + ib32];
  const int k = j >> 2;  // grid1 (j < 4) or grid2
  const int idx = x[2 + 8 * ib32 + 2 * l + k] | ((qh << ((8 - k) - 2 * l)) & 256);
  const u32 signs = x[74 + 4 * ib32 + l];
  q = grid_byte_u32(iq3s_grid[idx], j & 3) * sign_of(signs, j);
  const int s = x[106 + ib32 / 2];
  a = rdh(x) * (float)(1 + 2 * ((ib32 & 1) ? (s >> 4) : (s & 0xf))); b = 0.0f; c = 0.0f;
}
// block_iq1_s { half d; u8 qs[32]; u16 qh[8]; }
QK_DEVICE void elem_iq1_s(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ib = e / 32, l = (e % 32) / 8, j = e % 8;
  const u32 qh = rd16(x + 34 + 2 * ib);
  const int idx = x[2 + 4 * ib + l] | (((qh >> (3 * l)) & 7) << 8);
  q = (s8)grid_byte_u64(iq1s_grid[idx], j);
  a = rdh(x) * (float)(2 * ((qh >> 12) & 7) + 1);
  c = (qh & 0x8000) ? -IQ1S_DELTA : IQ1S_DELTA;
  b = 0.0f;
}
// block_iq1_m { u8 qs[32]; u8 qh[16]; u8 scales[8]; } (the f16 scale is spread over scales' top nibbles)
QK_DEVICE void elem_iq1_m(const u8* x, int e, int& q, float& a, float& b, float& c) {
  const int ib = e / 32, l = (e % 32) / 8, j = e % 8;
  const u8* sc8 = x + 48;
  const u32 sc0 = rd16(sc8), sc1 = rd16(sc8 + 2), sc2 = rd16(sc8 + 4), sc3 = rd16(sc8 + 6);
  const u32 scale = (sc0 >> 12) | ((sc1 >> 8) & 0x00f0) | ((sc2 >> 4) & 0x0f00) | (sc3 & 0xf000);
  const u32 sc = rd16(sc8 + 2 * (ib / 2));
  const int qh = x[32 + 2 * ib + l / 2];
  const int idx = x[4 * ib + l] | (((l & 1) ? (qh << 4) : (qh << 8)) & 0x700);
  q = (s8)grid_byte_u64(iq1s_grid[idx], j);
  const int shift = 6 * (ib % 2) + (l < 2 ? 0 : 3);
  a = h2f(scale) * (float)(2 * ((sc >> shift) & 0x7) + 1);
  c = (qh & ((l & 1) ? 0x80 : 0x08)) ? -IQ1M_DELTA : IQ1M_DELTA;
  b = 0.0f;
}

// Every quantized type the kernels serve: name, values per block, bytes per block, whether the
// decoder's b (an offset) and c (a shift of q) are used. The host's kernel list is generated from
// the same names (GPUKernelCatalog).
#define QTYPE_LIST(X)            \
  X(q4_0, 32, 18, 0, 0)          \
  X(q4_1, 32, 20, 1, 0)          \
  X(q5_0, 32, 22, 0, 0)          \
  X(q5_1, 32, 24, 1, 0)          \
  X(q8_0, 32, 34, 0, 0)          \
  X(q2_K, 256, 84, 1, 0)         \
  X(q3_K, 256, 110, 0, 0)        \
  X(q4_K, 256, 144, 1, 0)        \
  X(q5_K, 256, 176, 1, 0)        \
  X(q6_K, 256, 210, 0, 0)        \
  X(iq2_xxs, 256, 66, 0, 0)      \
  X(iq2_xs, 256, 74, 0, 0)       \
  X(iq2_s, 256, 82, 0, 0)        \
  X(iq3_xxs, 256, 98, 0, 0)      \
  X(iq3_s, 256, 110, 0, 0)       \
  X(iq1_s, 256, 50, 0, 1)        \
  X(iq1_m, 256, 56, 0, 1)        \
  X(iq4_nl, 32, 18, 0, 0)        \
  X(iq4_xs, 256, 136, 0, 0)      \
  X(tq1_0, 256, 54, 0, 0)        \
  X(tq2_0, 256, 66, 0, 0)        \
  X(mxfp4, 32, 17, 0, 0)

#define QTYPE_TRAITS(name, QK_, BYTES_, HAS_B, HAS_C)                                   \
  struct qt_##name {                                                                   \
    enum { qk = QK_, bytes = BYTES_, has_b = HAS_B, has_c = HAS_C };                   \
    static __device__ __forceinline__ void elem(const u8* x, int e, int& q, float& a, float& b, float& c) { \
      elem_##name(x, e, q, a, b, c);                                                   \
    }                                                                                  \
  };
QTYPE_LIST(QTYPE_TRAITS)

// Group g (8 values) of a run of contiguous blocks.
template <class T>
QK_DEVICE group8 load_group8(const u8* x, s64 g) {
  const s64 ib = g / (T::qk / 8);
  const int e0 = (int)(g % (T::qk / 8)) * 8;
  const u8* blk = x + ib * T::bytes;
  int q[8];
  group8 r;
#pragma unroll
  for (int i = 0; i < 8; ++i) T::elem(blk, e0 + i, q[i], r.a, r.b, r.c);
  r.q0 = pack4(q[0], q[1], q[2], q[3]);
  r.q1 = pack4(q[4], q[5], q[6], q[7]);
  return r;
}

// Value i of a group, exactly as the reference computes it.
template <class T>
QK_DEVICE float group_value(const group8& g, int i) {
  const int qi = (s8)(((i < 4 ? g.q0 : g.q1) >> (8 * (i & 3))) & 0xff);
  float v = T::has_c ? qk_mul_rn(g.a, qk_add_rn((float)qi, g.c)) : qk_mul_rn(g.a, (float)qi);
  if (T::has_b) v = qk_add_rn(v, g.b);
  return v;
}
