// ---- Sampling on the device: the chain of Sampler.swift (QuantaLM) for the options a device runs —
// repeat / frequency / presence penalties → top-k → top-p → min-p → temperature → draw, or greedy
// (temperature ≤ 0: the largest logit after the penalties) — one token id per row, from one uniform
// the host drew with the sampler's own generator. Logit bias, DRY, XTC, typical-p and grammars stay
// on the host, as does a chain with no truncation at all (its draw runs over the whole vocabulary
// in id order).
//
// Each row has a record of SAMPLE_RECORD Int32 words in the plan's inputs (DeviceSampling in
// QuantaCore owns the layout; a test checks these numbers against it): the header below, then the
// penalty window's token ids (the last accepted tokens, at most SAMPLE_WINDOW).
//
// The candidates are ordered as the host orders them: larger logit first, the lower id first among
// equal logits (a 64-bit key: the logit's bits made monotonic, then the complemented id, so no two
// keys are equal). Grid (parts, rows), SAMPLE_THREADS threads: each CTA keys its slice of
// SAMPLE_SLICE logits in shared memory (penalties applied to the window's tokens of the slice),
// sorts it, and writes its best `kc` keys and its slice's max and Σ exp(x − max) to the scratch; the
// CTA that finishes the row last merges the parts' keys (SAMPLE_SLICE at a time) into the row's best
// `kc` and runs the chain over them. kc: 1 when greedy, top-k, else SAMPLE_KMAX (the top-p / min-p
// prefix is found within the best SAMPLE_KMAX; when it is longer the row's output is −1 and the
// host samples that row from the logits with the same uniform).
//
// Floats: the candidates' logits, penalties, temperature and the min-p floor are the host's float
// operations, uncontracted (qk_mul_rn / qk_add_rn / qk_div_rn), so the candidate set and order are
// the host's bit for bit; the draw's weights use the host's exp (exp8's polynomial for the first
// count − count % 8 candidates, expf for the rest). Sums are doubles in another order than the host's
// (and expf / exp are the vendor's, within an ulp or two of the C library's), so a cumulative
// boundary — the draw's `u · total` or top-p's threshold — can sit ~1e-7 (relative) away from the
// host's: the device and the host pick the same token unless the uniform (or top-p) lies that close
// to a boundary.
#define SAMPLE_THREADS 256
#define SAMPLE_SLICE 4096
#define SAMPLE_KMAX 256
#define SAMPLE_WINDOW 256
#define SAMPLE_HEADER 12
#define SAMPLE_RECORD (SAMPLE_HEADER + SAMPLE_WINDOW)
#define SAMPLE_MAX_PARTS 256
// Header words: top-k (Int32; ≤ 0 or ≥ n: off), then floats' bits: top-p (≥ 1: off), min-p (≤ 0:
// off), log(min-p) (the host's logf), temperature (≤ 0: greedy), repeat, frequency and presence
// penalties; the window's token count (Int32); the uniform (a double, low word first); one spare.
#define SP_TOP_K 0
#define SP_TOP_P 1
#define SP_MIN_P 2
#define SP_LOG_MIN_P 3
#define SP_TEMPERATURE 4
#define SP_REPEAT 5
#define SP_FREQUENCY 6
#define SP_PRESENCE 7
#define SP_WINDOW_COUNT 8
#define SP_UNIFORM 9

// Order-preserving key of (value, id): larger value first, then the lower id. NaN counts as −inf.
QK_DEVICE u64 sample_key(float v, s64 id) {
  if (v != v) v = QK_NEG_INF;
  const u32 b = qk_float_as_uint(v);
  const u32 m = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return ((u64)m << 32) | (u64)(~(u32)id);
}
QK_DEVICE float sample_key_value(u64 k) {
  const u32 m = (u32)(k >> 32);
  return qk_int_as_float((m & 0x80000000u) ? (m & 0x7fffffffu) : ~m);
}
QK_DEVICE s32 sample_key_id(u64 k) { return (s32)(~(u32)k); }

