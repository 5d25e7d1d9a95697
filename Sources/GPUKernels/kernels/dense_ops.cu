// Dense kernels, part 2: the f32 ops of a transformer — norms, rope, softmax, KV-cache writes,
// attention over the f16 cache, activations, element-wise arithmetic. Same semantics as the CPU
// backend's CPUOps (QuantaCore's ComputeBackend documents them). Row kernels run one 256-thread
// CTA per row: 4 wave64 or 8 warp32, reduced across wavefronts through shared memory.

// block_reduce_sum: common.cuh. Max over a whole CTA, as block_reduce_sum.
QK_DEVICE float warp_reduce_max(float x) {
#pragma unroll
  for (int offset = QK_WARP_SIZE / 2; offset > 0; offset >>= 1) x = fmaxf(x, qk_shfl_xor(x, offset, QK_WARP_SIZE));
  return x;
}
QK_DEVICE float block_reduce_max(float v, float* scratch) {
  const int lane = threadIdx.x % QK_WARP_SIZE, wid = threadIdx.x / QK_WARP_SIZE;
  const int nw = blockDim.x / QK_WARP_SIZE;
  v = warp_reduce_max(v);
  __syncthreads();
  if (lane == 0) scratch[wid] = v;
  __syncthreads();
  return warp_reduce_max(lane < nw ? scratch[lane] : QK_NEG_INF);
}

// ---- Norms: grid (rows), block 256.
QK_KERNEL void __launch_bounds__(256)
  rms_norm_f32(const float* __restrict__ x, const float* __restrict__ w, float* y, s64 n, float eps) { qk_grid_dependency_sync();
  __shared__ float red[32];
  const float* xr = x + (s64)blockIdx.x * n;
  float* yr = y + (s64)blockIdx.x * n;
  float s = 0.0f;
  for (s64 i = threadIdx.x; i < n; i += blockDim.x) s += xr[i] * xr[i];
  s = block_reduce_sum(s, red);
  const float scale = 1.0f / sqrtf(s / (float)n + eps);
  for (s64 i = threadIdx.x; i < n; i += blockDim.x) yr[i] = w ? xr[i] * scale * w[i] : xr[i] * scale;
}

// Two passes (mean, then centred squares) as the CPU: no cancellation for rows with a large mean.
QK_KERNEL void __launch_bounds__(256) layer_norm_f32(
  const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b, float* y, s64 n, float eps) { qk_grid_dependency_sync();
  __shared__ float red[32];
  const float* xr = x + (s64)blockIdx.x * n;
  float* yr = y + (s64)blockIdx.x * n;
  float s = 0.0f;
  for (s64 i = threadIdx.x; i < n; i += blockDim.x) s += xr[i];
  const float mean = block_reduce_sum(s, red) / (float)n;
  float v = 0.0f;
  for (s64 i = threadIdx.x; i < n; i += blockDim.x) { const float d = xr[i] - mean; v += d * d; }
  const float inv = 1.0f / sqrtf(block_reduce_sum(v, red) / (float)n + eps);
  for (s64 i = threadIdx.x; i < n; i += blockDim.x) {
    float o = (xr[i] - mean) * inv;
    if (w) o *= w[i];
    if (b) o += b[i];
    yr[i] = o;
  }
}

