// Dense kernels, part 1: reference quantizers (f32 → q4_0 … q8_1), dequantize to bf16, dense
// conversions (f32/f16/bf16), get_rows from dense tables, matmul with dense weights.
// Appended after kernels.cu (scripts/gen_gpu_kernels.py COMMON_ORDER); the host names every
// kernel in KernelBuild.denseKernelNames.

#define QK_NEG_INF qk_int_as_float(0xff800000u)

// C's `(int)f` as x86-64 computes it (cvttss2si): truncation, INT32_MIN for NaN and out of range —
// the reference codecs' cTruncToInt32, so NaN/Inf inputs give the reference's bytes.
QK_DEVICE int qk_trunc_i32(float v) {
  return (v >= -2147483648.0f && v < 2147483648.0f) ? (int)v : (-2147483647 - 1);
}
QK_DEVICE int qk_min_i(int a, int b) { return a < b ? a : b; }
QK_DEVICE void wr16(u8* p, u32 v) { p[0] = (u8)(v & 0xff); p[1] = (u8)((v >> 8) & 0xff); }

// float → bfloat16 bits, round to nearest even, NaN forced quiet (ggml_compute_fp32_to_bf16).
QK_DEVICE u16 f2bf(float f) {
  const u32 u = qk_float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 64);
  return (u16)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}
QK_DEVICE float bf2f(u32 h) { return qk_int_as_float(h << 16); }

// Element loaders of the dense storage types (index in elements).
struct ld_f32 { static __device__ __forceinline__ float at(const void* p, s64 i) { return ((const float*)p)[i]; } };
struct ld_f16 { static __device__ __forceinline__ float at(const void* p, s64 i) { return h2f(((const u16*)p)[i]); } };
struct ld_bf16 { static __device__ __forceinline__ float at(const void* p, s64 i) { return bf2f(((const u16*)p)[i]); } };
struct st_f32 { static __device__ __forceinline__ void put(void* p, s64 i, float v) { ((float*)p)[i] = v; } };
struct st_f16 { static __device__ __forceinline__ void put(void* p, s64 i, float v) { ((u16*)p)[i] = f2h(v); } };
struct st_bf16 { static __device__ __forceinline__ void put(void* p, s64 i, float v) { ((u16*)p)[i] = f2bf(v); } };

// Grid-stride loop over n items (1-D grids of 256-thread blocks).
#define QK_FOR_EACH(i, n) \
  for (s64 i = (s64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (s64)gridDim.x * blockDim.x)

// ---- Reference quantizers: one thread per 32-value block, the reference's float operations in its
// order (uncontracted: qk_mul_rn / qk_add_rn), so the bytes equal quantize_row_*_ref's.

// The value of largest magnitude, first one on ties (q4_0 / q5_0).
QK_DEVICE float signed_absmax32(const float* x) {
  float amax = 0.0f, mx = 0.0f;
  for (int j = 0; j < 32; ++j) {
    const float v = x[j];
    if (amax < fabsf(v)) { amax = fabsf(v); mx = v; }
  }
  return mx;
}
QK_DEVICE void minmax32(const float* x, float& mn, float& mx) {
  mn = 3.40282346638528859812e+38f; mx = -3.40282346638528859812e+38f;
  for (int j = 0; j < 32; ++j) {
    const float v = x[j];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
}
// ggml's MAX(amax, |x|) loop (a NaN in |x| wins, as `a > b ? a : b`).
QK_DEVICE float absmax32(const float* x) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) { const float a = fabsf(x[j]); amax = amax > a ? amax : a; }
  return amax;
}

