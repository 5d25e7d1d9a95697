// Fused kernels of forward plans (GPUPlan.swift matches the op sequences they replace). Each one
// writes every intermediate the separate ops would have written (so later readers find them), and
// saves launches: a decode step is a chain of small dependent kernels.

// fused_norm_add_norm_q8_1: the row chain (row_chain, common.cuh) as a kernel of its own, one CTA of
// FUSED_ROW_THREADS per row (mmvq.cu runs the same chain as the tail of a one-column mat-vec).
QK_KERNEL void __launch_bounds__(FUSED_ROW_THREADS) fused_norm_add_norm_q8_1(
  const float* b, const float* a, const float* __restrict__ w1, const float* __restrict__ w2, float* t_out,
  float* s_out, float* y_out, u8* __restrict__ yq, s64 n, float eps1, float eps2, s32 flags) { qk_grid_dependency_sync();
  row_chain(b, a, w1, w2, t_out, s_out, y_out, yq, (s64)blockIdx.x, n, eps1, eps2, flags);
}

// Per-head chain of attention inputs, one CTA of ROPE_FUSED_THREADS per (token, head) row of x
// [ntok, nhead, hd]: [norm] per-head rms_norm·w; rope (as rope_f32: modes 0/2, YaRN, θ in double);
// ·factor (the query scale); y written (f32); when kc is given, the row also goes to the f16 cache
// row pos[token] (write_kv_f16), with the same row of v (v [ntok, nhead, hd]) into vc.
#define ROPE_FUSED_THREADS 128
QK_DEVICE void rope_chain_row(
  s64 r, const float* x, const float* __restrict__ w, float eps, s32 do_norm, float* y, s64 nhead, float factor,
  u16* __restrict__ kc, const float* __restrict__ v, u16* __restrict__ vc, const s32* __restrict__ pos,
  const float* __restrict__ ff, s64 hd, s64 nrot, s32 neox, float freq_base, float freq_scale, float attn_factor,
  float ext_factor, float corr_lo, float corr_hi) {
  __shared__ float red[32];
  __shared__ float row[ATT_MAX_D];
  const s64 token = r / nhead, head = r % nhead;
  const float* xr = x + r * hd;
  float scale = 1.0f;
  if (do_norm) {
    float ss = 0.0f;
    for (s64 i = threadIdx.x; i < hd; i += ROPE_FUSED_THREADS) ss += xr[i] * xr[i];
    ss = block_reduce_sum(ss, red);
    scale = 1.0f / sqrtf(ss / (float)hd + eps);
  }
  for (s64 i = threadIdx.x; i < hd; i += ROPE_FUSED_THREADS) {
    const float v0 = xr[i];
    row[i] = do_norm ? (w ? v0 * scale * w[i] : v0 * scale) : v0;
  }
  __syncthreads();
  const s64 half = nrot / 2;
  const s64 p = pos[token];
  float* yr = y + r * hd;
  const s64 cache_row = p * nhead * hd + head * hd;
  for (s64 i = threadIdx.x; i < half + (hd - nrot); i += ROPE_FUSED_THREADS) {
    if (i >= half) {
      const s64 j = nrot + (i - half);
      const float o = row[j] * factor;
      yr[j] = o;
      if (kc) kc[cache_row + j] = f2h(o);
      continue;
    }
    const s64 i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
    const double theta = rope_theta(p, i, nrot, ff, freq_base, freq_scale, ext_factor, corr_lo, corr_hi);
    const float c = rope_cos(theta) * attn_factor, s = rope_sin(theta) * attn_factor;
    const float x0 = row[i0], x1 = row[i1];
    const float o0 = (x0 * c - x1 * s) * factor, o1 = (x0 * s + x1 * c) * factor;
    yr[i0] = o0;
    yr[i1] = o1;
    if (kc) {
      kc[cache_row + i0] = f2h(o0);
      kc[cache_row + i1] = f2h(o1);
    }
  }
  if (vc) {
    const float* vr = v + r * hd;
    for (s64 i = threadIdx.x; i < hd; i += ROPE_FUSED_THREADS) vc[cache_row + i] = f2h(vr[i]);
  }
}
// Two such chains over the same positions and rope parameters in one launch (a layer's queries and
// keys): CTAs [0, rows) run the first, the rest the second (x2 … vc2; none when rows is the grid).
QK_KERNEL void __launch_bounds__(ROPE_FUSED_THREADS) rope_norm_kv_f32(
  const float* x, const float* __restrict__ w, float eps, s32 do_norm, float* y, s64 nhead, float factor,
  u16* __restrict__ kc, const float* __restrict__ v, u16* __restrict__ vc, s64 rows,
  const float* x2, const float* __restrict__ w2, float eps2, s32 do_norm2, float* y2, s64 nhead2, float factor2,
  u16* __restrict__ kc2, const float* __restrict__ v2, u16* __restrict__ vc2,
  const s32* __restrict__ pos, const float* __restrict__ ff, s64 hd, s64 nrot, s32 neox, float freq_base,
  float freq_scale, float attn_factor, float ext_factor, float corr_lo, float corr_hi) { qk_grid_dependency_sync();
  const s64 r = blockIdx.x;
  if (r < rows)
    rope_chain_row(r, x, w, eps, do_norm, y, nhead, factor, kc, v, vc, pos, ff, hd, nrot, neox, freq_base, freq_scale, attn_factor,
                   ext_factor, corr_lo, corr_hi);
  else
    rope_chain_row(r - rows, x2, w2, eps2, do_norm2, y2, nhead2, factor2, kc2, v2, vc2, pos, ff, hd, nrot, neox, freq_base,
                   freq_scale, attn_factor, ext_factor, corr_lo, corr_hi);
}

// Gated activation with the q8_1 blocks of its output (glu_q8_1_x4, common.cuh), element-wise over all n
// values: grid ceil(n / 1024), block 256. (One CTA per row left a decode step's 11008-wide FFN to a
// single SM.)
QK_KERNEL void __launch_bounds__(256) glu_q8_1(
  const float* g, const float* u, float* act, u8* __restrict__ yq, s64 n, s32 gelu) { qk_grid_dependency_sync();
  glu_q8_1_x4(g, u, (s64)blockIdx.x * blockDim.x + threadIdx.x, n, gelu, act, yq);
}