// ---- RoPE (ggml modes 0 and 2, with YaRN: ggml's rope_yarn).
// cos / sin of a rope angle θ computed in double (as the CPU's rope cache): reduced to [-π, π] in
// double, then evaluated in float. Double-precision sin/cos cost several times more per pair and the
// result is rounded to float either way (agrees with (float)cos(θ) to about an ulp).
QK_DEVICE float rope_reduced(double theta) {
  const double two_pi = 6.283185307179586;
  return (float)(theta - two_pi * rint(theta / two_pi));
}
QK_DEVICE float rope_cos(double theta) { return cosf(rope_reduced(theta)); }
QK_DEVICE float rope_sin(double theta) { return sinf(rope_reduced(theta)); }
// The angle of pair i at position p: θ_e = p · base^(−2i/nrot) / ff[i] (extrapolated), θ_i = freq_scale · θ_e
// (interpolated); with YaRN (ext_factor ≠ 0) ggml's rope_yarn mix θ_i·(1 − m) + θ_e·m, m = ramp(i)·ext_factor,
// ramp 1 below corr_lo, 0 above corr_hi, linear between (rope_yarn_ramp at i0 = 2i). YaRN's magnitude
// correction (1 + 0.1·ln(1/freq_scale)) is in the attn_factor the host passes.
QK_DEVICE double rope_theta(s64 p, s64 i, s64 nrot, const float* __restrict__ ff, float freq_base, float freq_scale,
                            float ext_factor, float corr_lo, float corr_hi) {
  double extrapolated = (double)p * exp(-2.0 * (double)i / (double)nrot * log((double)freq_base));
  if (ff) extrapolated /= (double)ff[i];
  const double interpolated = (double)freq_scale * extrapolated;
  if (ext_factor == 0.0f) return interpolated;
  const float y = ((float)i - corr_lo) / fmaxf(0.001f, corr_hi - corr_lo);
  const double mix = (double)((1.0f - fminf(1.0f, fmaxf(0.0f, y))) * ext_factor);
  return interpolated * (1.0 - mix) + extrapolated * mix;
}
// x, y [ntok, nhead, hd]. Per row (token, head) the work items are the nrot/2 rotated pairs, then the
// hd − nrot passed-through values; a pair is read and written by one thread, so y may be x.
QK_KERNEL void __launch_bounds__(256) rope_f32(
  const float* x, float* y, const s32* __restrict__ pos, const float* __restrict__ ff, s64 ntok, s64 nhead, s64 hd,
  s64 nrot, s32 neox, float freq_base, float freq_scale, float attn_factor, float ext_factor, float corr_lo,
  float corr_hi) { qk_grid_dependency_sync();
  const s64 half = nrot / 2, per_row = half + (hd - nrot);
  QK_FOR_EACH(idx, ntok * nhead * per_row) {
    const s64 row = idx / per_row, item = idx % per_row;
    const float* xr = x + row * hd;
    float* yr = y + row * hd;
    if (item >= half) {
      const s64 j = nrot + (item - half);
      yr[j] = xr[j];
      continue;
    }
    const s64 i = item;
    const s64 i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
    const double theta =
      rope_theta(pos[row / nhead], i, nrot, ff, freq_base, freq_scale, ext_factor, corr_lo, corr_hi);
    const float c = rope_cos(theta) * attn_factor, s = rope_sin(theta) * attn_factor;
    const float x0 = xr[i0], x1 = xr[i1];
    yr[i0] = x0 * c - x1 * s;
    yr[i1] = x0 * s + x1 * c;
  }
}

// ---- Softmax with attention's extras (CPUOps.softmax): scale, soft-cap (cap > 0), then the mask
// (masked entries exactly 0), then a max-subtracted softmax; an all-masked row is all zeros.
// x, y [rows, n] (y may be x: each element is read and written by one thread); row r is a query at
// pos[r / rows_per_pos] when pos is given. grid (rows), block 256.
QK_DEVICE float attn_logit(float v, float scale, float cap) {
  float y = v * scale;
  if (cap > 0.0f) y = cap * tanhf(y * (1.0f / cap));
  return y;
}
// Visible keys [lo, hi) of a query at position p among nkv keys (AttentionMask.visibleKeys).
QK_DEVICE void visible_keys(s64 p, s64 nkv, s32 causal, s32 window, s64& lo, s64& hi) {
  hi = nkv;
  if (causal && p + 1 < hi) hi = p + 1;
  lo = 0;
  if (window > 0 && p - window + 1 > 0) lo = p - window + 1;
  if (lo >= hi) { lo = 0; hi = 0; }
}

QK_KERNEL void __launch_bounds__(256) soft_max_f32(
  const float* x, float* y, s64 n, const s32* __restrict__ pos, s64 rows_per_pos, float scale, float cap, s32 causal,
  s32 window) { qk_grid_dependency_sync();
  __shared__ float red[32];
  const float* xr = x + (s64)blockIdx.x * n;
  float* yr = y + (s64)blockIdx.x * n;
  s64 lo = 0, hi = n;
  if (pos) visible_keys(pos[blockIdx.x / rows_per_pos], n, causal, window, lo, hi);
  float m = QK_NEG_INF;
  for (s64 j = threadIdx.x; j < n; j += blockDim.x) {
    if (j >= lo && j < hi) m = fmaxf(m, attn_logit(xr[j], scale, cap));
  }
  m = block_reduce_max(m, red);
  float s = 0.0f;
  for (s64 j = threadIdx.x; j < n; j += blockDim.x) {
    float e = 0.0f;
    if (j >= lo && j < hi && m > QK_NEG_INF) e = expf(attn_logit(xr[j], scale, cap) - m);
    yr[j] = e;
    s += e;
  }
  s = block_reduce_sum(s, red);
  const float inv = s > 0.0f ? 1.0f / s : 0.0f;
  for (s64 j = threadIdx.x; j < n; j += blockDim.x) yr[j] *= inv;
}

