// Mat-vec through q8_1 activations, one kernel per type and column count (llama.cpp's mul_mat_vec_q /
// mmvq design, Quanta's own code): y[col * nrows + row] = Σ_j w[row, j] · x[col, j] for ncols = 1 …
// MMVQ_MAX_COLS activation columns in one pass over the weights, x already quantized to q8_1 blocks
// { half d; half s; s8 qs[32]; } [ncols, k/32] by quantize_q8_1.
//
// A CTA of MMVQ_THREADS(C) threads (a multiple of 64: whole wavefronts at 32 and 64 wide) computes
// MMVQ_ROWS(C) consecutive weight rows for all C columns. Its threads split k: thread t takes part
// t % P of the weight blocks t / P, t / P + THREADS / P, … (P = the type's parts per block), so
// consecutive threads read consecutive bytes of a row. Per block a thread loads its part of each of the
// CTA's rows once — with the widest loads the block layout's alignment allows (128-bit for q4_K / q5_K),
// K-quant scales unpacked once — and dots it with every column's q8_1 ints (dp4a / sdot4). The C × R
// per-thread sums stay in registers, are summed over the wavefront (warp_reduce_sum: every shuffle
// names its width) and then over the CTA's wavefronts in shared memory.
//
// Geometry (MMVQ_MAX_COLS, MMVQ_THREADS(c), MMVQ_ROWS(c)) comes from the host, GPUMatVec.swift, its one
// owner (issue 12 §3): KernelBuild prepends it as #defines. Host contract: the weights start 16-byte
// aligned (the host checks; otherwise it launches mul_mat_vec_via_q8_1), rows are contiguous runs of
// k / qk blocks, the q8_1 activations 4-byte aligned. Rows past nrows are read as row nrows - 1 and
// never written, so every load is in bounds for any nrows ≥ 1 and k a multiple of the block size.
//
// Types (MMVQ_TYPE_LIST): q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs and
// mxfp4, each with its own vec_dot (vec_dot_<type>_q8_1, upstream's names). The other types keep
// kernels.cu's mul_mat_vec_via_q8_1: this kernel over their group-of-8 decoders, for 1…8 columns,
// more than doubled the hiprtc compile time of the whole source.

#if defined(MMVQ_MAX_COLS) && defined(MMVQ_THREADS) && defined(MMVQ_ROWS)
#if MMVQ_MAX_COLS < 1 || MMVQ_MAX_COLS > 8
#error "MMVQ_MAX_COLS: 1 to 8 columns (the kernels below are instantiated for 1 … 8)"
#endif

// The CPU emulation checks every typed load's alignment through this hook (scripts/gpu_emulate).
#ifndef QK_ASSERT_ALIGNED
#define QK_ASSERT_ALIGNED(p, a)
#endif

namespace mmvq {

struct alignas(8) i32x2 { int x, y; };
struct alignas(16) i32x4 { int x, y, z, w; };

// N ints (4·N bytes) at p, which is A-byte aligned (the block layout's guarantee): 128-, 64-, 32-bit,
// 2 × 16-bit or byte loads.
template <int N, int A>
QK_DEVICE void load_ints(const u8* __restrict__ p, int* v) {
  QK_ASSERT_ALIGNED(p, A);
  if (A >= 16 && N % 4 == 0) {
#pragma unroll
    for (int i = 0; i < N / 4; ++i) {
      const i32x4 q = ((const i32x4*)p)[i];
      v[4 * i] = q.x; v[4 * i + 1] = q.y; v[4 * i + 2] = q.z; v[4 * i + 3] = q.w;
    }
  } else if (A >= 8 && N % 2 == 0) {
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      const i32x2 q = ((const i32x2*)p)[i];
      v[2 * i] = q.x; v[2 * i + 1] = q.y;
    }
  } else if (A >= 4) {
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = ((const int*)p)[i];
  } else if (A >= 2) {
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = (int)((u32)((const u16*)p)[2 * i] | ((u32)((const u16*)p)[2 * i + 1] << 16));
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = (int)rd32(p + 4 * i);
  }
}
QK_DEVICE u32 load_u16(const u8* __restrict__ p) {
  QK_ASSERT_ALIGNED(p, 2);
  return *(const u16*)p;
}
QK_DEVICE u32 load_u32(const u8* __restrict__ p) {
  QK_ASSERT_ALIGNED(p, 4);
  return *(const u32*)p;
}

// q8_1 block at b: d and s = d · Σq.
QK_DEVICE void q8_1_ds(const u8* __restrict__ b, float& d, float& s) {
  const u32 ds = load_u32(b);
  d = half_to_float(ds & 0xffffu);
  s = half_to_float(ds >> 16);
}
// 4·N consecutive int8 values of a q8_1 block from int i0 on (4 values per int), and its d.
template <int N>
QK_DEVICE float q8_1_ints(const u8* __restrict__ b, int i0, int* u) {
  load_ints<N, 4>(b + 4 + 4 * i0, u);
  return half_to_float(load_u32(b) & 0xffffu);
}

