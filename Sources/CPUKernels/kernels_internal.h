// Shared pieces of the CPU kernels: fp16/bf16 conversion, the value tables (iq_tables.h), the per-ISA table
// fillers, and the tile driver every kernel family instantiates.
#ifndef QUANTA_KERNELS_INTERNAL_H
#define QUANTA_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_kernels.h"
#include "ggml_blocks.h"
#include "iq_tables.h"  // GGMLBlocks: the i-quant, iq4 and mxfp4 tables (generated)

#define QK_ALWAYS_INLINE inline __attribute__((always_inline))

// IEEE binary16 → binary32, exact for every input (ggml's GGML_FP16_TO_FP32). Integer shifts and one
// multiply by 2^112 rebias the exponent (subnormals included); exponent 31 maps to inf/NaN. Used by
// the SIMD kernels too: F16C's scalar convert (_cvtsh_ss) compiles to an insert that merges into a
// live register, chaining every block's scale onto the accumulator's latency.
static inline float qk_fp16_to_fp32(uint16_t h) {
  uint32_t bits = (uint32_t)(h & 0x7fff) << 13;
  if ((h & 0x7c00) == 0x7c00) bits |= 0x7f800000u;
  float f;
  memcpy(&f, &bits, 4);
  f *= 0x1p112f;
  memcpy(&bits, &f, 4);
  bits |= (uint32_t)(h & 0x8000) << 16;
  memcpy(&f, &bits, 4);
  return f;
}

// binary32 → binary16, round to nearest even (ggml's GGML_FP32_TO_FP16).
static inline uint16_t qk_fp32_to_fp16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t ax = x & 0x7fffffff;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));  // NaN stays NaN
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);                        // rounds to inf
  if (ax < 0x38800000u) {
    // Result is subnormal or zero: shift with rounding to nearest even.
    if (ax < 0x33000000u) return (uint16_t)sign;
    const uint32_t e = ax >> 23;
    const uint32_t m = (ax & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - e;  // value = m * 2^(e-126) half-subnormal units
    const uint32_t q = m >> (shift);
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    uint32_t r = q;
    if (rem > half || (rem == half && (q & 1))) r++;
    return (uint16_t)(sign | r);
  }
  uint32_t r = ((ax - 0x38000000u) >> 13);
  const uint32_t rem = ax & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
  return (uint16_t)(sign | r);
}

