// Mixture-of-experts kernels (ggml's mul_mat_id and llama.cpp's build_moe_ffn routing; semantics:
// QuantaCore's ExpertOps.swift, the CPU backend's ExpertRouting.swift). Everything a step needs stays
// on the device: the router picks the experts into device memory, the expert mat-vecs read the ids
// from there, and a prompt's (token, slot) pairs are grouped per expert by a kernel — no host sync.
//
//   moe_route_f32          logits [tokens, experts] → ids [tokens, used] (decreasing score, the lower
//                          index first among equal scores) and weights [tokens, used]
//   moe_group_pairs        ids [pairs] → the pairs ordered by expert and a tile table: tiles of up to
//                          MOE_TILE_COLS pairs of one expert (the prompt path's mat-vec columns)
//   mul_mat_vec_q_id_<type>_<C>   out[p] = W[ids[p]] · x[row of p], p = t · used + j; C = 1: one pair
//                          per CTA row (decode); C = MOE_TILE_COLS: one tile per CTA row (prompts), so
//                          an expert's weights are read once per tile, not once per pair
//   mul_mat_vec_via_q8_1_id_<type>  the same, one pair per CTA row, for every quantized type (byte
//                          loads: types without a per-type mat-vec, or expert matrices at an offset
//                          the per-type loads can't take)
//   moe_mix_f32            out[t] = Σ_j w[t, j] · y[t, j] in j order
//
// An expert id outside [0, experts) (ids the host wrote itself) is never used to address weights:
// the pair's outputs are NaN, so the error shows instead of a read out of bounds.

// Geometry and limits (GPUExperts.swift has the same numbers; a test checks): CTA threads of routing
// and grouping (host: GPUExperts.threads).
#define MOE_THREADS 256
// The most experts the routing and grouping kernels hold in shared memory (host: GPUExperts.maxExperts).
#define MOE_MAX_EXPERTS 1024
// The most experts per token the routing kernel holds (host: GPUExperts.maxUsed).
#define MOE_MAX_USED 64
// Pairs per tile of the prompt path (host: GPUExperts.tileColumns): the widest mat-vec.
#define MOE_TILE_COLS MMVQ_MAX_COLS

QK_DEVICE float moe_nan() { return qk_int_as_float(0x7fc00000u); }

// (score, index) pairs: a before b when its score is larger, or equal with the lower index.
QK_DEVICE bool moe_before(float sa, int ia, float sb, int ib) { return sa > sb || (sa == sb && ia < ib); }

