// The kernels: one template per operation over the group8 decoders, instantiated per type with
// extern "C" names the host looks up: <op>_<type>. Block shapes are multiples of 64 threads, so they
// hold whole wavefronts on 32- and 64-wide hardware alike.

// Activations → q8_1 (ggml's quantize_q8_1): value e of a flat f32 array goes into block e / 32 of
// { half d; half s; s8 qs[32]; }, d = amax/127, q = round(v/d), s = d · Σq. The 32 lanes holding one
// block call it together (a logical width of 32, whatever the wavefront). One owner for every
// producer of q8_1 blocks (quantize_q8_1 below and the plan's fused kernels).
QK_DEVICE void store_q8_1(float v, s64 e, u8* __restrict__ y) {
  const float amax = group_reduce_max(fabsf(v), 32);
  const float d = amax / 127.0f;
  const int q = amax == 0.0f ? 0 : (int)roundf(v / d);
  const float sum = group_reduce_sum((float)q, 32);
  u8* blk = y + (e / 32) * 36;
  ((s8*)blk)[4 + (e % 32)] = (s8)q;
  if (e % 32 == 0) {
    const u16 dh = f2h(d), sh = f2h(d * sum);
    blk[0] = dh & 0xff; blk[1] = dh >> 8;
    blk[2] = sh & 0xff; blk[3] = sh >> 8;
  }
}

// x f32 [rows, k] (k a multiple of 32) → q8_1 blocks, 256 threads per CTA.
QK_KERNEL void __launch_bounds__(256) quantize_q8_1(const float* __restrict__ x, u8* __restrict__ y, s64 n) { qk_grid_dependency_sync();
  const s64 i = (s64)blockIdx.x * blockDim.x + threadIdx.x;
  const s64 n_pad = (n + 31) / 32 * 32;
  if (i >= n_pad) return;  // whole groups of 32 leave together
  store_q8_1(i < n ? x[i] : 0.0f, i, y);
}

// Dequantize n values (whole blocks) → f32 or f16 bits. One thread per group of 8.
template <class T>
QK_DEVICE void dequantize_block(const u8* __restrict__ x, float* __restrict__ yf, u16* __restrict__ yh, s64 n) {
  const s64 g = (s64)blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= n / 8) return;
  const group8 v = load_group8<T>(x, g);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float f = group_value<T>(v, i);
    if (yf) yf[g * 8 + i] = f;
    else yh[g * 8 + i] = f2h(f);
  }
}

// Rows `ids[r]` of a table [rows, k] → f32 out [nids, k]. grid.y = row of out.
template <class T>
QK_DEVICE void get_rows(const u8* __restrict__ x, const s32* __restrict__ ids, float* __restrict__ y, s64 k) {
  const s64 g = (s64)blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= k / 8) return;
  const s64 row = ids[blockIdx.y];
  const group8 v = load_group8<T>(x + row * (k / T::qk) * T::bytes, g);
#pragma unroll
  for (int i = 0; i < 8; ++i) y[(s64)blockIdx.y * k + g * 8 + i] = group_value<T>(v, i);
}

// Mat-vec, dequantize-then-dot: y[col, row] = Σ_j w[row, j] · x[col, j]. One wavefront per row
// (blockDim = (QK_WARP_SIZE, MMV_ROWS)); grid = (ceil(nrows / MMV_ROWS), ncols).
#define MMV_ROWS 4
template <class T>
QK_DEVICE void dequantize_mul_mat_vec(
  const u8* __restrict__ w, const float* __restrict__ x, float* __restrict__ y, s64 k, s64 nrows) {
  const s64 row = (s64)blockIdx.x * MMV_ROWS + threadIdx.y;
  if (row >= nrows) return;  // the whole wavefront leaves: threadIdx.y is uniform in it
  const u8* wr = w + row * (k / T::qk) * T::bytes;
  const float* xc = x + (s64)blockIdx.y * k;
  float acc = 0.0f;
  for (s64 g = threadIdx.x; g < k / 8; g += QK_WARP_SIZE) {
    const group8 v = load_group8<T>(wr, g);
#pragma unroll
    for (int i = 0; i < 8; ++i) acc += group_value<T>(v, i) * xc[g * 8 + i];
  }
  acc = warp_reduce_sum(acc);
  if (threadIdx.x == 0) y[(s64)blockIdx.y * nrows + row] = acc;
}

