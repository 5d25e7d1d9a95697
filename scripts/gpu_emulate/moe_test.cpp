// Runs the mixture-of-experts kernels (moe.cu) on the CPU emulation (emu_prelude.h), built by
// scripts/gpu_emulate/moe.sh for QK_WARP_SIZE 32 and 64 with the host's mat-vec geometry:
//  - moe_route_f32 against route_reference, a line-by-line port of the CPU backend's
//    ExpertRouting.route (QuantaCore/ExpertOps.swift): the same ids (ties: the lower index first) and
//    weights within 1e-5 relative, for both gatings, with and without normalization and scale, ties,
//    -inf logits and more experts than threads;
//  - moe_group_pairs: order is a permutation of the pairs, the tiles cover each pair once with its
//    expert, at most MOE_TILE_COLS pairs per tile, count 0 past the last; ids outside the experts
//    form expert -1 tiles;
//  - mul_mat_vec_q_id_<type>_1 (one pair per CTA row), _<MOE_TILE_COLS> over the grouped tiles and
//    mul_mat_vec_via_q8_1_id_<type> against a double reference of W[ids[p]] · x[row of p] (weights
//    decoded by the per-element decoders, as matvec_test.cpp), normalized MSE ≤ 5e-4, every valid
//    output written, NaN exactly on the pairs with an invalid id;
//  - moe_mix_f32 bit-exact against the CPU backend's loop (mixExperts: products added in slot order).
// Under AddressSanitizer with every typed load's alignment checked; weights, activations and outputs
// are buffers of exactly the kernels' extent.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include "emu_prelude.h"
static void qk_check_aligned(const void* p, int a, const char* file, int line) {
  if ((uintptr_t)p % (uintptr_t)a != 0) {
    fprintf(stderr, "FAIL misaligned %d-byte load at %p (%s:%d)\n", a, p, file, line);
    abort();
  }
}
#define QK_ASSERT_ALIGNED(p, a) qk_check_aligned((const void*)(p), (a), __FILE__, __LINE__)
#include "emu_perm.h"
#include "kernels_moe.inc"
#include "emu_quant.h"

static int failures = 0;
static qk_dim3 d3(unsigned x, unsigned y = 1, unsigned z = 1) { qk_dim3 d; d.x = x; d.y = y; d.z = z; return d; }
static void report(bool ok, const std::string& what) {
  if (!ok) failures++;
  printf("%s w%d %s\n", ok ? "ok  " : "FAIL", QK_WARP_SIZE, what.c_str());
}

// ---- Routing: ExpertRouting.route, ported (gating 0 = .softmax, 1 = .softmaxOfSelected).
static void route_reference(const float* logits, int n, int used, int gating, bool norm, float scale, int* ids,
                            float* weights) {
  float peak = -INFINITY;
  for (int i = 0; i < n; ++i) peak = std::max(peak, logits[i]);
  double sum = 0;
  if (gating == 0) for (int i = 0; i < n; ++i) sum += (double)expf(logits[i] - peak);
  auto score = [&](int i) { return gating == 0 ? expf(logits[i] - peak) * (float)(1 / sum) : logits[i]; };
  int count = 0;
  for (int i = 0; i < n; ++i) {
    const float s = score(i);
    if (!(count < used || s > weights[count - 1])) continue;
    int j = std::min(count, used - 1);
    while (j > 0 && weights[j - 1] < s) { weights[j] = weights[j - 1]; ids[j] = ids[j - 1]; j -= 1; }
    weights[j] = s;
    ids[j] = i;
    count = std::min(count + 1, used);
  }
  if (gating == 1) {
    const float top = weights[0];
    float total = 0;
    for (int j = 0; j < used; ++j) { weights[j] = expf(weights[j] - top); total += weights[j]; }
    for (int j = 0; j < used; ++j) weights[j] /= total;
  }
  if (norm) {
    float total = 0;
    for (int j = 0; j < used; ++j) total += weights[j];
    total = std::max(total, 6.103515625e-5f);
    for (int j = 0; j < used; ++j) weights[j] /= total;
  }
  if (scale != 1) for (int j = 0; j < used; ++j) weights[j] *= scale;
}