// 4-bit indices → int8 values of a 16-entry table: the table as 4 words, read once per thread.
struct lut16 {
  u32 t[4];
};
QK_DEVICE lut16 make_lut16(const s8* table) {
  lut16 l;
#pragma unroll
  for (int i = 0; i < 4; ++i)
    l.t[i] = (u32)(u8)table[4 * i] | ((u32)(u8)table[4 * i + 1] << 8) | ((u32)(u8)table[4 * i + 2] << 16) |
             ((u32)(u8)table[4 * i + 3] << 24);
  return l;
}
// The 8 nibbles of q4: lo = table values of the 4 low nibbles (byte order), hi = of the 4 high nibbles.
// The CPU emulation runs each vendor's version over emulated byte-permute instructions
// (QK_EMULATE_BYTE_PERM / QK_EMULATE_AMDGCN_PERM), and the portable one.
QK_DEVICE void lut16_lookup(const lut16& l, u32 q4, int& lo, int& hi) {
#if defined(QUANTA_VENDOR_CUDA) || defined(QK_EMULATE_BYTE_PERM)
  // __byte_perm selects with 3-bit indices: look up in both table halves, then pick by bit 3.
  u32 r[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const u32 s = (q4 >> (16 * i)) & 0xffffu;  // nibbles: b.lo, b.hi, b'.lo, b'.hi
    const u32 low = __byte_perm(l.t[0], l.t[1], s & 0x7777u);
    const u32 high = __byte_perm(l.t[2], l.t[3], s & 0x7777u);
    r[i] = __byte_perm(low, high, 0x3210u | ((s & 0x8888u) >> 1));
  }
  lo = (int)__byte_perm(r[0], r[1], 0x6420u);
  hi = (int)__byte_perm(r[0], r[1], 0x7531u);
#elif defined(QUANTA_VENDOR_HIP) || defined(QK_EMULATE_AMDGCN_PERM)
  // v_perm_b32: selector bytes 0-3 pick from the second operand, 4-7 from the first.
  const u32 qe = q4, qo = q4 >> 4;
  const u32 el = __builtin_amdgcn_perm(l.t[1], l.t[0], qe & 0x07070707u);
  const u32 eh = __builtin_amdgcn_perm(l.t[3], l.t[2], qe & 0x07070707u);
  const u32 ol = __builtin_amdgcn_perm(l.t[1], l.t[0], qo & 0x07070707u);
  const u32 oh = __builtin_amdgcn_perm(l.t[3], l.t[2], qo & 0x07070707u);
  lo = (int)__builtin_amdgcn_perm(eh, el, 0x03020100u | ((qe & 0x08080808u) >> 1));
  hi = (int)__builtin_amdgcn_perm(oh, ol, 0x03020100u | ((qo & 0x08080808u) >> 1));
#else
  u32 a = 0, b = 0;
  for (int j = 0; j < 4; ++j) {
    const u32 lj = (q4 >> (8 * j)) & 0xf, hj = (q4 >> (8 * j + 4)) & 0xf;
    a |= ((l.t[lj / 4] >> (8 * (lj % 4))) & 0xff) << (8 * j);
    b |= ((l.t[hj / 4] >> (8 * (hj % 4))) & 0xff) << (8 * j);
  }
  lo = (int)a;
  hi = (int)b;
#endif
}

// Σ of 4·N int8 pairs, and Σ of u's 4·N values.
template <int N>
QK_DEVICE int dot_ints(const int* v, const int* u) {
  int s = 0;
#pragma unroll
  for (int i = 0; i < N; ++i) s = ggml_cuda_dp4a(v[i], u[i], s);
  return s;
}
template <int N>
QK_DEVICE int sum_ints(const int* u) {
  int s = 0;
#pragma unroll
  for (int i = 0; i < N; ++i) s = ggml_cuda_dp4a(0x01010101, u[i], s);
  return s;
}

// Low / high nibbles of the 4 bytes of v.
QK_DEVICE int nib_lo(int v) { return v & 0x0F0F0F0F; }
QK_DEVICE int nib_hi(int v) { return (int)(((u32)v >> 4) & 0x0F0F0F0Fu); }
// Bits 0-3 of b → bit 4 of bytes 0-3 (the 5th bit of four q5 values).
QK_DEVICE int bit4_of_bytes(u32 b) {
  return (int)(((b << 4) & 0x10u) | ((b << 11) & 0x1000u) | ((b << 18) & 0x100000u) | ((b << 25) & 0x10000000u));
}

// ---- Per-type parts: Ctx (per thread, once), W (a part of one weight block, decoded to int8 values
// and scales), X (the matching q8_1 ints of one column), load_w / load_x, and the vec_dot. Each type's
// comment gives its block layout (byte offsets), the part → values map and the loads' alignment.
struct no_ctx {};

// q4_0 { half d @0; u8 qs[16] @2 } 18 bytes (2-aligned). Part p (2 per block): qs bytes 8p…8p+7 →
// values 8p…8p+7 (low nibbles) and 16+8p… (high): q8_1 ints 2p, 2p+1 and 4+2p, 5+2p.
struct q4_0_w { int q[4]; float d; };
struct q4_0_x { int u[4]; float d, s; };
QK_DEVICE float vec_dot_q4_0_q8_1(const q4_0_w& w, const q4_0_x& x) {
  // Σ (q - 8)·d8·u = d8·Σq·u - 8·d8·Σu; the two parts each take half of s = d8·Σu of the block.
  return w.d * ((float)dot_ints<4>(w.q, x.u) * x.d - 4.0f * x.s);
}
struct vdq_q4_0 {
  enum { qk = 32, bytes = 18, parts = 2 };
  typedef no_ctx Ctx;
  typedef q4_0_w W;
  typedef q4_0_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    int v[2];
    load_ints<2, 2>(b + 2 + 8 * p, v);
    W w;
    w.q[0] = nib_lo(v[0]); w.q[1] = nib_lo(v[1]); w.q[2] = nib_hi(v[0]); w.q[3] = nib_hi(v[1]);
    w.d = half_to_float(load_u16(b));
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) {
    X x;
    q8_1_ints<2>(b, 2 * p, x.u);
    q8_1_ints<2>(b, 4 + 2 * p, x.u + 2);
    q8_1_ds(b, x.d, x.s);
    return x;
  }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q4_0_q8_1(w, x); }
};

// q4_1 { half d @0; half m @2; u8 qs[16] @4 } 20 bytes (4-aligned). Parts as q4_0.
struct q4_1_w { int q[4]; float d, m; };
QK_DEVICE float vec_dot_q4_1_q8_1(const q4_1_w& w, const q4_0_x& x) {
  // Σ (d·q + m)·d8·u = d·d8·Σq·u + m·d8·Σu; each part takes half of s.
  return w.d * x.d * (float)dot_ints<4>(w.q, x.u) + 0.5f * w.m * x.s;
}
struct vdq_q4_1 {
  enum { qk = 32, bytes = 20, parts = 2 };
  typedef no_ctx Ctx;
  typedef q4_1_w W;
  typedef q4_0_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    int v[2];
    load_ints<2, 4>(b + 4 + 8 * p, v);
    W w;
    w.q[0] = nib_lo(v[0]); w.q[1] = nib_lo(v[1]); w.q[2] = nib_hi(v[0]); w.q[3] = nib_hi(v[1]);
    const u32 dm = load_u32(b);
    w.d = half_to_float(dm & 0xffffu);
    w.m = half_to_float(dm >> 16);
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) { return vdq_q4_0::load_x(b, p); }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q4_1_q8_1(w, x); }
};

