// Mat-mat through q8_1 activations on int8 matrix cores (llama.cpp's mul_mat_q / mmq design, Quanta's
// own code): y[col * nrows + row] = Σ_j w[row, j] · x[col, j], x already quantized to q8_1 blocks
// { half d; half s; s8 qs[32]; } [ncols, k/32] by quantize_q8_1.
//
// A CTA computes MMQ_Y weight rows × MMQ_X activation columns and steps k MMQ_KB q8_1 blocks (32
// values each) at a time. Per k-step the raw weight blocks and q8_1 activation blocks are copied into
// shared memory (asynchronously on sm_80+, double-buffered: the next step's copy overlaps this step's
// products), and each lane decodes its own mma fragments from them — int8 values plus one scale a
// (and offset b) per 16 or 32 values, w = a·q + b, by a per-type decoder (mmq_quads) or the generic
// per-element decoders of quants.cuh. Each of the MMQ_NWARPS 32-lane groups owns MMQ_Y / MMQ_NWARPS
// rows × all MMQ_X columns: int8 m16n8k32 (or m16n8k16 where a type's scale changes every 16 values)
// products into int32, scaled per q8_1 block by (weight scale × activation d) into float
// accumulators; Σ b·x comes from the activations' sums.
//
// Geometry (MMQ_Y, MMQ_X, MMQ_NWARPS, MMQ_KB, QK_MMA_LANES; MMQ_SMALL_Y, MMQ_SMALL_NWARPS and
// MMQ_SMALL_X_LIST for the small-batch variants mul_mat_q_<type>_n<X> at the end) comes from the
// host, GPUMatMat.swift, its one owner (issue 12 §3): KernelBuild prepends them as #defines. The tile
// code takes the geometry as template parameters, so both families share it.
//
// Matrix-core instruction: qk_mma_s8_16x8x32 / qk_mma_s8_16x8x16. On NVIDIA sm_80+ one mma.sync; else
// a portable version built from 32-wide shuffles that reproduces the PTX fragment layout exactly (which
// lane holds which elements), so the tile logic runs — and is tested by the CPU emulation — anywhere.
// The fragments are defined over a logical group of 32 lanes (QK_MMA_LANES), independent of the
// physical wavefront: at wave64 each wavefront holds two independent groups (every shuffle names width
// 32), so the portable path is correct at wave32 and wave64 (scripts/gpu_kernels_emulate.sh checks
// both). The host selects this kernel only on CUDA sm_80+ (GPUMatMat.usesMatrixCores); on AMD the
// shuffle path would be slower than mul_mat_via_q8_1, and MFMA (CDNA) / WMMA (RDNA3) versions of the
// two functions are not written yet.
#ifndef MMQ_Y
#error "MMQ_Y, MMQ_X, MMQ_NWARPS, MMQ_KB and QK_MMA_LANES come from the host (GPUMatMat.sourceDefines)"
#endif
#if QK_MMA_LANES != 32
#error "the m16n8k32 / m16n8k16 fragment layouts are defined over 32 lanes"
#endif
#define MMQ_MMA_THREADS (MMQ_NWARPS * QK_MMA_LANES)
#define MMQ_ROWS_PER_WARP (MMQ_Y / MMQ_NWARPS)
#if MMQ_Y % MMQ_NWARPS != 0 || MMQ_ROWS_PER_WARP % 16 != 0 || MMQ_X % 8 != 0 || MMQ_KB < 1
#error "MMQ geometry: each 32-lane group owns a multiple of 16 rows; columns a multiple of 8"
#endif
// The small-batch variants mul_mat_q_<type>_n<X> (decode batches of 9…64 columns): MMQ_SMALL_Y rows
// over MMQ_SMALL_NWARPS groups, X columns for each X of MMQ_SMALL_X_LIST, k split over grid.z.
#if !defined(MMQ_SMALL_Y) || !defined(MMQ_SMALL_NWARPS) || !defined(MMQ_SMALL_X_LIST)
#error "MMQ_SMALL_Y, MMQ_SMALL_NWARPS and MMQ_SMALL_X_LIST come from the host (GPUMatMat.sourceDefines)"
#endif
#if MMQ_SMALL_Y % MMQ_SMALL_NWARPS != 0 || (MMQ_SMALL_Y / MMQ_SMALL_NWARPS) % 16 != 0
#error "MMQ small geometry: each 32-lane group owns a multiple of 16 rows"
#endif
#define MMQ_SMALL_THREADS (MMQ_SMALL_NWARPS * QK_MMA_LANES)

