// Fused kernels of forward plans (GPUPlan.swift matches the op sequences they replace). Each one
// writes every intermediate the separate ops would have written (so later readers find them), and
// saves launches: a decode step is a chain of small dependent kernels.

// Row chain: v = b; [norm1] t = rms_norm(v)·w1; [add] s = a + v; [norm2] y = rms_norm(v)·w2;
// [quant] q8_1 blocks of v (store_q8_1, as quantize_q8_1).
// One CTA of FUSED_ROW_THREADS per row of n values; thread t owns elements t, t + 1024, … in every
// pass, so each element is read and written by one thread and outputs may alias inputs.
#define FUSED_NORM1 1
#define FUSED_ADD 2
#define FUSED_NORM2 4
#define FUSED_QUANT 8
#define FUSED_ROW_THREADS 1024
QK_KERNEL void __launch_bounds__(FUSED_ROW_THREADS) fused_norm_add_norm_q8_1(
  const float* b, const float* a, const float* __restrict__ w1, const float* __restrict__ w2, float* t_out,
  float* s_out, float* y_out, u8* __restrict__ yq, s64 n, float eps1, float eps2, s32 flags) {
  __shared__ float red[32];
  const s64 row = blockIdx.x;
  const float* br = b + row * n;
  const float* ar = a ? a + row * n : (const float*)0;
  // Pass 1: Σ b² (norm1).
  float scale1 = 1.0f;
  if (flags & FUSED_NORM1) {
    float ss = 0.0f;
    for (s64 i = threadIdx.x; i < n; i += FUSED_ROW_THREADS) ss += br[i] * br[i];
    ss = block_reduce_sum(ss, red);
    scale1 = 1.0f / sqrtf(ss / (float)n + eps1);
  }
  // Pass 2: norm1 and add; the value kept in the output that holds it, Σ v² for norm2.
  float ss2 = 0.0f;
  float* vr = (float*)br;  // where the current value lives after pass 2
  for (s64 i = threadIdx.x; i < n; i += FUSED_ROW_THREADS) {
    float v = br[i];
    if (flags & FUSED_NORM1) {
      v = w1 ? v * scale1 * w1[i] : v * scale1;
      t_out[row * n + i] = v;
    }
    if (flags & FUSED_ADD) {
      v = ar[i] + v;
      s_out[row * n + i] = v;
    }
    ss2 += v * v;
  }
  if (flags & FUSED_ADD) vr = s_out + row * n;
  else if (flags & FUSED_NORM1) vr = t_out + row * n;
  float scale2 = 1.0f;
  if (flags & FUSED_NORM2) {
    ss2 = block_reduce_sum(ss2, red);
    scale2 = 1.0f / sqrtf(ss2 / (float)n + eps2);
  }
  // Pass 3: norm2 and the q8_1 blocks. Groups of 32 consecutive lanes are one block; n is a multiple
  // of 32 when quantizing, so a group is wholly in or out of range (and so is a 32-wide warp).
  for (s64 i0 = 0; i0 < n; i0 += FUSED_ROW_THREADS) {
    const s64 i = i0 + threadIdx.x;
    if (i >= n) break;
    float v = vr[i];
    if (flags & FUSED_NORM2) {
      v = w2 ? v * scale2 * w2[i] : v * scale2;
      y_out[row * n + i] = v;
    }
    if (flags & FUSED_QUANT) store_q8_1(v, row * n + i, yq);
  }
}

// Per-head chain of attention inputs, one CTA of ROPE_FUSED_THREADS per (token, head) of x
// [ntok, nhead, hd]: [norm] per-head rms_norm·w; rope (as rope_f32: modes 0/2, θ in double);
// ·factor (the query scale); y written (f32); when kc is given, the row also goes to the f16 cache
// row pos[token] (write_kv_f16), with the same row of v (v [ntok, nhead, hd]) into vc.
#define ROPE_FUSED_THREADS 128
QK_KERNEL void __launch_bounds__(ROPE_FUSED_THREADS) rope_norm_kv_f32(
  const float* x, const float* __restrict__ w, float eps, s32 do_norm, float* y, const s32* __restrict__ pos,
  const float* __restrict__ ff, s64 nhead, s64 hd, s64 nrot, s32 neox, float freq_base, float freq_scale,
  float attn_factor, float factor, u16* __restrict__ kc, const float* __restrict__ v, u16* __restrict__ vc) {
  __shared__ float red[32];
  __shared__ float row[ATT_MAX_D];
  const s64 r = blockIdx.x, token = r / nhead, head = r % nhead;
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
    double theta = (double)p * (double)freq_scale * exp(-2.0 * (double)i / (double)nrot * log((double)freq_base));
    if (ff) theta /= (double)ff[i];
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

// Gated activation with the q8_1 blocks of its output: act = f(gate)·up (f: silu when gelu == 0, else
// tanh-GELU), written f32 and as q8_1 for the next matmul. Element-wise over all n values (rows of a
// multiple of 32, so every aligned group of 32 threads is one q8_1 block): grid ceil(n / 256), block 256.
// (One CTA per row left a decode step's 11008-wide FFN to a single SM.)
QK_KERNEL void __launch_bounds__(256) glu_q8_1(
  const float* g, const float* u, float* act, u8* __restrict__ yq, s64 n, s32 gelu) {
  const s64 e = (s64)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= n) return;  // n is a multiple of 32: whole groups leave together
  const float v = (gelu ? qk_gelu(g[e]) : qk_silu(g[e])) * u[e];
  act[e] = v;
  store_q8_1(v, e, yq);
}