// ---- KV cache: src f32 [ntok, kvdim] → rows pos[t] of cache f16 [capacity, kvdim] (RNE).
// `rows` (nullable): the batched decode of several sequences in one launch — token t writes the cache
// at address rows[2t] instead of `cache` (the plan's per-token table of each sequence's K and V cache,
// GPUPreparedPlan.SequenceGroup; the host passes the table + 1 word for the V launch).
#define KV_CACHE(T, t) (rows ? (T*)rows[2 * (t)] : cache)
QK_KERNEL void __launch_bounds__(256)
  write_kv_f16(const float* __restrict__ src, const s32* __restrict__ pos, u16* __restrict__ cache, s64 kvdim, s64 ntok,
               const u64* __restrict__ rows) { qk_grid_dependency_sync();
  QK_FOR_EACH(i, ntok * kvdim) KV_CACHE(u16, i / kvdim)[(s64)pos[i / kvdim] * kvdim + i % kvdim] = f2h(src[i]);
}
// The other KV cache types (KVCacheType; `-ctk` / `-ctv`): bf16 (RNE, as ggml's fp32_to_bf16), and
// q8_0 / q4_0 with one thread per 32-value block, the bytes of quantize_row_*_ref (kvdim a multiple of 32).
QK_KERNEL void __launch_bounds__(256)
  write_kv_bf16(const float* __restrict__ src, const s32* __restrict__ pos, u16* __restrict__ cache, s64 kvdim, s64 ntok,
                const u64* __restrict__ rows) { qk_grid_dependency_sync();
  QK_FOR_EACH(i, ntok * kvdim) KV_CACHE(u16, i / kvdim)[(s64)pos[i / kvdim] * kvdim + i % kvdim] = f2bf(src[i]);
}
QK_KERNEL void __launch_bounds__(256)
  write_kv_q8_0(const float* __restrict__ src, const s32* __restrict__ pos, u8* __restrict__ cache, s64 kvdim, s64 ntok,
                const u64* __restrict__ rows) { qk_grid_dependency_sync();
  const s64 nb = kvdim / 32;  // blocks per row
  QK_FOR_EACH(b, ntok * nb) quantize_block_q8_0(src + b * 32, KV_CACHE(u8, b / nb) + ((s64)pos[b / nb] * nb + b % nb) * 34);
}
QK_KERNEL void __launch_bounds__(256)
  write_kv_q4_0(const float* __restrict__ src, const s32* __restrict__ pos, u8* __restrict__ cache, s64 kvdim, s64 ntok,
                const u64* __restrict__ rows) { qk_grid_dependency_sync();
  const s64 nb = kvdim / 32;
  QK_FOR_EACH(b, ntok * nb) quantize_block_q4_0(src + b * 32, KV_CACHE(u8, b / nb) + ((s64)pos[b / nb] * nb + b % nb) * 18);
}
#undef KV_CACHE

