// Runs the matrix-core mat-mat kernels mul_mat_q_<type> (mmq.cu) on the CPU emulation (emu_prelude.h),
// i.e. through the portable shuffle version of qk_mma_s8_16x8x32 / 16x8x16 with the PTX fragment
// layout, and compares them with a double-precision reference: weights decoded element by element
// with quants.cuh's decoders (w = a·(q + c) + b), activations the q8_1-dequantized values d·q.
// Ragged shapes: rows not a multiple of MMQ_Y, columns not a multiple of MMQ_X, k not a multiple of
// the k-step. Built and run by scripts/gpu_kernels_emulate.sh at wave32 and wave64, with the geometry
// the host uses (GPUMatMat.swift) and a small one built with the generic weight loaders
// (MMQ_GENERIC_LOADERS). A negative control shows the comparison catches a
// wrong fragment mapping (two output columns swapped) and a corrupted weight block.
#include <cstdio>
#include <cstdlib>
#include <string>
#include "emu_prelude.h"
#include "kernels_common.inc"

static int failures = 0;
static const double kLimit = 5e-4;
static double nmse(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return 1e30;
    num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i];
  }
  return den == 0 ? num : num / den;
}
static u64 rng_state = 0x9E3779B97F4A7C15ull;
static u64 rnd() { rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17; return rng_state; }
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)((rnd() >> 11) * (1.0 / 9007199254740992.0)); }

// A type under test: kernel, per-element decoder, block geometry, where its f16 scale fields sit
// (random bytes elsewhere are valid blocks; the halves get finite, modest values).
struct MMQType {
  const char* name; int qk, bytes;
  void (*kernel)(const u8*, const u8*, float*, s64, s64, s64);
  void (*elem)(const u8*, int, int&, float&, float&, float&);
  std::vector<int> halves;
};
#define MMQ_TEST_TYPE(name, SUB) {#name, qt_##name::qk, qt_##name::bytes, mul_mat_q_##name, elem_##name, {}},
static std::vector<MMQType> types = {MMQ_TYPE_LIST(MMQ_TEST_TYPE)};
static std::vector<int> half_fields(const std::string& n) {
  if (n == "q4_1" || n == "q5_1" || n == "q4_K" || n == "q5_K") return {0, 2};
  if (n == "q2_K") return {80, 82};
  if (n == "q3_K") return {108};
  if (n == "q6_K") return {208};
  return {0};  // q4_0, q5_0, q8_0, iq4_nl, iq4_xs
}

static std::vector<u8> random_weights(const MMQType& t, int n, int k) {
  std::vector<u8> w((size_t)n * (k / t.qk) * t.bytes);
  for (auto& b : w) b = (u8)(rnd() >> 24);
  for (size_t blk = 0; blk < w.size() / t.bytes; ++blk)
    for (int off : t.halves) {
      // d (and dmin) ~ 1e-3..2e-2, either sign for the first (ggml allows negative d).
      const float v = frand(1e-3f, 2e-2f) * (off == t.halves[0] && (rnd() & 1) ? -1.0f : 1.0f);
      const u16 h = f2h(v);
      w[blk * t.bytes + off] = h & 0xff; w[blk * t.bytes + off + 1] = h >> 8;
    }
  return w;
}
// Activations → q8_1 blocks as quantize_q8_1 makes them; also the dequantized values.
static std::vector<u8> quantize_q8_1_ref(const std::vector<float>& x, int m, int k, std::vector<double>& xdq) {
  std::vector<u8> q((size_t)m * (k / 32) * 36);
  xdq.assign((size_t)m * k, 0.0);
  for (int c = 0; c < m; ++c)
    for (int b = 0; b < k / 32; ++b) {
      const float* xb = &x[(size_t)c * k + b * 32];
      float amax = 0; for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
      const float d = amax / 127.0f;
      u8* blk = &q[((size_t)c * (k / 32) + b) * 36];
      int sum = 0;
      for (int i = 0; i < 32; ++i) {
        const int v = amax == 0 ? 0 : (int)std::round(xb[i] / d);
        ((s8*)blk)[4 + i] = (s8)v; sum += v;
      }
      const u16 dh = f2h(d), sh = f2h(d * (float)sum);
      blk[0] = dh & 0xff; blk[1] = dh >> 8; blk[2] = sh & 0xff; blk[3] = sh >> 8;
      const double dd = h2f(dh);
      for (int i = 0; i < 32; ++i) xdq[(size_t)c * k + b * 32 + i] = dd * ((s8*)blk)[4 + i];
    }
  return q;
}
static std::vector<double> reference(const MMQType& t, const std::vector<u8>& w, const std::vector<double>& xdq, int n, int m, int k) {
  std::vector<double> wd((size_t)n * k);
  for (int r = 0; r < n; ++r)
    for (int j = 0; j < k; ++j) {
      int q; float a, b, c;
      t.elem(&w[((size_t)r * (k / t.qk) + j / t.qk) * t.bytes], j % t.qk, q, a, b, c);
      wd[(size_t)r * k + j] = (double)a * ((double)q + c) + b;
    }
  std::vector<double> y((size_t)m * n);
  for (int c = 0; c < m; ++c)
    for (int r = 0; r < n; ++r) {
      double s = 0;
      for (int j = 0; j < k; ++j) s += wd[(size_t)r * k + j] * xdq[(size_t)c * k + j];
      y[(size_t)c * n + r] = s;
    }
  return y;
}
static std::vector<float> run(const MMQType& t, const std::vector<u8>& w, const std::vector<u8>& xq, int n, int m, int k) {
  std::vector<float> y((size_t)m * n, NAN);
  qk_dim3 grid, block;
  grid.x = (n + MMQ_Y - 1) / MMQ_Y; grid.y = (m + MMQ_X - 1) / MMQ_X; block.x = MMQ_MMA_THREADS;
  qk_launch(grid, block, [&] { t.kernel(w.data(), xq.data(), y.data(), k, n, m); });
  return y;
}

