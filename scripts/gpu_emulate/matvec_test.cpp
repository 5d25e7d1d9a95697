// Runs the per-type mat-vec kernels (mmvq.cu: mul_mat_vec_q_<type>_<ncols>) on the CPU emulation
// (emu_prelude.h) for every type in MMVQ_TYPE_LIST, ncols 1…8 and ragged shapes (one block; rows not a
// multiple of the CTA's rows; k not a multiple of a CTA's step), against a double-precision reference:
// weights decoded by the per-element decoders elem_<type> (quants.cuh, bit-exact with the CPU reference
// codecs per the GPU selftest) times the q8_1-dequantized activations. Random valid blocks (sane f16
// scales, every other byte random), random q8_1 activations. Pass: normalized MSE ≤ 5e-4 and every
// output written. Built by scripts/gpu_emulate/matvec.sh for QK_WARP_SIZE 32 and 64, with the host's
// geometry (GPUMatVec.swift) and a second, odd one; under AddressSanitizer, with every typed load's
// alignment checked (QK_ASSERT_ALIGNED), and buffers of exactly the kernel's extent.
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
#include "kernels_mmvq.inc"
#ifndef MMVQ_MAX_COLS
#error "compile with the mat-vec geometry (scripts/gpu_emulate/matvec.sh: -include <geometry header>)"
#endif
#include "emu_quant.h"

typedef void (*mv_fn)(const u8*, const u8*, float*, s64, s64, const u8*, float*, s64, const u8*, float*, s64);
typedef void (*chain_fn)(const u8*, const u8*, float*, s64, s64, const float*, const float*, float*, s32, const float*,
                         const float*, const float*, float*, float*, float*, u8*, float, float, s32, u32*);