// ---- Attention over the f16 caches, flash style: one CTA per (token, head), no [tokens × keys]
// score matrix. The CTA's nw wavefronts take tiles of ATT_KEYS consecutive visible keys in turn
// (wavefront w: tiles w, w + nw, …), each with its own online softmax. Lanes split the head dimension
// in pairs (lane l holds pairs l, l + QK_WARP_SIZE, …), so a key's row is read coalesced, 4 bytes per
// lane, and a tile's ATT_KEYS rows are loaded together: a decode step's dependent chain is one tile
// per wavefront, not one key. The wavefronts' (max, sum, acc) are merged through shared memory.
// The host picks the CTA width (KernelBuild.attentionThreads: a multiple of 64, ≤ ATT_MAX_THREADS):
// wide when there are few (token, head) rows, so a decode step spreads over more wavefronts.
// q [ntok, nhead, hd], caches [capacity, nkvhead, hd], out like q; query head h reads kv head
// h / (nhead / nkvhead). A query that sees no key gets zeros. hd ≤ ATT_MAX_D.
// `seqkv` (nullable): several sequences' queries in one launch (batched decode) — token t reads the
// caches at addresses seqkv[2t] (K) and seqkv[2t + 1] (V) instead of kc / vc (write_kv's table).
#define ATT_MAX_THREADS 512
#define ATT_MAX_D 512
#define ATT_KEYS 8
#define ATT_MAX_PAIRS (ATT_MAX_D / 2 / 32)  // pairs per lane at wave32 (half that at wave64)
// Pair p (values 2p, 2p + 1; the second 0 past an odd hd) of an f16 row.
QK_DEVICE void att_pair(const u16* __restrict__ r, s64 p, s64 hd, float& a, float& b) {
  if ((hd & 1) == 0) {  // rows start 4-byte aligned: one 32-bit load
    const u32 v = *(const u32*)(r + 2 * p);
    a = half_to_float(v & 0xffffu);
    b = half_to_float(v >> 16);
  } else {
    a = half_to_float(r[2 * p]);
    b = 2 * p + 1 < hd ? half_to_float(r[2 * p + 1]) : 0.0f;
  }
}
// Rows of one cache head for the attention body: pair p of key j (att_pair's contract).
struct att_rows_f16 {
  const u16* base;  // the head's row at position 0
  s64 stride, hd;   // elements between positions; values per row
  __device__ __forceinline__ void pair(s64 j, s64 p, float& a, float& b) const { att_pair(base + j * stride, p, hd, a, b); }
};
// GGML type ids of the KV cache types (GGMLType raw values).
#define KV_F16 1
#define KV_Q4_0 2
#define KV_Q8_0 8
#define KV_BF16 30
// Rows of any cache type, read in place: bf16 pairs, or values 2p, 2p + 1 of a q8_0 / q4_0 block (hd a
// multiple of 32, so a pair never straddles blocks). Dequantized as dequantize_row_* computes them.
struct att_rows_typed {
  const u8* base;    // the head's row at position 0
  s64 stride, hd;    // bytes between positions; values per row
  s32 type;          // KV_*
  __device__ __forceinline__ void pair(s64 j, s64 p, float& a, float& b) const {
    const u8* r = base + j * stride;
    if (type == KV_F16 || type == KV_BF16) {
      const u16* h = (const u16*)r;
      const u32 v0 = h[2 * p], v1 = 2 * p + 1 < hd ? h[2 * p + 1] : 0u;
      a = type == KV_F16 ? half_to_float(v0) : bf2f(v0);
      b = type == KV_F16 ? half_to_float(v1) : bf2f(v1);
    } else if (type == KV_Q8_0) {
      const u8* x = r + (2 * p / 32) * 34;
      const int e = (int)(2 * p % 32);
      const float d = half_to_float(rd16(x));
      a = (float)(s8)x[2 + e] * d;
      b = (float)(s8)x[3 + e] * d;
    } else {  // KV_Q4_0: values e < 16 in the low nibbles of qs[e], the rest in the high ones
      const u8* x = r + (2 * p / 32) * 18;
      const int e = (int)(2 * p % 32), k = e & 15, sh = e < 16 ? 0 : 4;
      const float d = half_to_float(rd16(x));
      a = (float)(((x[2 + k] >> sh) & 0xf) - 8) * d;
      b = (float)(((x[3 + k] >> sh) & 0xf) - 8) * d;
    }
  }
};
// Bytes of one row of hd values of a KV cache type.
QK_DEVICE s64 kv_row_bytes(s32 type, s64 hd) {
  return type == KV_Q8_0 ? hd / 32 * 34 : type == KV_Q4_0 ? hd / 32 * 18 : 2 * hd;
}
template <class KR, class VR>
QK_DEVICE void attention_rows(
  const float* __restrict__ q, KR kr_, VR vr_, const s32* __restrict__ pos, float* __restrict__ out, s64 nhead,
  s64 hd, s64 nkv, float scale, float cap, s32 causal, s32 window, u8* __restrict__ q8, const float* __restrict__ sinks);
