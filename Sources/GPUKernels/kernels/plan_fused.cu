// Fused kernels of forward plans (GPUPlan.swift matches the op sequences they replace). Each one
// writes every intermediate the separate ops would have written (so later readers find them), and
// saves launches: a decode step is a chain of small dependent kernels.

// Rows of n floats read and written 4 at a time (f32x4, common.cuh: the host checks n % 4 == 0 and
// the pointers' alignment, GPUPlanGeometry).
QK_DEVICE float f4_dot(f32x4 a, f32x4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }
// An RMS norm's output: v·scale, times the weight w when there is one (rms_norm_f32's order of operations).
QK_DEVICE f32x4 f4_norm_scale(f32x4 v, float scale, bool weighted, f32x4 w) {
  if (!weighted) return f32x4{v.x * scale, v.y * scale, v.z * scale, v.w * scale};
  return f32x4{v.x * scale * w.x, v.y * scale * w.y, v.z * scale * w.z, v.w * scale * w.w};
}

// q8_1 blocks of 4 consecutive values per lane (store_q8_1's result, bit for bit): values e0 … e0 + 3
// (e0 % 4 == 0), so 8 consecutive lanes hold one block. Every lane of the wavefront takes part in the
// reductions; only `live` lanes write.
QK_DEVICE void store_q8_1_x4(f32x4 v, s64 e0, bool live, u8* __restrict__ y) {
  float amax = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
  amax = group_reduce_max(live ? amax : 0.0f, 8);
  const float d = amax / 127.0f;
  int q[4] = {0, 0, 0, 0};
  if (amax != 0.0f) {
    q[0] = (int)roundf(v.x / d);
    q[1] = (int)roundf(v.y / d);
    q[2] = (int)roundf(v.z / d);
    q[3] = (int)roundf(v.w / d);
  }
  const float sum = group_reduce_sum((float)(q[0] + q[1] + q[2] + q[3]), 8);
  if (!live) return;
  u8* blk = y + (e0 / 32) * 36;
  *(u32*)(blk + 4 + e0 % 32) = (u32)pack4(q[0], q[1], q[2], q[3]);
  if (e0 % 32 == 0) *(u32*)blk = (u32)f2h(d) | ((u32)f2h(d * sum) << 16);
}