struct TypeCase {
  const char* name;
  int qk, bytes;
  mv_fn fn[8];
  mv_fn short_fn;  // mul_mat_vec_q_<type>_1_short: one wavefront per row
  chain_fn chain_fn;  // mul_mat_vec_q_<type>_1_short_chain: the same, then a plan's row chain
  elem_fn elem;
};
#define MV_CASE(name)                                                                                      \
  {#name, qt_##name::qk, qt_##name::bytes,                                                                 \
   {mul_mat_vec_q_##name##_1, mul_mat_vec_q_##name##_2, mul_mat_vec_q_##name##_3, mul_mat_vec_q_##name##_4, \
    mul_mat_vec_q_##name##_5, mul_mat_vec_q_##name##_6, mul_mat_vec_q_##name##_7, mul_mat_vec_q_##name##_8}, \
   mul_mat_vec_q_##name##_1_short, mul_mat_vec_q_##name##_1_short_chain, elem_##name},
static const TypeCase cases[] = {MMVQ_TYPE_LIST(MV_CASE)};

static int failures = 0;

static void run_case(const TypeCase& tc, s64 nrows, s64 k) {
  const int nb = (int)(k / tc.qk);
  const size_t wbytes = (size_t)nrows * nb * tc.bytes;
  // Exactly the matrix: AddressSanitizer reports a read past it. 16-byte aligned (the host's check).
  u8* w = new u8[wbytes];
  if ((uintptr_t)w % 16 != 0) { fprintf(stderr, "allocator gave an unaligned buffer\n"); abort(); }
  for (s64 r = 0; r < nrows; ++r) for (int ib = 0; ib < nb; ++ib) random_block(tc.name, w + (r * nb + ib) * tc.bytes, tc.bytes);
  const std::vector<double> wd = decode_rows(tc.elem, w, nrows, k, tc.qk, tc.bytes);
  // q8_1 activations for 8 columns, as quantize_q8_1 writes them.
  const size_t col_bytes = (size_t)(k / 32) * 36;
  std::vector<u8> x8;
  std::vector<double> xd;
  random_q8_1(8, k, x8, xd);
  for (int ncols = 1; ncols <= MMVQ_MAX_COLS; ++ncols) {
    u8* xq = new u8[ncols * col_bytes];  // exactly ncols columns
    memcpy(xq, x8.data(), ncols * col_bytes);
    float* y = new float[(size_t)ncols * nrows];
    for (s64 i = 0; i < ncols * nrows; ++i) y[i] = NAN;  // every output must be written
    std::vector<double> ref((size_t)ncols * nrows);
    for (int c = 0; c < ncols; ++c)
      for (s64 r = 0; r < nrows; ++r) {
        double s = 0;
        for (s64 j = 0; j < k; ++j) s += wd[r * k + j] * xd[c * k + j];
        ref[c * nrows + r] = s;
      }
    // One column also runs the short-row kernel (the host picks it for short rows; any k is valid).
    for (int variant = 0; variant < (ncols == 1 ? 2 : 1); ++variant) {
      const bool short_rows = variant == 1;
      for (s64 i = 0; i < ncols * nrows; ++i) y[i] = NAN;
      const int nt = MMVQ_THREADS(ncols), rows = short_rows ? MMVQ_THREADS(1) / QK_WARP_SIZE : MMVQ_ROWS(ncols);
      const char* suffix = short_rows ? "_short" : "";
      qk_dim3 grid, block;
      grid.x = (unsigned)((nrows + rows - 1) / rows);
      block.x = (unsigned)nt;
      const mv_fn fn = short_rows ? tc.short_fn : tc.fn[ncols - 1];
      qk_launch(grid, block, [&] { fn(w, xq, y, k, nrows, nullptr, nullptr, 0, nullptr, nullptr, 0); });
      const double e = nmse(y, ref);
      const bool ok = e <= 5e-4;
      if (!ok) failures++;
      printf("%s w%d mul_mat_vec_q_%s_%d%s rows=%lld k=%lld (CTA %d threads, %d rows): nmse %.3g\n", ok ? "ok  " : "FAIL",
             QK_WARP_SIZE, tc.name, ncols, suffix, (long long)nrows, (long long)k, nt, rows, e);
      // The same rows as three matrices sharing one launch (a plan's q/k/v): each part its own
      // 16-byte aligned weights and outputs, CTAs of part 0 first.
      if (ncols <= 2 && nrows >= 3) {
        const s64 n[3] = {nrows / 3, (nrows - nrows / 3) / 2, nrows - nrows / 3 - (nrows - nrows / 3) / 2};
        const size_t row_bytes = (size_t)nb * tc.bytes;
        u8* wp[3]; float* yp[3]; s64 first = 0; unsigned ctas = 0;
        for (int i = 0; i < 3; ++i) {
          wp[i] = new u8[n[i] * row_bytes];
          memcpy(wp[i], w + first * row_bytes, n[i] * row_bytes);
          yp[i] = new float[(size_t)ncols * n[i]];
          for (s64 j = 0; j < ncols * n[i]; ++j) yp[i][j] = NAN;
          ctas += (unsigned)((n[i] + rows - 1) / rows);
          first += n[i];
        }
        qk_dim3 g3 = grid;
        g3.x = ctas;
        qk_launch(g3, block, [&] { fn(wp[0], xq, yp[0], k, n[0], wp[1], yp[1], n[1], wp[2], yp[2], n[2]); });
        std::vector<float> joined((size_t)ncols * nrows);
        first = 0;
        for (int i = 0; i < 3; ++i) {
          for (int c = 0; c < ncols; ++c)
            for (s64 r = 0; r < n[i]; ++r) joined[c * nrows + first + r] = yp[i][c * n[i] + r];
          first += n[i];
          delete[] wp[i];
          delete[] yp[i];
        }
        const double e3 = nmse(joined.data(), ref);
        const bool ok3 = e3 <= 5e-4;
        if (!ok3) failures++;
        printf("%s w%d mul_mat_vec_q_%s_%d%s rows=%lld+%lld+%lld k=%lld (three matrices, one launch): nmse %.3g\n",
               ok3 ? "ok  " : "FAIL", QK_WARP_SIZE, tc.name, ncols, suffix, (long long)n[0], (long long)n[1],
               (long long)n[2], (long long)k, e3);
      }
    }
    delete[] y;
    delete[] xq;
  }
  delete[] w;
}


static std::vector<float> wave_values(s64 n, int seed) {
  std::vector<float> v(n);
  for (s64 i = 0; i < n; ++i) v[i] = (float)(0.6 * sin(0.37 * (double)(i + 1) * seed) + 0.05 * seed);
  return v;
}
// Half the types run the GELU head, half SiLU.
static int gelu_case(const TypeCase& tc) { return (int)(strlen(tc.name) % 2); }
template <class T> static bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// mul_mat_vec_q_<type>_1_short_chain against its parts: y bit for bit the short-row kernel's (from q8_1
// activations) or within the mat-vec bound of the double reference (from a gated activation it quantizes
// itself, whose f32 values CTA 0 writes), and the tail's outputs bit for bit row_chain's run as a launch of
// its own over that y (fused_norm_add_norm_q8_1's body) — for several stage sets, the q8_1 output written
// over the activations it read (as a plan's scratch), twice with one counter (the last CTA resets it).
static void run_chain_case(const TypeCase& tc, s64 nrows, s64 k) {
  const int nb = (int)(k / tc.qk);
  std::vector<u8> w((size_t)nrows * nb * tc.bytes);
  for (s64 r = 0; r < nrows; ++r) for (int ib = 0; ib < nb; ++ib) random_block(tc.name, w.data() + (r * nb + ib) * tc.bytes, tc.bytes);
  const std::vector<double> wd = decode_rows(tc.elem, w.data(), nrows, k, tc.qk, tc.bytes);
  std::vector<u8> x8;
  std::vector<double> xd;
  random_q8_1(1, k, x8, xd);
  const int rows = FUSED_ROW_THREADS / QK_WARP_SIZE;
  qk_dim3 grid, block;
  grid.x = (unsigned)((nrows + rows - 1) / rows);
  block.x = FUSED_ROW_THREADS;
  qk_dim3 sgrid, sblock;
  sgrid.x = (unsigned)((nrows + MMVQ_THREADS(1) / QK_WARP_SIZE - 1) / (MMVQ_THREADS(1) / QK_WARP_SIZE));
  sblock.x = MMVQ_THREADS(1);
  std::vector<float> ys(nrows, NAN);
  qk_launch(sgrid, sblock, [&] { tc.short_fn(w.data(), x8.data(), ys.data(), k, nrows, nullptr, nullptr, 0, nullptr, nullptr, 0); });
  // The gated activation and its double reference product.
  const std::vector<float> gate = wave_values(k, 5), up = wave_values(k, 11);
  std::vector<double> gd(k);
  for (s64 j = 0; j < k; ++j) {
    const double g = gate[j], u = up[j];
    gd[j] = (gelu_case(tc) ? g / (1 + exp(-2 * 0.7978845608028654 * g * (1 + 0.044715 * g * g))) : g / (1 + exp(-g))) * u;
  }
  std::vector<double> gref(nrows);
  for (s64 r = 0; r < nrows; ++r) {
    double acc = 0;
    for (s64 j = 0; j < k; ++j) acc += wd[r * k + j] * gd[j];
    gref[r] = acc;
  }
  const std::vector<float> a = wave_values(nrows, 3), w1 = wave_values(nrows, 7), w2 = wave_values(nrows, 9);
  const float eps1 = 1e-6f, eps2 = 1e-5f;
  for (int glu = 0; glu < 2; ++glu)
    for (s32 flags : {1 | 2 | 4 | 8, 2 | 4 | 8, 1 | 2, 2, 4 | 8}) {
      const size_t qbytes = (size_t)std::max(nrows, k) / 32 * 36;
      u32 counter = 0;
      bool ok = true;
      double e = 0, act_err = 0;
      for (int run = 0; run < 2; ++run) {
        std::vector<float> y(nrows, NAN), ft(nrows, NAN), fs(nrows, NAN), fy(nrows, NAN), act(k, NAN);
        std::vector<u8> xq(qbytes, 0xee);
        memcpy(xq.data(), x8.data(), x8.size());
        std::vector<u8> fq = xq;  // the q8_1 output goes over the input, as in a plan's scratch
        qk_launch(grid, block, [&] {
          tc.chain_fn(w.data(), fq.data(), y.data(), k, nrows, glu ? gate.data() : nullptr, glu ? up.data() : nullptr,
                      glu ? act.data() : nullptr, gelu_case(tc), a.data(), w1.data(), w2.data(), ft.data(), fs.data(),
                      fy.data(), (flags & 8) ? fq.data() : nullptr, eps1, eps2, flags, &counter);
        });
        if (glu) {
          e = nmse(y.data(), gref);
          ok = ok && e <= 5e-4;
          for (s64 j = 0; j < k; ++j) act_err = std::max(act_err, fabs(act[j] - gd[j]) / (fabs(gd[j]) + 1e-3));
          ok = ok && act_err <= 1e-5;
        } else {
          ok = ok && memcmp(y.data(), ys.data(), nrows * sizeof(float)) == 0;
        }
        // Reference tail: row_chain over this y, one CTA.
        std::vector<float> t(nrows, NAN), s(nrows, NAN), yo(nrows, NAN);
        std::vector<u8> q(qbytes, 0xee);
        qk_dim3 one;
        one.x = 1;
        qk_launch(one, block, [&] {
          row_chain(y.data(), a.data(), w1.data(), w2.data(), t.data(), s.data(), yo.data(), q.data(), 0, nrows, eps1, eps2, flags);
        });
        ok = ok && counter == 0;
        if (flags & 1) ok = ok && same_bytes(ft, t);
        if (flags & 2) ok = ok && same_bytes(fs, s);
        if (flags & 4) ok = ok && same_bytes(fy, yo);
        if (flags & 8) ok = ok && memcmp(fq.data(), q.data(), (size_t)nrows / 32 * 36) == 0;
      }
      if (!ok) failures++;
      printf("%s w%d mul_mat_vec_q_%s_1_short_chain%s rows=%lld k=%lld flags=%d: %s", ok ? "ok  " : "FAIL", QK_WARP_SIZE,
             tc.name, glu ? (gelu_case(tc) ? " (geglu head)" : " (swiglu head)") : "", (long long)nrows, (long long)k, flags,
             ok ? "tail bit for bit" : "differs");
      if (glu) printf(", mat-vec nmse %.3g, activation rel. error %.3g", e, act_err);
      printf("\n");
    }
}

int main(int argc, char** argv) {
  qk_warp_size_rt = QK_WARP_SIZE;
  const char* only = argc > 1 ? argv[1] : nullptr;  // optional: one type
  for (const TypeCase& tc : cases) {
    if (only && std::string(only) != tc.name) continue;
    // One block; 13 rows (not a multiple of 2, 3 or 4 rows per CTA) and a k of several CTA k-steps, the
    // last one partial (109 or 25 blocks); 3 rows of k = 4096.
    // 13 rows of Gemma 3's short k (640 / 1024: the short-row kernel's case) too.
    const s64 shapes[4][2] = {{1, tc.qk}, {13, tc.qk == 32 ? 32 * 109 : 256 * 25}, {3, 4096}, {13, tc.qk == 32 ? 640 : 1024}};
    for (auto& s : shapes) run_case(tc, s[0], s[1]);
    // The row chain tail: rows a multiple of 32 (the q8_1 output), CTAs of several wavefronts, the last partial.
    run_chain_case(tc, 96 + 32 * (QK_WARP_SIZE == 32), tc.qk == 32 ? 640 : 1024);
  }
  printf("w%d: %d failures\n", QK_WARP_SIZE, failures);
  return failures != 0;
}