// Dot of one weight group with 8 q8_1 values (two ints) of scale d8:
// Σ a·(q + c)·d8·x8 + b·d8·x8 = d8·(a·(Σq·x8 + c·Σx8) + b·Σx8).
template <class T>
QK_DEVICE float dot_group_q8_1(const group8& v, int x0, int x1, float d8) {
  const int sumi = ggml_cuda_dp4a(v.q1, x1, ggml_cuda_dp4a(v.q0, x0, 0));
  if (!T::has_b && !T::has_c) return d8 * (v.a * (float)sumi);
  const int sumx = ggml_cuda_dp4a(0x01010101, x1, ggml_cuda_dp4a(0x01010101, x0, 0));
  float r = T::has_c ? v.a * ((float)sumi + v.c * (float)sumx) : v.a * (float)sumi;
  if (T::has_b) r += v.b * (float)sumx;
  return d8 * r;
}

QK_DEVICE int q8_1_int(const u8* xq, s64 g, int half) {
  // Group g covers values 8g..8g+7: block g/4, ints 2·(g%4) and 2·(g%4)+1 of its qs (4-aligned).
  const u8* blk = xq + (g / 4) * 36;
  return ((const int*)(blk + 4))[2 * (g % 4) + half];
}

// Mat-vec through q8_1 activations (integer dot, dp4a / sdot4): same layout as
// dequantize_mul_mat_vec, x already quantized [ncols, k/32] blocks.
// One weight row wr times one q8_1 column xc, summed over the wavefront (every lane gets it).
template <class T>
QK_DEVICE float dot_row_via_q8_1(const u8* __restrict__ wr, const u8* __restrict__ xc, s64 k) {
  float acc = 0.0f;
  for (s64 g = threadIdx.x; g < k / 8; g += QK_WARP_SIZE) {
    const group8 v = load_group8<T>(wr, g);
    const float d8 = rdh(xc + (g / 4) * 36);
    acc += dot_group_q8_1<T>(v, q8_1_int(xc, g, 0), q8_1_int(xc, g, 1), d8);
  }
  return warp_reduce_sum(acc);
}
template <class T>
QK_DEVICE void mul_mat_vec_via_q8_1(
  const u8* __restrict__ w, const u8* __restrict__ xq, float* __restrict__ y, s64 k, s64 nrows) {
  const s64 row = (s64)blockIdx.x * MMV_ROWS + threadIdx.y;
  if (row >= nrows) return;
  const float acc = dot_row_via_q8_1<T>(w + row * (k / T::qk) * T::bytes, xq + (s64)blockIdx.y * (k / 32) * 36, k);
  if (threadIdx.x == 0) y[(s64)blockIdx.y * nrows + row] = acc;
}