// q5_0 { half d @0; u8 qh[4] @2; u8 qs[16] @6 } 22 bytes (2-aligned). Parts as q4_0; value j's 5th
// bit is qh bit j.
QK_DEVICE void q5_part(const int* v, u32 qh, int p, int* q) {
  const u32 lo = qh >> (8 * p), hi = qh >> (16 + 8 * p);  // bits of values 8p… and 16+8p…
  q[0] = nib_lo(v[0]) | bit4_of_bytes(lo);
  q[1] = nib_lo(v[1]) | bit4_of_bytes(lo >> 4);
  q[2] = nib_hi(v[0]) | bit4_of_bytes(hi);
  q[3] = nib_hi(v[1]) | bit4_of_bytes(hi >> 4);
}
QK_DEVICE float vec_dot_q5_0_q8_1(const q4_0_w& w, const q4_0_x& x) {
  return w.d * ((float)dot_ints<4>(w.q, x.u) * x.d - 8.0f * x.s);  // q - 16, half of s per part
}
struct vdq_q5_0 {
  enum { qk = 32, bytes = 22, parts = 2 };
  typedef no_ctx Ctx;
  typedef q4_0_w W;
  typedef q4_0_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    int v[2], qh[1];
    load_ints<2, 2>(b + 6 + 8 * p, v);
    load_ints<1, 2>(b + 2, qh);
    W w;
    q5_part(v, (u32)qh[0], p, w.q);
    w.d = half_to_float(load_u16(b));
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) { return vdq_q4_0::load_x(b, p); }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q5_0_q8_1(w, x); }
};

// q5_1 { half d @0; half m @2; u8 qh[4] @4; u8 qs[16] @8 } 24 bytes (8-aligned).
QK_DEVICE float vec_dot_q5_1_q8_1(const q4_1_w& w, const q4_0_x& x) {
  return w.d * x.d * (float)dot_ints<4>(w.q, x.u) + 0.5f * w.m * x.s;
}
struct vdq_q5_1 {
  enum { qk = 32, bytes = 24, parts = 2 };
  typedef no_ctx Ctx;
  typedef q4_1_w W;
  typedef q4_0_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    int v[2];
    load_ints<2, 8>(b + 8 + 8 * p, v);
    W w;
    q5_part(v, load_u32(b + 4), p, w.q);
    const u32 dm = load_u32(b);
    w.d = half_to_float(dm & 0xffffu);
    w.m = half_to_float(dm >> 16);
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) { return vdq_q4_0::load_x(b, p); }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q5_1_q8_1(w, x); }
};

// q8_0 { half d @0; s8 qs[32] @2 } 34 bytes (2-aligned). Part p (2 per block): values 16p…16p+15 =
// q8_1 ints 4p…4p+3.
struct q8_0_x { int u[4]; float d; };
struct q8_0_x8 { int u[8]; float d; };
QK_DEVICE float vec_dot_q8_0_q8_1(const q4_0_w& w, const q8_0_x& x) {
  return w.d * x.d * (float)dot_ints<4>(w.q, x.u);
}
struct vdq_q8_0 {
  enum { qk = 32, bytes = 34, parts = 2 };
  typedef no_ctx Ctx;
  typedef q4_0_w W;
  typedef q8_0_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    W w;
    load_ints<4, 2>(b + 2 + 16 * p, w.q);
    w.d = half_to_float(load_u16(b));
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) {
    X x;
    x.d = q8_1_ints<4>(b, 4 * p, x.u);
    return x;
  }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q8_0_q8_1(w, x); }
};

// iq4_nl { half d @0; u8 qs[16] @2 } 18 bytes (2-aligned): q4_0's layout, nibbles through
// kvalues_iq4nl.
struct iq4_ctx {
  lut16 lut;
};
QK_DEVICE float vec_dot_iq4_nl_q8_1(const q4_0_w& w, const q4_0_x& x) {
  return w.d * x.d * (float)dot_ints<4>(w.q, x.u);
}
QK_DEVICE void lut_part(const lut16& l, const int* v, int* q) {
  lut16_lookup(l, (u32)v[0], q[0], q[2]);
  lut16_lookup(l, (u32)v[1], q[1], q[3]);
}
struct vdq_iq4_nl {
  enum { qk = 32, bytes = 18, parts = 2 };
  typedef iq4_ctx Ctx;
  typedef q4_0_w W;
  typedef q4_0_x X;
  QK_DEVICE Ctx context() {
    Ctx c;
    c.lut = make_lut16(kvalues_iq4nl);
    return c;
  }
  QK_DEVICE W load_w(const Ctx& c, const u8* b, int p) {
    int v[2];
    load_ints<2, 2>(b + 2 + 8 * p, v);
    W w;
    lut_part(c.lut, v, w.q);
    w.d = half_to_float(load_u16(b));
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) { return vdq_q4_0::load_x(b, p); }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_iq4_nl_q8_1(w, x); }
};

