// Runs sample_f32 (sample.cu) on the CPU emulation (emu_prelude.h) against a C++ port of the host's
// sampler (Sources/QuantaLM/Sampling/Sampler.swift: penalties → top-k → top-p → min-p → temperature
// → draw, with LogitScan's exp8 and sums), for many logit rows (sharp, flat, tied), vocabulary sizes
// (ragged ones, one CTA to 64 CTAs per row), option sets and uniforms. The device must pick the
// host's token, or say −1 exactly where the host's candidate prefix is longer than SAMPLE_KMAX (or
// the chain has no truncation); a different pick passes only when the uniform or top-p lay within
// 1e-6 (relative) of a cumulative boundary of the host's (sums in another order: sample.cu's note).
// Built and run by scripts/gpu_kernels_emulate.sh for QK_WARP_SIZE 32 and 64.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include "emu_prelude.h"
#include "kernels_common.inc"
static int failures = 0;
static qk_dim3 d3(unsigned x, unsigned y = 1, unsigned z = 1) { qk_dim3 d; d.x = x; d.y = y; d.z = z; return d; }

struct Options {
  int top_k = 40;
  float top_p = 0.95f, min_p = 0.05f, temperature = 0.8f;
  float repeat = 1, frequency = 0, presence = 0;
  std::vector<s32> window;
};

// LogitScan.swift's exp8, one lane (Cephes' expf), ported separately from sample.cu's.
static float host_exp8(float input) {
  volatile float x = std::min(std::max(input, -87.3f), 88.7f);
  const float magic = 12582912.0f;
  volatile float shifted = x * 1.44269504f; shifted = shifted + magic;
  volatile float n = shifted - magic;
  volatile float t1 = n * 0.693359375f, t2 = n * 2.1219444e-4f;
  x = x - t1; x = x + t2;
  volatile float y = 1.98756915e-4f;
  const float c[5] = {1.39819995e-3f, 8.3334519e-3f, 4.16665796e-2f, 0.166666655f, 0.50000001f};
  for (float ci : c) { y = y * x; y = y + ci; }
  y = y * x; y = y * x; y = y + x; y = y + 1.0f;
  s32 sb, mb; float mg = magic, sh = shifted; memcpy(&sb, &sh, 4); memcpy(&mb, &mg, 4);
  const u32 sc = (u32)((sb - mb + 127) << 23); float scale; memcpy(&scale, &sc, 4);
  volatile float r = y * scale;
  return input < -87.3f ? 0.0f : (float)r;
}
// LogitScan.expSum: float lanes per block of 1024 values into a double, expf for the tail.
static double host_exp_sum(const std::vector<float>& v, float offset, std::vector<float>* terms = nullptr) {
  const size_t n = v.size(), whole = n - n % 8;
  double total = 0; size_t i = 0;
  if (terms) terms->assign(n, 0);
  while (i + 8 <= n) {
    const size_t end = std::min(whole, i + 1024); float acc[8] = {0};
    for (; i < end; i += 8) for (int l = 0; l < 8; ++l) { const float e = host_exp8(v[i + l] - offset); if (terms) (*terms)[i + l] = e; acc[l] += e; }
    total += (double)(((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7])));
  }
  for (; i < n; ++i) { const float e = expf(v[i] - offset); if (terms) (*terms)[i] = e; total += (double)e; }
  return total;
}