// Row chain: v = b; [norm1] t = rms_norm(v)·w1; [add] s = a + v; [norm2] y = rms_norm(v)·w2;
// [quant] q8_1 blocks of v (store_q8_1_x4, as quantize_q8_1).
// One CTA of FUSED_ROW_THREADS per row of n values (n ≤ 4 · FUSED_ROW_THREADS · FUSED_ROW_VECS): thread t
// holds the 4-value vectors t, t + FUSED_ROW_THREADS, … in registers, loaded once up front, so a decode
// step's row is one memory round trip and two CTA reductions (a row re-read per pass was a chain of
// dependent loads). Each value is read and written by one thread, so outputs may alias inputs.
#define FUSED_NORM1 1
#define FUSED_ADD 2
#define FUSED_NORM2 4
#define FUSED_QUANT 8
#define FUSED_ROW_THREADS 256
#define FUSED_ROW_VECS 8
QK_KERNEL void __launch_bounds__(FUSED_ROW_THREADS) fused_norm_add_norm_q8_1(
  const float* b, const float* a, const float* __restrict__ w1, const float* __restrict__ w2, float* t_out,
  float* s_out, float* y_out, u8* __restrict__ yq, s64 n, float eps1, float eps2, s32 flags) { qk_grid_dependency_sync();
  __shared__ float red[32];
  const int tid = threadIdx.x;
  const s64 base = (s64)blockIdx.x * n;  // a multiple of 4
  const s64 nv = n / 4;
  // Every input up front (the weights too), so their loads overlap.
  f32x4 v[FUSED_ROW_VECS], av[FUSED_ROW_VECS], w1v[FUSED_ROW_VECS], w2v[FUSED_ROW_VECS];
#pragma unroll
  for (int i = 0; i < FUSED_ROW_VECS; ++i) {
    const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
    if (j < nv) {
      v[i] = f4_load(b + base, j);
      if (flags & FUSED_ADD) av[i] = f4_load(a + base, j);
      w1v[i] = (flags & FUSED_NORM1) && w1 ? f4_load(w1, j) : f32x4{0.0f, 0.0f, 0.0f, 0.0f};
      w2v[i] = (flags & FUSED_NORM2) && w2 ? f4_load(w2, j) : f32x4{0.0f, 0.0f, 0.0f, 0.0f};
    }
  }
  if (flags & FUSED_NORM1) {
    float ss = 0.0f;
#pragma unroll
    for (int i = 0; i < FUSED_ROW_VECS; ++i)
      if (tid + (s64)i * FUSED_ROW_THREADS < nv) ss += f4_dot(v[i], v[i]);
    const float scale = 1.0f / sqrtf(block_reduce_sum(ss, red) / (float)n + eps1);
#pragma unroll
    for (int i = 0; i < FUSED_ROW_VECS; ++i) {
      const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
      if (j < nv) {
        const f32x4 o = f4_norm_scale(v[i], scale, (bool)w1, w1v[i]);
        v[i] = o;
        f4_store(t_out + base, j, o);
      }
    }
  }
  float ss2 = 0.0f;
#pragma unroll
  for (int i = 0; i < FUSED_ROW_VECS; ++i) {
    const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
    if (j < nv) {
      if (flags & FUSED_ADD) {
        const f32x4 x = av[i], o = v[i];
        v[i] = f32x4{x.x + o.x, x.y + o.y, x.z + o.z, x.w + o.w};
        f4_store(s_out + base, j, v[i]);
      }
      ss2 += f4_dot(v[i], v[i]);
    }
  }
  if (flags & FUSED_NORM2) {
    const float scale = 1.0f / sqrtf(block_reduce_sum(ss2, red) / (float)n + eps2);
#pragma unroll
    for (int i = 0; i < FUSED_ROW_VECS; ++i) {
      const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
      if (j < nv) {
        const f32x4 o = f4_norm_scale(v[i], scale, (bool)w2, w2v[i]);
        v[i] = o;
        f4_store(y_out + base, j, o);
      }
    }
  }
  // q8_1 blocks: n is a multiple of 32 when quantizing; every lane takes part in the group reductions.
  if (flags & FUSED_QUANT) {
#pragma unroll
    for (int i = 0; i < FUSED_ROW_VECS; ++i) {
      const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
      if ((s64)i * FUSED_ROW_THREADS >= nv) break;  // uniform over the CTA
      store_q8_1_x4(j < nv ? v[i] : f32x4{0.0f, 0.0f, 0.0f, 0.0f}, base + 4 * j, j < nv, yq);
    }
  }
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

// Gated activation with the q8_1 blocks of its output: act = f(gate)·up (f: silu when gelu == 0, else
// tanh-GELU), written f32 and as q8_1 for the next matmul. Element-wise over all n values (rows of a
// multiple of 32), 4 per thread (16-byte vectors; 8 lanes = one q8_1 block): grid ceil(n / 1024),
// block 256. (One CTA per row left a decode step's 11008-wide FFN to a single SM.)
QK_DEVICE float glu_value(float g, float u, s32 gelu) { return (gelu ? qk_gelu(g) : qk_silu(g)) * u; }
QK_KERNEL void __launch_bounds__(256) glu_q8_1(
  const float* g, const float* u, float* act, u8* __restrict__ yq, s64 n, s32 gelu) { qk_grid_dependency_sync();
  const s64 j = (s64)blockIdx.x * blockDim.x + threadIdx.x;
  const bool live = 4 * j < n;
  f32x4 v = {0.0f, 0.0f, 0.0f, 0.0f};
  if (live) {
    const f32x4 a = f4_load(g, j), b = f4_load(u, j);
    v = f32x4{glu_value(a.x, b.x, gelu), glu_value(a.y, b.y, gelu), glu_value(a.z, b.z, gelu), glu_value(a.w, b.w, gelu)};
    f4_store(act, j, v);
  }
  store_q8_1_x4(v, 4 * j, live, yq);  // the wavefront's lanes past n take part with zeros
}