// mxfp4 { u8 e @0; u8 qs[16] @1 } 17 bytes (1-aligned: byte loads). q4_0's nibble layout through
// kvalues_mxfp4 (doubled E2M1), scale e8m0 / 2.
QK_DEVICE float vec_dot_mxfp4_q8_1(const q4_0_w& w, const q4_0_x& x) {
  return w.d * x.d * (float)dot_ints<4>(w.q, x.u);
}
struct vdq_mxfp4 {
  enum { qk = 32, bytes = 17, parts = 2 };
  typedef iq4_ctx Ctx;
  typedef q4_0_w W;
  typedef q4_0_x X;
  QK_DEVICE Ctx context() {
    Ctx c;
    c.lut = make_lut16(kvalues_mxfp4);
    return c;
  }
  QK_DEVICE W load_w(const Ctx& c, const u8* b, int p) {
    int v[2];
    load_ints<2, 1>(b + 1 + 8 * p, v);
    W w;
    lut_part(c.lut, v, w.q);
    w.d = e8m0_to_fp32_half(b[0]);
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) { return vdq_q4_0::load_x(b, p); }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_mxfp4_q8_1(w, x); }
};

// ---- Super-blocks (256 values, 8 q8_1 blocks): 8 parts of 32 values each.
// Two q8_1 half-blocks: ints 4h…4h+3 of the q8_1 blocks i0 and i1 (values 32·i + 16h …), their d.
struct half2_x { int u[2][4]; float d[2]; };
QK_DEVICE half2_x load_half2_x(const u8* b, int i0, int i1, int h) {
  half2_x x;
  x.d[0] = q8_1_ints<4>(b + 36 * i0, 4 * h, x.u[0]);
  x.d[1] = q8_1_ints<4>(b + 36 * i1, 4 * h, x.u[1]);
  return x;
}

// q2_K { u8 scales[16] @0; u8 qs[64] @16; half d @80; half dmin @82 } 84 bytes (4-aligned). Value
// 128n + 32j + l (l < 32): 2 bits at shift 2j of qs[32n + l], scale byte 8n + 2j + l/16 (low nibble
// scale, high nibble min). Part p: n = p/4, h = p/2 % 2, j ∈ {2(p%2), 2(p%2)+1}, l ∈ 16h…16h+15:
// qs bytes 32n+16h… (16, shared by the part pair p, p^1), q8_1 blocks 4n + j, ints 4h….
struct q2_K_w { int q[2][4]; int sc[2]; float d, dmin; };
QK_DEVICE float vec_dot_q2_K_q8_1(const q2_K_w& w, const half2_x& x) {
  float fd = 0.0f, fm = 0.0f;
#pragma unroll
  for (int s = 0; s < 2; ++s) {
    fd += x.d[s] * (float)(dot_ints<4>(w.q[s], x.u[s]) * (w.sc[s] & 0xf));
    fm += x.d[s] * (float)(sum_ints<4>(x.u[s]) * (w.sc[s] >> 4));
  }
  return w.d * fd - w.dmin * fm;
}
struct vdq_q2_K {
  enum { qk = 256, bytes = 84, parts = 8 };
  typedef no_ctx Ctx;
  typedef q2_K_w W;
  typedef half2_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    const int n = p >> 2, h = (p >> 1) & 1, j0 = 2 * (p & 1);
    int v[4];
    load_ints<4, 4>(b + 16 + 32 * n + 16 * h, v);
    W w;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w.q[0][i] = (int)(((u32)v[i] >> (2 * j0)) & 0x03030303u);
      w.q[1][i] = (int)(((u32)v[i] >> (2 * j0 + 2)) & 0x03030303u);
    }
    const u32 sc = load_u32(b + 8 * n + 2 * j0);  // scale bytes 8n + 2j0 + {0, 1, 2, 3}
    w.sc[0] = (int)((sc >> (8 * h)) & 0xffu);
    w.sc[1] = (int)((sc >> (16 + 8 * h)) & 0xffu);
    const u32 dm = load_u32(b + 80);
    w.d = half_to_float(dm & 0xffffu);
    w.dmin = half_to_float(dm >> 16);
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) {
    const int n = p >> 2, h = (p >> 1) & 1, j0 = 2 * (p & 1);
    return load_half2_x(b, 4 * n + j0, 4 * n + j0 + 1, h);
  }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q2_K_q8_1(w, x); }
};

// q3_K { u8 hmask[32] @0; u8 qs[64] @32; u8 scales[12] @96; half d @108 } 110 bytes (2-aligned).
// Value 128n + 32j + l: (2 bits at shift 2j of qs[32n + l]) - (hmask[l] bit 4n + j ? 0 : 4), 6-bit
// scale 8n + 2j + l/16 (minus 32). Parts as q2_K.
struct q3_K_w { int q[2][4]; int qm[2][4]; int sc[2]; float d; };
QK_DEVICE float vec_dot_q3_K_q8_1(const q3_K_w& w, const half2_x& x) {
  float f = 0.0f;
#pragma unroll
  for (int s = 0; s < 2; ++s)
    f += x.d[s] * (float)((dot_ints<4>(w.q[s], x.u[s]) - dot_ints<4>(w.qm[s], x.u[s])) * w.sc[s]);
  return w.d * f;
}
QK_DEVICE int q3_K_scale(const u8* s, int is) {
  const int lo4 = is < 8 ? (s[is & 7] & 0xf) : (s[is & 7] >> 4);
  const int hi2 = (s[8 + (is & 3)] >> (2 * (is >> 2))) & 3;
  return (lo4 | (hi2 << 4)) - 32;
}
struct vdq_q3_K {
  enum { qk = 256, bytes = 110, parts = 8 };
  typedef no_ctx Ctx;
  typedef q3_K_w W;
  typedef half2_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    const int n = p >> 2, h = (p >> 1) & 1, j0 = 2 * (p & 1);
    int v[4], hm[4];
    load_ints<4, 2>(b + 32 + 32 * n + 16 * h, v);
    load_ints<4, 2>(b + 16 * h, hm);
    W w;
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      const int j = j0 + s;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        w.q[s][i] = (int)(((u32)v[i] >> (2 * j)) & 0x03030303u);
        w.qm[s][i] = (int)((((~(u32)hm[i]) >> (4 * n + j)) & 0x01010101u) << 2);  // 4 where the bit is clear
      }
      w.sc[s] = q3_K_scale(b + 96, 8 * n + 2 * j + h);
    }
    w.d = half_to_float(load_u16(b + 108));
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) { return vdq_q2_K::load_x(b, p); }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q3_K_q8_1(w, x); }
};