// The host's pick for uniform u, or −1 where the device must give the row back (see the header);
// `margin` is the smallest relative distance of a decision the floats could tip.
static s32 host_sample(const std::vector<float>& raw, const Options& o, double u, double& margin) {
  const s64 n = (s64)raw.size();
  margin = 1;
  std::vector<float> x = raw;
  std::map<s32, int> counts;
  for (s32 t : o.window) counts[t]++;
  for (auto [t, c] : counts) if (t >= 0 && t < n) {
    volatile float l = x[t];
    if (l <= 0) l = l * o.repeat; else l = l / o.repeat;
    volatile float f = (float)c * o.frequency; l = l - f; l = l - o.presence; x[t] = l;
  }
  for (auto& v : x) if (v != v) v = -INFINITY;
  std::vector<s32> order(n);
  for (s64 i = 0; i < n; ++i) order[i] = (s32)i;
  std::stable_sort(order.begin(), order.end(), [&](s32 a, s32 b) { return x[a] > x[b]; });
  if (o.temperature <= 0) return order[0];
  std::vector<float> v;
  const float m = x[order[0]];
  if (o.top_k > 0 && o.top_k < n) {
    if (o.top_k > SAMPLE_KMAX) return -1;
    order.resize(o.top_k);
    for (s32 id : order) v.push_back(x[id]);
    size_t keep = v.size();
    if (o.top_p < 1) {
      std::vector<double> e; double s = 0;
      for (float l : v) { e.push_back((double)expf(l - m)); }
      for (double t : e) s += t;
      double cum = 0;
      for (size_t i = 0; i < e.size(); ++i) {
        cum += e[i] / s; margin = std::min(margin, fabs(cum - o.top_p));
        if (cum >= (double)o.top_p) { keep = i + 1; break; }
      }
    }
    if (o.min_p > 0) {
      const float floor = m + logf(o.min_p); size_t k = 0;
      while (k < keep && v[k] >= floor) k++;
      keep = k ? k : 1;
    }
    v.resize(keep); order.resize(keep);
  } else if (o.top_p < 1 || o.min_p > 0) {
    const float min_floor = o.min_p > 0 ? m + logf(o.min_p) : -INFINITY;
    const float floor = std::max(min_floor, m - 256.0f);
    const double z = o.top_p < 1 ? host_exp_sum(x, m) : 1;
    s64 stop = n, keep = n; double cum = 0;
    for (s64 i = 0; i < n; ++i) {
      const float l = x[order[i]];
      if (!(l >= floor)) { stop = keep = i; break; }
      if (o.top_p < 1) {
        cum += exp((double)(l - m)) / z; margin = std::min(margin, fabs(cum - o.top_p));
        if (cum >= (double)o.top_p) { stop = i; keep = i + 1; break; }
      }
    }
    if (n > SAMPLE_KMAX && stop >= SAMPLE_KMAX) return -1;
    if (keep == 0) keep = 1;
    order.resize(keep);
    for (s32 id : order) v.push_back(x[id]);
  } else {
    return -1;  // no truncation: the host draws over the whole row
  }
  if (o.temperature != 1) for (auto& l : v) { volatile float t = l / o.temperature; l = t; }
  std::vector<float> w;
  const double total = host_exp_sum(v, v[0], &w);
  const double r = u * total;
  double cum = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const double before = cum;
    cum += (double)w[i];
    if (r < cum) {
      margin = std::min(margin, std::min(r - before, cum - r) / total);
      return order[i];
    }
  }
  return order.back();
}

static u64 rng_state = 0x243F6A8885A308D3ull;
static u64 next_u64() { rng_state += 0x9E3779B97F4A7C15ull; u64 z = rng_state; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull; return z ^ (z >> 31); }
static double uniform() { return (double)(next_u64() >> 11) / (double)(1ull << 53); }
static float normal() { double a = uniform() + 1e-12, b = uniform(); return (float)(sqrt(-2 * log(a)) * cos(6.283185307179586 * b)); }

static void put_float(s32* w, float f) { memcpy(w, &f, 4); }
static void fill_record(s32* rec, const Options& o, double u) {
  memset(rec, 0, 4 * SAMPLE_RECORD);
  rec[SP_TOP_K] = o.top_k;
  put_float(rec + SP_TOP_P, o.top_p); put_float(rec + SP_MIN_P, o.min_p);
  put_float(rec + SP_LOG_MIN_P, o.min_p > 0 ? logf(o.min_p) : 0.0f);
  put_float(rec + SP_TEMPERATURE, o.temperature); put_float(rec + SP_REPEAT, o.repeat);
  put_float(rec + SP_FREQUENCY, o.frequency); put_float(rec + SP_PRESENCE, o.presence);
  rec[SP_WINDOW_COUNT] = (s32)o.window.size();
  for (size_t i = 0; i < o.window.size(); ++i) rec[SAMPLE_HEADER + i] = o.window[i];
  memcpy(rec + SP_UNIFORM, &u, 8);
}

// Rows of logits: 0 sharp (σ 4), 1 flat (σ 0.3), 2 ties (σ 2 rounded to halves), 3 a few tall
// spikes over noise; `rows` rows cycle through the kinds.
static std::vector<float> logits_row(s64 n, int kind) {
  std::vector<float> x(n);
  for (auto& v : x) v = normal();
  if (kind == 0) for (auto& v : x) v *= 4;
  if (kind == 1) for (auto& v : x) v *= 0.3f;
  if (kind == 2) for (auto& v : x) v = roundf(v * 4) / 2;
  if (kind == 3) for (int i = 0; i < 5; ++i) x[next_u64() % n] = 12 + (float)i * 0.5f;
  return x;
}