QK_KERNEL void __launch_bounds__(ATT_MAX_THREADS) attention_f16(
  const float* __restrict__ q, const u16* __restrict__ kc, const u16* __restrict__ vc, const s32* __restrict__ pos,
  float* __restrict__ out, s64 nhead, s64 nkvhead, s64 hd, s64 nkv, float scale, float cap, s32 causal, s32 window,
  u8* __restrict__ q8, const u64* __restrict__ seqkv, const float* __restrict__ sinks) { qk_grid_dependency_sync();
  const s64 kvh = ((s64)blockIdx.x % nhead) / (nhead / nkvhead);
  const s64 stride = nkvhead * hd;
  if (seqkv) {
    const s64 token = (s64)blockIdx.x / nhead;
    kc = (const u16*)seqkv[2 * token];
    vc = (const u16*)seqkv[2 * token + 1];
  }
  attention_rows(q, att_rows_f16{kc + kvh * hd, stride, hd}, att_rows_f16{vc + kvh * hd, stride, hd}, pos, out, nhead,
                 hd, nkv, scale, cap, causal, window, q8, sinks);
}
// The same over caches of any KVCacheType (ktype / vtype: KV_*), for every batch size (the tile kernels
// read f16 only). attention_kv_seq takes the per-token cache table (`seqkv`, never null) as a kernel of
// its own: the check in attention_kv itself costs it its last register (spills at sm_90, 512 threads).
QK_DEVICE void attention_kv_heads(
  const float* __restrict__ q, const u8* __restrict__ kc, const u8* __restrict__ vc, const s32* __restrict__ pos,
  float* __restrict__ out, s64 nhead, s64 nkvhead, s64 hd, s64 nkv, float scale, float cap, s32 causal, s32 window,
  u8* __restrict__ q8, s32 ktype, s32 vtype, const float* __restrict__ sinks) {
  const s64 kvh = ((s64)blockIdx.x % nhead) / (nhead / nkvhead);
  const s64 kb = kv_row_bytes(ktype, hd), vb = kv_row_bytes(vtype, hd);
  attention_rows(q, att_rows_typed{kc + kvh * kb, nkvhead * kb, hd, ktype},
                 att_rows_typed{vc + kvh * vb, nkvhead * vb, hd, vtype}, pos, out, nhead, hd, nkv, scale, cap, causal,
                 window, q8, sinks);
}
QK_KERNEL void __launch_bounds__(ATT_MAX_THREADS) attention_kv(
  const float* __restrict__ q, const u8* __restrict__ kc, const u8* __restrict__ vc, const s32* __restrict__ pos,
  float* __restrict__ out, s64 nhead, s64 nkvhead, s64 hd, s64 nkv, float scale, float cap, s32 causal, s32 window,
  u8* __restrict__ q8, s32 ktype, s32 vtype, const float* __restrict__ sinks) { qk_grid_dependency_sync();
  attention_kv_heads(q, kc, vc, pos, out, nhead, nkvhead, hd, nkv, scale, cap, causal, window, q8, ktype, vtype, sinks);
}
QK_KERNEL void __launch_bounds__(ATT_MAX_THREADS) attention_kv_seq(
  const float* __restrict__ q, const s32* __restrict__ pos, float* __restrict__ out, s64 nhead, s64 nkvhead, s64 hd,
  s64 nkv, float scale, float cap, s32 causal, s32 window, u8* __restrict__ q8, s32 ktype, s32 vtype,
  const u64* __restrict__ seqkv, const float* __restrict__ sinks) { qk_grid_dependency_sync();
  const s64 token = (s64)blockIdx.x / nhead;
  attention_kv_heads(q, (const u8*)seqkv[2 * token], (const u8*)seqkv[2 * token + 1], pos, out, nhead, nkvhead, hd,
                     nkv, scale, cap, causal, window, q8, ktype, vtype, sinks);
}
// One CTA per (token, head); kr_ / vr_: that head's K and V rows. sinks (nullable, [nhead]): gpt-oss's
// sink logit per query head, one more term exp(sink − M) of the softmax denominator that adds no value
// (ggml's soft_max / flash_attn_ext with sinks); a query that sees no key still gets zeros (the CPU's
// AttentionLogits.normalizer).
template <class KR, class VR>
QK_DEVICE void attention_rows(
  const float* __restrict__ q, KR kr_, VR vr_, const s32* __restrict__ pos, float* __restrict__ out, s64 nhead,
  s64 hd, s64 nkv, float scale, float cap, s32 causal, s32 window, u8* __restrict__ q8, const float* __restrict__ sinks) {
  __shared__ float wm[ATT_MAX_THREADS / 32], wl[ATT_MAX_THREADS / 32];
  __shared__ float wacc[ATT_MAX_THREADS / 32][ATT_MAX_D];
  const int lane = threadIdx.x % QK_WARP_SIZE, w = threadIdx.x / QK_WARP_SIZE;
  const int nw = blockDim.x / QK_WARP_SIZE;
  const s64 token = (s64)blockIdx.x / nhead;
  const s64 npairs = (hd + 1) / 2;
  const float* qr = q + (s64)blockIdx.x * hd;
  float q0[ATT_MAX_PAIRS], q1[ATT_MAX_PAIRS], a0[ATT_MAX_PAIRS], a1[ATT_MAX_PAIRS];
#pragma unroll
  for (int i = 0; i < ATT_MAX_PAIRS; ++i) {
    const s64 p = lane + (s64)i * QK_WARP_SIZE;
    q0[i] = p < npairs ? qr[2 * p] : 0.0f;
    q1[i] = p < npairs && 2 * p + 1 < hd ? qr[2 * p + 1] : 0.0f;
    a0[i] = 0.0f;
    a1[i] = 0.0f;
  }
  s64 lo, hi;
  visible_keys(pos[token], nkv, causal, window, lo, hi);
  // The head's sink, read before the key loop: no pointer stays live through it (register pressure).
  __shared__ float head_sink;
  if (threadIdx.x == 0) head_sink = sinks ? sinks[(s64)blockIdx.x % nhead] : QK_NEG_INF;
  float m = QK_NEG_INF, l = 0.0f;
  for (s64 j0 = lo + (s64)w * ATT_KEYS; j0 < hi; j0 += (s64)nw * ATT_KEYS) {
    // Scores of the tile; keys past hi read the last visible row and get weight 0.
    float s[ATT_KEYS];
#pragma unroll
    for (int c = 0; c < ATT_KEYS; ++c) {
      const s64 kj = j0 + c < hi ? j0 + c : hi - 1;
      float dot = 0.0f;
#pragma unroll
      for (int i = 0; i < ATT_MAX_PAIRS; ++i) {
        const s64 p = lane + (s64)i * QK_WARP_SIZE;
        if (p < npairs) {
          float k0, k1;
          kr_.pair(kj, p, k0, k1);
          dot += q0[i] * k0 + q1[i] * k1;
        }
      }
      s[c] = dot;
    }
    float mt = m;
#pragma unroll
    for (int c = 0; c < ATT_KEYS; ++c) {
      s[c] = j0 + c < hi ? attn_logit(warp_reduce_sum(s[c]), scale, cap) : QK_NEG_INF;
      mt = fmaxf(mt, s[c]);
    }
    const float corr = expf(m - mt);  // 0 on the first tile (m = -inf)
    l *= corr;
#pragma unroll
    for (int i = 0; i < ATT_MAX_PAIRS; ++i) {
      a0[i] *= corr;
      a1[i] *= corr;
    }
#pragma unroll
    for (int c = 0; c < ATT_KEYS; ++c) {
      const float e = expf(s[c] - mt);  // 0 past hi
      l += e;
      const s64 vj = j0 + c < hi ? j0 + c : hi - 1;
#pragma unroll
      for (int i = 0; i < ATT_MAX_PAIRS; ++i) {
        const s64 p = lane + (s64)i * QK_WARP_SIZE;
        if (p < npairs) {
          float v0, v1;
          vr_.pair(vj, p, v0, v1);
          a0[i] += e * v0;
          a1[i] += e * v1;
        }
      }
    }
    m = mt;
  }
  // Merge the wavefronts: o = Σ_w acc_w·exp(m_w − M) / Σ_w l_w·exp(m_w − M), M = max_w m_w.
  if (lane == 0) {
    wm[w] = m;
    wl[w] = l;
  }
#pragma unroll
  for (int i = 0; i < ATT_MAX_PAIRS; ++i) {
    const s64 p = lane + (s64)i * QK_WARP_SIZE;
    if (p < npairs) {
      wacc[w][2 * p] = a0[i];
      wacc[w][2 * p + 1] = a1[i];
    }
  }
  __syncthreads();
  // The first wavefront turns the (m_w, l_w) into the factors exp(m_w − M) / Σ once (lane w: wavefront w;
  // nw ≤ 16 lanes), instead of every output thread recomputing them.
  __shared__ float wf[ATT_MAX_THREADS / 32];
  if (w == 0) {
    const float mk = lane < nw ? wm[lane] : QK_NEG_INF;
    const float mw = warp_reduce_max(mk);
    // With a sink: M = max(max_w m_w, sink), and exp(sink − M) joins the denominator.
    const float sink = mw > QK_NEG_INF ? head_sink : QK_NEG_INF;
    const float mm = fmaxf(mw, sink);
    const float f = lane < nw && mw > QK_NEG_INF ? expf(mk - mm) : 0.0f;
    float lsum = warp_reduce_sum(lane < nw ? wl[lane] * f : 0.0f);
    if (sink > QK_NEG_INF) lsum += expf(sink - mm);
    if (lane < nw) wf[lane] = lsum > 0.0f ? f / lsum : 0.0f;
  }
  __syncthreads();
  float* o = out + (s64)blockIdx.x * hd;
  for (s64 d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int k = 0; k < nw; ++k) acc += wacc[k][d] * wf[k];
    o[d] = acc;
    // The row as the next matmul's q8_1 input too (the plan's fusion; hd a multiple of 32, so the 32
    // lanes of a block are in the loop together).
    if (q8) store_q8_1(acc, (s64)blockIdx.x * hd + d, q8);
  }
}