// ---- Routing: grid (tokens), block MOE_THREADS. gating 0: softmax over all experts, the `used` most
// probable picked; 1: the `used` largest logits picked, weighed by the softmax of those alone.
// norm: divide by the picked weights' sum (at least 6.103515625e-5); then times scale.
QK_KERNEL void __launch_bounds__(MOE_THREADS) moe_route_f32(
  const float* logits, s32* ids, float* weights, s64 experts, s64 used, s32 gating, s32 norm, float scale) {
  qk_grid_dependency_sync();
  __shared__ float score[MOE_MAX_EXPERTS];
  __shared__ float red[MOE_THREADS / 32];
  __shared__ float best_s[MOE_THREADS / 32];
  __shared__ int best_i[MOE_THREADS / 32];
  __shared__ float picked[MOE_MAX_USED];
  const int tid = (int)threadIdx.x, lane = tid % QK_WARP_SIZE, wid = tid / QK_WARP_SIZE;
  const int nw = MOE_THREADS / QK_WARP_SIZE;
  const s64 t = (s64)blockIdx.x;
  const float* l = logits + t * experts;
  float peak = QK_NEG_INF;
  for (int e = tid; e < experts; e += MOE_THREADS) peak = fmaxf(peak, l[e]);
  peak = block_reduce_max(peak, red);
  float sum = 0.0f;
  for (int e = tid; e < experts; e += MOE_THREADS) {
    // The CPU's scores: exp(l - peak) (the common 1 / Σ leaves the order as it is) or the logit.
    const float s = gating == 0 ? expf(l[e] - peak) : l[e];
    score[e] = s;
    sum += s;
  }
  if (gating == 0) sum = block_reduce_sum(sum, red);
  __syncthreads();
  // `used` rounds of a CTA-wide arg-max; the winner's score is set to -inf for the next round
  // (every score is finite or -inf, and -inf ones lose to any index tie of an earlier round's).
  for (int j = 0; j < used; ++j) {
    float bs = QK_NEG_INF;
    int bi = 0x7fffffff;
    for (int e = tid; e < experts; e += MOE_THREADS)
      if (score[e] > QK_NEG_INF && moe_before(score[e], e, bs, bi)) { bs = score[e]; bi = e; }
#pragma unroll
    for (int off = QK_WARP_SIZE / 2; off > 0; off >>= 1) {
      const float os = qk_shfl_xor(bs, off, QK_WARP_SIZE);
      const int oi = qk_shfl_xor_int(bi, off, QK_WARP_SIZE);
      if (moe_before(os, oi, bs, bi)) { bs = os; bi = oi; }
    }
    if (lane == 0) { best_s[wid] = bs; best_i[wid] = bi; }
    __syncthreads();
    if (tid == 0) {
      for (int v = 1; v < nw; ++v)
        if (moe_before(best_s[v], best_i[v], bs, bi)) { bs = best_s[v]; bi = best_i[v]; }
      // Every score -inf (fewer finite experts than used): the lowest index not yet picked.
      if (bi == 0x7fffffff) {
        bi = 0;
        for (int p = 0; p < j; ++p)
          if (ids[t * used + p] == bi) { ++bi; p = -1; }
      }
      ids[t * used + j] = bi;
      picked[j] = bs;
      score[bi] = QK_NEG_INF;
    }
    __syncthreads();
  }
  if (tid == 0) {
    const int k = (int)used;
    if (gating == 0) {
      for (int j = 0; j < k; ++j) picked[j] = picked[j] * (1.0f / sum);
    } else {
      const float top = picked[0];
      float total = 0.0f;
      for (int j = 0; j < k; ++j) { picked[j] = expf(picked[j] - top); total += picked[j]; }
      for (int j = 0; j < k; ++j) picked[j] /= total;
    }
    if (norm) {
      float total = 0.0f;
      for (int j = 0; j < k; ++j) total += picked[j];
      total = fmaxf(total, 6.103515625e-5f);
      for (int j = 0; j < k; ++j) picked[j] /= total;
    }
    for (int j = 0; j < k; ++j) weights[t * used + j] = scale != 1.0f ? picked[j] * scale : picked[j];
  }
}

// The q8_1 row pair p reads: token p / used's row (p % used) % x_rows (x_rows 1: every slot reads
// the token's one row; used: each slot its own).
QK_DEVICE s64 moe_x_row(s64 p, s64 used, s64 x_rows) { return (p / used) * x_rows + (p % used) % x_rows; }

#if defined(MMVQ_MAX_COLS)  // the tile width (a CPU emulation of other kernels may leave it out)
// ---- Grouping: one CTA of MOE_THREADS. Pairs p < npairs with expert ids[p] are placed in `order` by
// expert (an expert's pairs in any order: each pair's output is computed alone, so the order changes no
// value), and `tiles` (3 ints each: first position in order, pair count 1…MOE_TILE_COLS, expert) lists
// each expert's tiles; ids outside [0, experts) form tiles of expert -1. Slots past the last tile, up to
// max_tiles (the host's bound: ceil(npairs / MOE_TILE_COLS) + min(experts + 1, npairs)), get count 0.
QK_KERNEL void __launch_bounds__(MOE_THREADS) moe_group_pairs(
  const s32* ids, s32* order, s32* tiles, s64 npairs, s64 experts, s64 max_tiles) {
  qk_grid_dependency_sync();
  __shared__ u32 count[MOE_MAX_EXPERTS + 1], fill[MOE_MAX_EXPERTS + 1], first_tile[MOE_MAX_EXPERTS + 1];
  const int tid = (int)threadIdx.x;
  const int buckets = (int)experts + 1;  // the last one: invalid ids
  for (int e = tid; e < buckets; e += MOE_THREADS) count[e] = 0;
  __syncthreads();
  for (s64 p = tid; p < npairs; p += MOE_THREADS) {
    const s32 e = ids[p];
    atomicAdd(&count[e >= 0 && e < experts ? e : buckets - 1], 1u);
  }
  __syncthreads();
  if (tid == 0) {  // exclusive prefix sums of pairs and of tiles (experts ≤ MOE_MAX_EXPERTS)
    u32 at = 0, tile = 0;
    for (int e = 0; e < buckets; ++e) {
      fill[e] = at;
      first_tile[e] = tile;
      at += count[e];
      tile += (count[e] + MOE_TILE_COLS - 1) / MOE_TILE_COLS;
    }
    for (s64 i = tile; i < max_tiles; ++i) tiles[3 * i + 1] = 0;
  }
  __syncthreads();
  for (int e = tid; e < buckets; e += MOE_THREADS) {
    const u32 c = count[e], start = fill[e];
    for (u32 i = 0; i * MOE_TILE_COLS < c; ++i) {
      s32* tl = tiles + 3 * (s64)(first_tile[e] + i);
      tl[0] = (s32)(start + i * MOE_TILE_COLS);
      tl[1] = (s32)(c - i * MOE_TILE_COLS < MOE_TILE_COLS ? c - i * MOE_TILE_COLS : MOE_TILE_COLS);
      tl[2] = e == buckets - 1 ? -1 : e;
    }
  }
  __syncthreads();
  for (s64 p = tid; p < npairs; p += MOE_THREADS) {
    const s32 e = ids[p];
    order[atomicAdd(&fill[e >= 0 && e < experts ? e : buckets - 1], 1u)] = (s32)p;
  }
}