QK_DEVICE void quantize_block_q4_0(const float* x, u8* y) {
  const float d = signed_absmax32(x) / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  wr16(y, f2h(d));
  for (int j = 0; j < 16; ++j) {
    const int xi0 = qk_min_i(15, (int)(s8)qk_trunc_i32(qk_add_rn(qk_mul_rn(x[j], id), 8.5f)));
    const int xi1 = qk_min_i(15, (int)(s8)qk_trunc_i32(qk_add_rn(qk_mul_rn(x[16 + j], id), 8.5f)));
    y[2 + j] = (u8)((u8)xi0 | (u8)((u8)xi1 << 4));
  }
}
QK_DEVICE void quantize_block_q4_1(const float* x, u8* y) {
  float mn, mx;
  minmax32(x, mn, mx);
  const float d = (mx - mn) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  wr16(y, f2h(d));
  wr16(y + 2, f2h(mn));
  for (int j = 0; j < 16; ++j) {
    const int xi0 = qk_min_i(15, (int)(s8)qk_trunc_i32(qk_add_rn(qk_mul_rn(x[j] - mn, id), 0.5f)));
    const int xi1 = qk_min_i(15, (int)(s8)qk_trunc_i32(qk_add_rn(qk_mul_rn(x[16 + j] - mn, id), 0.5f)));
    y[4 + j] = (u8)((u8)xi0 | (u8)((u8)xi1 << 4));
  }
}
QK_DEVICE void quantize_block_q5_0(const float* x, u8* y) {
  const float d = signed_absmax32(x) / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  wr16(y, f2h(d));
  u32 qh = 0;
  for (int j = 0; j < 16; ++j) {
    const u8 xi0 = (u8)qk_min_i(31, (int)(s8)qk_trunc_i32(qk_add_rn(qk_mul_rn(x[j], id), 16.5f)));
    const u8 xi1 = (u8)qk_min_i(31, (int)(s8)qk_trunc_i32(qk_add_rn(qk_mul_rn(x[16 + j], id), 16.5f)));
    y[6 + j] = (u8)((xi0 & 0x0f) | ((xi1 & 0x0f) << 4));
    qh |= ((u32)(xi0 & 0x10) >> 4) << j;
    qh |= ((u32)(xi1 & 0x10) >> 4) << (j + 16);
  }
  wr16(y + 2, qh & 0xffff);
  wr16(y + 4, qh >> 16);
}
QK_DEVICE void quantize_block_q5_1(const float* x, u8* y) {
  float mn, mx;
  minmax32(x, mn, mx);
  const float d = (mx - mn) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  wr16(y, f2h(d));
  wr16(y + 2, f2h(mn));
  u32 qh = 0;
  for (int j = 0; j < 16; ++j) {
    // No clamp to 31, as the reference.
    const u8 xi0 = (u8)qk_trunc_i32(qk_add_rn(qk_mul_rn(x[j] - mn, id), 0.5f));
    const u8 xi1 = (u8)qk_trunc_i32(qk_add_rn(qk_mul_rn(x[16 + j] - mn, id), 0.5f));
    y[8 + j] = (u8)((xi0 & 0x0f) | ((xi1 & 0x0f) << 4));
    qh |= ((u32)(xi0 & 0x10) >> 4) << j;
    qh |= ((u32)(xi1 & 0x10) >> 4) << (j + 16);
  }
  wr16(y + 4, qh & 0xffff);
  wr16(y + 6, qh >> 16);
}
QK_DEVICE void quantize_block_q8_0(const float* x, u8* y) {
  const float d = absmax32(x) / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  wr16(y, f2h(d));
  for (int j = 0; j < 32; ++j) y[2 + j] = (u8)(s8)qk_trunc_i32(roundf(qk_mul_rn(x[j], id)));
}
QK_DEVICE void quantize_block_q8_1(const float* x, u8* y) {
  const float d = absmax32(x) / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  wr16(y, f2h(d));
  int sum = 0;
  for (int j = 0; j < 16; ++j) {
    const s8 q0 = (s8)qk_trunc_i32(roundf(qk_mul_rn(x[j], id)));
    const s8 q1 = (s8)qk_trunc_i32(roundf(qk_mul_rn(x[16 + j], id)));
    y[4 + j] = (u8)q0;
    y[4 + 16 + j] = (u8)q1;
    sum += (int)q0 + (int)q1;
  }
  wr16(y + 2, f2h(qk_mul_rn((float)sum, d)));
}

#define QUANTIZE_REF_KERNEL(name, BYTES)                                                           \
  QK_KERNEL void __launch_bounds__(256) quantize_ref_##name(const float* x, u8* y, s64 nblocks) { qk_grid_dependency_sync();  \
    QK_FOR_EACH(b, nblocks) quantize_block_##name(x + b * 32, y + b * BYTES);                       \
  }