// ---- The matrix-core primitive -------------------------------------------------------------------
// PTX ISA fragment layouts (mma.m16n8k32 / m16n8k16, .s8): lane = 4·groupID + threadID_in_group; with
// g = groupID, t = threadID_in_group, each register 4 consecutive s8 along k:
//   A 16×32 row-major: a[0] = A[g][4t..4t+3], a[1] = A[g+8][4t..], a[2] = A[g][16+4t..], a[3] = A[g+8][16+4t..]
//   B 32×8 col-major:  b[0] = B[4t..4t+3][g], b[1] = B[16+4t..][g]
//   C 16×8 s32:        c[0] = C[g][2t], c[1] = C[g][2t+1], c[2] = C[g+8][2t], c[3] = C[g+8][2t+1]
//   m16n8k16: A a[0] = A[g][4t..], a[1] = A[g+8][4t..]; B b = B[4t..][g]; C as above.
// c += A·B. Every lane of the 32-lane group calls it together (1-D blocks: lane = threadIdx.x % 32).

#if defined(QUANTA_VENDOR_CUDA) && __CUDA_ARCH__ >= 800
#define QK_MMA_INT8 1
#endif

// Portable int8 lane exchange for the fragment layouts above (also what the CPU emulation runs).
QK_DEVICE int qk_mma_lane() { return (int)(threadIdx.x % QK_MMA_LANES); }

QK_DEVICE void qk_mma_s8_16x8x32(int (&c)[4], const int (&a)[4], const int (&b)[2]) {
#ifdef QK_MMA_INT8
  asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  const int lane = qk_mma_lane(), g = lane / 4, t = lane % 4;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    // Row g / g+8 of A, values 4j.. and 16+4j..: lane 4g+j's a[0..3]. Column 2t / 2t+1 of B, the same
    // k: lanes 4·2t+j and 4·(2t+1)+j's b[0..1].
    const int ar0 = qk_shfl_int(a[0], 4 * g + j, QK_MMA_LANES), ar8 = qk_shfl_int(a[1], 4 * g + j, QK_MMA_LANES);
    const int ah0 = qk_shfl_int(a[2], 4 * g + j, QK_MMA_LANES), ah8 = qk_shfl_int(a[3], 4 * g + j, QK_MMA_LANES);
    const int bl0 = qk_shfl_int(b[0], 8 * t + j, QK_MMA_LANES), bh0 = qk_shfl_int(b[1], 8 * t + j, QK_MMA_LANES);
    const int bl1 = qk_shfl_int(b[0], 8 * t + 4 + j, QK_MMA_LANES);
    const int bh1 = qk_shfl_int(b[1], 8 * t + 4 + j, QK_MMA_LANES);
    c[0] = ggml_cuda_dp4a(ar0, bl0, ggml_cuda_dp4a(ah0, bh0, c[0]));
    c[1] = ggml_cuda_dp4a(ar0, bl1, ggml_cuda_dp4a(ah0, bh1, c[1]));
    c[2] = ggml_cuda_dp4a(ar8, bl0, ggml_cuda_dp4a(ah8, bh0, c[2]));
    c[3] = ggml_cuda_dp4a(ar8, bl1, ggml_cuda_dp4a(ah8, bh1, c[3]));
  }
#endif
}

QK_DEVICE void qk_mma_s8_16x8x16(int (&c)[4], int a0, int a1, int b) {
#ifdef QK_MMA_INT8
  asm("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%0, %1, %2, %3};"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a0), "r"(a1), "r"(b));
#else
  const int lane = qk_mma_lane(), g = lane / 4, t = lane % 4;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int ar0 = qk_shfl_int(a0, 4 * g + j, QK_MMA_LANES), ar8 = qk_shfl_int(a1, 4 * g + j, QK_MMA_LANES);
    const int b0 = qk_shfl_int(b, 8 * t + j, QK_MMA_LANES), b1 = qk_shfl_int(b, 8 * t + 4 + j, QK_MMA_LANES);
    c[0] = ggml_cuda_dp4a(ar0, b0, c[0]);
    c[1] = ggml_cuda_dp4a(ar0, b1, c[1]);
    c[2] = ggml_cuda_dp4a(ar8, b0, c[2]);
    c[3] = ggml_cuda_dp4a(ar8, b1, c[3]);
  }
#endif
}