// The host's exp8 (LogitScan.swift, Cephes' expf) for one lane, operation for operation.
QK_DEVICE float sample_exp8(float input) {
  float x = input < -87.3f ? -87.3f : (input > 88.7f ? 88.7f : input);
  const float magic = 12582912.0f;
  const float shifted = qk_add_rn(qk_mul_rn(x, 1.44269504f), magic);
  const float n = qk_add_rn(shifted, -magic);
  x = qk_add_rn(qk_add_rn(x, -qk_mul_rn(n, 0.693359375f)), qk_mul_rn(n, 2.1219444e-4f));
  float y = 1.98756915e-4f;
  y = qk_add_rn(qk_mul_rn(y, x), 1.39819995e-3f);
  y = qk_add_rn(qk_mul_rn(y, x), 8.3334519e-3f);
  y = qk_add_rn(qk_mul_rn(y, x), 4.16665796e-2f);
  y = qk_add_rn(qk_mul_rn(y, x), 0.166666655f);
  y = qk_add_rn(qk_mul_rn(y, x), 0.50000001f);
  y = qk_add_rn(qk_add_rn(qk_mul_rn(qk_mul_rn(y, x), x), x), 1.0f);
  const s32 bits = (s32)qk_float_as_uint(shifted) - (s32)qk_float_as_uint(magic);
  const float scale = qk_int_as_float((u32)((bits + 127) << 23));
  const float r = qk_mul_rn(y, scale);
  return input < -87.3f ? 0.0f : r;
}
// Term i of LogitScan.expSum over `count` values: eight-lane exp8 for the whole groups of eight, expf
// for the tail.
QK_DEVICE float sample_exp_term(float v, s64 i, s64 count) { return i < count - count % 8 ? sample_exp8(v) : expf(v); }

// Sorts keys[0..len) largest first (len a power of two; the CTA's threads, bitonic).
QK_DEVICE void sample_sort(u64* keys, int len) {
  for (int k = 2; k <= len; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < len; i += blockDim.x) {
        const int p = i ^ j;
        if (p > i) {
          const u64 a = keys[i], b = keys[p];
          if (((i & k) == 0) ? a < b : a > b) { keys[i] = b; keys[p] = a; }
        }
      }
      __syncthreads();
    }
  }
}
QK_DEVICE int sample_pow2(int n) {
  int p = 2;
  while (p < n) p <<= 1;
  return p;
}

// The penalized logit of a token that occurs `count` times in the window (Sampler.adjust).
QK_DEVICE float sample_penalize(float l, int count, const s32* rec) {
  const float repeat = qk_int_as_float((u32)rec[SP_REPEAT]);
  l = l <= 0.0f ? qk_mul_rn(l, repeat) : qk_div_rn(l, repeat);
  l = qk_add_rn(l, -qk_mul_rn((float)count, qk_int_as_float((u32)rec[SP_FREQUENCY])));
  return qk_add_rn(l, -qk_int_as_float((u32)rec[SP_PRESENCE]));
}

// Scratch of one row: `parts` (max, count, Σ exp) and `parts` · kc keys; the counter apart.
struct sample_part {
  float max;
  s32 count;
  double sum;
};

