// Runs the dense kernels on the CPU emulation (emu_prelude.h) and compares with straightforward double
// references; built and run by scripts/gpu_kernels_emulate.sh for QK_WARP_SIZE 32 and 64.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include "emu_prelude.h"
#include "kernels_common.inc"
static int failures = 0;
static void check_bytes(const char* name, const std::vector<u8>& got, const std::vector<u8>& want);
static double nmse(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) { if (!std::isfinite(a[i]) && std::isfinite(b[i])) return 1e30; num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i]; }
  return den == 0 ? num : num / den;
}
static void check(const char* name, const std::vector<float>& got, const std::vector<double>& want, double limit) {
  const double e = nmse(got, want);
  const bool ok = e <= limit;
  if (!ok) failures++;
  printf("%s w%d %s: nmse %.3g\n", ok ? "ok  " : "FAIL", QK_WARP_SIZE, name, e);
}
static std::vector<float> wave(size_t n, int seed, float amp = 1) {
  std::vector<float> v(n); u64 s = (u64)seed * 0x9E3779B97F4A7C15ull | 1;
  for (size_t i = 0; i < n; ++i) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; v[i] = amp * (float)(0.1 + 2 * cos((double)(i + seed) * 0.37) + 0.3 * ((double)(s % 1000) / 1000 - 0.5)); }
  return v;
}
static std::vector<u16> to_half(const std::vector<float>& v) { std::vector<u16> h(v.size()); for (size_t i = 0; i < v.size(); ++i) h[i] = f2h(v[i]); return h; }
static qk_dim3 d3(unsigned x, unsigned y = 1, unsigned z = 1) { qk_dim3 d; d.x = x; d.y = y; d.z = z; return d; }
static unsigned g1(s64 n) { return (unsigned)std::min<s64>((n + 255) / 256, 1 << 20); }