// ---- Activations and arithmetic, element-wise over n (out may alias an input). qk_silu, qk_gelu:
// common.cuh.
QK_KERNEL void __launch_bounds__(256) silu_f32(const float* x, float* y, s64 n) { qk_grid_dependency_sync(); QK_FOR_EACH(i, n) y[i] = qk_silu(x[i]); }
QK_KERNEL void __launch_bounds__(256) gelu_f32(const float* x, float* y, s64 n) { qk_grid_dependency_sync(); QK_FOR_EACH(i, n) y[i] = qk_gelu(x[i]); }
QK_KERNEL void __launch_bounds__(256) swiglu_f32(const float* g, const float* u, float* y, s64 n) { qk_grid_dependency_sync();
  QK_FOR_EACH(i, n) y[i] = qk_silu(g[i]) * u[i];
}
QK_KERNEL void __launch_bounds__(256) geglu_f32(const float* g, const float* u, float* y, s64 n) { qk_grid_dependency_sync();
  QK_FOR_EACH(i, n) y[i] = qk_gelu(g[i]) * u[i];
}
// gpt-oss's activation, ggml's swiglu_oai: min(g, limit) · σ(alpha · min(g, limit)) · (clamp(u, ±limit) + 1).
QK_KERNEL void __launch_bounds__(256)
  swiglu_oai_f32(const float* g, const float* u, float* y, s64 n, float alpha, float limit) { qk_grid_dependency_sync();
  QK_FOR_EACH(i, n) {
    const float x = fminf(g[i], limit), v = fminf(fmaxf(u[i], -limit), limit);
    y[i] = x / (1.0f + expf(alpha * -x)) * (v + 1.0f);
  }
}
// ggml's add_id: x [pairs, n] plus row ids[p] of bias [experts, n] (gpt-oss's per-expert biases); an id
// outside the experts makes its row NaN (as the expert matmuls do). y may be x.
QK_KERNEL void __launch_bounds__(256) add_id_f32(
  const float* x, const float* __restrict__ bias, const s32* __restrict__ ids, float* y, s64 n, s64 pairs,
  s64 experts) { qk_grid_dependency_sync();
  QK_FOR_EACH(i, pairs * n) {
    const s32 e = ids[i / n];
    y[i] = e >= 0 && e < experts ? x[i] + bias[(s64)e * n + i % n] : qk_int_as_float(0x7fc00000u);
  }
}
// b has nb elements: nb == n, or one row broadcast over the rows of a (nb divides n).
QK_KERNEL void __launch_bounds__(256) add_f32(const float* a, const float* b, float* y, s64 n, s64 nb) { qk_grid_dependency_sync();
  QK_FOR_EACH(i, n) y[i] = a[i] + b[i % nb];
}
QK_KERNEL void __launch_bounds__(256) mul_f32(const float* a, const float* b, float* y, s64 n, s64 nb) { qk_grid_dependency_sync();
  QK_FOR_EACH(i, n) y[i] = a[i] * b[i % nb];
}
QK_KERNEL void __launch_bounds__(256) scale_f32(const float* x, float* y, s64 n, float f) { qk_grid_dependency_sync();
  QK_FOR_EACH(i, n) y[i] = x[i] * f;
}
// Soft-capping cap · tanh(x · (1/cap)) (gemma2's final logits), in ggml's order: scale, tanh, scale.
QK_KERNEL void __launch_bounds__(256) softcap_f32(const float* x, float* y, s64 n, float cap) { qk_grid_dependency_sync();
  const float inverse = 1.0f / cap;
  QK_FOR_EACH(i, n) y[i] = tanhf(x[i] * inverse) * cap;
}

