// Dense kernels, part 3: attention for many query tokens at once (a prompt), upstream's concept
// flash_attn_tile (ggml-cuda fattn-tile) in plain f32 FMAs — no matrix-core intrinsics, so one source
// serves every target and the CPU emulation. Same semantics as attention_f16 (dense_ops.cu, whose
// visible_keys and attn_logit it uses; this file sorts after it), which stays the kernel for decode
// and small batches: q [ntok, nhead, hd] f32, caches [capacity, nkvhead, hd] f16, out like q, query
// head h reads kv head h / (nhead / nkvhead), a query that sees no key gets zeros; sinks (nullable,
// [nhead]): gpt-oss's sink logit per query head in each denominator, as attention_f16 takes it.
//
// One CTA of FA_THREADS per (tile of BQ query rows, kv head). The rows of a kv head are its (token,
// query head) pairs, row = token · G + g for the G = nhead / nkvhead heads of its GQA group, so each
// K/V element the CTA stages serves all BQ rows, the group's heads included. The CTA walks the union
// of its rows' visible key ranges (positions need not be sorted or consecutive) in tiles of BK keys;
// each score is masked by its own row's range. Per key tile, through shared memory, all in f32:
//   1. S = Q·Kᵀ: each thread an SR × SK block of scores over every DS-th group of 4 dims (16-byte
//      shared loads), the DS partial sums of a score added by shuffles of width DS;
//   2. online softmax, FA_THREADS / BQ lanes per row (shuffles of that width): running max m and
//      sum l per row, the tile's probabilities P over S in place, the rescale factor per row;
//   3. O = O·corr + P·V: each thread PR consecutive rows × 4 consecutive dims of O in registers.
// The next tile's K and this tile's V are fetched from global memory into registers (f16 pairs)
// while the previous phase computes, and converted to f32 once, when staged.
// Geometry per head-dimension bound D: the flash_attn_tile_f16_d<D> kernels at the end; the host
// reads the same numbers from KernelBuild.attentionTiles (GPUDenseOps.swift).
#define FA_THREADS 256  // KernelBuild.attentionTileThreads

// 16 bytes of shared memory: one vector load or store.
struct alignas(16) fa_f4 {
  float x, y, z, w;
};

// Whether some row of the tile sees key j (only for tiles whose rows' ranges leave gaps).
QK_DEVICE bool fa_seen(s64 j, const s32* rlo, const s32* rhi, int rows) {
  for (int r = 0; r < rows; ++r) {
    if (rlo[r] <= j && j < rhi[r]) return true;
  }
  return false;
}

// Fetch keys [j0, j0 + BK) ∩ [.., hi) of one cache head (row stride `stride` elements) as f16 pairs:
// pair i = threadIdx.x + FA_THREADS·n is pair i % (D/2) of key i / (D/2), so a wavefront reads
// consecutive 4-byte words of a row. Pairs past hd or hi are 0; with `gaps`, so are the keys that no
// row sees, so a 0 probability never meets a stale non-finite value.
template <int D, int BK>
QK_DEVICE void fa_fetch(
  const u16* __restrict__ base, s64 j0, s64 hi, s64 stride, s64 hd, bool gaps, const s32* rlo, const s32* rhi,
  int rows, u32* pf) {
  constexpr int NPF = BK * (D / 2) / FA_THREADS;
#pragma unroll
  for (int n = 0; n < NPF; ++n) {
    const int i = threadIdx.x + FA_THREADS * n, j = i / (D / 2), p = i % (D / 2);
    const s64 key = j0 + j;
    u32 v = 0;
    if (key < hi && 2 * p < hd && (!gaps || fa_seen(key, rlo, rhi, rows))) {
      const u16* r = base + key * stride + 2 * p;
      if ((hd & 1) == 0) {
        v = *(const u32*)r;  // rows start 4-byte aligned (as att_pair)
      } else {
        v = (u32)r[0] | (2 * p + 1 < hd ? (u32)r[1] << 16 : 0u);
      }
    }
    pf[n] = v;
  }
}
// Stage fetched pairs as f32 rows of DP floats.
template <int D, int BK, int DP>
QK_DEVICE void fa_stage(const u32* pf, float* dst) {
  constexpr int NPF = BK * (D / 2) / FA_THREADS;
#pragma unroll
  for (int n = 0; n < NPF; ++n) {
    const int i = threadIdx.x + FA_THREADS * n, j = i / (D / 2), p = i % (D / 2);
    dst[j * DP + 2 * p] = half_to_float(pf[n] & 0xffffu);
    dst[j * DP + 2 * p + 1] = half_to_float(pf[n] >> 16);
  }
}