static void test_route() {
  struct Shape { int tokens, experts, used; };
  const Shape shapes[] = {{3, 8, 2}, {2, 16, 4}, {2, 128, 8}, {1, 300, 6}, {1, 5, 5}};
  for (const Shape& sh : shapes)
    for (int gating = 0; gating < 2; ++gating)
      for (int variant = 0; variant < 3; ++variant) {
        const bool norm = variant != 1;
        const float scale = variant == 2 ? 2.5f : 1.0f;
        std::vector<float> logits((size_t)sh.tokens * sh.experts);
        for (auto& v : logits) v = urand(-4, 4);
        // Ties: whole-number logits repeat (the lower index must come first), and a -inf one.
        if (variant == 1) for (auto& v : logits) v = (float)(int)(v * 0.75f);
        if (sh.experts > 4) logits[3] = -INFINITY;
        std::vector<s32> ids((size_t)sh.tokens * sh.used, -7);
        std::vector<float> w((size_t)sh.tokens * sh.used, NAN);
        qk_launch(d3(sh.tokens), d3(MOE_THREADS), [&] {
          moe_route_f32(logits.data(), ids.data(), w.data(), sh.experts, sh.used, gating, norm ? 1 : 0, scale);
        });
        bool ok = true;
        std::string why;
        for (int t = 0; t < sh.tokens; ++t) {
          int rid[64];
          float rw[64];
          route_reference(logits.data() + t * sh.experts, sh.experts, sh.used, gating, norm, scale, rid, rw);
          for (int j = 0; j < sh.used; ++j) {
            const int got = ids[t * sh.used + j];
            const float gw = w[t * sh.used + j];
            if (got != rid[j]) { ok = false; why = " id " + std::to_string(got) + " vs " + std::to_string(rid[j]); }
            if (!(fabsf(gw - rw[j]) <= 1e-5f * std::max(1.0f, fabsf(rw[j])))) {
              ok = false;
              why = " weight " + std::to_string(gw) + " vs " + std::to_string(rw[j]);
            }
          }
        }
        report(ok, "moe_route_f32 tokens=" + std::to_string(sh.tokens) + " experts=" + std::to_string(sh.experts) +
                     " used=" + std::to_string(sh.used) + " gating=" + std::to_string(gating) +
                     " norm=" + std::to_string(norm) + " scale=" + std::to_string(scale) + why);
      }
}

// ---- Grouping: returns the tile table (3 ints a tile) and order, checked.
static s64 max_tiles(s64 pairs, s64 experts) {
  return (pairs + MOE_TILE_COLS - 1) / MOE_TILE_COLS + std::min(experts + 1, pairs);
}
static bool group(const std::vector<s32>& ids, s64 experts, std::vector<s32>& order, std::vector<s32>& tiles,
                  std::string& why) {
  const s64 pairs = (s64)ids.size(), mt = max_tiles(pairs, experts);
  order.assign(pairs, -1);
  tiles.assign(3 * mt, 12345);
  qk_launch(d3(1), d3(MOE_THREADS), [&] {
    moe_group_pairs(ids.data(), order.data(), tiles.data(), pairs, experts, mt);
  });
  std::vector<int> seen(pairs, 0);
  bool ended = false;
  for (s64 i = 0; i < mt; ++i) {
    const s32 first = tiles[3 * i], n = tiles[3 * i + 1], e = tiles[3 * i + 2];
    if (n == 0) { ended = true; continue; }
    if (ended || n < 0 || n > MOE_TILE_COLS || first < 0 || first + n > pairs) { why = "bad tile " + std::to_string(i); return false; }
    for (s32 j = 0; j < n; ++j) {
      const s32 p = order[first + j];
      if (p < 0 || p >= pairs) { why = "order holds " + std::to_string(p); return false; }
      seen[p]++;
      const s32 want = ids[p] >= 0 && ids[p] < experts ? ids[p] : -1;
      if (want != e) { why = "pair " + std::to_string(p) + " in a tile of expert " + std::to_string(e); return false; }
    }
  }
  for (s64 p = 0; p < pairs; ++p)
    if (seen[p] != 1) { why = "pair " + std::to_string(p) + " in " + std::to_string(seen[p]) + " tiles"; return false; }
  return true;
}