// The small-batch variants mul_mat_q_<type>_n<X> (every X of MMQ_SMALL_X_LIST) and mul_mat_q_reduce,
// run as the host runs them (GPUMatMat.matMatSmallBatch): X the first tile that holds the columns
// (else several of the last), k split into `splits` slices of ceil(steps / splits) k-steps (possibly
// an empty last slice, which the host avoids but the kernel must survive), the slices' partials added
// up by the reduce kernel. Expected values: the same double-precision reference as above.
struct SmallKernel { const char* type; int x; void (*kernel)(const u8*, const u8*, float*, s64, s64, s64, s64); };
#define MMQ_TEST_SMALL_X(name, SUB, X) {#name, X, mul_mat_q_##name##_n##X},
#define MMQ_TEST_SMALL(name, SUB) MMQ_SMALL_X_LIST(MMQ_TEST_SMALL_X, name, SUB)
static std::vector<SmallKernel> small_kernels = {MMQ_TYPE_LIST(MMQ_TEST_SMALL)};
// The host's choice: the first (ascending) tile that holds m columns, else the last.
static const SmallKernel* small_kernel(const std::string& type, int m) {
  const SmallKernel* pick = nullptr;
  for (const auto& sk : small_kernels)
    if (type == sk.type && (pick == nullptr || pick->x < m)) pick = &sk;
  return pick;
}
static const MMQType* find_type(const std::string& name) {
  for (const auto& t : types) if (name == t.name) return &t;
  return nullptr;
}
static std::vector<float> run_small(const SmallKernel& sk, const std::vector<u8>& w, const std::vector<u8>& xq, int n, int m, int k,
                                    int splits, bool drop_last_slice = false) {
  const int steps = (k / 32 + MMQ_KB - 1) / MMQ_KB;
  const int per = (steps + splits - 1) / splits;
  std::vector<float> y((size_t)m * n, NAN), partials((size_t)splits * m * n, NAN);
  qk_dim3 grid, block;
  grid.x = (n + MMQ_SMALL_Y - 1) / MMQ_SMALL_Y; grid.y = (m + sk.x - 1) / sk.x; grid.z = splits;
  block.x = MMQ_SMALL_THREADS;
  float* out = splits > 1 ? partials.data() : y.data();
  qk_launch(grid, block, [&] { sk.kernel(w.data(), xq.data(), out, k, n, m, per); });
  if (splits > 1) {
    qk_dim3 rg, rb; rb.x = 256; rg.x = (unsigned)((m * n + 255) / 256);
    const s64 z = drop_last_slice ? splits - 1 : splits;
    qk_launch(rg, rb, [&] { mul_mat_q_reduce(partials.data(), y.data(), (s64)m * n, z); });
  }
  return y;
}
static void check_small(const MMQType& t, const SmallKernel& sk, int n, int m, int k, int splits) {
  auto w = random_weights(t, n, k);
  std::vector<float> x((size_t)m * k);
  for (auto& v : x) v = frand(-1.0f, 1.0f) * (rnd() % 16 == 0 ? 8.0f : 1.0f);
  std::vector<double> xdq;
  const auto xq = quantize_q8_1_ref(x, m, k, xdq);
  const auto ref = reference(t, w, xdq, n, m, k);
  const double e = nmse(run_small(sk, w, xq, n, m, k, splits), ref);
  const bool ok = e <= kLimit;
  if (!ok) failures++;
  printf("%s w%d mul_mat_q_%s_n%d n=%d m=%d k=%d splits=%d: nmse %.3g\n", ok ? "ok  " : "FAIL", QK_WARP_SIZE, t.name, sk.x, n, m,
         k, splits, e);
  if (splits > 1 && std::string(t.name) == "q4_0" && m == 13) {
    // Negative control: the same comparison must reject the sum without the last slice.
    const double e2 = nmse(run_small(sk, w, xq, n, m, k, splits, true), ref);
    const bool caught = e2 > kLimit;
    if (!caught) failures++;
    printf("%s w%d small-batch negative control (must exceed %.0e): last k-slice dropped nmse %.3g\n", caught ? "ok  " : "FAIL",
           QK_WARP_SIZE, kLimit, e2);
  }
}
static void test_small_batch() {
  printf("small-batch geometry MMQ_SMALL_Y %d MMQ_SMALL_NWARPS %d, column tiles:", MMQ_SMALL_Y, MMQ_SMALL_NWARPS);
  for (const auto& sk : small_kernels) if (std::string(sk.type) == "q4_0") printf(" %d", sk.x);
  printf(", wave%d\n", QK_WARP_SIZE);
  // (n rows, k, splits), taken in turn by the column counts: rows ragged against MMQ_SMALL_Y; k of 4
  // whole k-steps (MMQ_KB 8) split 1 (straight into y), 2, or 3 (slices of 2, 2 and an empty one);
  // k of 5 steps split 3 (2, 2, 1), for 32-value blocks 25 q8_1 blocks (the last step partial).
  struct Case { int n, k, splits; };
  const int m_list[] = {9, 13, 16, 17, 31, 32, 33, 64};
  for (const char* tn : {"q4_0", "q4_K", "q6_K", "q8_0"}) {
    const MMQType* t = find_type(tn);
    if (!t) { printf("FAIL no type %s\n", tn); failures++; continue; }
    const Case cases[] = {{MMQ_SMALL_Y + 5, 1024, 1}, {2 * MMQ_SMALL_Y + 3, 1024, 2}, {37, 1024, 3},
                          {MMQ_SMALL_Y - 3, t->qk == 32 ? 800 : 1280, 3}};
    for (int i = 0; i < 8; ++i) {
      const Case& cs = cases[i % 4];
      check_small(*t, *small_kernel(tn, m_list[i]), cs.n, m_list[i], cs.k, cs.splits);
    }
  }
  // Every kernel of the list (each type, each X) once: a tile and a half of columns, k split in two.
  for (const auto& sk : small_kernels) check_small(*find_type(sk.type), sk, MMQ_SMALL_Y + 7, sk.x + sk.x / 2 + 1, 512, 2);
}