// ---- Per-type weight decoders --------------------------------------------------------------------
// mmq_quads<T>::quad gives the 4 s8 values 4j..4j+3 of q8_1-block kb (32 values) of a weight row (here
// the row's slice in shared memory) from one 32-bit read, ::scales that block's a (and b), per SUB
// values; every type in MMQ_TYPE_LIST has one. A type without (fast = 0) goes through the per-element decoders (load_group8<T>), as does every
// type when MMQ_GENERIC_LOADERS is 1 (the emulation test builds it so, to keep that path checked).
// Blocks of these types have even sizes and their fields sit at even offsets, so 16-bit reads are
// aligned as long as the weights start at an even address (the host checks).
#ifndef MMQ_GENERIC_LOADERS
#define MMQ_GENERIC_LOADERS 0
#endif
// A half at an even address, by the hardware conversion.
QK_DEVICE float mmq_h(const u8* p) { return half_to_float(*(const u16*)p); }
// int → float exactly for |v| < 2^22 (every int8 block product here: |v| ≤ 32·128·128) with two
// full-rate ALU ops; the int → float conversion instruction runs at a quarter or less of that rate.
QK_DEVICE float mmq_i2f(int v) { return qk_int_as_float(0x4B400000u + (u32)v) - 12582912.0f; }
QK_DEVICE u32 mmq_rd32_2(const u8* p) {
  const u16* h = (const u16*)p;
  return (u32)h[0] | ((u32)h[1] << 16);
}
// Per byte: v - 8 (v ≤ 15), v - 16 (v ≤ 31), v - 32 (v ≤ 63), without borrows between bytes.
QK_DEVICE int mmq_sub8(u32 v) { return (int)((v + 0x78787878u) ^ 0x80808080u); }
QK_DEVICE int mmq_sub16(u32 v) { return (int)((v + 0x70707070u) ^ 0x80808080u); }
QK_DEVICE int mmq_sub32(u32 v) { return (int)((v + 0x60606060u) ^ 0x80808080u); }
// Bit 4 of the four bytes from the low four bits of h.
QK_DEVICE u32 mmq_spread4(u32 h) { return ((h & 1) << 4) | ((h & 2) << 11) | ((h & 4) << 18) | ((h & 8) << 25); }
// Nibbles of values 4j..4j+3 of a 32-value block whose qs[16] hold value e (e < 16) low, e + 16 high.
QK_DEVICE u32 mmq_nibbles32(const u8* qs, int j) { return (mmq_rd32_2(qs + 4 * (j & 3)) >> (4 * (j >> 2))) & 0x0f0f0f0fu; }