// q4_K { half d @0; half dmin @2; u8 scales[12] @4; u8 qs[128] @16 } 144 bytes (16-aligned). Value
// 64c + 32s + l: nibble s of qs[32c + l], 6-bit scale/min pair 2c + s (get_scale_min_k4). Part p:
// c = p/2, l ∈ 16h…16h+15 (h = p%2): one 128-bit load of qs bytes 32c+16h…, q8_1 blocks 2c, 2c+1,
// ints 4h….
struct q4_K_w { int q[2][4]; int sc[2], m[2]; float d, dmin; };
QK_DEVICE float vec_dot_q4_K_q8_1(const q4_K_w& w, const half2_x& x) {
  float fd = 0.0f, fm = 0.0f;
#pragma unroll
  for (int s = 0; s < 2; ++s) {
    fd += x.d[s] * (float)(dot_ints<4>(w.q[s], x.u[s]) * w.sc[s]);
    fm += x.d[s] * (float)(sum_ints<4>(x.u[s]) * w.m[s]);
  }
  return w.d * fd - w.dmin * fm;
}
// Scale and min j (0…7) of the 12 packed bytes q (ggml's get_scale_min_k4), byte reads in bounds.
QK_DEVICE void scale_min_k4(const u8* q, int j, int& sc, int& m) {
  const int bj = q[j], bj4 = q[j + 4], bjm4 = q[j & 3];
  if (j < 4) {
    sc = bj & 63;
    m = bj4 & 63;
  } else {
    sc = (bj4 & 0xf) | ((bjm4 >> 6) << 4);
    m = (bj4 >> 4) | ((bj >> 6) << 4);
  }
}
QK_DEVICE void k4_scales(const u8* b, int c, int* sc, int* m, float& d, float& dmin) {
  scale_min_k4(b + 4, 2 * c, sc[0], m[0]);
  scale_min_k4(b + 4, 2 * c + 1, sc[1], m[1]);
  const u32 dm = load_u32(b);
  d = half_to_float(dm & 0xffffu);
  dmin = half_to_float(dm >> 16);
}
struct vdq_q4_K {
  enum { qk = 256, bytes = 144, parts = 8 };
  typedef no_ctx Ctx;
  typedef q4_K_w W;
  typedef half2_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    const int c = p >> 1, h = p & 1;
    int v[4];
    load_ints<4, 16>(b + 16 + 32 * c + 16 * h, v);
    W w;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w.q[0][i] = nib_lo(v[i]);
      w.q[1][i] = nib_hi(v[i]);
    }
    k4_scales(b, c, w.sc, w.m, w.d, w.dmin);
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) {
    const int c = p >> 1, h = p & 1;
    return load_half2_x(b, 2 * c, 2 * c + 1, h);
  }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q4_K_q8_1(w, x); }
};

// q5_K { half d @0; half dmin @2; u8 scales[12] @4; u8 qh[32] @16; u8 qs[128] @48 } 176 bytes
// (16-aligned). q4_K's values plus bit 2c + s of qh[l] as bit 4. Parts as q4_K, plus one 128-bit load
// of qh bytes 16h….
QK_DEVICE float vec_dot_q5_K_q8_1(const q4_K_w& w, const half2_x& x) { return vec_dot_q4_K_q8_1(w, x); }
struct vdq_q5_K {
  enum { qk = 256, bytes = 176, parts = 8 };
  typedef no_ctx Ctx;
  typedef q4_K_w W;
  typedef half2_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    const int c = p >> 1, h = p & 1;
    int v[4], qh[4];
    load_ints<4, 16>(b + 48 + 32 * c + 16 * h, v);
    load_ints<4, 16>(b + 16 + 16 * h, qh);
    W w;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w.q[0][i] = nib_lo(v[i]) | (int)((((u32)qh[i] >> (2 * c)) & 0x01010101u) << 4);
      w.q[1][i] = nib_hi(v[i]) | (int)((((u32)qh[i] >> (2 * c + 1)) & 0x01010101u) << 4);
    }
    k4_scales(b, c, w.sc, w.m, w.d, w.dmin);
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) { return vdq_q4_K::load_x(b, p); }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q5_K_q8_1(w, x); }
};

// q6_K { u8 ql[128] @0; u8 qh[64] @128; s8 scales[16] @192; half d @208 } 210 bytes (2-aligned).
// Value 128n + 32Q + l: (nibble Q/2 of ql[64n + 32(Q%2) + l]) | (2 bits at shift 2Q of qh[32n + l]) << 4,
// minus 32; scale 8n + 2Q + l/16. Part p: n = p/4, l ∈ 16h… (h = p/2 % 2), Q ∈ {p%2, p%2 + 2}: ql bytes
// 64n + 32(p%2) + 16h… and qh bytes 32n + 16h… (shared by the pair p, p^1), q8_1 blocks 4n + Q.
struct q6_K_w { int q[2][4]; int sc[2]; float d; };
QK_DEVICE float vec_dot_q6_K_q8_1(const q6_K_w& w, const half2_x& x) {
  float f = 0.0f;
#pragma unroll
  for (int s = 0; s < 2; ++s) {
    // Σ (q - 32)·u = Σ q·u - Σ 32·u (q ∈ 0…63).
    const int sumi = dot_ints<4>(w.q[s], x.u[s]) - 32 * sum_ints<4>(x.u[s]);
    f += x.d[s] * (float)(sumi * w.sc[s]);
  }
  return w.d * f;
}
struct vdq_q6_K {
  enum { qk = 256, bytes = 210, parts = 8 };
  typedef no_ctx Ctx;
  typedef q6_K_w W;
  typedef half2_x X;
  QK_DEVICE Ctx context() { return Ctx(); }
  QK_DEVICE W load_w(const Ctx&, const u8* b, int p) {
    const int n = p >> 2, h = (p >> 1) & 1, q0 = p & 1;
    int ql[4], qh[4];
    load_ints<4, 2>(b + 64 * n + 32 * q0 + 16 * h, ql);
    load_ints<4, 2>(b + 128 + 32 * n + 16 * h, qh);
    W w;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w.q[0][i] = nib_lo(ql[i]) | (int)((((u32)qh[i] >> (2 * q0)) & 0x03030303u) << 4);
      w.q[1][i] = nib_hi(ql[i]) | (int)((((u32)qh[i] >> (2 * q0 + 4)) & 0x03030303u) << 4);
    }
    w.sc[0] = (s8)b[192 + 8 * n + h + 2 * q0];
    w.sc[1] = (s8)b[192 + 8 * n + h + 2 * q0 + 4];
    w.d = half_to_float(load_u16(b + 208));
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) {
    const int n = p >> 2, h = (p >> 1) & 1, q0 = p & 1;
    return load_half2_x(b, 4 * n + q0, 4 * n + q0 + 2, h);
  }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_q6_K_q8_1(w, x); }
};