static void test_norms() {
  for (int n : {1, 7, 4099}) {
    const int rows = 5; auto x = wave(rows * n, n), w = wave(n, 11); std::vector<float> y(rows * n);
    qk_launch(d3(rows), d3(256), [&] { rms_norm_f32(x.data(), w.data(), y.data(), n, 1e-6f); });
    std::vector<double> ref(rows * n);
    for (int r = 0; r < rows; ++r) { double s = 0; for (int i = 0; i < n; ++i) s += (double)x[r * n + i] * x[r * n + i];
      const double sc = 1 / sqrt(s / n + 1e-6); for (int i = 0; i < n; ++i) ref[r * n + i] = x[r * n + i] * sc * w[i]; }
    check(("rms_norm n=" + std::to_string(n)).c_str(), y, ref, 1e-7);
    for (auto& v : x) v += 100;
    qk_launch(d3(rows), d3(256), [&] { layer_norm_f32(x.data(), w.data(), w.data(), y.data(), n, 1e-5f); });
    for (int r = 0; r < rows; ++r) { double m = 0; for (int i = 0; i < n; ++i) m += x[r * n + i]; m /= n; double v = 0;
      for (int i = 0; i < n; ++i) v += (x[r * n + i] - m) * (x[r * n + i] - m); v /= n;
      for (int i = 0; i < n; ++i) ref[r * n + i] = (x[r * n + i] - m) / sqrt(v + 1e-5) * w[i] + w[i]; }
    check(("layer_norm n=" + std::to_string(n)).c_str(), y, ref, 1e-7);
  }
}
static void visible(s64 p, s64 nkv, int causal, int window, s64& lo, s64& hi) {
  hi = nkv; if (causal) hi = std::min(hi, p + 1); lo = 0; if (window > 0) lo = std::max<s64>(0, p - window + 1); if (lo >= hi) lo = hi = 0;
}
static double logit(double v, double scale, double cap) { double y = v * scale; if (cap > 0) y = cap * tanh(y / cap); return y; }
static void test_softmax() {
  const int tokens = 4, heads = 3; std::vector<s32> pos = {0, 5, 17, 36};
  for (int keys : {1, 37, 300}) for (int mode = 0; mode < 3; ++mode) {
    const int causal = mode >= 1, window = mode == 2 ? 5 : 0; const float scale = 0.5f, cap = mode == 2 ? 5.0f : 0.0f;
    const int rows = tokens * heads; auto x = wave(rows * keys, keys, 4); std::vector<float> y(rows * keys);
    qk_launch(d3(rows), d3(256), [&] { soft_max_f32(x.data(), y.data(), keys, pos.data(), heads, scale, cap, causal, window); });
    std::vector<double> ref(rows * keys, 0.0);
    for (int r = 0; r < rows; ++r) { s64 lo, hi; visible(pos[r / heads], keys, causal, window, lo, hi);
      double m = -INFINITY; for (s64 j = lo; j < hi; ++j) m = std::max(m, logit(x[r * keys + j], scale, cap));
      double s = 0; for (s64 j = lo; j < hi; ++j) s += exp(logit(x[r * keys + j], scale, cap) - m);
      for (s64 j = lo; j < hi; ++j) ref[r * keys + j] = exp(logit(x[r * keys + j], scale, cap) - m) / s; }
    check(("softmax keys=" + std::to_string(keys) + " mode " + std::to_string(mode)).c_str(), y, ref, 1e-7);
  }
}
struct AttCase { int tokens, heads, kvh, hd, cap, nkv; std::vector<s32> pos; float scale, softcap; int causal, window; };
// Double-precision attention; cache rows no query sees may hold anything (NaN here).
// sinks (gpt-oss; nullptr: none): one more term exp(sink_h − max) of each denominator, no value.
static std::vector<double> attention_ref(const AttCase& s, const std::vector<float>& q, const std::vector<u16>& kc, const std::vector<u16>& vc,
                                         const float* sinks = nullptr) {
  std::vector<double> ref(q.size(), 0.0); const int g = s.heads / s.kvh, kvs = s.kvh * s.hd;
  for (int t = 0; t < s.tokens; ++t) for (int h = 0; h < s.heads; ++h) {
    s64 lo, hi; visible(s.pos[t], s.nkv, s.causal, s.window, lo, hi); const int kv = h / g;
    std::vector<double> sc; double m = -INFINITY;
    for (s64 j = lo; j < hi; ++j) { double d = 0; for (int i = 0; i < s.hd; ++i) d += (double)q[(t * s.heads + h) * s.hd + i] * h2f(kc[j * kvs + kv * s.hd + i]);
      sc.push_back(logit(d, s.scale, s.softcap)); m = std::max(m, sc.back()); }
    if (sinks && !sc.empty()) m = std::max(m, (double)sinks[h]);
    double sum = 0; for (auto& v : sc) { v = exp(v - m); sum += v; }
    const bool any = sum > 0;
    if (sinks && any) sum += exp((double)sinks[h] - m);
    for (int i = 0; i < s.hd; ++i) { double a = 0; for (s64 j = lo; j < hi; ++j) a += sc[j - lo] * h2f(vc[j * kvs + kv * s.hd + i]); ref[(t * s.heads + h) * s.hd + i] = any ? a / sum : 0; }
  }
  return ref;
}
// The prompt kernels (fattn_tile.cu) by head-dimension bound, with their rows per CTA
// (KernelBuild.attentionTiles).
typedef void (*fa_kernel)(const float*, const u16*, const u16*, const s32*, float*, s64, s64, s64, s64, s64, float, float, s32, s32, const float*);
struct FaVariant { int d, rows; fa_kernel k; };
static const FaVariant fa_variants[] = {{64, 64, flash_attn_tile_f16_d64}, {128, 32, flash_attn_tile_f16_d128}, {256, 16, flash_attn_tile_f16_d256}};
static void test_attention() {
  std::vector<AttCase> ss = {
    {1, 8, 2, 64, 320, 300, {299}, 0.125f, 0, 1, 0},
    {7, 4, 4, 80, 8, 7, {0, 1, 2, 3, 4, 5, 6}, 0.11f, 0, 1, 0},
    {3, 4, 1, 256, 40, 37, {34, 35, 36}, 0.0625f, 50, 1, 8},
    {2, 2, 1, 32, 24, 10, {20, 9}, 1, 0, 1, 4},
    {5, 6, 3, 128, 130, 130, {3, 100, 129, 0, 64}, 0.088f, 0, 0, 0},
    {2, 4, 2, 45, 16, 16, {15, 3}, 0.15f, 0, 1, 0},  // odd head dimension: pairs end in a half pair
  };
  // Prompt-sized cases, for the tile kernels only (the tokens count not a multiple of any tile).
  std::vector<AttCase> prompts = {
    {70, 8, 2, 64, 80, 70, {}, 0.125f, 0, 1, 0},        // GQA 4: 280 rows over 64-row tiles
    {40, 4, 4, 128, 150, 140, {}, 0.088f, 30, 1, 16},  // window 16 + soft-cap, positions 100…139
    {20, 4, 1, 256, 40, 37, {}, 0.0625f, 50, 1, 8},    // MQA, gemma-like window + soft-cap
    {33, 2, 2, 45, 40, 40, {}, 0.15f, 0, 1, 0},        // odd head dimension
    {37, 2, 1, 80, 100, 100, {}, 0.11f, 0, 1, 2},      // unsorted positions, gaps between their windows
    {33, 2, 1, 201, 40, 40, {}, 0.05f, 0, 0, 0},       // odd, unmasked, 55 dims past hd idle
  };
  for (int t = 0; t < 70; ++t) prompts[0].pos.push_back(t);
  for (int t = 0; t < 40; ++t) prompts[1].pos.push_back(100 + t);
  for (int t = 0; t < 20; ++t) prompts[2].pos.push_back(17 + t);
  for (int t = 0; t < 33; ++t) prompts[3].pos.push_back(t);
  for (int t = 0; t < 37; ++t) prompts[4].pos.push_back((t * 37) % 97);
  for (int t = 0; t < 33; ++t) prompts[5].pos.push_back(39 - t);  // descending
  for (int pass = 0; pass < 2; ++pass) for (auto& s : pass == 0 ? ss : prompts) {
    auto q = wave(s.tokens * s.heads * s.hd, s.hd, 0.5f);
    auto kf = wave(s.cap * s.kvh * s.hd, 21), vf = wave(s.cap * s.kvh * s.hd, 22);
    auto kc = to_half(kf), vc = to_half(vf); std::vector<float> out(q.size());
    // Cache rows no query sees hold NaN: neither kernel may let them reach a result.
    std::vector<bool> seen(s.cap, false);
    for (int t = 0; t < s.tokens; ++t) { s64 lo, hi; visible(s.pos[t], s.nkv, s.causal, s.window, lo, hi); for (s64 j = lo; j < hi; ++j) seen[j] = true; }
    for (int j = 0; j < s.cap; ++j) if (!seen[j]) for (int i = 0; i < s.kvh * s.hd; ++i) kc[j * s.kvh * s.hd + i] = vc[j * s.kvh * s.hd + i] = 0x7e00;
    const auto ref = attention_ref(s, q, kc, vc);
    const std::string tag = "hd=" + std::to_string(s.hd) + " nkv=" + std::to_string(s.nkv) + " tokens=" + std::to_string(s.tokens);
    // The host's two CTA widths (GPUBackend.attentionThreads): 128 for prompts, 512 for a decode step.
    for (int threads : {128, 512}) {
      if (pass == 1 || (threads == 512 && s.tokens > 2)) continue;  // 512 emulated threads per CTA: the small cases
      std::fill(out.begin(), out.end(), NAN);
      // With hd a multiple of 32 the kernel also writes the rows as q8_1 (the plan's fused input of the
      // output projection): byte for byte what quantize_q8_1 makes of them.
      const bool q8 = s.hd % 32 == 0;
      std::vector<u8> fq(q8 ? out.size() / 32 * 36 : 0), wq(fq.size());
      qk_launch(d3(s.tokens * s.heads), d3(threads), [&] { attention_f16(q.data(), kc.data(), vc.data(), s.pos.data(), out.data(), s.heads, s.kvh, s.hd, s.nkv, s.scale, s.softcap, s.causal, s.window, q8 ? fq.data() : nullptr, nullptr, nullptr); });
      check(("attention " + tag + " threads=" + std::to_string(threads)).c_str(), out, ref, 1e-9);
      if (q8) {
        qk_launch(d3(g1(out.size())), d3(256), [&] { quantize_q8_1(out.data(), wq.data(), out.size()); });
        check_bytes(("attention q8_1 " + tag + " threads=" + std::to_string(threads)).c_str(), fq, wq);
      }
    }
    // gpt-oss's sinks (one logit per query head, some larger than every score, some far below): the
    // per-(token, head) kernel, which the host also runs for prompts with sinks.
    std::vector<float> sinks(s.heads);
    for (int h = 0; h < s.heads; ++h) sinks[h] = h % 3 == 0 ? 6.0f : h % 3 == 1 ? -0.7f : -40.0f;
    const auto sref = attention_ref(s, q, kc, vc, sinks.data());
    {
      const int threads = s.tokens * s.heads <= 16 ? 512 : 128;
      if (threads * s.tokens * s.heads <= 1 << 15) {
        const bool q8 = s.hd % 32 == 0;
        std::vector<u8> fq(q8 ? out.size() / 32 * 36 : 0), wq(fq.size());
        std::fill(out.begin(), out.end(), NAN);
        qk_launch(d3(s.tokens * s.heads), d3(threads), [&] { attention_f16(q.data(), kc.data(), vc.data(), s.pos.data(), out.data(), s.heads, s.kvh, s.hd, s.nkv, s.scale, s.softcap, s.causal, s.window, q8 ? fq.data() : nullptr, nullptr, sinks.data()); });
        check(("attention sinks " + tag + " threads=" + std::to_string(threads)).c_str(), out, sref, 1e-9);
        if (q8) {
          qk_launch(d3(g1(out.size())), d3(256), [&] { quantize_q8_1(out.data(), wq.data(), out.size()); });
          check_bytes(("attention sinks q8_1 " + tag).c_str(), fq, wq);
        }
      }
    }
    // The tile kernel the host picks (smallest bound ≥ hd), and the next larger one (dims past hd idle).
    int picked = 0;
    for (const auto& v : fa_variants) {
      if (v.d < s.hd || picked == 2) continue;
      ++picked;
      const s64 rows = (s64)s.tokens * (s.heads / s.kvh);
      std::fill(out.begin(), out.end(), NAN);
      qk_launch(d3((unsigned)((rows + v.rows - 1) / v.rows), s.kvh), d3(FA_THREADS), [&] { v.k(q.data(), kc.data(), vc.data(), s.pos.data(), out.data(), s.tokens, s.heads, s.kvh, s.hd, s.nkv, s.scale, s.softcap, s.causal, s.window, nullptr); });
      check(("flash_attn_tile_f16_d" + std::to_string(v.d) + " " + tag).c_str(), out, ref, 1e-9);
      // With gpt-oss's sinks (the GQA group's heads each their own).
      std::fill(out.begin(), out.end(), NAN);
      qk_launch(d3((unsigned)((rows + v.rows - 1) / v.rows), s.kvh), d3(FA_THREADS), [&] { v.k(q.data(), kc.data(), vc.data(), s.pos.data(), out.data(), s.tokens, s.heads, s.kvh, s.hd, s.nkv, s.scale, s.softcap, s.causal, s.window, sinks.data()); });
      check(("flash_attn_tile_f16_d" + std::to_string(v.d) + " sinks " + tag).c_str(), out, sref, 1e-9);
    }
  }
}
// ---- KV caches of the other types (KVCacheType: bf16, q8_0, q4_0; K and V may differ): write_kv_<type>
// against a host encoding written from ggml's reference (fp32_to_bf16, quantize_row_q8_0_ref /
// _q4_0_ref), then attention_kv against a double reference over the host-decoded values (exact in f32,
// so the same bound as attention_f16).
enum KvType { KV_T_F16 = 1, KV_T_Q4_0 = 2, KV_T_Q8_0 = 8, KV_T_BF16 = 30 };
static const char* kv_name(int t) { return t == KV_T_F16 ? "f16" : t == KV_T_BF16 ? "bf16" : t == KV_T_Q8_0 ? "q8_0" : "q4_0"; }
static s64 kv_bytes(int t, s64 n) { return t == KV_T_Q8_0 ? n / 32 * 34 : t == KV_T_Q4_0 ? n / 32 * 18 : 2 * n; }
static u16 host_bf16(float f) {  // round to nearest even (finite inputs)
  u32 u; memcpy(&u, &f, 4); return (u16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static float host_bf16_to_f(u16 h) { u32 u = (u32)h << 16; float f; memcpy(&f, &u, 4); return f; }
static void put16(u8* p, u16 v) { p[0] = (u8)(v & 0xff); p[1] = (u8)(v >> 8); }
static u16 get16(const u8* p) { return (u16)(p[0] | (p[1] << 8)); }
static std::vector<u8> kv_encode(int t, const std::vector<float>& x) {
  std::vector<u8> y(kv_bytes(t, (s64)x.size()));
  if (t == KV_T_F16 || t == KV_T_BF16) {
    for (size_t i = 0; i < x.size(); ++i) put16(&y[2 * i], t == KV_T_F16 ? f2h(x[i]) : host_bf16(x[i]));
    return y;
  }
  for (size_t b = 0; b < x.size() / 32; ++b) {
    const float* v = &x[32 * b];
    if (t == KV_T_Q8_0) {
      u8* o = &y[34 * b]; float amax = 0; for (int j = 0; j < 32; ++j) amax = std::max(amax, fabsf(v[j]));
      const float d = amax / 127, id = d ? 1.0f / d : 0.0f; put16(o, f2h(d));
      for (int j = 0; j < 32; ++j) o[2 + j] = (u8)(int8_t)roundf(v[j] * id);
    } else {
      u8* o = &y[18 * b]; float amax = 0, mx = 0;
      for (int j = 0; j < 32; ++j) if (amax < fabsf(v[j])) { amax = fabsf(v[j]); mx = v[j]; }
      const float d = mx / -8, id = d ? 1.0f / d : 0.0f; put16(o, f2h(d));
      for (int j = 0; j < 16; ++j) {
        const int a = std::min(15, (int)(int8_t)(v[j] * id + 8.5f)), c = std::min(15, (int)(int8_t)(v[16 + j] * id + 8.5f));
        o[2 + j] = (u8)(a | (c << 4));
      }
    }
  }
  return y;
}
static std::vector<double> kv_decode(int t, const std::vector<u8>& y, size_t n) {
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) {
    if (t == KV_T_F16) x[i] = h2f(get16(&y[2 * i]));
    else if (t == KV_T_BF16) x[i] = host_bf16_to_f(get16(&y[2 * i]));
    else if (t == KV_T_Q8_0) x[i] = (double)(int8_t)y[34 * (i / 32) + 2 + i % 32] * h2f(get16(&y[34 * (i / 32)]));
    else { const u8* o = &y[18 * (i / 32)]; const int e = (int)(i % 32); const int q = e < 16 ? (o[2 + e] & 15) : (o[2 + e - 16] >> 4);
      x[i] = (double)(q - 8) * h2f(get16(o)); }
  }
  return x;
}
static void test_attention_cache_types() {
  const int pairs[][2] = {{KV_T_BF16, KV_T_BF16}, {KV_T_Q8_0, KV_T_Q8_0}, {KV_T_Q4_0, KV_T_Q4_0}, {KV_T_F16, KV_T_Q8_0}, {KV_T_Q4_0, KV_T_BF16}, {KV_T_Q8_0, KV_T_F16}};
  std::vector<AttCase> ss = {
    {1, 8, 2, 64, 40, 33, {32}, 0.125f, 0, 1, 0},          // decode, GQA 4
    {5, 4, 1, 256, 40, 37, {32, 33, 34, 35, 36}, 0.0625f, 50, 1, 8},  // gemma-like: MQA, window + soft-cap
    {3, 2, 2, 32, 16, 12, {11, 4, 7}, 0.2f, 0, 1, 0},     // one block per row, unsorted positions
  };
  for (auto& s : ss) for (auto& pr : pairs) {
    const int kt = pr[0], vt = pr[1];
    const s64 kvdim = s.kvh * s.hd;
    auto kf = wave(s.cap * kvdim, 31, 2), vf = wave(s.cap * kvdim, 32);
    std::vector<s32> all(s.cap); for (int j = 0; j < s.cap; ++j) all[j] = s.cap - 1 - j;  // rows written in reverse
    // Source rows in the order of `all`.
    std::vector<float> ks(kf.size()), vs(vf.size());
    for (int j = 0; j < s.cap; ++j) for (s64 i = 0; i < kvdim; ++i) { ks[j * kvdim + i] = kf[all[j] * kvdim + i]; vs[j * kvdim + i] = vf[all[j] * kvdim + i]; }
    std::vector<u8> kc(kv_bytes(kt, kf.size()), 0xee), vc(kv_bytes(vt, vf.size()), 0xee);
    auto write = [&](int t, const std::vector<float>& src, std::vector<u8>& cache) {
      const s64 items = t == KV_T_F16 || t == KV_T_BF16 ? s.cap * kvdim : s.cap * kvdim / 32;
      qk_launch(d3(g1(items)), d3(256), [&] {
        if (t == KV_T_F16) write_kv_f16(src.data(), all.data(), (u16*)cache.data(), kvdim, s.cap, nullptr);
        else if (t == KV_T_BF16) write_kv_bf16(src.data(), all.data(), (u16*)cache.data(), kvdim, s.cap, nullptr);
        else if (t == KV_T_Q8_0) write_kv_q8_0(src.data(), all.data(), cache.data(), kvdim, s.cap, nullptr);
        else write_kv_q4_0(src.data(), all.data(), cache.data(), kvdim, s.cap, nullptr);
      });
    };
    write(kt, ks, kc);
    write(vt, vs, vc);
    const std::string tag = std::string("K ") + kv_name(kt) + " V " + kv_name(vt) + " hd=" + std::to_string(s.hd) + " tokens=" + std::to_string(s.tokens);
    check_bytes(("write_kv " + tag + " K").c_str(), kc, kv_encode(kt, kf));
    check_bytes(("write_kv " + tag + " V").c_str(), vc, kv_encode(vt, vf));
    // Rows no query sees: a NaN scale or value, which must not reach a result.
    std::vector<bool> seen(s.cap, false);
    for (int t = 0; t < s.tokens; ++t) { s64 lo, hi; visible(s.pos[t], s.nkv, s.causal, s.window, lo, hi); for (s64 j = lo; j < hi; ++j) seen[j] = true; }
    for (int j = 0; j < s.cap; ++j) if (!seen[j]) {
      for (auto [t, c] : {std::pair<int, std::vector<u8>*>{kt, &kc}, {vt, &vc}}) {
        const s64 rb = kv_bytes(t, kvdim);
        if (t == KV_T_F16 || t == KV_T_BF16) for (s64 i = 0; i < kvdim; ++i) put16(&(*c)[j * rb + 2 * i], t == KV_T_F16 ? 0x7e00 : 0x7fc0);
        else for (s64 b = 0; b < kvdim / 32; ++b) put16(&(*c)[j * rb + b * (t == KV_T_Q8_0 ? 34 : 18)], 0x7e00);
      }
    }
    // The double reference over the decoded caches (attention_ref's loop, values instead of halves).
    const auto kd = kv_decode(kt, kc, kf.size()), vd = kv_decode(vt, vc, vf.size());
    auto q = wave(s.tokens * s.heads * s.hd, s.hd + 3, 0.5f);
    std::vector<double> ref(q.size(), 0.0); const int g = s.heads / s.kvh;
    for (int t = 0; t < s.tokens; ++t) for (int h = 0; h < s.heads; ++h) {
      s64 lo, hi; visible(s.pos[t], s.nkv, s.causal, s.window, lo, hi); const int kv = h / g;
      std::vector<double> sc; double m = -INFINITY;
      for (s64 j = lo; j < hi; ++j) { double d = 0; for (int i = 0; i < s.hd; ++i) d += (double)q[(t * s.heads + h) * s.hd + i] * kd[j * kvdim + kv * s.hd + i];
        sc.push_back(logit(d, s.scale, s.softcap)); m = std::max(m, sc.back()); }
      double sum = 0; for (auto& v : sc) { v = exp(v - m); sum += v; }
      for (int i = 0; i < s.hd; ++i) { double a = 0; for (s64 j = lo; j < hi; ++j) a += sc[j - lo] * vd[j * kvdim + kv * s.hd + i]; ref[(t * s.heads + h) * s.hd + i] = sum > 0 ? a / sum : 0; }
    }
    for (int threads : {128, 512}) {
      if (threads == 512 && s.tokens > 1) continue;  // 512 emulated threads per CTA: the decode case
      std::vector<float> out(q.size(), NAN);
      std::vector<u8> fq(out.size() / 32 * 36), wq(fq.size());
      qk_launch(d3(s.tokens * s.heads), d3(threads), [&] { attention_kv(q.data(), kc.data(), vc.data(), s.pos.data(), out.data(), s.heads, s.kvh, s.hd, s.nkv, s.scale, s.softcap, s.causal, s.window, fq.data(), kt, vt, nullptr); });
      check(("attention_kv " + tag + " threads=" + std::to_string(threads)).c_str(), out, ref, 1e-9);
      qk_launch(d3(g1(out.size())), d3(256), [&] { quantize_q8_1(out.data(), wq.data(), out.size()); });
      check_bytes(("attention_kv q8_1 " + tag + " threads=" + std::to_string(threads)).c_str(), fq, wq);
    }
    // With sinks (gpt-oss over a quantized cache): the reference's softmax plus exp(sink − M).
    {
      std::vector<float> sinks(s.heads);
      for (int h = 0; h < s.heads; ++h) sinks[h] = h % 2 == 0 ? 3.5f : -2.0f;
      std::vector<double> sref(q.size(), 0.0);
      for (int t = 0; t < s.tokens; ++t) for (int h = 0; h < s.heads; ++h) {
        s64 lo, hi; visible(s.pos[t], s.nkv, s.causal, s.window, lo, hi); const int kv = h / g;
        std::vector<double> sc; double m = -INFINITY;
        for (s64 j = lo; j < hi; ++j) { double d = 0; for (int i = 0; i < s.hd; ++i) d += (double)q[(t * s.heads + h) * s.hd + i] * kd[j * kvdim + kv * s.hd + i];
          sc.push_back(logit(d, s.scale, s.softcap)); m = std::max(m, sc.back()); }
        if (sc.empty()) continue;
        m = std::max(m, (double)sinks[h]);
        double sum = exp((double)sinks[h] - m); for (auto& v : sc) { v = exp(v - m); sum += v; }
        for (int i = 0; i < s.hd; ++i) { double a = 0; for (s64 j = lo; j < hi; ++j) a += sc[j - lo] * vd[j * kvdim + kv * s.hd + i]; sref[(t * s.heads + h) * s.hd + i] = a / sum; }
      }
      std::vector<float> out(q.size(), NAN);
      qk_launch(d3(s.tokens * s.heads), d3(128), [&] { attention_kv(q.data(), kc.data(), vc.data(), s.pos.data(), out.data(), s.heads, s.kvh, s.hd, s.nkv, s.scale, s.softcap, s.causal, s.window, nullptr, kt, vt, sinks.data()); });
      check(("attention_kv sinks " + tag).c_str(), out, sref, 1e-9);
    }
  }
}
// ---- Several sequences in one launch (batched decode; GPUPlanSequences.swift): write_kv_<type> and
// attention_f16 / attention_kv_seq with the per-token table of each token's own K and V cache addresses.
// Every cache is checked byte for byte against the host encoding of its sequence's rows, every output
// against the double reference over its own sequence's decoded cache, and against the same kernel
// launched once per sequence without a table (bit for bit).
static void test_attention_sequences() {
  const int heads = 4, kvh = 2, hd = 64, cap = 24, kvdim = kvh * hd;
  const std::vector<int> seq_of = {0, 1, 1, 2};  // token → sequence: one, two (a chunk), one
  const std::vector<s32> pos = {10, 5, 6, 20};
  const int pairs[][2] = {{KV_T_F16, KV_T_F16}, {KV_T_Q8_0, KV_T_Q4_0}, {KV_T_BF16, KV_T_Q8_0}};
  for (auto& pr : pairs) {
    const int kt = pr[0], vt = pr[1], ntok = (int)pos.size();
    const std::string tag = std::string("K ") + kv_name(kt) + " V " + kv_name(vt);
    // Each sequence's full K / V rows; the caches start with every row but the ones this step writes.
    std::vector<std::vector<float>> kf(3), vf(3);
    std::vector<std::vector<u8>> kc(3), vc(3);
    for (int q = 0; q < 3; ++q) {
      kf[q] = wave(cap * kvdim, 41 + q, 2); vf[q] = wave(cap * kvdim, 51 + q);
      auto kp = kf[q], vp = vf[q];
      for (int t = 0; t < ntok; ++t) if (seq_of[t] == q) for (int i = 0; i < kvdim; ++i) kp[pos[t] * kvdim + i] = vp[pos[t] * kvdim + i] = 0;
      kc[q] = kv_encode(kt, kp); vc[q] = kv_encode(vt, vp);
    }
    std::vector<float> ks(ntok * kvdim), vs(ntok * kvdim);
    for (int t = 0; t < ntok; ++t) for (int i = 0; i < kvdim; ++i) {
      ks[t * kvdim + i] = kf[seq_of[t]][pos[t] * kvdim + i]; vs[t * kvdim + i] = vf[seq_of[t]][pos[t] * kvdim + i];
    }
    std::vector<u64> table;
    for (int t = 0; t < ntok; ++t) { table.push_back((u64)(uintptr_t)kc[seq_of[t]].data()); table.push_back((u64)(uintptr_t)vc[seq_of[t]].data()); }
    auto write = [&](int t, const std::vector<float>& src, const u64* rows) {
      const s64 items = t == KV_T_F16 || t == KV_T_BF16 ? ntok * kvdim : ntok * kvdim / 32;
      qk_launch(d3(g1(items)), d3(256), [&] {
        if (t == KV_T_F16) write_kv_f16(src.data(), pos.data(), nullptr, kvdim, ntok, rows);
        else if (t == KV_T_BF16) write_kv_bf16(src.data(), pos.data(), nullptr, kvdim, ntok, rows);
        else if (t == KV_T_Q8_0) write_kv_q8_0(src.data(), pos.data(), nullptr, kvdim, ntok, rows);
        else write_kv_q4_0(src.data(), pos.data(), nullptr, kvdim, ntok, rows);
      });
    };
    write(kt, ks, table.data());
    write(vt, vs, table.data() + 1);
    for (int q = 0; q < 3; ++q) {
      check_bytes(("write_kv sequences " + tag + " K seq " + std::to_string(q)).c_str(), kc[q], kv_encode(kt, kf[q]));
      check_bytes(("write_kv sequences " + tag + " V seq " + std::to_string(q)).c_str(), vc[q], kv_encode(vt, vf[q]));
    }
    // Double reference: token t over its own sequence's decoded cache (causal, capacity as kvLength).
    auto qv = wave(ntok * heads * hd, hd + 5, 0.5f);
    const float scale = 0.125f;
    std::vector<double> ref(qv.size(), 0.0);
    for (int t = 0; t < ntok; ++t) {
      const auto kd = kv_decode(kt, kc[seq_of[t]], cap * kvdim), vd = kv_decode(vt, vc[seq_of[t]], cap * kvdim);
      for (int h = 0; h < heads; ++h) {
        const int kv = h / (heads / kvh); std::vector<double> sc; double m = -INFINITY;
        for (s64 j = 0; j <= pos[t]; ++j) { double d = 0; for (int i = 0; i < hd; ++i) d += (double)qv[(t * heads + h) * hd + i] * kd[j * kvdim + kv * hd + i];
          sc.push_back(logit(d, scale, 0)); m = std::max(m, sc.back()); }
        double sum = 0; for (auto& v : sc) { v = exp(v - m); sum += v; }
        for (int i = 0; i < hd; ++i) { double a = 0; for (s64 j = 0; j <= pos[t]; ++j) a += sc[j] * vd[j * kvdim + kv * hd + i]; ref[(t * heads + h) * hd + i] = a / sum; }
      }
    }
    const bool f16 = kt == KV_T_F16 && vt == KV_T_F16;
    auto run = [&](const float* q, const u8* k, const u8* v, const s32* p, float* out, int tokens, const u64* seqkv) {
      qk_launch(d3(tokens * heads), d3(128), [&] {
        if (f16) attention_f16(q, (const u16*)k, (const u16*)v, p, out, heads, kvh, hd, cap, scale, 0, 1, 0, nullptr, seqkv, nullptr);
        else if (seqkv) attention_kv_seq(q, p, out, heads, kvh, hd, cap, scale, 0, 1, 0, nullptr, kt, vt, seqkv, nullptr);
        else attention_kv(q, k, v, p, out, heads, kvh, hd, cap, scale, 0, 1, 0, nullptr, kt, vt, nullptr);
      });
    };
    std::vector<float> out(qv.size(), NAN), alone(qv.size(), NAN);
    run(qv.data(), nullptr, nullptr, pos.data(), out.data(), ntok, table.data());
    check(("attention sequences " + tag).c_str(), out, ref, 1e-9);
    for (int t = 0; t < ntok;) {  // each sequence's run of tokens by itself
      int e = t; while (e < ntok && seq_of[e] == seq_of[t]) ++e;
      run(qv.data() + t * heads * hd, kc[seq_of[t]].data(), vc[seq_of[t]].data(), pos.data() + t, alone.data() + t * heads * hd, e - t, nullptr);
      t = e;
    }
    int differ = 0; for (size_t i = 0; i < out.size(); ++i) differ += memcmp(&out[i], &alone[i], 4) != 0;
    if (differ) failures++;
    printf("%s w%d attention sequences %s vs one launch per sequence: %d differing values\n", differ ? "FAIL" : "ok  ", QK_WARP_SIZE, tag.c_str(), differ);
  }
}
// YaRN's angle and magnitude in double, written from ggml's rope_yarn / rope_yarn_ramp (ext_factor 0: plain
// rope, θ = freq_scale · pos · base^(−2i/dims) / ff, magnitude attn_factor).
static double yarn_theta(double extrapolated, int i, float fscale, float ext, float lo, float hi) {
  const double interpolated = fscale * extrapolated;
  if (ext == 0) return interpolated;
  const double y = (i - (double)lo) / std::max(0.001, (double)hi - lo);
  const double mix = (1 - std::min(1.0, std::max(0.0, y))) * ext;
  return interpolated * (1 - mix) + extrapolated * mix;
}
static float yarn_mscale(float attn, float fscale, float ext) { return ext != 0 ? attn * (1 + 0.1f * logf(1 / fscale)) : attn; }
static void test_rope() {
  struct R { int neox, tokens, heads, hd, dims; float base, fscale; bool ff; float ext, lo, hi; };
  for (R r : {R{0, 3, 4, 64, 64, 10000, 1, false, 0, 0, 0}, R{1, 7, 2, 80, 48, 1e6f, 1, false, 0, 0, 0}, R{0, 2, 3, 128, 96, 500000, 0.5f, true, 0, 0, 0},
              R{1, 5, 1, 256, 256, 10000, 0.25f, true, 0, 0, 0},
              // YaRN (gpt-oss: neox, base 150000, factor 32, correction range ≈ pairs 8…18 of 32), a normal-mode
              // variant with freq factors, and a range narrower than the 0.001 floor.
              R{1, 7, 3, 64, 64, 150000, 1.0f / 32, false, 1, 8.09f, 17.39f}, R{0, 4, 2, 80, 48, 10000, 0.25f, true, 0.5f, 3, 11},
              R{1, 3, 2, 64, 64, 10000, 0.125f, false, 1, 5, 5}}) {
    auto x = wave(r.tokens * r.heads * r.hd, r.hd); std::vector<float> ff(r.dims / 2); for (int i = 0; i < r.dims / 2; ++i) ff[i] = (1 + i % 5) * 0.75f;
    std::vector<s32> pos; for (int t = 0; t < r.tokens; ++t) pos.push_back((int[]){0, 1, 4000, 17, 255, 8191, 3}[t % 7]);
    std::vector<float> y(x.size());
    const s64 items = (s64)r.tokens * r.heads * (r.dims / 2 + r.hd - r.dims);
    const float ms = yarn_mscale(1.0f, r.fscale, r.ext);
    qk_launch(d3(g1(items)), d3(256), [&] { rope_f32(x.data(), y.data(), pos.data(), r.ff ? ff.data() : nullptr, r.tokens, r.heads, r.hd, r.dims, r.neox, r.base, r.fscale, ms, r.ext, r.lo, r.hi); });
    std::vector<double> ref(x.begin(), x.end()); const int half = r.dims / 2;
    for (int t = 0; t < r.tokens; ++t) for (int h = 0; h < r.heads; ++h) for (int i = 0; i < half; ++i) {
      double te = pos[t] * pow((double)r.base, -2.0 * i / r.dims); if (r.ff) te /= ff[i];
      const double th = yarn_theta(te, i, r.fscale, r.ext, r.lo, r.hi), c = cos(th) * ms, sn = sin(th) * ms;
      const int b = (t * r.heads + h) * r.hd, i0 = r.neox ? i : 2 * i, i1 = r.neox ? i + half : 2 * i + 1;
      ref[b + i0] = x[b + i0] * c - x[b + i1] * sn; ref[b + i1] = x[b + i0] * sn + x[b + i1] * c; }
    check(("rope neox=" + std::to_string(r.neox) + " hd=" + std::to_string(r.hd) + " dims=" + std::to_string(r.dims) + (r.ext != 0 ? " yarn" : "")).c_str(), y, ref, 1e-7);
    // In place: y aliases x.
    auto xi = x; qk_launch(d3(g1(items)), d3(256), [&] { rope_f32(xi.data(), xi.data(), pos.data(), r.ff ? ff.data() : nullptr, r.tokens, r.heads, r.hd, r.dims, r.neox, r.base, r.fscale, ms, r.ext, r.lo, r.hi); });
    check("rope in place", xi, ref, 1e-7);
  }
}
static void test_matmul() {
  const int n = 37;
  for (int k : {40, 300}) for (int m : {1, 3, 8, 16, 70}) {
    auto w = wave(n * k, k), x = wave(m * k, m); auto wh = to_half(w); std::vector<float> y(m * n);
    if (m <= 8) qk_launch(d3((n + 3) / 4, m), d3(QK_WARP_SIZE, 4), [&] { mul_mat_vec_f16(wh.data(), x.data(), y.data(), k, n); });
    else qk_launch(d3((n + 63) / 64, (m + 63) / 64), d3(256), [&] { mul_mat_f16(wh.data(), x.data(), y.data(), k, n, m); });
    std::vector<double> ref(m * n); for (int c = 0; c < m; ++c) for (int r = 0; r < n; ++r) { double a = 0; for (int j = 0; j < k; ++j) a += (double)h2f(wh[r * k + j]) * x[c * k + j]; ref[c * n + r] = a; }
    check(("matmul f16 m=" + std::to_string(m) + " k=" + std::to_string(k)).c_str(), y, ref, 1e-10);
  }
  // Dense experts (mul_mat_vec_id_<type>): w [experts, n, k], x [tokens, xrows, k], ids [tokens · used] with
  // repeats across tokens and one id out of range (its pair's outputs NaN).
  const int experts = 5, k = 300;
  auto w = wave(experts * n * k, 11); auto wh = to_half(w);
  for (int xrows : {1, 3}) for (int half : {0, 1}) {
    const int tokens = 4, used = 3, pairs = tokens * used;
    auto x = wave(tokens * xrows * k, 12 + xrows);
    std::vector<s32> ids(pairs); for (int p = 0; p < pairs; ++p) ids[p] = (p * 2 + p / used) % experts;
    ids[7] = experts;
    std::vector<float> y(pairs * n, 0.0f);
    qk_launch(d3((n + 3) / 4, pairs), d3(QK_WARP_SIZE, 4), [&] {
      if (half) mul_mat_vec_id_f16(wh.data(), (s64)n * k, experts, x.data(), y.data(), k, n, ids.data(), used, xrows);
      else mul_mat_vec_id_f32(w.data(), (s64)n * k, experts, x.data(), y.data(), k, n, ids.data(), used, xrows); });
    std::vector<double> ref(pairs * n, 0.0); std::vector<float> got; std::vector<double> want; int nan_ok = 1;
    for (int p = 0; p < pairs; ++p) for (int r = 0; r < n; ++r) {
      if (p == 7) { nan_ok &= std::isnan(y[p * n + r]) ? 1 : 0; continue; }
      const float* xc = x.data() + ((p / used) * xrows + (xrows == 1 ? 0 : p % used)) * k;
      double a = 0; for (int j = 0; j < k; ++j) a += (half ? (double)h2f(wh[((s64)ids[p] * n + r) * k + j]) : (double)w[((s64)ids[p] * n + r) * k + j]) * xc[j];
      got.push_back(y[p * n + r]); want.push_back(a);
    }
    const std::string tag = std::string("matmul_id ") + (half ? "f16" : "f32") + " xrows=" + std::to_string(xrows);
    check(tag.c_str(), got, want, 1e-10);
    if (!nan_ok) failures++;
    printf("%s w%d %s: id out of range → NaN\n", nan_ok ? "ok  " : "FAIL", QK_WARP_SIZE, tag.c_str());
  }
}
// argmax_f32 over several CTAs per row: ties (the first index wins, across CTAs too), NaN, -inf rows,
// unaligned rows (scalar loads), and the counters left at zero for the next launch.
static void test_argmax() {
  struct Case { s64 n; int rows, parts; };
  for (Case c : {Case{262144, 1, 64}, Case{32000, 3, 8}, Case{1001, 2, 3}, Case{7, 1, 1}, Case{4096, 2, 128}}) {
    std::vector<float> x = wave(c.n * c.rows, 21);
    for (int r = 0; r < c.rows; ++r) {
      float* xr = x.data() + r * c.n;
      if (r == 0) { xr[c.n / 2] = 9; xr[c.n - 1] = 9; xr[c.n / 3] = NAN; }  // tie across CTAs: n/2 wins
      if (r == 1) for (s64 j = 0; j < c.n; ++j) xr[j] = -INFINITY;
      if (r == 2) { xr[c.n - 1] = 5; xr[0] = NAN; }
    }
    std::vector<s32> out(c.rows, -1), part_i(c.rows * 128);
    std::vector<float> part_v(c.rows * 128);
    std::vector<unsigned> counters(c.rows, 0);
    for (int rep = 0; rep < 2; ++rep)
      qk_launch(d3(c.parts, c.rows), d3(256), [&] { argmax_f32(x.data(), out.data(), c.n, part_v.data(), part_i.data(), counters.data()); });
    int bad = 0;
    for (int r = 0; r < c.rows; ++r) {
      const float* xr = x.data() + r * c.n;
      s32 want = 0; float best = -INFINITY;
      for (s64 j = 0; j < c.n; ++j) if (xr[j] > best) { best = xr[j]; want = (s32)j; }
      bad += out[r] != want || counters[r] != 0;
    }
    if (bad) failures++;
    printf("%s w%d argmax n=%lld rows=%d parts=%d: %d wrong rows\n", bad ? "FAIL" : "ok  ", QK_WARP_SIZE, c.n, c.rows, c.parts, bad);
  }
}
static void test_misc() {
  // write_kv, add broadcast, gelu/swiglu, get_rows bf16, convert
  std::vector<float> k = wave(240, 1, 3); k[0] = 70000; k[1] = -1e-6f; std::vector<u16> cache(16 * 80, 0); std::vector<s32> pos = {5, 0, 15};
  qk_launch(d3(1), d3(256), [&] { write_kv_f16(k.data(), pos.data(), cache.data(), 80, 3, nullptr); });
  std::vector<float> got(cache.size()); std::vector<double> ref(cache.size(), 0.0);
  for (size_t i = 0; i < cache.size(); ++i) got[i] = h2f(cache[i]);
  for (int t = 0; t < 3; ++t) for (int i = 0; i < 80; ++i) ref[pos[t] * 80 + i] = h2f(f2h(k[t * 80 + i]));
  { int bad = 0; for (size_t i = 0; i < cache.size(); ++i) if (f2h((float)ref[i]) != cache[i]) bad++;
    if (bad) failures++; printf("%s w%d write_kv: %d differing halves\n", bad ? "FAIL" : "ok  ", QK_WARP_SIZE, bad); }
  auto a = wave(5 * 4 * 37, 8), b = wave(37, 9); std::vector<float> y(a.size());
  qk_launch(d3(g1(a.size())), d3(256), [&] { add_f32(a.data(), b.data(), y.data(), a.size(), b.size()); });
  std::vector<double> r2(a.size()); for (size_t i = 0; i < a.size(); ++i) r2[i] = (double)a[i] + b[i % 37];
  check("add broadcast", y, r2, 1e-14);
  qk_launch(d3(g1(a.size())), d3(256), [&] { geglu_f32(a.data(), a.data(), y.data(), a.size()); });
  for (size_t i = 0; i < a.size(); ++i) { double v = a[i]; r2[i] = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * v * (1 + 0.044715 * v * v))) * v; }
  check("geglu", y, r2, 1e-7);
  std::vector<u16> tb(37 * 41); auto tv = wave(tb.size(), 9); for (size_t i = 0; i < tb.size(); ++i) tb[i] = f2bf(tv[i]);
  std::vector<s32> ids = {0, 36, 3, 3, 17}; std::vector<float> gr(ids.size() * 41);
  qk_launch(d3(1), d3(256), [&] { get_rows_bf16(tb.data(), ids.data(), gr.data(), 41, ids.size()); });
  std::vector<double> r3(gr.size()); for (size_t r = 0; r < ids.size(); ++r) for (int j = 0; j < 41; ++j) r3[r * 41 + j] = bf2f(tb[ids[r] * 41 + j]);
  check("get_rows bf16", gr, r3, 0);
  // gpt-oss: swiglu_oai (gate past ±limit, up past ±limit, both signs) and add_id (in place, ids repeating,
  // one out of range → NaN row).
  {
    auto g = wave(1000, 3, 6), u = wave(1000, 4, 6); g[0] = 30; g[1] = -30; u[2] = 50; u[3] = -50;
    std::vector<float> o(g.size()); std::vector<double> r(g.size());
    qk_launch(d3(g1(g.size())), d3(256), [&] { swiglu_oai_f32(g.data(), u.data(), o.data(), g.size(), 1.702f, 7.0f); });
    for (size_t i = 0; i < g.size(); ++i) { const double x = std::min((double)g[i], 7.0), v = std::min(std::max((double)u[i], -7.0), 7.0); r[i] = x / (1 + exp(-1.702 * x)) * (v + 1); }
    check("swiglu_oai", o, r, 1e-12);
    const int n = 37, pairs = 6, experts = 5; auto x = wave(pairs * n, 5), bias = wave(experts * n, 6);
    std::vector<s32> id = {4, 0, 2, 2, 1, 4};
    std::vector<double> rx(x.size()); for (int p = 0; p < pairs; ++p) for (int j = 0; j < n; ++j) rx[p * n + j] = x[p * n + j] + bias[id[p] * n + j];  // the f32 sum, bit for bit
    auto xi = x; qk_launch(d3(g1(x.size())), d3(256), [&] { add_id_f32(xi.data(), bias.data(), id.data(), xi.data(), n, pairs, experts); });
    check("add_id in place", xi, rx, 0);
    id[3] = experts; auto xo = x;
    qk_launch(d3(g1(x.size())), d3(256), [&] { add_id_f32(x.data(), bias.data(), id.data(), xo.data(), n, pairs, experts); });
    int bad = 0; for (int p = 0; p < pairs; ++p) for (int j = 0; j < n; ++j) { const float v = xo[p * n + j]; if (p == 3 ? !std::isnan(v) : v != (float)rx[p * n + j]) bad++; }
    if (bad) failures++; printf("%s w%d add_id id out of range → NaN row: %d wrong\n", bad ? "FAIL" : "ok  ", QK_WARP_SIZE, bad);
  }
  test_argmax();
}
// The plan's fused kernels (plan_fused.cu) against the separate kernels they replace, run in the
// same emulation: every intermediate the chain writes, and the q8_1 blocks byte for byte.
static std::vector<float> dequant_q8_1(const std::vector<u8>& q, size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = h2f(q[i / 32 * 36] | (q[i / 32 * 36 + 1] << 8)) * (float)(s8)q[i / 32 * 36 + 4 + i % 32];
  return v;
}
static void check_bytes(const char* name, const std::vector<u8>& got, const std::vector<u8>& want) {
  size_t bad = 0; for (size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
  if (bad) failures++;
  printf("%s w%d %s: %zu of %zu bytes differ\n", bad ? "FAIL" : "ok  ", QK_WARP_SIZE, name, bad, got.size());
}
static std::vector<double> dbl(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
static void test_plan_fused() {
  for (int n : {64, 640, 4096 + 32}) for (int flags : {1 | 2 | 4 | 8, 2 | 4 | 8, 4 | 8, 1 | 2, 2 | 4, 1 | 2 | 4}) {
    const int rows = 3;
    auto a = wave(rows * n, 3), b = wave(rows * n, 5, 3), w1 = wave(n, 7), w2 = wave(n, 9);
    // Reference: the separate kernels.
    std::vector<float> t(rows * n), s(rows * n), y(rows * n); std::vector<u8> q(rows * n / 32 * 36);
    std::vector<float> v = b;
    if (flags & 1) { qk_launch(d3(rows), d3(256), [&] { rms_norm_f32(v.data(), w1.data(), t.data(), n, 1e-6f); }); v = t; }
    if (flags & 2) { qk_launch(d3(g1(rows * n)), d3(256), [&] { add_f32(a.data(), v.data(), s.data(), rows * n, rows * n); }); v = s; }
    if (flags & 4) { qk_launch(d3(rows), d3(256), [&] { rms_norm_f32(v.data(), w2.data(), y.data(), n, 1e-5f); }); v = y; }
    if (flags & 8) qk_launch(d3(g1(rows * n)), d3(256), [&] { quantize_q8_1(v.data(), q.data(), rows * n); });
    std::vector<float> ft(rows * n), fs(rows * n), fy(rows * n); std::vector<u8> fq(q.size());
    qk_launch(d3(rows), d3(FUSED_ROW_THREADS), [&] {
      fused_norm_add_norm_q8_1(b.data(), a.data(), w1.data(), w2.data(), ft.data(), fs.data(), fy.data(), fq.data(), n, 1e-6f, 1e-5f, flags); });
    const std::string tag = "fused row chain n=" + std::to_string(n) + " flags=" + std::to_string(flags);
    if (flags & 1) check((tag + " t").c_str(), ft, dbl(t), 1e-10);
    if (flags & 2) check((tag + " s").c_str(), fs, dbl(s), 1e-10);
    if (flags & 4) check((tag + " y").c_str(), fy, dbl(y), 1e-10);
    if (flags & 8) check_bytes((tag + " q8_1").c_str(), fq, q);
  }
  // In place (outputs alias inputs, as a plan's residual adds do): the same values.
  {
    const int n = 640, rows = 2; auto a = wave(rows * n, 3), b = wave(rows * n, 5), w = wave(n, 7);
    std::vector<float> s(rows * n), y(rows * n);
    qk_launch(d3(g1(rows * n)), d3(256), [&] { add_f32(a.data(), b.data(), s.data(), rows * n, rows * n); });
    qk_launch(d3(rows), d3(256), [&] { rms_norm_f32(s.data(), w.data(), y.data(), n, 1e-6f); });
    auto fa = a; std::vector<u8> fq(rows * n / 32 * 36);
    qk_launch(d3(rows), d3(FUSED_ROW_THREADS), [&] {
      fused_norm_add_norm_q8_1(b.data(), fa.data(), nullptr, w.data(), nullptr, fa.data(), fa.data(), fq.data(), n, 0, 1e-6f, 2 | 4); });
    check("fused row chain in place", fa, dbl(y), 1e-10);
  }
  struct R { int neox, tokens, heads, hd, dims; bool norm, ff, kv; float factor; float fscale = 1, ext = 0, lo = 0, hi = 0; };
  for (R r : {R{1, 1, 4, 256, 256, true, false, false, 0.0625f}, R{1, 3, 1, 256, 256, true, false, true, 1}, R{0, 2, 8, 128, 128, false, true, true, 1},
              R{1, 5, 2, 80, 48, false, false, false, 0.5f}, R{0, 1, 2, 64, 64, true, false, true, 1},
              R{1, 3, 4, 64, 64, false, false, true, 0.125f, 1.0f / 32, 1, 8.09f, 17.39f}}) {  // YaRN (gpt-oss-like)
    const float ms = yarn_mscale(1.0f, r.fscale, r.ext);
    const int rows = r.tokens * r.heads; auto x = wave(rows * r.hd, r.hd), w = wave(r.hd, 3), vsrc = wave(rows * r.hd, 17);
    std::vector<float> ff(r.dims / 2); for (int i = 0; i < r.dims / 2; ++i) ff[i] = (1 + i % 5) * 0.75f;
    std::vector<s32> pos; for (int t = 0; t < r.tokens; ++t) pos.push_back((int[]){0, 9, 4, 17, 2}[t % 5]);
    const int cap = 20;
    // Reference: rms_norm → rope → scale → write_kv (K and V).
    std::vector<float> n1 = x, ro(x.size()), sc(x.size());
    if (r.norm) qk_launch(d3(rows), d3(256), [&] { rms_norm_f32(x.data(), w.data(), n1.data(), r.hd, 1e-6f); });
    const s64 items = (s64)rows * (r.dims / 2 + r.hd - r.dims);
    qk_launch(d3(g1(items)), d3(256), [&] { rope_f32(n1.data(), ro.data(), pos.data(), r.ff ? ff.data() : nullptr, r.tokens, r.heads, r.hd, r.dims, r.neox, 10000, r.fscale, ms, r.ext, r.lo, r.hi); });
    qk_launch(d3(g1(rows * r.hd)), d3(256), [&] { scale_f32(ro.data(), sc.data(), rows * r.hd, r.factor); });
    std::vector<u16> kc(cap * r.heads * r.hd, 0), vc(kc.size(), 0), fkc(kc.size(), 0), fvc(kc.size(), 0);
    if (r.kv) {
      qk_launch(d3(g1(rows * r.hd)), d3(256), [&] { write_kv_f16(sc.data(), pos.data(), kc.data(), r.heads * r.hd, r.tokens, nullptr); });
      qk_launch(d3(g1(rows * r.hd)), d3(256), [&] { write_kv_f16(vsrc.data(), pos.data(), vc.data(), r.heads * r.hd, r.tokens, nullptr); });
    }
    // Two launches: the chain alone, then paired with a copy of itself (CTAs past `rows` run the second
    // chain, into its own outputs); every output must match the reference.
    std::vector<float> fy(x.size()), fy2(x.size());
    std::vector<u16> fkc2(kc.size(), 0), fvc2(kc.size(), 0);
    for (int paired : {0, 1}) {
      float* y2 = paired ? fy2.data() : fy.data();
      u16* kc2 = r.kv ? (paired ? fkc2.data() : fkc.data()) : nullptr;
      u16* vc2 = r.kv ? (paired ? fvc2.data() : fvc.data()) : nullptr;
      qk_launch(d3(paired ? 2 * rows : rows), d3(ROPE_FUSED_THREADS), [&] {
        rope_norm_kv_f32(x.data(), w.data(), 1e-6f, r.norm, fy.data(), r.heads, r.factor, r.kv ? fkc.data() : nullptr, vsrc.data(), r.kv ? fvc.data() : nullptr, rows,
                         x.data(), w.data(), 1e-6f, r.norm, y2, r.heads, r.factor, kc2, vsrc.data(), vc2,
                         pos.data(), r.ff ? ff.data() : nullptr, r.hd, r.dims, r.neox, 10000, r.fscale, ms, r.ext, r.lo, r.hi); });
    }
    const std::string tag = "rope chain hd=" + std::to_string(r.hd) + " dims=" + std::to_string(r.dims) + (r.norm ? " norm" : "") + (r.kv ? " kv" : "") + (r.ext != 0 ? " yarn" : "");
    check(tag.c_str(), fy, dbl(sc), 1e-10);
    check((tag + " paired").c_str(), fy2, dbl(sc), 1e-10);
    if (r.kv) {
      std::vector<u8> a2(kc.size() * 2), b2(kc.size() * 2);
      memcpy(a2.data(), fkc2.data(), a2.size()); memcpy(b2.data(), kc.data(), b2.size());
      check_bytes((tag + " paired K cache").c_str(), a2, b2);
      memcpy(a2.data(), fvc2.data(), a2.size()); memcpy(b2.data(), vc.data(), b2.size());
      check_bytes((tag + " paired V cache").c_str(), a2, b2);
      std::vector<u8> a(kc.size() * 2), b(kc.size() * 2); memcpy(a.data(), fkc.data(), a.size()); memcpy(b.data(), kc.data(), b.size());
      check_bytes((tag + " K cache").c_str(), a, b);
      memcpy(a.data(), fvc.data(), a.size()); memcpy(b.data(), vc.data(), b.size());
      check_bytes((tag + " V cache").c_str(), a, b);
    }
  }
  for (int gelu : {0, 1}) for (int n : {64, 2048}) {
    const int rows = 2; auto g = wave(rows * n, 1, 2), u = wave(rows * n, 2);
    std::vector<float> act(rows * n), fact(rows * n); std::vector<u8> q(rows * n / 32 * 36), fq(q.size());
    qk_launch(d3(g1(rows * n)), d3(256), [&] { if (gelu) geglu_f32(g.data(), u.data(), act.data(), rows * n); else swiglu_f32(g.data(), u.data(), act.data(), rows * n); });
    qk_launch(d3(g1(rows * n)), d3(256), [&] { quantize_q8_1(act.data(), q.data(), rows * n); });
    qk_launch(d3((rows * n + 1023) / 1024), d3(256), [&] { glu_q8_1(g.data(), u.data(), fact.data(), fq.data(), rows * n, gelu); });
    const std::string tag = std::string(gelu ? "geglu" : "swiglu") + "+q8_1 n=" + std::to_string(n);
    check(tag.c_str(), fact, dbl(act), 1e-12);
    check_bytes((tag + " q8_1").c_str(), fq, q);
  }
}
// hadamard_f32 (the rotation around quantized KV caches): against the matrix product with the Sylvester
// matrix H[i][j] = (-1)^popcount(i & j) / sqrt(n) in double, bit for bit against ggml's CPU fwht order
// (scale, then butterflies at strides 1, 2, 4, ...) in float, in place, and with fewer CTAs than runs.
static void test_hadamard() {
  for (int n : {2, 64, 128, 256, 512, 1024}) {
    const int runs = 5; auto x = wave(runs * n, n, 3); x[7] = 40;  // an outlier, as rotation is for
    std::vector<float> y(x.size()), in(x);
    const float scale = 1.0f / sqrtf((float)n);
    qk_launch(d3(3), d3(128), [&] { hadamard_f32(x.data(), y.data(), runs, n, scale); });
    std::vector<double> ref(x.size(), 0.0);
    for (int r = 0; r < runs; ++r) for (int i = 0; i < n; ++i) { double a = 0;
      for (int j = 0; j < n; ++j) a += (__builtin_popcount(i & j) & 1 ? -1.0 : 1.0) * x[r * n + j]; ref[r * n + i] = a / sqrt((double)n); }
    check(("hadamard n=" + std::to_string(n)).c_str(), y, ref, 1e-12);
    std::vector<float> cpu(x.size());
    for (size_t i = 0; i < x.size(); ++i) cpu[i] = x[i] * scale;
    for (int r = 0; r < runs; ++r) for (int len = 1; len < n; len <<= 1) for (int i = 0; i < n; i += 2 * len) for (int j = i; j < i + len; ++j) {
      float* row = cpu.data() + r * n; const float u = row[j], v = row[j + len]; row[j] = u + v; row[j + len] = u - v; }
    check_bytes(("hadamard n=" + std::to_string(n) + " bits vs ggml's order").c_str(),
                std::vector<u8>((u8*)y.data(), (u8*)(y.data() + y.size())), std::vector<u8>((u8*)cpu.data(), (u8*)(cpu.data() + cpu.size())));
    qk_launch(d3(runs), d3(128), [&] { hadamard_f32(in.data(), in.data(), runs, n, scale); });
    check_bytes(("hadamard n=" + std::to_string(n) + " in place").c_str(),
                std::vector<u8>((u8*)in.data(), (u8*)(in.data() + in.size())), std::vector<u8>((u8*)y.data(), (u8*)(y.data() + y.size())));
    // Its own inverse: twice gives x back.
    qk_launch(d3(2), d3(128), [&] { hadamard_f32(in.data(), in.data(), runs, n, scale); });
    std::vector<double> xd(x.begin(), x.end());
    check(("hadamard n=" + std::to_string(n) + " twice = identity").c_str(), in, xd, 1e-12);
  }
}

int main() {
  qk_warp_size_rt = QK_WARP_SIZE;
  test_norms(); test_softmax(); test_attention(); test_attention_cache_types(); test_attention_sequences(); test_rope(); test_matmul(); test_misc(); test_plan_fused(); test_hadamard();
  printf("w%d: %d failures\n", QK_WARP_SIZE, failures);
  return failures != 0;
}