template <class T>
struct mmq_quads {
  enum { fast = 0 };
  static __device__ __forceinline__ int quad(const u8*, s64, int) { return 0; }
  static __device__ __forceinline__ void scales(const u8*, s64, float (&a)[2], float (&b)[2]) {
    a[0] = a[1] = b[0] = b[1] = 0.0f;
  }
};
template <>
struct mmq_quads<qt_q4_0> {  // { half d; u8 qs[16]; }
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) { return mmq_sub8(mmq_nibbles32(row + kb * 18 + 2, j)); }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    a[0] = mmq_h(row + kb * 18); a[1] = b[0] = b[1] = 0.0f;
  }
};
template <>
struct mmq_quads<qt_q4_1> {  // { half d; half m; u8 qs[16]; }
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) { return (int)mmq_nibbles32(row + kb * 20 + 4, j); }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    a[0] = mmq_h(row + kb * 20); b[0] = mmq_h(row + kb * 20 + 2); a[1] = b[1] = 0.0f;
  }
};
template <>
struct mmq_quads<qt_q5_0> {  // { half d; u8 qh[4]; u8 qs[16]; }: bit e of qh is bit 4 of value e
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) {
    const u8* blk = row + kb * 22;
    return mmq_sub16(mmq_nibbles32(blk + 6, j) | mmq_spread4((mmq_rd32_2(blk + 2) >> (4 * j)) & 0xf));
  }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    a[0] = mmq_h(row + kb * 22); a[1] = b[0] = b[1] = 0.0f;
  }
};
template <>
struct mmq_quads<qt_q5_1> {  // { half d; half m; u8 qh[4]; u8 qs[16]; }
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) {
    const u8* blk = row + kb * 24;
    return (int)(mmq_nibbles32(blk + 8, j) | mmq_spread4((mmq_rd32_2(blk + 4) >> (4 * j)) & 0xf));
  }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    a[0] = mmq_h(row + kb * 24); b[0] = mmq_h(row + kb * 24 + 2); a[1] = b[1] = 0.0f;
  }
};
template <>
struct mmq_quads<qt_q8_0> {  // { half d; s8 qs[32]; }
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) { return (int)mmq_rd32_2(row + kb * 34 + 2 + 4 * j); }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    a[0] = mmq_h(row + kb * 34); a[1] = b[0] = b[1] = 0.0f;
  }
};
// K-quants: q8_1-block kb is 32-value block kb % 8 of super-block kb / 8.
template <>
struct mmq_quads<qt_q2_K> {  // { u8 scales[16]; u8 qs[64]; half d; half dmin; }: block b = 4·n + j
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) {
    const int b = (int)(kb % 8);
    return (int)((mmq_rd32_2(row + (kb / 8) * 84 + 16 + (b / 4) * 32 + 4 * j) >> (2 * (b % 4))) & 0x03030303u);
  }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    const int bl = (int)(kb % 8);
    const u8* blk = row + (kb / 8) * 84;
    const float d = mmq_h(blk + 80), dmin = mmq_h(blk + 82);
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      const int sc = blk[(bl / 4) * 8 + (bl % 4) * 2 + s];
      a[s] = d * (float)(sc & 0xf);
      b[s] = -(dmin * (float)(sc >> 4));
    }
  }
};
template <>
struct mmq_quads<qt_q3_K> {  // { u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d; }: block b = 4·n + j
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) {
    const int b = (int)(kb % 8);
    const u8* blk = row + (kb / 8) * 110;
    const u32 lo = (mmq_rd32_2(blk + 32 + (b / 4) * 32 + 4 * j) >> (2 * (b % 4))) & 0x03030303u;
    const u32 h = (mmq_rd32_2(blk + 4 * j) >> b) & 0x01010101u;  // set: q = lo, clear: q = lo - 4
    return (int)(((lo | (h << 2)) + 0x7c7c7c7cu) ^ 0x80808080u);
  }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    const int bl = (int)(kb % 8);
    const u8* blk = row + (kb / 8) * 110;
    const u8* sc = blk + 96;
    const float d = mmq_h(blk + 108);
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      const int is = (bl / 4) * 8 + (bl % 4) * 2 + s;
      const int lo4 = is < 8 ? (sc[is] & 0xf) : (sc[is - 8] >> 4);
      const int hi2 = (sc[8 + (is % 4)] >> (2 * (is / 4))) & 3;
      a[s] = d * (float)((lo4 | (hi2 << 4)) - 32);
      b[s] = 0.0f;
    }
  }
};
template <>
struct mmq_quads<qt_q4_K> {  // { half d; half dmin; u8 scales[12]; u8 qs[128]; }: block b = 2·ch + hi
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) {
    const int b = (int)(kb % 8);
    return (int)((mmq_rd32_2(row + (kb / 8) * 144 + 16 + (b / 2) * 32 + 4 * j) >> (4 * (b % 2))) & 0x0f0f0f0fu);
  }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    const u8* blk = row + (kb / 8) * 144;
    int sc, mn;
    get_scale_min_k4((int)(kb % 8), blk + 4, sc, mn);
    a[0] = mmq_h(blk) * (float)sc; b[0] = -(mmq_h(blk + 2) * (float)mn); a[1] = b[1] = 0.0f;
  }
};
template <>
struct mmq_quads<qt_q5_K> {  // { half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) {
    const int b = (int)(kb % 8);
    const u8* blk = row + (kb / 8) * 176;
    const u32 lo = (mmq_rd32_2(blk + 48 + (b / 2) * 32 + 4 * j) >> (4 * (b % 2))) & 0x0f0f0f0fu;
    return (int)(lo | (((mmq_rd32_2(blk + 16 + 4 * j) >> b) & 0x01010101u) << 4));
  }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    const u8* blk = row + (kb / 8) * 176;
    int sc, mn;
    get_scale_min_k4((int)(kb % 8), blk + 4, sc, mn);
    a[0] = mmq_h(blk) * (float)sc; b[0] = -(mmq_h(blk + 2) * (float)mn); a[1] = b[1] = 0.0f;
  }
};
template <>
struct mmq_quads<qt_q6_K> {  // { u8 ql[128]; u8 qh[64]; s8 scales[16]; half d; }: block b = 4·n + quarter
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) {
    const int b = (int)(kb % 8), n = b / 4, quarter = b % 4;
    const u8* blk = row + (kb / 8) * 210;
    const u32 lo = (mmq_rd32_2(blk + n * 64 + (quarter & 1) * 32 + 4 * j) >> (4 * (quarter >> 1))) & 0x0f0f0f0fu;
    const u32 hi = (mmq_rd32_2(blk + 128 + n * 32 + 4 * j) >> (2 * quarter)) & 0x03030303u;
    return mmq_sub32(lo | (hi << 4));
  }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    const int bl = (int)(kb % 8), n = bl / 4, quarter = bl % 4;
    const u8* blk = row + (kb / 8) * 210;
    const float d = mmq_h(blk + 208);
    a[0] = d * (float)(s8)blk[192 + n * 8 + 2 * quarter];
    a[1] = d * (float)(s8)blk[192 + n * 8 + 2 * quarter + 1];
    b[0] = b[1] = 0.0f;
  }
};