// iq4_xs { half d @0; u16 scales_h @2; u8 scales_l[4] @4; u8 qs[128] @8 } 136 bytes (8-aligned).
// Part p = sub-block p (32 values): qs bytes 16p… (low nibbles = values 32p…32p+15, high = +16…),
// 6-bit scale p minus 32; the whole q8_1 block p.
struct iq4_xs_w { int q[8]; float d; };
QK_DEVICE float vec_dot_iq4_xs_q8_1(const iq4_xs_w& w, const q8_0_x8& x) {
  return w.d * x.d * (float)dot_ints<8>(w.q, x.u);
}
struct vdq_iq4_xs {
  enum { qk = 256, bytes = 136, parts = 8 };
  typedef iq4_ctx Ctx;
  typedef iq4_xs_w W;
  typedef q8_0_x8 X;
  QK_DEVICE Ctx context() { return vdq_iq4_nl::context(); }
  QK_DEVICE W load_w(const Ctx& c, const u8* b, int p) {
    int v[4], head[2];
    load_ints<4, 8>(b + 8 + 16 * p, v);
    load_ints<2, 8>(b, head);  // d | scales_h << 16, scales_l[4]
    W w;
#pragma unroll
    for (int i = 0; i < 4; ++i) lut16_lookup(c.lut, (u32)v[i], w.q[i], w.q[4 + i]);
    const int ls = (int)((((u32)head[1] >> (4 * p)) & 0xfu) | ((((u32)head[0] >> (16 + 2 * p)) & 3u) << 4));
    w.d = half_to_float((u32)head[0] & 0xffffu) * (float)(ls - 32);
    return w;
  }
  QK_DEVICE X load_x(const u8* b, int p) {
    X x;
    x.d = q8_1_ints<8>(b + 36 * p, 0, x.u);
    return x;
  }
  QK_DEVICE float dot(const W& w, const X& x) { return vec_dot_iq4_xs_q8_1(w, x); }
};

// ---- The kernel: C columns, the geometry of C from the host.
// The CTA's R rows from row0 of the nrows rows at w (contiguous, 16-byte aligned) times C q8_1
// columns, addressed through Cols: col_x(cols, j) the q8_1 blocks of column j, col_store(cols, j, row, v)
// its output. The dense kernel below reads columns [C, k/32] and writes y[C, nrows]; the expert-routed
// kernels of moe.cu gather their columns through a pair permutation.
template <class V, int C, class Cols>
QK_DEVICE void mat_vec_rows(const u8* __restrict__ w, s64 nrows, s64 row0, s64 k, const Cols& cols) {
  constexpr int NT = MMVQ_THREADS(C), R = MMVQ_ROWS(C), P = V::parts, NW = NT / QK_WARP_SIZE;
  static_assert(NT > 0 && NT % 64 == 0 && NT % P == 0, "MMVQ_THREADS: a multiple of 64 and of the parts per block");
  static_assert(R >= 1 && C * R <= NT, "MMVQ_ROWS: at least 1, C · R ≤ threads");
  const int tid = (int)threadIdx.x;
  const int nb = (int)(k / V::qk);  // weight blocks per row
  const s64 row_bytes = (s64)nb * V::bytes;
  const u8* wr[R];
#pragma unroll
  for (int i = 0; i < R; ++i) wr[i] = w + (row0 + i < nrows ? row0 + i : nrows - 1) * row_bytes;
  float acc[C][R];
#pragma unroll
  for (int j = 0; j < C; ++j)
#pragma unroll
    for (int i = 0; i < R; ++i) acc[j][i] = 0.0f;

  const typename V::Ctx ctx = V::context();
  const int part = tid % P;
  for (int kb = tid / P; kb < nb; kb += NT / P) {
    typename V::W wv[R];
#pragma unroll
    for (int i = 0; i < R; ++i) wv[i] = V::load_w(ctx, wr[i] + (s64)kb * V::bytes, part);
    const s64 xoff = (s64)kb * (V::qk / 32) * 36;
#pragma unroll
    for (int j = 0; j < C; ++j) {
      const typename V::X xv = V::load_x(col_x(cols, j) + xoff, part);
#pragma unroll
      for (int i = 0; i < R; ++i) acc[j][i] += V::dot(wv[i], xv);
    }
  }

  __shared__ float red[NW][C * R];
  const int lane = tid % QK_WARP_SIZE, wid = tid / QK_WARP_SIZE;
#pragma unroll
  for (int j = 0; j < C; ++j)
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const float s = warp_reduce_sum(acc[j][i]);
      if (lane == 0) red[wid][j * R + i] = s;
    }
  __syncthreads();
  if (tid < C * R) {
    float s = 0.0f;
#pragma unroll
    for (int v = 0; v < NW; ++v) s += red[v][tid];
    const s64 row = row0 + tid % R;
    if (row < nrows) col_store(cols, tid / R, row, s);
  }
}

// Columns [C, k/32] of q8_1 blocks at xq, outputs y[C, nrows].
struct dense_cols {
  const u8* xq;
  s64 col_bytes;
  float* y;
  s64 nrows;
};
QK_DEVICE const u8* col_x(const dense_cols& c, int j) { return c.xq + j * c.col_bytes; }
QK_DEVICE void col_store(const dense_cols& c, int j, s64 row, float v) { c.y[(s64)j * c.nrows + row] = v; }