QUANTIZE_REF_KERNEL(q4_0, 18)
QUANTIZE_REF_KERNEL(q4_1, 20)
QUANTIZE_REF_KERNEL(q5_0, 22)
QUANTIZE_REF_KERNEL(q5_1, 24)
QUANTIZE_REF_KERNEL(q8_0, 34)
QUANTIZE_REF_KERNEL(q8_1, 36)

// ---- Dequantize to bf16 (the f32 value, exact as dequantize_block_*_f32, rounded as fp32ToBf16).
template <class T>
QK_DEVICE void dequantize_block_bf16(const u8* __restrict__ x, u16* __restrict__ y, s64 n) {
  QK_FOR_EACH(g, n / 8) {
    const group8 v = load_group8<T>(x, g);
#pragma unroll
    for (int i = 0; i < 8; ++i) y[g * 8 + i] = f2bf(group_value<T>(v, i));
  }
}
#define QTYPE_BF16_KERNEL(name, QK_, BYTES_, HAS_B, HAS_C)                                       \
  QK_KERNEL void __launch_bounds__(256) dequantize_block_##name##_bf16(const u8* x, u16* y, s64 n) { qk_grid_dependency_sync(); \
    dequantize_block_bf16<qt_##name>(x, y, n);                                                    \
  }
QTYPE_LIST(QTYPE_BF16_KERNEL)

// ---- Dense conversions: convert_<from>_<to>, n elements (quantize into / dequantize from dense
// storage types).
#define CONVERT_KERNEL(from, to)                                                                   \
  QK_KERNEL void __launch_bounds__(256) convert_##from##_##to(const void* x, void* y, s64 n) { qk_grid_dependency_sync();    \
    QK_FOR_EACH(i, n) st_##to::put(y, i, ld_##from::at(x, i));                                   \
  }
#define CONVERT_TO_ALL(from) CONVERT_KERNEL(from, f32) CONVERT_KERNEL(from, f16) CONVERT_KERNEL(from, bf16)
CONVERT_TO_ALL(f32)
CONVERT_TO_ALL(f16)
CONVERT_TO_ALL(bf16)

// ---- get_rows from a dense table [rows, k] → f32 [nids, k].
template <class L>
QK_DEVICE void get_rows_dense(const void* __restrict__ x, const s32* __restrict__ ids, float* __restrict__ y, s64 k, s64 nids) {
  QK_FOR_EACH(i, nids * k) y[i] = L::at(x, (s64)ids[i / k] * k + i % k);
}

// ---- Matmul with dense weights: y[c, r] = Σ_j w[r, j] · x[c, j], w [n, k], x [m, k], y [m, n].
// Mat-vec (few activation rows): one wavefront per weight row, blockDim (QK_WARP_SIZE, MMV_ROWS),
// grid (ceil(n / MMV_ROWS), m); lanes stride k (coalesced), then a full-wavefront reduction.
template <class L>
QK_DEVICE void mul_mat_vec_dense(const void* __restrict__ w, const float* __restrict__ x, float* __restrict__ y, s64 k, s64 n) {
  const s64 row = (s64)blockIdx.x * MMV_ROWS + threadIdx.y;
  if (row >= n) return;  // the whole wavefront leaves together (threadIdx.y is uniform in it)
  const float* xc = x + (s64)blockIdx.y * k;
  float acc = 0.0f;
  for (s64 j = threadIdx.x; j < k; j += QK_WARP_SIZE) acc += L::at(w, row * k + j) * xc[j];
  acc = warp_reduce_sum(acc);
  if (threadIdx.x == 0) y[(s64)blockIdx.y * n + row] = acc;
}