// Offset of row R (token R / G, head kvh·G + R % G) in q and out.
QK_DEVICE s64 fa_row_offset(s64 R, s64 G, s64 kvh, s64 nhead, s64 hd) {
  return ((R / G) * nhead + kvh * G + R % G) * hd;
}

// D: head-dimension bound (hd ≤ D, a multiple of 32); BQ rows and BK keys per tile; SR × SK scores
// per thread over every DS-th 4-dim group (BQ/SR · BK/SK · DS = FA_THREADS).
template <int D, int BQ, int BK, int SR, int SK, int DS>
QK_DEVICE void flash_attn_tile(
  const float* __restrict__ q, const u16* __restrict__ kc, const u16* __restrict__ vc, const s32* __restrict__ pos,
  float* __restrict__ out, s64 ntok, s64 nhead, s64 nkvhead, s64 hd, s64 nkv, float scale, float cap, s32 causal,
  s32 window, const float* __restrict__ sinks) {
  constexpr int T = FA_THREADS;
  // Rows of Q and K/V padded by DS 4-float groups: the 8 lanes of a 16-byte-load phase read 8
  // different rows (or one row's DS neighbouring groups) in distinct banks.
  constexpr int DP = D + 4 * DS, DP4 = DP / 4, D4 = D / 4;
  constexpr int SP = BQ + 4;  // scores are [BK][SP]: PR consecutive rows of a key are 16-byte loads
  constexpr int RG = BQ / SR, KG = BK / SK;
  static_assert(RG * KG * DS == T && RG * SR == BQ && KG * SK == BK, "score blocks must tile BQ × BK");
  constexpr int PG = T / D4, PR = BQ / PG;  // P·V: PG groups of PR rows × D4 groups of 4 dims
  static_assert(PG * D4 == T && PG * PR == BQ && PR % 4 == 0, "P·V blocks must tile BQ × D");
  constexpr int SMT = T / BQ;  // softmax lanes per row: a power of two ≤ 32 divides every wavefront
  static_assert(SMT * BQ == T && SMT <= 32 && DS <= 32, "softmax groups must fit a wavefront");
  constexpr int NPF = BK * (D / 2) / T;
  static_assert(NPF * T == BK * (D / 2), "staging must tile BK × D");

  __shared__ fa_f4 qs4[BQ * DP4];    // [BQ][DP] query rows, dims ≥ hd 0
  __shared__ fa_f4 kv4[BK * DP4];    // [BK][DP] the K tile, then the V tile
  __shared__ fa_f4 ss4[BK * SP / 4];  // [BK][SP] scores, then probabilities
  __shared__ float rcorr[BQ], rl[BQ];  // per row: this tile's rescale of O; the final sum
  __shared__ s32 rlo[BQ], rhi[BQ];     // per row: visible keys [lo, hi)
  __shared__ s32 gaps;
  float* qs = (float*)qs4;
  float* kvs = (float*)kv4;
  float* ss = (float*)ss4;

  const int t = threadIdx.x;
  const s64 G = nhead / nkvhead, kvh = blockIdx.y, nrows = ntok * G;
  const s64 row0 = ((s64)gridDim.x - 1 - blockIdx.x) * BQ;  // the last rows (most keys, in a prompt) start first
  const s64 kv_stride = nkvhead * hd;
  const u16* kh = kc + kvh * hd;
  const u16* vh = vc + kvh * hd;

  if (t < BQ) {
    s64 lo = 0, hi = 0;
    if (row0 + t < nrows) visible_keys(pos[(row0 + t) / G], nkv, causal, window, lo, hi);
    rlo[t] = (s32)lo;
    rhi[t] = (s32)hi;
  }
  if (t == 0) gaps = 0;
  for (int i = t; i < BQ * D; i += T) {
    const int r = i / D, d = i % D;
    const s64 R = row0 + r;
    qs[r * DP + d] = R < nrows && d < hd ? q[fa_row_offset(R, G, kvh, nhead, hd) + d] : 0.0f;
  }
  __syncthreads();
  // The CTA's keys: the union of its rows' ranges. It has a gap iff the end of some range (< thi)
  // lies in no other range.
  s64 tlo = nkv, thi = 0;
  for (int r = 0; r < BQ; ++r) {
    if (rlo[r] < rhi[r]) {
      tlo = rlo[r] < tlo ? rlo[r] : tlo;
      thi = rhi[r] > thi ? rhi[r] : thi;
    }
  }
  if (t < BQ && rlo[t] < rhi[t] && rhi[t] < thi) {
    bool covered = false;
    for (int u = 0; u < BQ; ++u) covered = covered || (rlo[u] <= rhi[t] && rhi[t] < rhi[u]);
    if (!covered) gaps = 1;
  }
  __syncthreads();
  const bool has_gaps = gaps != 0;

  // Phase coordinates: scores (rows rg + RG·i, keys kg + KG·c, dim groups ds + DS·n), softmax (row
  // sr, keys sl + SMT·c), P·V (rows pg·PR + i, dims 4·dg .. 4·dg + 3).
  const int ds = t % DS, kg = (t / DS) % KG, rg = t / (DS * KG);
  const int sr = t / SMT, sl = t % SMT;
  const int dg = t % D4, pg = t / D4;
  s32 mlo[SR], mhi[SR];
#pragma unroll
  for (int i = 0; i < SR; ++i) {
    mlo[i] = rlo[rg + RG * i];
    mhi[i] = rhi[rg + RG * i];
  }
  const int nd4 = (int)((hd + 3) / 4);
  const bool pv = 4 * dg < hd;  // this thread's dims hold output
  float m = QK_NEG_INF, l = 0.0f;  // softmax state of row sr (the same in its SMT lanes)
  float acc[PR][4];
#pragma unroll
  for (int i = 0; i < PR; ++i) {
#pragma unroll
    for (int c = 0; c < 4; ++c) acc[i][c] = 0.0f;
  }

  u32 pf[NPF];
  fa_fetch<D, BK>(kh, tlo, thi, kv_stride, hd, false, rlo, rhi, BQ, pf);
  for (s64 j0 = tlo; j0 < thi; j0 += BK) {
    fa_stage<D, BK, DP>(pf, kvs);  // K
    __syncthreads();
    fa_fetch<D, BK>(vh, j0, thi, kv_stride, hd, has_gaps, rlo, rhi, BQ, pf);

    // 1. Scores.
    float s[SR][SK];
#pragma unroll
    for (int i = 0; i < SR; ++i) {
#pragma unroll
      for (int c = 0; c < SK; ++c) s[i][c] = 0.0f;
    }
#pragma unroll 2
    for (int d4 = ds; d4 < nd4; d4 += DS) {
      fa_f4 a[SR], b[SK];
#pragma unroll
      for (int i = 0; i < SR; ++i) a[i] = qs4[(rg + RG * i) * DP4 + d4];
#pragma unroll
      for (int c = 0; c < SK; ++c) b[c] = kv4[(kg + KG * c) * DP4 + d4];
#pragma unroll
      for (int i = 0; i < SR; ++i) {
#pragma unroll
        for (int c = 0; c < SK; ++c) {
          s[i][c] += a[i].x * b[c].x;
          s[i][c] += a[i].y * b[c].y;
          s[i][c] += a[i].z * b[c].z;
          s[i][c] += a[i].w * b[c].w;
        }
      }
    }
#pragma unroll
    for (int i = 0; i < SR; ++i) {
#pragma unroll
      for (int c = 0; c < SK; ++c) {
        const float dot = group_reduce_sum(s[i][c], DS);  // every lane takes part (DS == 1: none)
        const s64 key = j0 + kg + KG * c;
        if ((i * SK + c) % DS == ds) {  // the DS lanes share the stores
          ss[(kg + KG * c) * SP + rg + RG * i] =
            key >= mlo[i] && key < mhi[i] ? attn_logit(dot, scale, cap) : QK_NEG_INF;
        }
      }
    }
    __syncthreads();
    fa_stage<D, BK, DP>(pf, kvs);  // V: every thread is done with K
    if (j0 + BK < thi) fa_fetch<D, BK>(kh, j0 + BK, thi, kv_stride, hd, false, rlo, rhi, BQ, pf);

    // 2. Online softmax of row sr.
    float mt = m;
    for (int c = sl; c < BK; c += SMT) mt = fmaxf(mt, ss[c * SP + sr]);
    mt = group_reduce_max(mt, SMT);
    const float corr = mt > QK_NEG_INF ? expf(m - mt) : 1.0f;  // 0 when m was -inf
    float ps = 0.0f;
    for (int c = sl; c < BK; c += SMT) {
      const float e = mt > QK_NEG_INF ? expf(ss[c * SP + sr] - mt) : 0.0f;  // 0 where masked
      ss[c * SP + sr] = e;
      ps += e;
    }
    ps = group_reduce_sum(ps, SMT);
    l = l * corr + ps;
    m = mt;
    if (sl == 0) rcorr[sr] = corr;
    __syncthreads();

    // 3. O = O·corr + P·V.
    if (pv) {
#pragma unroll
      for (int i = 0; i < PR; ++i) {
        const float f = rcorr[pg * PR + i];
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[i][c] *= f;
      }
#pragma unroll 4
      for (int j = 0; j < BK; ++j) {
        const fa_f4 v = kv4[j * DP4 + dg];
#pragma unroll
        for (int i4 = 0; i4 < PR / 4; ++i4) {
          const fa_f4 p = ss4[(j * SP + pg * PR) / 4 + i4];
          const float pr[4] = {p.x, p.y, p.z, p.w};
#pragma unroll
          for (int k = 0; k < 4; ++k) {
            acc[4 * i4 + k][0] += pr[k] * v.x;
            acc[4 * i4 + k][1] += pr[k] * v.y;
            acc[4 * i4 + k][2] += pr[k] * v.z;
            acc[4 * i4 + k][3] += pr[k] * v.w;
          }
        }
      }
    }
    __syncthreads();  // before the next tile overwrites kvs, ss and rcorr
  }
  if (sl == 0) {
    // gpt-oss's sink logit of the row's query head (sinks nullable): one more term exp(sink − m) of the
    // denominator, no value; a row that saw no key keeps l = 0 and gets zeros.
    const s64 R = row0 + sr;
    rl[sr] = sinks && l > 0.0f && R < nrows ? l + expf(sinks[kvh * G + R % G] - m) : l;
  }
  __syncthreads();
  if (!pv) return;
#pragma unroll
  for (int i = 0; i < PR; ++i) {
    const int r = pg * PR + i;
    const s64 R = row0 + r;
    if (R >= nrows) continue;
    const float inv = rl[r] > 0.0f ? 1.0f / rl[r] : 0.0f;
    float* o = out + fa_row_offset(R, G, kvh, nhead, hd);
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      if (4 * dg + c < hd) o[4 * dg + c] = acc[i][c] * inv;
    }
  }
}