// Up to three matrices of the same type and k share one launch (a plan's q/k/v or gate/up projections
// of one input): CTAs [0, c0) take matrix 0, the next c1 matrix 1, the rest matrix 2 (c = its rows / R,
// rounded up; nrows1 = nrows2 = 0 for one matrix). The choice is uniform per CTA. pick_matrix turns
// (w, y, nrows), matrix 0 on entry, into the CTA's matrix and returns the CTA's index within it.
template <int R>
QK_DEVICE s64 pick_matrix(s64 cta, const u8*& w, float*& y, s64& nrows, const u8* w1, float* y1, s64 nrows1,
                          const u8* w2, float* y2, s64 nrows2) {
  const s64 c0 = (nrows + R - 1) / R, c1 = (nrows1 + R - 1) / R;
  if (cta >= c0) {
    cta -= c0;
    if (cta < c1) {
      w = w1; y = y1; nrows = nrows1;
    } else {
      cta -= c1;
      w = w2; y = y2; nrows = nrows2;
    }
  }
  return cta;
}
template <class V, int C>
QK_DEVICE void mul_mat_vec_q(
  const u8* __restrict__ w0, const u8* __restrict__ xq, float* __restrict__ y0, s64 k, s64 nrows0,
  const u8* __restrict__ w1, float* __restrict__ y1, s64 nrows1, const u8* __restrict__ w2, float* __restrict__ y2,
  s64 nrows2) {
  constexpr int R = MMVQ_ROWS(C);
  const u8* w = w0;
  float* y = y0;
  s64 nrows = nrows0;
  const s64 cta = pick_matrix<R>((s64)blockIdx.x, w, y, nrows, w1, y1, nrows1, w2, y2, nrows2);
  const dense_cols cols = {xq, (k / 32) * 36, y, nrows};
  mat_vec_rows<V, C>(w, nrows, cta * R, k, cols);
}

// ---- Short rows, one column: one wavefront per row (mul_mat_vec_q_<type>_1_short). A row of fewer
// (block, part) slots than MMVQ_THREADS(1) leaves most of the kernel above idle (Gemma 3's k = 640 … 2048:
// 40–64 slots for 128 threads) and, on a 262144-row output matrix, too few loads in flight per
// multiprocessor (1.1 TB/s on an H100). Here each of the CTA's MMVQ_SHORT_ROWS wavefronts takes its own
// row, its lanes stride the row's slots (slot s: block s / P, part s % P) with a compile-time step, and
// one wavefront reduction ends it: no shared memory, no barrier. The host picks it (GPUMatVec.shortRows)
// where the slots are fewer than MMVQ_THREADS(1); the plain kernels stay as they are.
#define MMVQ_SHORT_ROWS (MMVQ_THREADS(1) / QK_WARP_SIZE)
template <class V>
QK_DEVICE void mat_vec_row_short(const u8* __restrict__ w, s64 nrows, s64 row, s64 k, const u8* __restrict__ xq,
                                 float* __restrict__ y) {
  constexpr int P = V::parts;
  const int lane = (int)threadIdx.x % QK_WARP_SIZE;
  const int nb = (int)(k / V::qk), slots = nb * P;
  const u8* wr = w + (row < nrows ? row : nrows - 1) * ((s64)nb * V::bytes);
  const typename V::Ctx ctx = V::context();
  float acc = 0.0f;
  for (int s = lane; s < slots; s += QK_WARP_SIZE) {
    const int kb = s / P, part = s % P;
    const typename V::W wv = V::load_w(ctx, wr + (s64)kb * V::bytes, part);
    acc += V::dot(wv, V::load_x(xq + (s64)kb * (V::qk / 32) * 36, part));
  }
  acc = warp_reduce_sum(acc);
  if (lane == 0 && row < nrows) y[row] = acc;
}

// mul_mat_vec_q's matrices (up to three sharing the launch), MMVQ_SHORT_ROWS rows per CTA.
template <class V>
QK_DEVICE void mul_mat_vec_q_short(
  const u8* __restrict__ w0, const u8* __restrict__ xq, float* __restrict__ y0, s64 k, s64 nrows0,
  const u8* __restrict__ w1, float* __restrict__ y1, s64 nrows1, const u8* __restrict__ w2, float* __restrict__ y2,
  s64 nrows2) {
  constexpr int R = MMVQ_SHORT_ROWS;
  static_assert(R >= 1, "MMVQ_THREADS(1): at least one wavefront");
  const u8* w = w0;
  float* y = y0;
  s64 nrows = nrows0;
  const s64 cta = pick_matrix<R>((s64)blockIdx.x, w, y, nrows, w1, y1, nrows1, w2, y2, nrows2);
  mat_vec_row_short<V>(w, nrows, cta * R + (s64)threadIdx.x / QK_WARP_SIZE, k, xq, y);
}