// ---- Expert mat-vecs.
typedef void (*id_fn)(const u8*, s64, s64, const u8*, float*, s64, s64, const s32*, const s32*, const s32*, s64, s64);
typedef void (*via_fn)(const u8*, s64, s64, const u8*, float*, s64, s64, const s32*, s64, s64);
struct TypeCase {
  const char* name;
  int qk, bytes;
  id_fn one, tile;  // null: no per-type kernel
  via_fn via;
  elem_fn elem;
};
#define ID_CASE(name) {#name, qt_##name::qk, qt_##name::bytes, mul_mat_vec_q_id_##name##_1, \
  mul_mat_vec_q_id_##name##_##8, mul_mat_vec_via_q8_1_id_##name, elem_##name},
static const TypeCase dot_cases[] = {MMVQ_TYPE_LIST(ID_CASE)};
#define VIA_CASE(name, ...) {#name, qt_##name::qk, qt_##name::bytes, nullptr, nullptr, mul_mat_vec_via_q8_1_id_##name, elem_##name},
static const TypeCase all_cases[] = {QTYPE_LIST(VIA_CASE)};
static_assert(MOE_TILE_COLS == 8, "ID_CASE names the tile kernel _8");

enum class Path { one, tile, via };

static void run_matvec(const TypeCase& tc, Path path, s64 tokens, s64 used, s64 x_rows, bool bad_id) {
  const s64 experts = 5, nrows = 13, k = tc.qk == 32 ? 96 : 512, nb = k / tc.qk;
  const s64 expert_bytes = nrows * nb * tc.bytes;
  u8* w = new u8[experts * expert_bytes];  // exactly the stacked experts
  for (s64 b = 0; b < experts * nrows * nb; ++b) random_block(tc.name, w + b * tc.bytes, tc.bytes);
  const std::vector<double> wd = decode_rows(tc.elem, w, experts * nrows, k, tc.qk, tc.bytes);
  std::vector<u8> x8;
  std::vector<double> xd;
  random_q8_1((int)(tokens * x_rows), k, x8, xd);
  u8* xq = new u8[x8.size()];
  memcpy(xq, x8.data(), x8.size());
  const s64 pairs = tokens * used;
  // Each token's experts distinct, as routing picks them; one invalid id when asked.
  std::vector<s32> ids(pairs);
  for (s64 t = 0; t < tokens; ++t) {
    const s32 e0 = (s32)(rnd() % experts);
    for (s64 j = 0; j < used; ++j) ids[t * used + j] = (s32)((e0 + j * (1 + t % 2)) % experts);
  }
  if (bad_id) ids[pairs - 1] = (s32)experts + 2;
  float* y = new float[pairs * nrows];
  for (s64 i = 0; i < pairs * nrows; ++i) y[i] = 12345.0f;  // every output must be written
  std::string name;
  if (path == Path::tile) {
    std::vector<s32> order, tiles;
    std::string why;
    if (!group(ids, experts, order, tiles, why)) { report(false, std::string("moe_group_pairs ") + tc.name + ": " + why); return; }
    const s64 mt = max_tiles(pairs, experts), r = MMVQ_ROWS(MOE_TILE_COLS);
    qk_launch(d3((unsigned)((nrows + r - 1) / r), (unsigned)mt), d3(MMVQ_THREADS(MOE_TILE_COLS)), [&] {
      tc.tile(w, expert_bytes, experts, xq, y, k, nrows, ids.data(), order.data(), tiles.data(), used, x_rows);
    });
    name = std::string("mul_mat_vec_q_id_") + tc.name + "_" + std::to_string(MOE_TILE_COLS);
  } else if (path == Path::one) {
    const s64 r = MMVQ_ROWS(1);
    qk_launch(d3((unsigned)((nrows + r - 1) / r), (unsigned)pairs), d3(MMVQ_THREADS(1)), [&] {
      tc.one(w, expert_bytes, experts, xq, y, k, nrows, ids.data(), nullptr, nullptr, used, x_rows);
    });
    name = std::string("mul_mat_vec_q_id_") + tc.name + "_1";
  } else {
    qk_launch(d3((unsigned)((nrows + MMV_ROWS - 1) / MMV_ROWS), (unsigned)pairs), d3(QK_WARP_SIZE, MMV_ROWS), [&] {
      tc.via(w, expert_bytes, experts, xq, y, k, nrows, ids.data(), used, x_rows);
    });
    name = std::string("mul_mat_vec_via_q8_1_id_") + tc.name;
  }
  std::vector<float> got;
  std::vector<double> ref;
  bool nan_ok = true;
  for (s64 p = 0; p < pairs; ++p) {
    const s64 e = ids[p], xr = (p / used) * x_rows + (p % used) % x_rows;
    for (s64 r = 0; r < nrows; ++r) {
      const float v = y[p * nrows + r];
      if (e >= experts) { nan_ok &= std::isnan(v); continue; }
      double s = 0;
      for (s64 j = 0; j < k; ++j) s += wd[(e * nrows + r) * k + j] * xd[xr * k + j];
      got.push_back(v);
      ref.push_back(s);
    }
  }
  const double err = nmse(got.data(), ref);
  char line[256];
  snprintf(line, sizeof line, "%s tokens=%lld used=%lld x_rows=%lld%s: nmse %.3g%s", name.c_str(), (long long)tokens,
           (long long)used, (long long)x_rows, bad_id ? " (an invalid id)" : "", err, nan_ok ? "" : ", NaN missing");
  report(err <= 5e-4 && nan_ok, line);
  delete[] y;
  delete[] xq;
  delete[] w;
}