// MXFP4's E8M0 exponent → f32, halved (kvalues_mxfp4 holds the E2M1 values doubled): 2^(e-128),
// ggml's GGML_E8M0_TO_FP32_HALF (e = 0, 1 give the subnormals 2^-128, 2^-127).
static inline float qk_e8m0_to_fp32_half(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static inline float qk_bf16_to_fp32(uint16_t h) {
  const uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

// Table fillers, one per ISA family; each overrides the entries it implements.
void qk_fill_scalar(qk_kernel_table *t);
void qk_fill_dequantizers(qk_kernel_table *t);
#if defined(__x86_64__)
void qk_fill_avx2(qk_kernel_table *t);
void qk_fill_avx512(qk_kernel_table *t);
void qk_fill_avx512_vnni(qk_kernel_table *t);
void qk_fill_gemm_vnni(qk_kernel_table *t);
#endif
#if defined(__aarch64__)
void qk_fill_neon(qk_kernel_table *t);
#endif

static inline void qk_set(qk_kernel_table *t, int type, qk_vec_dot_fn dot, qk_tile_fn tile, int dot_type,
                          qk_isa isa) {
  t->vec_dot[type] = dot;
  t->vec_dot_tile[type] = tile;
  t->vec_dot_type[type] = dot_type;
  t->impl_isa[type] = isa;
}

// The tile driver. A kernel family supplies, for one weight block type WBLK (WPER values) and its
// activation block type YBLK:
//   PREP(PREP_T *p, const WBLK *x)            unpack one weight block (done once per weight row)
//   ZERO()                                    a cleared accumulator
//   DOT(const PREP_T *p, const YBLK *y, ACC_T acc) -> ACC_T   one block's contribution
//   HSUM(ACC_T) -> float                      the final reduction
//   TAIL(int rem, const WBLK *x, const YBLK *y) -> float  the last n % WPER values (dense types;
//                                             QK_NO_TAIL for block types, where n % WPER == 0)
// Each (r, c) accumulator sees the same sequence of operations whatever the tile shape, so the tile
// results are bit-identical to vec_dot (which is the 1x1 tile). MR x MC is the register tile;
// every call shape has compile-time trip counts (see NAME##_tile).
// Software prefetch distance (bytes ahead in each weight row). The hardware prefetchers alone leave a
// mat-vec latency-bound (each block is a few instructions, so the out-of-order window covers only a
// few cache lines): prefetching 2 KiB ahead took q8_0 from ~10 to ~20 GB/s on one Zen core.
#ifndef QK_PF_DIST
#define QK_PF_DIST 2048
#endif
// Mat-vec streams (see NAME##_tile): rows taken together, and the least distance in bytes between
// their parts of the strip (a page: the hardware prefetchers follow sequential access per page).
#define QK_MV_STREAMS 2
#define QK_MV_STREAM_GAP 4096
#define QK_NO_TAIL(rem, x, y) 0.0f
#define QK_UNROLL _Pragma("clang loop unroll(full)")
// QK_DEFINE_TILE_FIN is the general form: FINISH(ACC_T acc, int rem, const WBLK *x, const YBLK *y)
// -> float turns an accumulator (and the last n % WPER values) into the dot; QK_DEFINE_TILE builds it
// from HSUM(acc) + TAIL(rem, x, y).
#define QK_DEFINE_TILE(NAME, ATTR, WBLK, YBLK, WPER, PREP_T, ACC_T, PREP, ZERO, DOT, HSUM, TAIL, MR, MC)  \
  ATTR static QK_ALWAYS_INLINE float NAME##_fin(ACC_T a_, int rem_, const WBLK *x_, const YBLK *y_) {    \
    (void)x_;                                                                                            \
    (void)y_;                                                                                            \
    (void)rem_;                                                                                          \
    return HSUM(a_) + TAIL(rem_, x_, y_);                                                                \
  }                                                                                                      \
  QK_DEFINE_TILE_FIN(NAME, ATTR, WBLK, YBLK, WPER, PREP_T, ACC_T, PREP, ZERO, DOT, NAME##_fin, MR, MC)
#define QK_DEFINE_TILE_FIN(NAME, ATTR, WBLK, YBLK, WPER, PREP_T, ACC_T, PREP, ZERO, DOT, FINISH, MR, MC) \
  ATTR static QK_ALWAYS_INLINE void NAME##_micro(int n, const int nr, const int nc, const char *x,        \
                                                 size_t ldX, const char *y, size_t ldY, float *s,        \
                                                 size_t ldS) {                                           \
    const int nb = n / (WPER);                                                                           \
    ACC_T acc[MR][MC];                                                                                   \
    QK_UNROLL for (int r = 0; r < nr; ++r)                                                               \
      QK_UNROLL for (int c = 0; c < nc; ++c) acc[r][c] = ZERO();                                         \
    for (int i = 0; i < nb; ++i) {                                                                       \
      QK_UNROLL for (int r = 0; r < nr; ++r) {                                                           \
        PREP_T p;                                                                                        \
        QK_UNROLL for (int o_ = 0; o_ < (int)sizeof(WBLK); o_ += 64)                                    \
          __builtin_prefetch((const char *)((const WBLK *)(x + (size_t)r * ldX) + i) + QK_PF_DIST + o_);  \
        PREP(&p, (const WBLK *)(x + (size_t)r * ldX) + i);                                               \
        QK_UNROLL for (int c = 0; c < nc; ++c)                                                           \
          acc[r][c] = DOT(&p, (const YBLK *)(y + (size_t)c * ldY) + i, acc[r][c]);                       \
      }                                                                                                  \
    }                                                                                                    \
    QK_UNROLL for (int r = 0; r < nr; ++r)                                                               \
      QK_UNROLL for (int c = 0; c < nc; ++c)                                                             \
        s[(size_t)c * ldS + r] = FINISH(acc[r][c], n - nb * (WPER),                                      \
                                        (const WBLK *)(x + (size_t)r * ldX) + nb,                        \
                                        (const YBLK *)(y + (size_t)c * ldY) + nb);                       \
  }                                                                                                      \
  ATTR static float NAME##_vec_dot(int n, const void *x, const void *y) {                                \
    float s;                                                                                             \
    NAME##_micro(n, 1, 1, (const char *)x, 0, (const char *)y, 0, &s, 0);                                \
    return s;                                                                                            \
  }                                                                                                      \
  /* Row strips outer, columns inner: an MR-row weight strip stays in L1 while the columns (an L2- */  \
  /* sized panel) stream past it, so each weight byte comes from memory once per call. */              \
  /* Full tiles; full-height strips of 2 or 3 columns (batched decode of 2-3 sequences) as one */    \
  /* narrower tile, other full-height strips one column at a time; the rest one dot at a time. A */    \
  /* mat-vec (nc = 1) goes through NAME##_matvec. Every path has compile-time trip counts, so */         \
  /* accumulators stay in registers. */                                                                  \
  ATTR static void NAME##_tile(int n, int nr, int nc, const void *x, size_t ldX, const void *y,          \
                               size_t ldY, float *s, size_t ldS) {                                       \
    if (nc == 1 && (MR) >= QK_MV_STREAMS && (size_t)(nr / QK_MV_STREAMS) * ldX >= QK_MV_STREAM_GAP) {    \
      /* Mat-vec: QK_MV_STREAMS rows at once, each from its own part of the strip (rows r, r + h, */      \
      /* ..), so every part stays one sequential stream within its pages while the independent */        \
      /* accumulator chains overlap (adjacent rows interleaved measured slower from memory than */      \
      /* one row at a time; parts a page or more apart, faster). */                                      \
      const int k_ = (MR) >= QK_MV_STREAMS ? QK_MV_STREAMS : 1; /* (the branch needs MR ≥ streams) */   \
      const int h = nr / k_;                                                                             \
      for (int r = 0; r < h; ++r) {                                                                      \
        float t_[QK_MV_STREAMS];                                                                         \
        NAME##_micro(n, k_, 1, (const char *)x + (size_t)r * ldX, ldX * (size_t)h, (const char *)y, 0,   \
                     t_, 0);                                                                             \
        QK_UNROLL for (int q_ = 0; q_ < k_; ++q_) s[r + q_ * h] = t_[q_];                                \
      }                                                                                                  \
      for (int r = h * k_; r < nr; ++r)                                                                  \
        NAME##_micro(n, 1, 1, (const char *)x + (size_t)r * ldX, 0, (const char *)y, 0, s + r, 0);       \
      return;                                                                                            \
    }                                                                                                    \
    for (int r0 = 0; r0 < nr; r0 += (MR)) {                                                              \
      const int rr = nr - r0 < (MR) ? nr - r0 : (MR);                                                    \
      const char *xp = (const char *)x + (size_t)r0 * ldX;                                               \
      for (int c0 = 0; c0 < nc; c0 += (MC)) {                                                            \
        const int cc = nc - c0 < (MC) ? nc - c0 : (MC);                                                  \
        const char *yp = (const char *)y + (size_t)c0 * ldY;                                             \
        float *sp = s + (size_t)c0 * ldS + r0;                                                           \
        if (rr == (MR) && cc == (MC)) {                                                                  \
          NAME##_micro(n, MR, MC, xp, ldX, yp, ldY, sp, ldS);                                            \
        } else if (rr == (MR) && (MC) > 2 && cc == 2) {                                                  \
          NAME##_micro(n, MR, (MC) > 2 ? 2 : 1, xp, ldX, yp, ldY, sp, ldS);                              \
        } else if (rr == (MR) && (MC) > 3 && cc == 3) {                                                  \
          NAME##_micro(n, MR, (MC) > 3 ? 3 : 1, xp, ldX, yp, ldY, sp, ldS);                              \
        } else if (rr == (MR) && (cc > 1 || nc > 1)) {                                                   \
          for (int c = 0; c < cc; ++c)                                                                   \
            NAME##_micro(n, MR, 1, xp, ldX, yp + (size_t)c * ldY, 0, sp + (size_t)c * ldS, 0);           \
        } else {                                                                                         \
          for (int c = 0; c < cc; ++c)                                                                   \
            for (int r = 0; r < rr; ++r)                                                                 \
              NAME##_micro(n, 1, 1, xp + (size_t)r * ldX, 0, yp + (size_t)c * ldY, 0,                    \
                           sp + (size_t)c * ldS + r, 0);                                                 \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }

#endif