static void run_case(const char* name, s64 n, int rows, std::vector<Options> opts, int reps) {
  const int parts = (int)((n + SAMPLE_SLICE - 1) / SAMPLE_SLICE);
  int bad = 0, near = 0, fallback = 0, checked = 0;
  std::vector<sample_part> stats(rows * parts);
  std::vector<u64> keys((size_t)rows * parts * SAMPLE_KMAX);
  std::vector<u32> counters(rows, 0);
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<float> x; std::vector<s32> rec(rows * SAMPLE_RECORD); std::vector<double> us(rows);
    std::vector<Options> ro(rows);
    for (int r = 0; r < rows; ++r) {
      auto row = logits_row(n, (rep + r) % 4);
      x.insert(x.end(), row.begin(), row.end());
      ro[r] = opts[(rep * rows + r) % opts.size()];
      // Window tokens among the row's 48 best (so the penalties move candidates), with repeats.
      std::vector<s32> best(n);
      for (s64 i = 0; i < n; ++i) best[i] = (s32)i;
      const s64 nb = std::min<s64>(n, 48);
      std::partial_sort(best.begin(), best.begin() + nb, best.end(), [&](s32 a, s32 b) { return row[a] > row[b]; });
      for (auto& t : ro[r].window) t = best[next_u64() % nb];
      us[r] = uniform();
      fill_record(rec.data() + r * SAMPLE_RECORD, ro[r], us[r]);
    }
    std::vector<s32> out(rows, -7);
    qk_launch(d3(parts, rows), d3(SAMPLE_THREADS), [&] {
      sample_f32(x.data(), rec.data(), out.data(), n, stats.data(), keys.data(), counters.data());
    });
    for (int r = 0; r < rows; ++r) {
      std::vector<float> row(x.begin() + r * n, x.begin() + (r + 1) * n);
      double margin;
      const s32 want = host_sample(row, ro[r], us[r], margin);
      checked++;
      if (want == -1) fallback++;
      if (out[r] == want && counters[r] == 0) continue;
      if (want != -1 && out[r] != -1 && margin < 1e-6 && counters[r] == 0) { near++; continue; }
      bad++;
      if (bad <= 3)
        printf("  row %d (rep %d): device %d, host %d, margin %.3g, k %d p %g min-p %g T %g window %zu\n", r, rep, out[r],
               want, margin, ro[r].top_k, ro[r].top_p, ro[r].min_p, ro[r].temperature, ro[r].window.size());
    }
  }
  if (bad) failures++;
  printf("%s w%d sample %s n=%lld parts=%d: %d rows, %d wrong, %d near-boundary, %d given back (-1)\n", bad ? "FAIL" : "ok  ",
         QK_WARP_SIZE, name, n, parts, checked, bad, near, fallback);
}

int main() {
  qk_warp_size_rt = QK_WARP_SIZE;
  Options defaults;  // llama.cpp's: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8
  Options topk1 = defaults; topk1.top_k = 1;
  Options topk_only = defaults; topk_only.top_k = 256; topk_only.top_p = 1; topk_only.min_p = 0; topk_only.temperature = 1;
  Options topk_p = defaults; topk_p.top_k = 100; topk_p.top_p = 0.6f; topk_p.min_p = 0; topk_p.temperature = 1.7f;
  Options topp_only = defaults; topp_only.top_k = 0; topp_only.min_p = 0; topp_only.top_p = 0.9f; topp_only.temperature = 0.7f;
  Options minp_only = defaults; minp_only.top_k = 0; minp_only.top_p = 1; minp_only.min_p = 0.2f; minp_only.temperature = 1.5f;
  Options prefix = defaults; prefix.top_k = 0;
  Options penalties = defaults; penalties.repeat = 1.3f; penalties.frequency = 0.1f; penalties.presence = 0.25f; penalties.window.resize(64);
  Options greedy_pen = penalties; greedy_pen.temperature = 0;
  Options greedy = defaults; greedy.temperature = 0; greedy.top_k = 0;
  Options pen_full = penalties; pen_full.window.resize(SAMPLE_WINDOW); pen_full.top_k = 0; pen_full.min_p = 0.1f;
  Options big_k = defaults; big_k.top_k = 300;          // past SAMPLE_KMAX: given back
  Options untruncated = defaults; untruncated.top_k = 0; untruncated.top_p = 1; untruncated.min_p = 0;  // given back
  Options minp_above_one = defaults; minp_above_one.top_k = 0; minp_above_one.top_p = 1; minp_above_one.min_p = 1.5f;
  const std::vector<Options> all = {defaults, topk1, topk_only, topk_p, topp_only, minp_only, prefix, penalties,
                                    greedy_pen, greedy, pen_full, big_k, untruncated, minp_above_one};
  run_case("tiny", 5, 3, all, 10);
  run_case("small", 37, 4, all, 8);
  run_case("one-cta", 1000, 4, all, 8);
  run_case("full-cta", 4096, 3, all, 6);
  run_case("ragged", 4097, 3, all, 6);
  run_case("ragged2", 9001, 2, all, 7);
  run_case("llama-vocab", 32000, 2, all, 7);
  run_case("gemma-vocab", 262144, 2, {defaults, penalties, topp_only, greedy_pen}, 2);
  // The counters went back to zero after every launch (checked per row above); run twice more on
  // the same scratch is covered by the repetitions.
  printf("%s\n", failures ? "sample_test: FAILURES" : "sample_test: all cases match the host sampler");
  return failures ? 1 : 0;
}