QK_KERNEL void __launch_bounds__(SAMPLE_THREADS) sample_f32(
    const float* __restrict__ x, const s32* __restrict__ records, s32* __restrict__ out, s64 n,
    sample_part* part_stats, u64* part_keys, u32* counters) { qk_grid_dependency_sync();
  __shared__ u64 keys[SAMPLE_SLICE];
  __shared__ double red[SAMPLE_THREADS];
  __shared__ float redf[SAMPLE_THREADS];
  __shared__ int last;
  const s64 row = blockIdx.y, parts = gridDim.x;
  const float* xr = x + row * n;
  const s32* rec = records + row * SAMPLE_RECORD;
  const s32* window = rec + SAMPLE_HEADER;
  const int top_k = rec[SP_TOP_K];
  const float top_p = qk_int_as_float((u32)rec[SP_TOP_P]);
  const float min_p = qk_int_as_float((u32)rec[SP_MIN_P]);
  const float temperature = qk_int_as_float((u32)rec[SP_TEMPERATURE]);
  const bool by_top_k = top_k > 0 && (s64)top_k < n;
  const int kc = temperature <= 0.0f ? 1 : (by_top_k ? (top_k < SAMPLE_KMAX ? top_k : SAMPLE_KMAX) : SAMPLE_KMAX);
  const bool need_sum = !by_top_k && temperature > 0.0f && top_p < 1.0f;
  int wcount = rec[SP_WINDOW_COUNT];
  wcount = wcount < 0 ? 0 : (wcount > SAMPLE_WINDOW ? SAMPLE_WINDOW : wcount);

  // 1. This CTA's slice as keys, with the window's penalties.
  const s64 lo = (s64)blockIdx.x * SAMPLE_SLICE;
  const int len = (int)(n - lo < SAMPLE_SLICE ? n - lo : SAMPLE_SLICE);
  const int len2 = sample_pow2(len);
  for (int i = threadIdx.x; i < len2; i += blockDim.x) keys[i] = i < len ? sample_key(xr[lo + i], lo + i) : 0ull;
  __syncthreads();
  for (int w = threadIdx.x; w < wcount; w += blockDim.x) {
    const s32 t = window[w];
    if (t < lo || t >= lo + len) continue;
    int count = 0;
    bool first = true;
    for (int j = 0; j < wcount; ++j)
      if (window[j] == t) {
        if (j < w) first = false;
        count++;
      }
    // Each distinct token once: by the thread of its first occurrence.
    if (first) keys[t - lo] = sample_key(sample_penalize(xr[t], count, rec), t);
  }
  __syncthreads();
  // 2. The slice's max and Σ exp(x − max) (top-p's normalizer without top-k).
  float m = QK_NEG_INF;
  for (int i = threadIdx.x; i < len; i += blockDim.x) m = fmaxf(m, sample_key_value(keys[i]));
  redf[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) redf[threadIdx.x] = fmaxf(redf[threadIdx.x], redf[threadIdx.x + s]);
    __syncthreads();
  }
  m = redf[0];
  if (need_sum) {
    double sum = 0;
    if (m > QK_NEG_INF)
    for (int i = threadIdx.x; i < len; i += blockDim.x)
      sum += (double)sample_exp_term(qk_add_rn(sample_key_value(keys[i]), -m), lo + i, n);
    red[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if ((int)threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
      __syncthreads();
    }
  }
  // 3. The slice's best kc keys.
  sample_sort(keys, len2);
  const int kept = len < kc ? len : kc;
  u64* mine = part_keys + (row * parts + blockIdx.x) * SAMPLE_KMAX;
  for (int i = threadIdx.x; i < kept; i += blockDim.x) mine[i] = keys[i];
  // Every thread's keys are visible device-wide before thread 0 counts this CTA in.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    sample_part st;
    st.max = m;
    st.count = kept;
    st.sum = need_sum ? red[0] : 0.0;
    part_stats[row * parts + blockIdx.x] = st;
    __threadfence();  // the stats too
    last = atomicAdd(&counters[row], 1u) == (u32)(parts - 1);
  }
  __syncthreads();
  if (!last) return;
  __threadfence();

  // 4. The last CTA: the row's best kc keys, merged SAMPLE_SLICE at a time (every part but the last
  // wrote kc keys, the last min(kc, its length)).
  const s64 total = (parts - 1) * (s64)kc + ((volatile sample_part*)part_stats)[row * parts + parts - 1].count;
  int have = 0;
  for (s64 f = 0; f < total;) {
    const int take = (int)(total - f < SAMPLE_SLICE - have ? total - f : SAMPLE_SLICE - have);
    const int len_all = sample_pow2(have + take);
    for (int i = threadIdx.x; i < len_all - have; i += blockDim.x) {
      u64 k = 0ull;
      if (i < take) {
        const s64 g = f + i;
        k = ((volatile u64*)part_keys)[(row * parts + g / kc) * SAMPLE_KMAX + g % kc];
      }
      keys[have + i] = k;
    }
    __syncthreads();
    sample_sort(keys, len_all);
    f += take;
    have = have + take < kc ? have + take : kc;
  }
  if (threadIdx.x != 0) return;
  counters[row] = 0;
  const int count = have;
  // Greedy: the largest logit after the penalties, the lower id on ties.
  if (temperature <= 0.0f) {
    out[row] = sample_key_id(keys[0]);
    return;
  }
  const float m0 = sample_key_value(keys[0]);
  int keep = count;
  if (by_top_k) {
    if (top_k > SAMPLE_KMAX) {
      out[row] = -1;
      return;
    }
    // Sampler.topP over the k candidates: their softmax in double, summed in order.
    if (top_p < 1.0f) {
      double s = 0;
      for (int i = 0; i < count; ++i) s += (double)expf(qk_add_rn(sample_key_value(keys[i]), -m0));
      double cumulative = 0;
      for (int i = 0; i < count; ++i) {
        cumulative += (double)expf(qk_add_rn(sample_key_value(keys[i]), -m0)) / s;
        if (cumulative >= (double)top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    // Sampler.minP: the candidates at or above max + log(min-p), a prefix (sorted); at least one.
    if (min_p > 0.0f) {
      const float floor = qk_add_rn(m0, qk_int_as_float((u32)rec[SP_LOG_MIN_P]));
      int k = 0;
      while (k < keep && sample_key_value(keys[k]) >= floor) k++;
      keep = k > 0 ? k : 1;
    }
  } else {
    // Sampler.selectPrefix over the whole row: the sorted tokens at or above max(min-p's floor,
    // max − 256), cut where their mass over the row's normalizer reaches top-p.
    if (!(top_p < 1.0f) && !(min_p > 0.0f)) {
      out[row] = -1;  // no truncation: the host draws over the whole row
      return;
    }
    double z = 1;
    if (top_p < 1.0f) {
      z = 0;
      for (s64 p = 0; p < parts; ++p) {
        // Volatile: the other CTAs' stats, never a cached copy.
        volatile sample_part* st = part_stats + row * parts + p;
        const float pm = st->max;
        if (st->count > 0 && pm > QK_NEG_INF) z += st->sum * exp((double)pm - (double)m0);
      }
    }
    const float min_floor = min_p > 0.0f ? qk_add_rn(m0, qk_int_as_float((u32)rec[SP_LOG_MIN_P])) : QK_NEG_INF;
    const float floor = fmaxf(min_floor, qk_add_rn(m0, -256.0f));
    double cumulative = 0;
    bool decided = false;
    keep = 0;
    for (int i = 0; i < count; ++i) {
      const float v = sample_key_value(keys[i]);
      if (!(v >= floor)) {
        decided = true;
        break;
      }
      keep = i + 1;
      if (top_p < 1.0f) {
        cumulative += exp((double)qk_add_rn(v, -m0)) / z;
        if (cumulative >= (double)top_p) {
          decided = true;
          break;
        }
      }
    }
    // Every token of the row was a candidate, or the prefix ended inside the candidates; else it
    // may go on past them: the host decides this row.
    if (!decided && (s64)count < n) {
      out[row] = -1;
      return;
    }
    if (keep == 0) keep = 1;  // a min-p above 1 keeps nothing by the rule: the most likely token
  }
  // Temperature, then the draw: weights exp(l/T − max), r = u · Σ, the first candidate whose
  // cumulative weight passes r.
  const bool scaled = temperature != 1.0f;
  const float mt = scaled ? qk_div_rn(m0, temperature) : m0;
  double totalw = 0;
  for (int i = 0; i < keep; ++i) {
    float l = sample_key_value(keys[i]);
    if (scaled) l = qk_div_rn(l, temperature);
    totalw += (double)sample_exp_term(qk_add_rn(l, -mt), i, keep);
  }
  const u32 ulo = (u32)rec[SP_UNIFORM], uhi = (u32)rec[SP_UNIFORM + 1];
  const double u = qk_u64_as_double(((u64)uhi << 32) | ulo);
  const double r = u * totalw;
  double cumulative = 0;
  s32 pick = sample_key_id(keys[keep - 1]);
  for (int i = 0; i < keep; ++i) {
    float l = sample_key_value(keys[i]);
    if (scaled) l = qk_div_rn(l, temperature);
    cumulative += (double)sample_exp_term(qk_add_rn(l, -mt), i, keep);
    if (r < cumulative) {
      pick = sample_key_id(keys[i]);
      break;
    }
  }
  out[row] = pick;
}