int main() {
  qk_warp_size_rt = QK_WARP_SIZE;
  for (auto& t : types) t.halves = half_fields(t.name);
  printf("geometry MMQ_Y %d MMQ_X %d MMQ_NWARPS %d MMQ_KB %d, wave%d\n", MMQ_Y, MMQ_X, MMQ_NWARPS, MMQ_KB, QK_WARP_SIZE);
  // (n rows, m columns, k): rows and columns ragged against the tile; k = 1…16 q8_1 blocks: partial
  // k-steps only, a whole step (16-byte copies where the rows are 16-byte aligned) and one partial.
  struct Shape { int n, m, k; };
  const std::vector<Shape> small_k = {
    {70, 9, 32}, {37, 40, 96}, {MMQ_Y + 3, MMQ_X + 5, 160}, {70, 9, 512}, {37, 12, 320}};
  const std::vector<Shape> big_k = {{70, 9, 512}, {MMQ_Y + 3, MMQ_X + 5, 256}};
  bool controls_done = false;
  for (const auto& t : types) {
    for (const auto& s : t.qk == 32 ? small_k : big_k) {
      auto w = random_weights(t, s.n, s.k);
      std::vector<float> x((size_t)s.m * s.k);
      for (auto& v : x) v = frand(-1.0f, 1.0f) * (rnd() % 16 == 0 ? 8.0f : 1.0f);
      std::vector<double> xdq;
      const auto xq = quantize_q8_1_ref(x, s.m, s.k, xdq);
      const auto ref = reference(t, w, xdq, s.n, s.m, s.k);
      const auto y = run(t, w, xq, s.n, s.m, s.k);
      const double e = nmse(y, ref);
      const bool ok = e <= kLimit;
      if (!ok) failures++;
      printf("%s w%d mul_mat_q_%s n=%d m=%d k=%d: nmse %.3g\n", ok ? "ok  " : "FAIL", QK_WARP_SIZE, t.name, s.n, s.m, s.k, e);
      if (!controls_done && std::string(t.name) == "q4_K") {
        // Negative controls: the same comparison must reject (1) output columns 2t and 2t+1 swapped
        // (a C-fragment mapping error) and (2) the kernel run on weights with one block's scale changed.
        controls_done = true;
        std::vector<float> swapped(y);
        for (int c = 0; c + 1 < s.m; c += 2)
          for (int r = 0; r < s.n; ++r) std::swap(swapped[(size_t)c * s.n + r], swapped[(size_t)(c + 1) * s.n + r]);
        auto w2 = w; for (int b = 0; b < 4; ++b) w2[t.bytes * b + 1] ^= 0x10;  // blocks 0-3: d × or ÷ 16
        const double e1 = nmse(swapped, ref), e2 = nmse(run(t, w2, xq, s.n, s.m, s.k), ref);
        const bool caught = e1 > kLimit && e2 > kLimit;
        if (!caught) failures++;
        printf("%s w%d negative controls (must exceed %.0e): swapped columns nmse %.3g, corrupted block nmse %.3g\n",
          caught ? "ok  " : "FAIL", QK_WARP_SIZE, kLimit, e1, e2);
      }
    }
  }
  test_small_batch();
  printf("w%d: %d failures\n", QK_WARP_SIZE, failures);
  return failures != 0;
}