// Expert-routed mat-vec over dense experts (ggml's mul_mat_id with f32/f16/bf16 expert weights: the F32
// test files of gpt-oss and other mixtures): w [experts, n, k] (expert_elems = n·k values apart), x
// [tokens, xrows, k] (xrows 1: every slot reads the token's row; else row j of slot j), ids [pairs]
// (pair p = token p / used, slot p % used), y [pairs, n]. grid (ceil(n / MMV_ROWS), pairs), blockDim
// (QK_WARP_SIZE, MMV_ROWS); one pair per CTA row, its expert's rows read once per pair. An id outside
// the experts makes its pair's outputs NaN (as the quantized expert mat-vecs).
template <class L>
QK_DEVICE void mul_mat_vec_id_dense(const void* __restrict__ w, s64 expert_elems, s64 experts, const float* __restrict__ x,
                                    float* __restrict__ y, s64 k, s64 n, const s32* __restrict__ ids, s64 used, s64 xrows) {
  const s64 row = (s64)blockIdx.x * MMV_ROWS + threadIdx.y;
  if (row >= n) return;
  const s64 p = blockIdx.y, e = ids[p];
  if (e < 0 || e >= experts) {
    if (threadIdx.x == 0) y[p * n + row] = qk_int_as_float(0x7fc00000u);
    return;
  }
  const float* xc = x + ((p / used) * xrows + (xrows == 1 ? 0 : p % used)) * k;
  const s64 base = e * expert_elems + row * k;
  float acc = 0.0f;
  for (s64 j = threadIdx.x; j < k; j += QK_WARP_SIZE) acc += L::at(w, base + j) * xc[j];
  acc = warp_reduce_sum(acc);
  if (threadIdx.x == 0) y[p * n + row] = acc;
}

// Mat-mat: 64 × 64 output tiles, 256 threads of 4 × 4 results, k in steps of 16 through shared
// memory; any k (dense rows need not be block multiples). grid (ceil(n / 64), ceil(m / 64)).
#define DMM_T 64
#define DMM_BK 16
template <class L>
QK_DEVICE void mul_mat_dense(const void* __restrict__ w, const float* __restrict__ x, float* __restrict__ y, s64 k, s64 n, s64 m) {
  __shared__ float ws[DMM_BK][DMM_T + 1];
  __shared__ float xs[DMM_BK][DMM_T + 1];
  const int t = threadIdx.x;
  const s64 r0 = (s64)blockIdx.x * DMM_T, c0 = (s64)blockIdx.y * DMM_T;
  const int tr = t % 16, tc = t / 16;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  for (s64 k0 = 0; k0 < k; k0 += DMM_BK) {
    for (int l = t; l < DMM_BK * DMM_T; l += 256) {
      const int kk = l % DMM_BK, rr = l / DMM_BK;
      const s64 kg = k0 + kk;
      ws[kk][rr] = (r0 + rr < n && kg < k) ? L::at(w, (r0 + rr) * k + kg) : 0.0f;
      xs[kk][rr] = (c0 + rr < m && kg < k) ? x[(c0 + rr) * k + kg] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < DMM_BK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) { a[i] = ws[kk][tr + 16 * i]; b[i] = xs[kk][tc + 16 * i]; }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const s64 r = r0 + tr + 16 * i, c = c0 + tc + 16 * j;
      if (r < n && c < m) y[c * n + r] = acc[i][j];
    }
}

#define DENSE_TYPE_KERNELS(dt)                                                                      \
  QK_KERNEL void __launch_bounds__(256) get_rows_##dt(const void* x, const s32* ids, float* y, s64 k, s64 nids) { qk_grid_dependency_sync(); \
    get_rows_dense<ld_##dt>(x, ids, y, k, nids);                                                    \
  }                                                                                                 \
  QK_KERNEL void __launch_bounds__(256) mul_mat_vec_##dt(const void* w, const float* x, float* y, s64 k, s64 n) { qk_grid_dependency_sync(); \
    mul_mat_vec_dense<ld_##dt>(w, x, y, k, n);                                                      \
  }                                                                                                 \
  QK_KERNEL void __launch_bounds__(256) mul_mat_##dt(const void* w, const float* x, float* y, s64 k, s64 n, s64 m) { qk_grid_dependency_sync(); \
    mul_mat_dense<ld_##dt>(w, x, y, k, n, m);                                                       \
  }                                                                                                 \
  QK_KERNEL void __launch_bounds__(256) mul_mat_vec_id_##dt(const void* w, s64 expert_elems, s64 experts, const float* x, \
                                                            float* y, s64 k, s64 n, const s32* ids, s64 used, s64 xrows) { \
    qk_grid_dependency_sync();                                                                      \
    mul_mat_vec_id_dense<ld_##dt>(w, expert_elems, experts, x, y, k, n, ids, used, xrows);          \
  }
DENSE_TYPE_KERNELS(f32)
DENSE_TYPE_KERNELS(f16)
DENSE_TYPE_KERNELS(bf16)