// The CTA row's pairs: CTA row b of pair-per-row launches is pair b; of tile launches, tile b's pairs
// (columns past its count repeat its first pair and are not stored). Returns the count (0: no work),
// and the expert (-1: an id outside the experts).
template <int C>
QK_DEVICE int moe_cta_pairs(
  const s32* ids, const s32* order, const s32* tiles, s64 experts, s32* pair, int& expert) {
  const s64 b = (s64)blockIdx.y;
  int n = 1;
  if (tiles != 0) {
    const s32* tl = tiles + 3 * b;
    n = tl[1];
    if (n <= 0) return 0;
#pragma unroll
    for (int j = 0; j < C; ++j) pair[j] = order[tl[0] + (j < n ? j : 0)];
  } else {
#pragma unroll
    for (int j = 0; j < C; ++j) pair[j] = (s32)b;
  }
  const s32 e = ids[pair[0]];
  expert = e >= 0 && e < experts ? e : -1;
  return n;
}

namespace mmvq {
// C gathered columns: column j's q8_1 row and output row (null: not stored).
template <int C>
struct id_cols {
  const u8* x[C];
  float* y[C];
};
template <int C>
QK_DEVICE const u8* col_x(const id_cols<C>& c, int j) { return c.x[j]; }
template <int C>
QK_DEVICE void col_store(const id_cols<C>& c, int j, s64 row, float v) {
  if (c.y[j] != 0) c.y[j][row] = v;
}

// grid (ceil(nrows / MMVQ_ROWS(C)), pairs or tiles), block MMVQ_THREADS(C). w: the stacked experts,
// expert_bytes apart (each 16-byte aligned: the host checks); xq: q8_1 rows [tokens · x_rows, k/32];
// y: [pairs, nrows].
template <class V, int C>
QK_DEVICE void mul_mat_vec_q_id(
  const u8* __restrict__ w, s64 expert_bytes, s64 experts, const u8* __restrict__ xq, float* __restrict__ y,
  s64 k, s64 nrows, const s32* ids, const s32* order, const s32* tiles, s64 used, s64 x_rows) {
  constexpr int R = MMVQ_ROWS(C);
  s32 pair[C];
  int expert;
  const int n = moe_cta_pairs<C>(ids, order, tiles, experts, pair, expert);
  if (n == 0) return;  // uniform in the CTA
  const s64 row0 = (s64)blockIdx.x * R;
  if (expert < 0) {
    if ((int)threadIdx.x < C * R && (int)threadIdx.x / R < n && row0 + (int)threadIdx.x % R < nrows)
      y[(s64)pair[threadIdx.x / R] * nrows + row0 + threadIdx.x % R] = moe_nan();
    return;
  }
  const s64 col_bytes = (k / 32) * 36;
  id_cols<C> cols;
#pragma unroll
  for (int j = 0; j < C; ++j) {
    cols.x[j] = xq + moe_x_row(pair[j], used, x_rows) * col_bytes;
    cols.y[j] = j < n ? y + (s64)pair[j] * nrows : (float*)0;
  }
  mat_vec_rows<V, C>(w + (s64)expert * expert_bytes, nrows, row0, k, cols);
}
}  // namespace mmvq