// The variants, by head-dimension bound D (KernelBuild.attentionTiles lists D and BQ; keep them in
// step). Larger head dimensions (≤ ATT_MAX_D) stay on attention_f16: few models have them, and a
// 512-dim tile would hold so few rows that small prompts give too few CTAs. Static shared memory
// ≤ 48 KiB each: (BQ + BK)·(D + 4·DS)·4 + BK·(BQ + 4)·4 + 16·BQ + 4 bytes.
// Grid (ceil(ntok · nhead / nkvhead / BQ), nkvhead), block FA_THREADS.
#define FA_ARGS                                                                                               \
  const float *q, const u16 *kc, const u16 *vc, const s32 *pos, float *out, s64 ntok, s64 nhead, s64 nkvhead, \
    s64 hd, s64 nkv, float scale, float cap, s32 causal, s32 window, const float *sinks
#define FA_PASS q, kc, vc, pos, out, ntok, nhead, nkvhead, hd, nkv, scale, cap, causal, window, sinks
// Two CTAs a multiprocessor: on NVIDIA that caps a thread at 128 registers, which the d128 variant
// otherwise exceeds (then one CTA a multiprocessor: 15-25% slower on an H100). HIP reads the second
// number as waves per SIMD, a looser bound.
#define FA_MIN_CTAS 2
// D 64: 64 rows × 32 keys, 4 × 2 scores a thread (35.0 KiB).
QK_KERNEL void __launch_bounds__(FA_THREADS, FA_MIN_CTAS) flash_attn_tile_f16_d64(FA_ARGS) { qk_grid_dependency_sync();
  flash_attn_tile<64, 64, 32, 4, 2, 1>(FA_PASS);
}
// D 128: 32 rows × 32 keys, 4 × 2 scores over half the dims (39.0 KiB).
QK_KERNEL void __launch_bounds__(FA_THREADS, FA_MIN_CTAS) flash_attn_tile_f16_d128(FA_ARGS) { qk_grid_dependency_sync();
  flash_attn_tile<128, 32, 32, 4, 2, 2>(FA_PASS);
}
// D 256: 16 rows × 16 keys, 2 × 2 scores over a quarter of the dims (35.5 KiB). 16 rows, not 32: the
// models with this head size have few heads, and a prompt's CTAs must still fill the GPU.
QK_KERNEL void __launch_bounds__(FA_THREADS, FA_MIN_CTAS) flash_attn_tile_f16_d256(FA_ARGS) { qk_grid_dependency_sync();
  flash_attn_tile<256, 16, 16, 2, 2, 4>(FA_PASS);
}