// ---- Walsh–Hadamard rotation (llama.cpp's rotation of q/k/v around quantized KV caches): each run of
// n values (a power of two ≤ HADAMARD_MAX) times the orthonormal Sylvester-order matrix — scaled by
// `scale` (1/√n) first, then butterflies (u, v) → (u + v, u − v) at strides 1, 2, 4, … in shared
// memory: the same operations per element as the CPU (CPUOps.hadamard, ggml's fwht), so the same bits.
// Grid: (min(runs, cap)) CTAs striding over the runs; block HADAMARD_THREADS. y may be x.
#define HADAMARD_MAX 1024
#define HADAMARD_THREADS 128
QK_KERNEL void __launch_bounds__(HADAMARD_THREADS)
  hadamard_f32(const float* x, float* y, s64 runs, int n, float scale) { qk_grid_dependency_sync();
  __shared__ float v[HADAMARD_MAX];
  for (s64 r = blockIdx.x; r < runs; r += gridDim.x) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) v[i] = qk_mul_rn(xr[i], scale);
    __syncthreads();
    for (int len = 1; len < n; len <<= 1) {
      for (int p = threadIdx.x; p < n / 2; p += blockDim.x) {
        const int i = (p / len) * 2 * len + p % len;
        const float a = v[i], b = v[i + len];
        v[i] = a + b;
        v[i + len] = a - b;
      }
      __syncthreads();
    }
    for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = v[i];
    __syncthreads();  // the next run overwrites v
  }
}