// ---- A one-column short-row mat-vec with a plan's row chain as its tail (mul_mat_vec_q_<type>_1_short_chain):
// y = W·x as the short-row kernel computes it (one wavefront per row; CTAs of FUSED_ROW_THREADS), then the
// CTA that finishes last (by `counter`, which it resets to 0 for the next launch) runs row_chain over y as
// one row of nrows values (b = y) — the fused_norm_add_norm_q8_1 launch that would follow, saved. Its
// outputs are bit for bit that launch's: the same CTA width, so the same reductions. yq may be the
// memory xq was read from: the tail starts after every CTA has counted itself done.
// With `gate` (and `up`, `act`; k ≤ MMVQ_GLU_MAX_K) x is the gated activation of the two instead of xq:
// each CTA quantizes all k values into shared memory (glu_q8_1_x4: glu_q8_1's bytes, so the same y), CTA 0
// also writes them f32 to act — the glu_q8_1 launch before, saved.
#define MMVQ_GLU_MAX_K 4096
template <class V>
QK_DEVICE void mul_mat_vec_q_short_chain(
  const u8* w, const u8* xq, float* y, s64 k, s64 nrows, const float* gate, const float* up, float* act, s32 gelu,
  const float* a, const float* __restrict__ w1, const float* __restrict__ w2, float* t_out, float* s_out,
  float* y_out, u8* yq, float eps1, float eps2, s32 flags, u32* counter) {
  constexpr int R = FUSED_ROW_THREADS / QK_WARP_SIZE;
  __shared__ int last;
  __shared__ f32x4 xs[MMVQ_GLU_MAX_K / 32 * 36 / 16];  // q8_1 blocks; f32x4: 16-byte aligned
  if (gate) {
    for (s64 j0 = 0; 4 * j0 < k; j0 += FUSED_ROW_THREADS)  // uniform over the CTA
      glu_q8_1_x4(gate, up, j0 + threadIdx.x, k, gelu, blockIdx.x == 0 ? act : nullptr, (u8*)xs);
    __syncthreads();
    xq = (const u8*)xs;
  }
  mat_vec_row_short<V>(w, nrows, (s64)blockIdx.x * R + (s64)threadIdx.x / QK_WARP_SIZE, k, xq, y);
  __threadfence();  // this wavefront's row is visible device-wide before the count says so
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  row_chain(y, a, w1, w2, t_out, s_out, y_out, yq, 0, nrows, eps1, eps2, flags);
  if (threadIdx.x == 0) *counter = 0;
}

}  // namespace mmvq

// The types with a per-type kernel (GPUMatVec.dotTypes lists the same; scripts/gpu_emulate/matvec.sh
// checks). Every other type keeps mul_mat_vec_via_q8_1 (kernels.cu), which the host picks for it.
#define MMVQ_TYPE_LIST(X) \
  X(q4_0) X(q4_1) X(q5_0) X(q5_1) X(q8_0) X(q2_K) X(q3_K) X(q4_K) X(q5_K) X(q6_K) X(iq4_nl) X(iq4_xs) X(mxfp4)

// extern "C" entry points: mul_mat_vec_q_<type>_<ncols>.
#define MMVQ_KERNEL(name, C)                                                                               \
  QK_KERNEL void __launch_bounds__(MMVQ_THREADS(C)) mul_mat_vec_q_##name##_##C(                          \
    const u8* w, const u8* xq, float* y, s64 k, s64 nrows, const u8* w1, float* y1, s64 nrows1, const u8* w2, \
    float* y2, s64 nrows2) { qk_grid_dependency_sync();                                                                                \
    mmvq::mul_mat_vec_q<mmvq::vdq_##name, C>(w, xq, y, k, nrows, w1, y1, nrows1, w2, y2, nrows2);           \
  }
// mul_mat_vec_q_<type>_1_short: the same arguments; the host owns the parts per block it chooses by
// (GPUMatVec.partsPerBlock as MMVQ_PARTS_<type>), checked here against the kernel's.
#define MMVQ_SHORT_KERNEL(name)                                                                            \
  static_assert((int)mmvq::vdq_##name::parts == MMVQ_PARTS_##name,                                        \
                "mmvq.cu: parts per block of " #name " disagree with GPUMatVec.partsPerBlock");            \
  QK_KERNEL void __launch_bounds__(MMVQ_THREADS(1)) mul_mat_vec_q_##name##_1_short(                      \
    const u8* w, const u8* xq, float* y, s64 k, s64 nrows, const u8* w1, float* y1, s64 nrows1, const u8* w2, \
    float* y2, s64 nrows2) { qk_grid_dependency_sync();                                                    \
    mmvq::mul_mat_vec_q_short<mmvq::vdq_##name>(w, xq, y, k, nrows, w1, y1, nrows1, w2, y2, nrows2);      \
  }
// mul_mat_vec_q_<type>_1_short_chain: one matrix (its input optionally a gated activation), then the row
// chain (GPUPreparedPlan's row chain flags).
#define MMVQ_SHORT_CHAIN_KERNEL(name)                                                                      \
  QK_KERNEL void __launch_bounds__(FUSED_ROW_THREADS) mul_mat_vec_q_##name##_1_short_chain(               \
    const u8* w, const u8* xq, float* y, s64 k, s64 nrows, const float* gate, const float* up, float* act,  \
    s32 gelu, const float* a, const float* w1, const float* w2, float* t_out, float* s_out, float* y_out,   \
    u8* yq, float eps1, float eps2, s32 flags, u32* counter) {                                             \
    qk_grid_dependency_sync();                                                                             \
    mmvq::mul_mat_vec_q_short_chain<mmvq::vdq_##name>(w, xq, y, k, nrows, gate, up, act, gelu, a, w1, w2, t_out, \
                                                      s_out, y_out, yq, eps1, eps2, flags, counter);       \
  }
#define MMVQ_TYPE_KERNELS(name)                                                                            \
  static_assert((int)mmvq::vdq_##name::qk == (int)qt_##name::qk &&                                      \
                  (int)mmvq::vdq_##name::bytes == (int)qt_##name::bytes,                                   \
                "mmvq.cu: block shape of " #name " disagrees with QTYPE_LIST");                            \
  MMVQ_KERNEL(name, 1) MMVQ_KERNEL(name, 2) MMVQ_KERNEL(name, 3) MMVQ_KERNEL(name, 4)                     \
  MMVQ_KERNEL(name, 5) MMVQ_KERNEL(name, 6) MMVQ_KERNEL(name, 7) MMVQ_KERNEL(name, 8)                     \
  MMVQ_SHORT_KERNEL(name) MMVQ_SHORT_CHAIN_KERNEL(name)
MMVQ_TYPE_LIST(MMVQ_TYPE_KERNELS)

#elif defined(QUANTA_VENDOR_CUDA) || defined(QUANTA_VENDOR_HIP)
#error "MMVQ_MAX_COLS, MMVQ_THREADS(c) and MMVQ_ROWS(c) come from the host (GPUMatVec.sourceDefines)"
#endif  // a CPU emulation of other kernels may leave the mat-vec geometry out