// (C expanded before it is pasted into the name: MOE_TILE_COLS → its number.)
#define MMVQ_ID_KERNEL(name, C) MMVQ_ID_KERNEL_(name, C)
#define MMVQ_ID_KERNEL_(name, C)                                                                           \
  QK_KERNEL void __launch_bounds__(MMVQ_THREADS(C)) mul_mat_vec_q_id_##name##_##C(                        \
    const u8* w, s64 expert_bytes, s64 experts, const u8* xq, float* y, s64 k, s64 nrows, const s32* ids,   \
    const s32* order, const s32* tiles, s64 used, s64 x_rows) {                                            \
    qk_grid_dependency_sync();                                                                             \
    mmvq::mul_mat_vec_q_id<mmvq::vdq_##name, C>(                                                           \
      w, expert_bytes, experts, xq, y, k, nrows, ids, order, tiles, used, x_rows);                         \
  }
#define MMVQ_ID_TYPE_KERNELS(name) MMVQ_ID_KERNEL(name, 1) MMVQ_ID_KERNEL(name, MOE_TILE_COLS)
MMVQ_TYPE_LIST(MMVQ_ID_TYPE_KERNELS)
#endif  // MMVQ_MAX_COLS

// ---- Every quantized type, one pair per CTA row: grid (ceil(nrows / MMV_ROWS), pairs), block
// (QK_WARP_SIZE, MMV_ROWS), as mul_mat_vec_via_q8_1 (kernels.cu).
template <class T>
QK_DEVICE void mul_mat_vec_via_q8_1_id(
  const u8* __restrict__ w, s64 expert_bytes, s64 experts, const u8* __restrict__ xq, float* __restrict__ y,
  s64 k, s64 nrows, const s32* ids, s64 used, s64 x_rows) {
  const s64 row = (s64)blockIdx.x * MMV_ROWS + threadIdx.y;
  if (row >= nrows) return;  // the whole wavefront leaves: threadIdx.y is uniform in it
  const s64 p = (s64)blockIdx.y;
  const s32 e = ids[p];
  if (e < 0 || e >= experts) {
    if (threadIdx.x == 0) y[p * nrows + row] = moe_nan();
    return;
  }
  const float acc = dot_row_via_q8_1<T>(
    w + (s64)e * expert_bytes + row * (k / T::qk) * T::bytes, xq + moe_x_row(p, used, x_rows) * (k / 32) * 36, k);
  if (threadIdx.x == 0) y[p * nrows + row] = acc;
}
#define MOE_VIA_Q8_1_KERNELS(name, ...)                                                                      \
  QK_KERNEL void __launch_bounds__(256) mul_mat_vec_via_q8_1_id_##name(                                   \
    const u8* w, s64 expert_bytes, s64 experts, const u8* xq, float* y, s64 k, s64 nrows, const s32* ids,   \
    s64 used, s64 x_rows) {                                                                                \
    qk_grid_dependency_sync();                                                                             \
    mul_mat_vec_via_q8_1_id<qt_##name>(w, expert_bytes, experts, xq, y, k, nrows, ids, used, x_rows);      \
  }
QTYPE_LIST(MOE_VIA_Q8_1_KERNELS)

// ---- Mixing: grid (ceil(d / 256), tokens), block 256. out[t, i] = Σ_j w[t, j] · x[t, j, i], the
// products added in j order (llama.cpp adds the weighted experts' views one after the other).
QK_KERNEL void __launch_bounds__(256) moe_mix_f32(const float* x, const float* w, float* out, s64 used, s64 d) {
  qk_grid_dependency_sync();
  const s64 i = (s64)blockIdx.x * 256 + threadIdx.x;
  if (i >= d) return;
  const s64 t = (s64)blockIdx.y;
  const float* xt = x + t * used * d + i;
  const float* wt = w + t * used;
  float acc = qk_mul_rn(xt[0], wt[0]);
  for (s64 j = 1; j < used; ++j) acc = qk_add_rn(acc, qk_mul_rn(xt[j * d], wt[j]));
  out[t * d + i] = acc;
}