// Tiled mat-mat through q8_1: a CTA computes MMQ_TN weight rows × MMQ_TM activation columns,
// stepping k one q8_1 block (32 values) at a time through shared memory. The inner product
// reads int8 tiles from shared memory, the shape a matrix-core (MFMA / WMMA / mma.sync) inner
// loop would consume later. 128 threads: 2 wave64 or 4 warp32.
#define MMQ_TN 32
#define MMQ_TM 16
#define MMQ_THREADS 128
template <class T>
QK_DEVICE void mul_mat_via_q8_1(
  const u8* __restrict__ w, const u8* __restrict__ xq, float* __restrict__ y, s64 k, s64 nrows, s64 ncols) {
  __shared__ int wq[MMQ_TN][8];
  __shared__ float wa[MMQ_TN][4], wb[MMQ_TN][4], wc[MMQ_TN][4];
  __shared__ int xs[MMQ_TM][8];
  __shared__ float xd[MMQ_TM];
  const int t = threadIdx.x;
  const s64 row0 = (s64)blockIdx.x * MMQ_TN;
  const s64 col0 = (s64)blockIdx.y * MMQ_TM;
  const s64 wrow_bytes = (k / T::qk) * T::bytes;
  const s64 xcol_bytes = (k / 32) * 36;
  float acc[MMQ_TN * MMQ_TM / MMQ_THREADS];
#pragma unroll
  for (int j = 0; j < MMQ_TN * MMQ_TM / MMQ_THREADS; ++j) acc[j] = 0.0f;

  for (s64 kb = 0; kb < k / 32; ++kb) {
    {  // weights: one group per thread (32 rows × 4 groups)
      const int r = t / 4, gi = t % 4;
      group8 v;
      if (row0 + r < nrows) v = load_group8<T>(w + (row0 + r) * wrow_bytes, kb * 4 + gi);
      else { v.q0 = 0; v.q1 = 0; v.a = 0.0f; v.b = 0.0f; v.c = 0.0f; }
      wq[r][2 * gi] = v.q0; wq[r][2 * gi + 1] = v.q1;
      wa[r][gi] = v.a; wb[r][gi] = v.b; wc[r][gi] = v.c;
    }
    {  // activations: one int per thread (16 columns × 8 ints)
      const int cidx = t / 8, ii = t % 8;
      const bool ok = col0 + cidx < ncols;
      const u8* blk = xq + (col0 + cidx) * xcol_bytes + kb * 36;
      xs[cidx][ii] = ok ? ((const int*)(blk + 4))[ii] : 0;
      if (ii == 0) xd[cidx] = ok ? rdh(blk) : 0.0f;
    }
    __syncthreads();
    const int r = t % MMQ_TN;
#pragma unroll
    for (int j = 0; j < MMQ_TN * MMQ_TM / MMQ_THREADS; ++j) {
      const int cidx = t / MMQ_TN + j * (MMQ_THREADS / MMQ_TN);
#pragma unroll
      for (int gi = 0; gi < 4; ++gi) {
        group8 v;
        v.q0 = wq[r][2 * gi]; v.q1 = wq[r][2 * gi + 1];
        v.a = wa[r][gi]; v.b = wb[r][gi]; v.c = wc[r][gi];
        acc[j] += dot_group_q8_1<T>(v, xs[cidx][2 * gi], xs[cidx][2 * gi + 1], xd[cidx]);
      }
    }
    __syncthreads();
  }
  const int r = t % MMQ_TN;
#pragma unroll
  for (int j = 0; j < MMQ_TN * MMQ_TM / MMQ_THREADS; ++j) {
    const s64 col = col0 + t / MMQ_TN + j * (MMQ_THREADS / MMQ_TN);
    if (row0 + r < nrows && col < ncols) y[col * nrows + row0 + r] = acc[j];
  }
}

// extern "C" entry points per type: <op>_<type>.
#define QTYPE_KERNELS(name, QK_, BYTES_, HAS_B, HAS_C)                                                      \
  QK_KERNEL void __launch_bounds__(256) dequantize_block_##name##_f32(const u8* x, float* y, s64 n) { qk_grid_dependency_sync();       \
    dequantize_block<qt_##name>(x, y, (u16*)0, n);                                                            \
  }                                                                                                          \
  QK_KERNEL void __launch_bounds__(256) dequantize_block_##name##_f16(const u8* x, u16* y, s64 n) { qk_grid_dependency_sync();         \
    dequantize_block<qt_##name>(x, (float*)0, y, n);                                                          \
  }                                                                                                          \
  QK_KERNEL void __launch_bounds__(256) get_rows_##name(const u8* x, const s32* ids, float* y, s64 k) { qk_grid_dependency_sync();     \
    get_rows<qt_##name>(x, ids, y, k);                                                                        \
  }                                                                                                          \
  QK_KERNEL void __launch_bounds__(256)                                                                      \
    dequantize_mul_mat_vec_##name(const u8* w, const float* x, float* y, s64 k, s64 nrows) { qk_grid_dependency_sync();                \
    dequantize_mul_mat_vec<qt_##name>(w, x, y, k, nrows);                                                     \
  }                                                                                                          \
  QK_KERNEL void __launch_bounds__(256)                                                                      \
    mul_mat_vec_via_q8_1_##name(const u8* w, const u8* xq, float* y, s64 k, s64 nrows) { qk_grid_dependency_sync();                    \
    mul_mat_vec_via_q8_1<qt_##name>(w, xq, y, k, nrows);                                                      \
  }                                                                                                          \
  QK_KERNEL void __launch_bounds__(MMQ_THREADS)                                                              \
    mul_mat_via_q8_1_##name(const u8* w, const u8* xq, float* y, s64 k, s64 nrows, s64 ncols) { qk_grid_dependency_sync();             \
    mul_mat_via_q8_1<qt_##name>(w, xq, y, k, nrows, ncols);                                                   \
  }
QTYPE_LIST(QTYPE_KERNELS)