// ---- Row-wise argmax (greedy sampling on the device). The first index wins ties, as the host's argmax
// does; NaN never wins; a row with no number > -inf gives 0.
// (value, index) pairs: a beats b when larger, or equal with the smaller index.
QK_DEVICE void argmax_take(float& best, s32& bi, float v, s32 i) {
  if (v > best || (v == best && i < bi)) { best = v; bi = i; }
}
// The CTA's best pair, in thread 0 (blockDim.x a multiple of the wavefront, at most 1024).
QK_DEVICE void argmax_cta(float& best, s32& bi) {
  __shared__ float wv[1024 / 32];
  __shared__ s32 wi[1024 / 32];
#pragma unroll
  for (int offset = QK_WARP_SIZE / 2; offset > 0; offset >>= 1)
    argmax_take(best, bi, qk_shfl_xor(best, offset, QK_WARP_SIZE), qk_shfl_xor_int(bi, offset, QK_WARP_SIZE));
  const int lane = threadIdx.x % QK_WARP_SIZE, wid = threadIdx.x / QK_WARP_SIZE;
  if (lane == 0) { wv[wid] = best; wi[wid] = bi; }
  __syncthreads();
  if (threadIdx.x == 0)
    for (int w = 1; w < (int)(blockDim.x / QK_WARP_SIZE); ++w) argmax_take(best, bi, wv[w], wi[w]);
}
// Grid (parts, rows), block 256, n < 2^31. A decode step's logits row (262,144 for Gemma 3) is too
// long for one CTA at memory speed: each CTA scans a contiguous slice (16-byte loads when the row
// allows), writes its pair to part_v / part_i [rows, parts], and the CTA that finishes its row last
// (counters[row], which it resets to 0 for the next launch) reduces the row's pairs.
QK_KERNEL void __launch_bounds__(256) argmax_f32(
    const float* __restrict__ x, s32* __restrict__ out, s64 n, float* part_v, s32* part_i, u32* counters) { qk_grid_dependency_sync();
  __shared__ int last;
  const s64 row = blockIdx.y, parts = gridDim.x;
  const float* xr = x + row * n;
  const s64 chunk = ((n + parts - 1) / parts + 3) / 4 * 4;
  const s64 lo = blockIdx.x * chunk, hi = lo + chunk < n ? lo + chunk : n;
  float best = QK_NEG_INF;
  s32 bi = (s32)n;  // sentinel: larger than every index
  if (n % 4 == 0 && ((u64)x & 15) == 0) {
    // Threads take consecutive float4s; each one's indices increase, so the first index is kept.
    for (s64 j = lo + 4 * threadIdx.x; j < hi; j += 4 * blockDim.x) {
      const f32x4 v = f4_load(xr + j, 0);
      argmax_take(best, bi, v.x, (s32)j);
      argmax_take(best, bi, v.y, (s32)j + 1);
      argmax_take(best, bi, v.z, (s32)j + 2);
      argmax_take(best, bi, v.w, (s32)j + 3);
    }
  } else {
    for (s64 j = lo + threadIdx.x; j < hi; j += blockDim.x) argmax_take(best, bi, xr[j], (s32)j);
  }
  argmax_cta(best, bi);
  if (threadIdx.x == 0) {
    part_v[row * parts + blockIdx.x] = best;
    part_i[row * parts + blockIdx.x] = bi;
    __threadfence();  // the pair is visible device-wide before the count says so
    last = atomicAdd(&counters[row], 1u) == (u32)(parts - 1);
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  best = QK_NEG_INF;
  bi = (s32)n;
  for (s64 p = threadIdx.x; p < parts; p += blockDim.x) {
    // Volatile: the other CTAs' pairs, never a cached copy.
    argmax_take(best, bi, ((volatile float*)part_v)[row * parts + p], ((volatile s32*)part_i)[row * parts + p]);
  }
  argmax_cta(best, bi);
  if (threadIdx.x == 0) {
    out[row] = bi < (s32)n ? bi : 0;
    counters[row] = 0;
  }
}