// Four 4-bit indices (one per byte) → the four s8 values of a 16-entry table, held in four words read
// uniformly (no divergent table reads).
QK_DEVICE int mmq_lookup16(u32 idx4, const s8* table) {
  u32 t[4];
#pragma unroll
  for (int w = 0; w < 4; ++w) t[w] = (u32)pack4(table[4 * w], table[4 * w + 1], table[4 * w + 2], table[4 * w + 3]);
  u32 r = 0;
#pragma unroll
  for (int b = 0; b < 4; ++b) {
    const u32 i = (idx4 >> (8 * b)) & 0xf;
    const u32 word = i & 8 ? (i & 4 ? t[3] : t[2]) : (i & 4 ? t[1] : t[0]);
    r |= ((word >> (8 * (i & 3))) & 0xff) << (8 * b);
  }
  return (int)r;
}
template <>
struct mmq_quads<qt_iq4_nl> {  // { half d; u8 qs[16]; }: q4_0's nibbles through kvalues_iq4nl
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) {
    return mmq_lookup16(mmq_nibbles32(row + kb * 18 + 2, j), kvalues_iq4nl);
  }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    a[0] = mmq_h(row + kb * 18); a[1] = b[0] = b[1] = 0.0f;
  }
};
template <>
struct mmq_quads<qt_iq4_xs> {  // { half d; u16 scales_h; u8 scales_l[4]; u8 qs[128]; }
  enum { fast = 1 };
  static __device__ __forceinline__ int quad(const u8* row, s64 kb, int j) {
    return mmq_lookup16(mmq_nibbles32(row + (kb / 8) * 136 + 8 + (kb % 8) * 16, j), kvalues_iq4nl);
  }
  static __device__ __forceinline__ void scales(const u8* row, s64 kb, float (&a)[2], float (&b)[2]) {
    const int ib = (int)(kb % 8);
    const u8* blk = row + (kb / 8) * 136;
    const int ls = ((blk[4 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (((rd16(blk + 2) >> (2 * ib)) & 3) << 4);
    a[0] = mmq_h(blk) * (float)(ls - 32); a[1] = b[0] = b[1] = 0.0f;
  }
};

// ---- Shared tiles and their asynchronous fill --------------------------------------------------
// A k-step covers MMQ_KB q8_1 blocks (MMQ_KB·32 values, whole blocks of every type: MMQ_KB·32 is a
// multiple of 256). Its weights are each row's contiguous slice of raw blocks, its activations each
// column's MMQ_KB raw q8_1 blocks; both are copied global → shared in 4-byte words (cp.async on sm_80+,
// so the copy of step s + 1 flies while step s computes) into one of two buffers, and decoded from
// shared memory straight into the mma fragments (each weight value decoded once per CTA, by the lane
// that multiplies it). Row and column strides are ≡ 4 (mod 8) words: the 8 rows (columns) of one
// fragment load fall in distinct banks. Layout in words, per buffer: MMQ_Y weight rows of
// mmq_layout<T>::wwords, then MMQ_X columns of MMQ_XWORDS; after both buffers, MMQ_X × MMQ_KB × 2
// floats of activation sums (d·Σq per 16 or 32 values, for types with an offset b). The host's
// GPUMatMat.sharedBytes computes the same total; it launches with that much dynamic shared memory.
#if (MMQ_KB * 32) % 256 != 0
#error "MMQ_KB: a k-step must hold whole super-blocks (MMQ_KB a multiple of 8)"
#endif
#define MMQ_PAD4(words) ((words) + (12 - (words) % 8) % 8)
#define MMQ_XWORDS MMQ_PAD4(9 * MMQ_KB)
template <class T, int Y, int X>
struct mmq_layout {
  enum {
    raw = MMQ_KB * 32 / T::qk * T::bytes,     // bytes of a row's k-step slice
    wwords = MMQ_PAD4((raw + 6) / 4),         // its words, starting 0-3 bytes into the first
    buffer = Y * wwords + X * MMQ_XWORDS,
  };
};

QK_DEVICE void mmq_copy4(u32* dst, const u8* src) {
#if defined(QUANTA_VENDOR_CUDA) && __CUDA_ARCH__ >= 800
  u32 s;
  asm volatile("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(s) : "l"(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(s), "l"(src) : "memory");
#else
  *dst = *(const u32*)src;
#endif
}
QK_DEVICE void mmq_copy16(u32* dst, const u8* src) {
#if defined(QUANTA_VENDOR_CUDA) && __CUDA_ARCH__ >= 800
  u32 s;
  asm volatile("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(s) : "l"(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(src) : "memory");
#else
#pragma unroll
  for (int i = 0; i < 4; ++i) dst[i] = ((const u32*)src)[i];
#endif
}
QK_DEVICE void mmq_copy_commit() {
#if defined(QUANTA_VENDOR_CUDA) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
QK_DEVICE void mmq_copy_wait() {
#if defined(QUANTA_VENDOR_CUDA) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// Issues the copies of the k-step at q8_1 block kb0 into `buf` (rows and columns past the edges are
// left as they are: their results are never stored; so are blocks past the end, never multiplied).
template <class T, int Y, int X, int NT>
QK_DEVICE void mmq_fill(
  u32* buf, const u8* w, const u8* xq, s64 row0, s64 col0, s64 kb0, s64 nb, s64 nrows, s64 ncols) {
  typedef mmq_layout<T, Y, X> L;
  const s64 nkb = nb - kb0 < MMQ_KB ? nb - kb0 : MMQ_KB;
  const s64 wrow_bytes = nb * 32 / T::qk * T::bytes;
  const s64 off = kb0 * 32 / T::qk * T::bytes;
  u32* xbuf = buf + Y * L::wwords;
  const u8* xsrc = xq + kb0 * 36;
  if (nkb == MMQ_KB && L::raw % 16 == 0 && ((u64)w | (u64)wrow_bytes) % 16 == 0) {
    // Whole step, 16-byte aligned slices (q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, iq4_nl whenever the
    // row length keeps them so): 16-byte copies.
#pragma unroll 1
    for (int i = threadIdx.x; i < Y * (L::raw / 16); i += NT) {
      const int r = i / (L::raw / 16), ch = i % (L::raw / 16);
      if (row0 + r < nrows) mmq_copy16(buf + r * L::wwords + 4 * ch, w + (row0 + r) * wrow_bytes + off + 16 * ch);
    }
  } else {
    const int len = (int)(nkb * 32 / T::qk * T::bytes);
#pragma unroll 1
    for (int i = threadIdx.x; i < Y * L::wwords; i += NT) {
      const int r = i / L::wwords, wd = i % L::wwords;
      const s64 row = row0 + r;
      if (row >= nrows) continue;
      const u8* src = w + row * wrow_bytes + off;
      const u8* a0 = src - ((u64)src & 3);
      if (4 * wd < (int)(src - a0) + len) mmq_copy4(buf + r * L::wwords + wd, a0 + 4 * wd);
    }
  }
  if (nkb == MMQ_KB && ((u64)xq | (u64)(nb * 36)) % 16 == 0) {
#pragma unroll 1
    for (int i = threadIdx.x; i < X * (MMQ_KB * 9 / 4); i += NT) {
      const int c = i / (MMQ_KB * 9 / 4), ch = i % (MMQ_KB * 9 / 4);
      if (col0 + c < ncols) mmq_copy16(xbuf + c * MMQ_XWORDS + 4 * ch, xsrc + (col0 + c) * (nb * 36) + 16 * ch);
    }
  } else {
    const int xw = (int)nkb * 9;
#pragma unroll 1
    for (int i = threadIdx.x; i < X * MMQ_KB * 9; i += NT) {
      const int c = i / (MMQ_KB * 9), wd = i % (MMQ_KB * 9);
      if (col0 + c < ncols && wd < xw) mmq_copy4(xbuf + c * MMQ_XWORDS + wd, xsrc + (col0 + c) * (nb * 36) + 4 * wd);
    }
  }
  mmq_copy_commit();
}

// ---- The tile kernel -----------------------------------------------------------------------------
// SUB: values per weight scale (32, or 16 for q2_K / q3_K / q6_K); T::has_b: an offset b per SUB
// values (w = a·q + b), summed against d·Σq of the same activation values. Types with a shift c
// (iq1_s, iq1_m) are not served here.
template <class T, int SUB, int Y, int X, int NW>
QK_DEVICE void mul_mat_q(
  const u8* __restrict__ w, const u8* __restrict__ xq, float* __restrict__ y, s64 k, s64 nrows, s64 ncols,
  s64 split_steps) {
  constexpr int NT = NW * QK_MMA_LANES;        // threads
  constexpr int RPW = Y / NW;                  // rows per 32-lane group
  constexpr int SUBS = 32 / SUB;               // scales per q8_1 block
  constexpr int TM = RPW / 16;                 // m16 tiles per 32-lane group
  constexpr int TN = X / 8;                    // n8 tiles
  constexpr bool HAS_B = T::has_b != 0;
  constexpr bool FAST = mmq_quads<T>::fast && !MMQ_GENERIC_LOADERS;
  typedef mmq_layout<T, Y, X> L;
  static_assert(Y % NW == 0 && RPW % 16 == 0 && X % 8 == 0, "geometry");
  static_assert(SUB == 16 || SUB == 32, "scales change every 16 or 32 values");
  static_assert(!T::has_c, "types with a shift c use mul_mat_via_q8_1");

  QK_DYNAMIC_SHARED(mmq_smem);
  u32* const tiles = (u32*)mmq_smem;
  float* const xsum = (float*)(tiles + 2 * L::buffer);  // [X][MMQ_KB][SUBS]

  const int tid = threadIdx.x;
  const int lane = qk_mma_lane(), g = lane / 4, t = lane % 4;
  const int wrow0 = (tid / QK_MMA_LANES) * RPW;  // this group's first row in the tile
  const s64 row0 = (s64)blockIdx.x * Y;
  const s64 col0 = (s64)blockIdx.y * X;
  const s64 nb = k / 32;  // q8_1 blocks per row
  const s64 wrow_bytes = (k / T::qk) * T::bytes;
  // This CTA's k-steps: slice blockIdx.z of split_steps each (the whole of k when grid.z is 1); its
  // sums go to slice blockIdx.z of y ([grid.z][ncols][nrows]), which the host adds up in z order.
  const s64 nsteps_all = (nb + MMQ_KB - 1) / MMQ_KB;
  const s64 st0 = (s64)blockIdx.z * split_steps;
  const s64 left = nsteps_all - st0 > 0 ? nsteps_all - st0 : 0;
  const int nsteps = (int)(left < split_steps ? left : split_steps);
  y += (s64)blockIdx.z * ncols * nrows;
  // Where each of this lane's fragment rows starts inside its shared slice (the slice keeps the
  // global address's offset within its first word, so 16-bit fields stay aligned).
  int rstart[TM][2], rpar[TM][2];
#pragma unroll
  for (int mt = 0; mt < TM; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = wrow0 + mt * 16 + g + 8 * h;
      rstart[mt][h] = r * L::wwords * 4;
      rpar[mt][h] = (int)(((u64)w + (u64)(row0 + r) * (u64)wrow_bytes) & 3);
    }

  float acc[TM][TN][4];
#pragma unroll
  for (int mt = 0; mt < TM; ++mt)
#pragma unroll
    for (int nt = 0; nt < TN; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0.0f;

  if (nsteps > 0) mmq_fill<T, Y, X, NT>(tiles, w, xq, row0, col0, st0 * MMQ_KB, nb, nrows, ncols);
  for (int st = 0; st < nsteps; ++st) {
    const s64 kb0 = (st0 + st) * MMQ_KB;
    const u32* cur = tiles + (st & 1) * L::buffer;
    mmq_copy_wait();
    __syncthreads();  // step st's tiles are in; everyone is done with step st - 1's buffer
    if (st + 1 < nsteps) mmq_fill<T, Y, X, NT>(tiles + ((st + 1) & 1) * L::buffer, w, xq, row0, col0, kb0 + MMQ_KB, nb, nrows, ncols);
    const u8* wb = (const u8*)cur;
    const int offpar = (int)((kb0 * 32 / T::qk * T::bytes) & 3);  // the slice's start within its word
    const u32* xb = cur + Y * L::wwords;
    const int kbn = nb - kb0 < MMQ_KB ? (int)(nb - kb0) : MMQ_KB;  // uniform over the CTA
    if (HAS_B) {
      // d·Σq per SUB activation values (the b terms' partner), once per step.
      for (int i = tid; i < X * MMQ_KB * SUBS; i += NT) {
        const int c = i / (MMQ_KB * SUBS), kbl = (i / SUBS) % MMQ_KB, s = i % SUBS;
        const u32* blk = xb + c * MMQ_XWORDS + kbl * 9;
        int sum = 0;
#pragma unroll
        for (int j = 0; j < 8 / SUBS; ++j) sum = ggml_cuda_dp4a(0x01010101, (int)blk[1 + s * (8 / SUBS) + j], sum);
        xsum[i] = half_to_float(blk[0] & 0xffff) * (float)sum;
      }
      __syncthreads();
    }

    // Two k-blocks per iteration: enough independent work to hide the shared loads; a full unroll (or
    // unrolled copy loops above) holds 200+ registers on sm_90 (NVRTC 12.9), one CTA per SM instead
    // of two at ≤ 98.
#pragma unroll 2
    for (int kbl = 0; kbl < MMQ_KB; ++kbl) {
      if (kbl >= kbn) break;
      int a[TM][4];
      float sa[TM][2][SUBS], sb[TM][2][SUBS];
#pragma unroll
      for (int mt = 0; mt < TM; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const u8* rp = wb + rstart[mt][h] + ((rpar[mt][h] + offpar) & 3);
          float fa[2] = {0.0f, 0.0f}, fb[2] = {0.0f, 0.0f};
          if (FAST) {
            a[mt][h] = mmq_quads<T>::quad(rp, kbl, t);
            a[mt][2 + h] = mmq_quads<T>::quad(rp, kbl, 4 + t);
            mmq_quads<T>::scales(rp, kbl, fa, fb);
          } else {
            // Quad t is half t % 2 of group t / 2 (8 values); quad 4 + t the same of group 2 + t / 2.
            const group8 lo = load_group8<T>(rp, kbl * 4 + t / 2), hi = load_group8<T>(rp, kbl * 4 + 2 + t / 2);
            a[mt][h] = t % 2 ? lo.q1 : lo.q0;
            a[mt][2 + h] = t % 2 ? hi.q1 : hi.q0;
            fa[0] = lo.a; fb[0] = lo.b;  // values 0-15 (SUB 16) or all 32: groups 0-1
            fa[1] = hi.a; fb[1] = hi.b;  // values 16-31: groups 2-3
          }
#pragma unroll
          for (int s = 0; s < SUBS; ++s) {
            sa[mt][h][s] = fa[s];
            sb[mt][h][s] = HAS_B ? fb[s] : 0.0f;
          }
        }
#pragma unroll
      for (int nt = 0; nt < TN; ++nt) {
        const int cb = nt * 8;
        const u32* bx = xb + (cb + g) * MMQ_XWORDS + kbl * 9 + 1;
        const int b[2] = {(int)bx[t], (int)bx[4 + t]};
        const float d[2] = {half_to_float(xb[(cb + 2 * t) * MMQ_XWORDS + kbl * 9] & 0xffff),
                            half_to_float(xb[(cb + 2 * t + 1) * MMQ_XWORDS + kbl * 9] & 0xffff)};
        float xsm[2][SUBS];
#pragma unroll
        for (int e = 0; e < 2; ++e)
#pragma unroll
          for (int s = 0; s < SUBS; ++s) xsm[e][s] = HAS_B ? xsum[((cb + 2 * t + e) * MMQ_KB + kbl) * SUBS + s] : 0.0f;
#pragma unroll
        for (int mt = 0; mt < TM; ++mt) {
          // Element i of the C fragment: row g + 8·(i / 2), column 2t + i % 2.
          if (SUBS == 1) {
            int c[4] = {0, 0, 0, 0};
            qk_mma_s8_16x8x32(c, a[mt], b);
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[mt][nt][i] += mmq_i2f(c[i]) * (sa[mt][i / 2][0] * d[i % 2]);
          } else {
            int c0[4] = {0, 0, 0, 0}, c1[4] = {0, 0, 0, 0};
            qk_mma_s8_16x8x16(c0, a[mt][0], a[mt][1], b[0]);
            qk_mma_s8_16x8x16(c1, a[mt][2], a[mt][3], b[1]);
#pragma unroll
            for (int i = 0; i < 4; ++i)
              acc[mt][nt][i] += (mmq_i2f(c0[i]) * sa[mt][i / 2][0] + mmq_i2f(c1[i]) * sa[mt][i / 2][SUBS - 1]) * d[i % 2];
          }
          if (HAS_B) {
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
              for (int s = 0; s < SUBS; ++s) acc[mt][nt][i] += sb[mt][i / 2][s] * xsm[i % 2][s];
          }
        }
      }
    }
  }

#pragma unroll
  for (int mt = 0; mt < TM; ++mt)
#pragma unroll
    for (int nt = 0; nt < TN; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const s64 row = row0 + wrow0 + mt * 16 + g + 8 * (i / 2);
        const s64 col = col0 + nt * 8 + 2 * t + i % 2;
        if (row < nrows && col < ncols) y[col * nrows + row] = acc[mt][nt][i];
      }
}

// Types with a matrix-core kernel mul_mat_q_<type>: name, values per weight scale. The host's list is
// GPUMatMat.matrixCoreTypes; its names are in KernelBuild.kernelNames, which HIPCompileTests finds in
// the compiled code object. Adding a type without a shift c is one line here and one there (the
// generic load_group8 path serves it; the emulation test picks it up from this list).
#define MMQ_TYPE_LIST(X) \
  X(q4_0, 32)            \
  X(q4_1, 32)            \
  X(q5_0, 32)            \
  X(q5_1, 32)            \
  X(q8_0, 32)            \
  X(q2_K, 16)            \
  X(q3_K, 16)            \
  X(q4_K, 32)            \
  X(q5_K, 32)            \
  X(q6_K, 16)            \
  X(iq4_nl, 32)          \
  X(iq4_xs, 32)

#define MMQ_KERNEL(name, SUB)                                                                        \
  QK_KERNEL void __launch_bounds__(MMQ_MMA_THREADS)                                                  \
    mul_mat_q_##name(const u8* w, const u8* xq, float* y, s64 k, s64 nrows, s64 ncols) {             \
    qk_grid_dependency_sync();                                                                       \
    mul_mat_q<qt_##name, SUB, MMQ_Y, MMQ_X, MMQ_NWARPS>(w, xq, y, k, nrows, ncols, (s64)1 << 40);    \
  }
MMQ_TYPE_LIST(MMQ_KERNEL)

// The small-batch variants (decode of 9…64 sequences), llama.cpp's mmq_x sized to the columns:
// mul_mat_q_<type>_n<X>, MMQ_SMALL_Y rows × X columns per CTA, grid (row tiles, column tiles,
// splits). With grid.z = 1, y is the output; else y holds grid.z partial outputs [z][ncols][nrows],
// slice z the sums over k-steps [z·split_steps, (z+1)·split_steps), and mul_mat_q_reduce adds them up
// in z order (no atomics: the result does not depend on the schedule). The host picks X, the splits
// and the scratch (GPUMatMat.SmallBatch).
#define MMQ_SMALL_KERNEL(name, SUB, X)                                                               \
  QK_KERNEL void __launch_bounds__(MMQ_SMALL_THREADS) mul_mat_q_##name##_n##X(                       \
    const u8* w, const u8* xq, float* y, s64 k, s64 nrows, s64 ncols, s64 split_steps) {             \
    qk_grid_dependency_sync();                                                                       \
    mul_mat_q<qt_##name, SUB, MMQ_SMALL_Y, X, MMQ_SMALL_NWARPS>(w, xq, y, k, nrows, ncols, split_steps); \
  }
#define MMQ_SMALL_KERNELS(name, SUB) MMQ_SMALL_X_LIST(MMQ_SMALL_KERNEL, name, SUB)
MMQ_TYPE_LIST(MMQ_SMALL_KERNELS)

// y[i] = Σ_z partials[z·count + i] over z = 0 … splits - 1, in that order.
QK_KERNEL void mul_mat_q_reduce(const float* partials, float* y, s64 count, s64 splits) {
  qk_grid_dependency_sync();
  const s64 i = (s64)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float s = partials[i];
  for (s64 z = 1; z < splits; ++z) s += partials[z * count + i];
  y[i] = s;
}