// ---- Mixing: the CPU backend's loop (CPUBackend.mixExperts), float for float.
static void test_mix() {
  for (s64 used : {1, 2, 8}) {
    const s64 tokens = 3, d = 300;
    std::vector<float> x(tokens * used * d), w(tokens * used), out(tokens * d, NAN), want(tokens * d);
    for (auto& v : x) v = urand(-3, 3);
    for (auto& v : w) v = urand(0, 1);
    qk_launch(d3((unsigned)((d + 255) / 256), (unsigned)tokens), d3(256), [&] {
      moe_mix_f32(x.data(), w.data(), out.data(), used, d);
    });
    for (s64 t = 0; t < tokens; ++t)
      for (s64 i = 0; i < d; ++i) {
        volatile float acc = x[t * used * d + i] * w[t * used];
        for (s64 j = 1; j < used; ++j) { volatile float prod = x[(t * used + j) * d + i] * w[t * used + j]; acc = acc + prod; }
        want[t * d + i] = acc;
      }
    report(memcmp(out.data(), want.data(), out.size() * 4) == 0, "moe_mix_f32 used=" + std::to_string(used) + " d=300 bit-exact");
  }
}

int main(int argc, char** argv) {
  qk_warp_size_rt = QK_WARP_SIZE;
  const char* only = argc > 1 ? argv[1] : nullptr;  // optional: one type, or route (routing and mixing)
  if (!only || std::string(only) == "route") {
    test_route();
    test_mix();
  }
  for (const TypeCase& tc : dot_cases) {
    if (only && std::string(only) != tc.name) continue;
    run_matvec(tc, Path::one, 1, 4, 1, false);
    run_matvec(tc, Path::one, 2, 3, 3, true);
    run_matvec(tc, Path::tile, 11, 4, 1, false);
    run_matvec(tc, Path::tile, 7, 2, 2, true);
  }
  for (const TypeCase& tc : all_cases) {
    if (only && std::string(only) != tc.name) continue;
    run_matvec(tc, Path::via, 3, 2, 2, true);
  }
  printf("w%d: %d failures\n", QK_WARP_SIZE, failures);
  return failures != 0;
}
