// Row dequantizers (to f32) of the i-quants IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
// the ternary TQ1_0 / TQ2_0 and Q8_1 (MXFP4's is kept for reference). They serve the dequantize op
// and the matmul's forced dequantize path (which dots a few converted rows with the f32 tile
// kernel); matmuls of these types otherwise use the integer kernels (kernels_*_iq.c).
// Arithmetic follows ggml's dequantize_row_* operation for operation, so every value is bit-equal to
// the reference codecs (Sources/GGML/Codecs); the tests compare them. Compiled twice: portable, and
// with AVX2 enabled so the compiler vectorizes the inner loops (x86-64 tables use that copy).
#include "iq_tables.h"
#include "kernels_internal.h"

// No FMA contraction: every product rounds as in the reference.
#pragma clang fp contract(off)

#define IQ1S_DELTA 0.125f

#define QK_DEQUANT_FUNCS(SUFFIX, ATTR)                                                                   \
  ATTR static void dequantize_row_iq2_xxs_##SUFFIX(const void *vx, float *y, int64_t k) {               \
    const block_iq2_xxs *x = vx;                                                                         \
    for (int64_t i = 0; i < k / QK_K; i++) {                                                             \
      const float d = qk_fp16_to_fp32(x[i].d);                                                           \
      for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {                                                     \
        uint32_t aux32[2];                                                                               \
        memcpy(aux32, x[i].qs + 4 * ib32, 8);                                                            \
        const uint8_t *aux8 = (const uint8_t *)aux32;                                                    \
        const float db = d * (0.5f + (aux32[1] >> 28)) * 0.25f;                                          \
        for (int l = 0; l < 4; ++l) {                                                                    \
          const uint8_t *grid = (const uint8_t *)(qk_iq2xxs_grid + aux8[l]);                             \
          const uint8_t signs = qk_ksigns_iq2xs[(aux32[1] >> 7 * l) & 127];                              \
          for (int j = 0; j < 8; ++j) y[j] = db * grid[j] * (signs & qk_kmask_iq2xs[j] ? -1.f : 1.f);    \
          y += 8;                                                                                        \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  ATTR static void dequantize_row_iq2_xs_##SUFFIX(const void *vx, float *y, int64_t k) {                \
    const block_iq2_xs *x = vx;                                                                          \
    for (int64_t i = 0; i < k / QK_K; i++) {                                                             \
      const float d = qk_fp16_to_fp32(x[i].d);                                                           \
      for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {                                                     \
        float db[2];                                                                                     \
        db[0] = d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f;                                          \
        db[1] = d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f;                                           \
        for (int l = 0; l < 4; ++l) {                                                                    \
          const uint8_t *grid = (const uint8_t *)(qk_iq2xs_grid + (x[i].qs[4 * ib32 + l] & 511));        \
          const uint8_t signs = qk_ksigns_iq2xs[x[i].qs[4 * ib32 + l] >> 9];                             \
          for (int j = 0; j < 8; ++j)                                                                    \
            y[j] = db[l / 2] * grid[j] * (signs & qk_kmask_iq2xs[j] ? -1.f : 1.f);                       \
          y += 8;                                                                                        \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  ATTR static void dequantize_row_iq2_s_##SUFFIX(const void *vx, float *y, int64_t k) {                 \
    const block_iq2_s *x = vx;                                                                           \
    for (int64_t i = 0; i < k / QK_K; i++) {                                                             \
      const float d = qk_fp16_to_fp32(x[i].d);                                                           \
      const uint8_t *qs = x[i].qs;                                                                       \
      const uint8_t *qh = x[i].qh;                                                                       \
      const uint8_t *signs = qs + QK_K / 8;                                                              \
      for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {                                                     \
        float db[2];                                                                                     \
        db[0] = d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f;                                          \
        db[1] = d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f;                                           \
        for (int l = 0; l < 4; ++l) {                                                                    \
          const float dl = db[l / 2];                                                                    \
          const uint8_t *grid = (const uint8_t *)(qk_iq2s_grid + (qs[l] | (qh[ib32] << (8 - 2 * l) & 0x300))); \
          for (int j = 0; j < 8; ++j) y[j] = dl * grid[j] * (signs[l] & qk_kmask_iq2xs[j] ? -1.f : 1.f); \
          y += 8;                                                                                        \
        }                                                                                                \
        qs += 4;                                                                                         \
        signs += 4;                                                                                      \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  ATTR static void dequantize_row_iq3_xxs_##SUFFIX(const void *vx, float *y, int64_t k) {               \
    const block_iq3_xxs *x = vx;                                                                         \
    for (int64_t i = 0; i < k / QK_K; i++) {                                                             \
      const float d = qk_fp16_to_fp32(x[i].d);                                                           \
      const uint8_t *qs = x[i].qs;                                                                       \
      const uint8_t *scales_and_signs = qs + QK_K / 4;                                                   \
      for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {                                                     \
        uint32_t aux32;                                                                                  \
        memcpy(&aux32, scales_and_signs + 4 * ib32, 4);                                                  \
        const float db = d * (0.5f + (aux32 >> 28)) * 0.5f;                                              \
        for (int l = 0; l < 4; ++l) {                                                                    \
          const uint8_t signs = qk_ksigns_iq2xs[(aux32 >> 7 * l) & 127];                                 \
          const uint8_t *grid1 = (const uint8_t *)(qk_iq3xxs_grid + qs[2 * l + 0]);                      \
          const uint8_t *grid2 = (const uint8_t *)(qk_iq3xxs_grid + qs[2 * l + 1]);                      \
          for (int j = 0; j < 4; ++j) {                                                                  \
            y[j + 0] = db * grid1[j] * (signs & qk_kmask_iq2xs[j + 0] ? -1.f : 1.f);                     \
            y[j + 4] = db * grid2[j] * (signs & qk_kmask_iq2xs[j + 4] ? -1.f : 1.f);                     \
          }                                                                                              \
          y += 8;                                                                                        \
        }                                                                                                \
        qs += 8;                                                                                         \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  ATTR static void dequantize_row_iq3_s_##SUFFIX(const void *vx, float *y, int64_t k) {                 \
    const block_iq3_s *x = vx;                                                                           \
    for (int64_t i = 0; i < k / QK_K; i++) {                                                             \
      const float d = qk_fp16_to_fp32(x[i].d);                                                           \
      const uint8_t *qs = x[i].qs;                                                                       \
      const uint8_t *qh = x[i].qh;                                                                       \
      const uint8_t *signs = x[i].signs;                                                                 \
      for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 2) {                                                  \
        const float db[2] = {d * (1 + 2 * (x[i].scales[ib32 / 2] & 0xf)),                                \
                             d * (1 + 2 * (x[i].scales[ib32 / 2] >> 4))};                                \
        for (int h = 0; h < 2; ++h) {                                                                    \
          for (int l = 0; l < 4; ++l) {                                                                  \
            const uint8_t *grid1 = (const uint8_t *)(qk_iq3s_grid + (qs[2 * l + 0] | ((qh[h] << (8 - 2 * l)) & 256))); \
            const uint8_t *grid2 = (const uint8_t *)(qk_iq3s_grid + (qs[2 * l + 1] | ((qh[h] << (7 - 2 * l)) & 256))); \
            for (int j = 0; j < 4; ++j) {                                                                \
              y[j + 0] = db[h] * grid1[j] * (signs[l] & qk_kmask_iq2xs[j + 0] ? -1.f : 1.f);             \
              y[j + 4] = db[h] * grid2[j] * (signs[l] & qk_kmask_iq2xs[j + 4] ? -1.f : 1.f);             \
            }                                                                                            \
            y += 8;                                                                                      \
          }                                                                                              \
          qs += 8;                                                                                       \
          signs += 4;                                                                                    \
        }                                                                                                \
        qh += 2;                                                                                         \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  ATTR static void dequantize_row_iq1_s_##SUFFIX(const void *vx, float *y, int64_t k) {                 \
    const block_iq1_s *x = vx;                                                                           \
    for (int64_t i = 0; i < k / QK_K; i++) {                                                             \
      const float d = qk_fp16_to_fp32(x[i].d);                                                           \
      const uint8_t *qs = x[i].qs;                                                                       \
      const uint16_t *qh = x[i].qh;                                                                      \
      for (int ib = 0; ib < QK_K / 32; ++ib) {                                                           \
        const float dl = d * (2 * ((qh[ib] >> 12) & 7) + 1);                                             \
        const float delta = qh[ib] & 0x8000 ? -IQ1S_DELTA : IQ1S_DELTA;                                  \
        for (int l = 0; l < 4; ++l) {                                                                    \
          const int8_t *grid = (const int8_t *)(qk_iq1s_grid + (qs[l] | (((qh[ib] >> 3 * l) & 7) << 8)));\
          for (int j = 0; j < 8; ++j) y[j] = dl * (grid[j] + delta);                                     \
          y += 8;                                                                                        \
        }                                                                                                \
        qs += 4;                                                                                         \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  ATTR static void dequantize_row_iq1_m_##SUFFIX(const void *vx, float *y, int64_t k) {                 \
    const block_iq1_m *x = vx;                                                                           \
    for (int64_t i = 0; i < k / QK_K; i++) {                                                             \
      uint16_t sc[4];                                                                                    \
      memcpy(sc, x[i].scales, 8);                                                                        \
      const uint16_t s16 = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | \
                                      (sc[3] & 0xf000));                                                 \
      const float d = qk_fp16_to_fp32(s16);                                                              \
      const uint8_t *qs = x[i].qs;                                                                       \
      const uint8_t *qh = x[i].qh;                                                                       \
      for (int ib = 0; ib < QK_K / 32; ++ib) {                                                           \
        const float dl1 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1);                      \
        const float dl2 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);                      \
        const uint16_t idx[4] = {(uint16_t)(qs[0] | ((qh[0] << 8) & 0x700)),                             \
                                 (uint16_t)(qs[1] | ((qh[0] << 4) & 0x700)),                             \
                                 (uint16_t)(qs[2] | ((qh[1] << 8) & 0x700)),                             \
                                 (uint16_t)(qs[3] | ((qh[1] << 4) & 0x700))};                            \
        const float delta[4] = {qh[0] & 0x08 ? -IQ1S_DELTA : IQ1S_DELTA, qh[0] & 0x80 ? -IQ1S_DELTA : IQ1S_DELTA, \
                                qh[1] & 0x08 ? -IQ1S_DELTA : IQ1S_DELTA, qh[1] & 0x80 ? -IQ1S_DELTA : IQ1S_DELTA}; \
        for (int l = 0; l < 4; ++l) {                                                                    \
          const int8_t *grid = (const int8_t *)(qk_iq1s_grid + idx[l]);                                  \
          const float dl = l < 2 ? dl1 : dl2;                                                            \
          for (int j = 0; j < 8; ++j) y[j] = dl * (grid[j] + delta[l]);                                  \
          y += 8;                                                                                        \
        }                                                                                                \
        qs += 4;                                                                                         \
        qh += 2;                                                                                         \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  ATTR static void dequantize_row_tq1_0_##SUFFIX(const void *vx, float *y, int64_t k) {                 \
    const block_tq1_0 *x = vx;                                                                           \
    static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};                                               \
    const size_t nqs = sizeof(x->qs);                                                                    \
    for (int64_t i = 0; i < k / QK_K; ++i) {                                                             \
      const float d = qk_fp16_to_fp32(x[i].d);                                                           \
      for (size_t j = 0; j < nqs - nqs % 32; j += 32)                                                    \
        for (size_t n = 0; n < 5; ++n)                                                                   \
          for (size_t m = 0; m < 32; ++m) {                                                              \
            const uint8_t q = (uint8_t)(x[i].qs[j + m] * pow3[n]);                                       \
            *y++ = (float)((((uint16_t)q * 3) >> 8) - 1) * d;                                            \
          }                                                                                              \
      for (size_t j = nqs - nqs % 32; j < nqs; j += 16)                                                  \
        for (size_t n = 0; n < 5; ++n)                                                                   \
          for (size_t m = 0; m < 16; ++m) {                                                              \
            const uint8_t q = (uint8_t)(x[i].qs[j + m] * pow3[n]);                                       \
            *y++ = (float)((((uint16_t)q * 3) >> 8) - 1) * d;                                            \
          }                                                                                              \
      for (size_t n = 0; n < 4; ++n)                                                                     \
        for (size_t j = 0; j < sizeof(x->qh); ++j) {                                                     \
          const uint8_t q = (uint8_t)(x[i].qh[j] * pow3[n]);                                             \
          *y++ = (float)((((uint16_t)q * 3) >> 8) - 1) * d;                                              \
        }                                                                                                \
    }                                                                                                    \
  }                                                                                                      \
  ATTR static void dequantize_row_tq2_0_##SUFFIX(const void *vx, float *y, int64_t k) {                 \
    const block_tq2_0 *x = vx;                                                                           \
    for (int64_t i = 0; i < k / QK_K; ++i) {                                                             \
      const float d = qk_fp16_to_fp32(x[i].d);                                                           \
      for (size_t j = 0; j < sizeof(x->qs); j += 32)                                                     \
        for (size_t l = 0; l < 4; ++l)                                                                   \
          for (size_t m = 0; m < 32; ++m) *y++ = (float)(((x[i].qs[j + m] >> (l * 2)) & 3) - 1) * d;    \
    }                                                                                                    \
  }                                                                                                      \
  ATTR __attribute__((unused)) static void dequantize_row_mxfp4_##SUFFIX(const void *vx, float *y, int64_t k) {                 \
    const block_mxfp4 *x = vx;                                                                           \
    for (int64_t i = 0; i < k / QK_MXFP4; i++) {                                                         \
      /* E8M0 → f32, halved (the table holds doubled E2M1 values): 2^(e-128) */                         \
      const uint32_t bits = x[i].e < 2 ? 0x00200000u << x[i].e : (uint32_t)(x[i].e - 1) << 23;           \
      float d;                                                                                           \
      memcpy(&d, &bits, 4);                                                                              \
      for (int j = 0; j < QK_MXFP4 / 2; ++j) {                                                           \
        y[i * QK_MXFP4 + j] = qk_kvalues_mxfp4[x[i].qs[j] & 0x0F] * d;                                   \
        y[i * QK_MXFP4 + j + QK_MXFP4 / 2] = qk_kvalues_mxfp4[x[i].qs[j] >> 4] * d;                      \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  ATTR static void dequantize_row_q8_1_##SUFFIX(const void *vx, float *y, int64_t k) {                  \
    const block_q8_1 *x = vx;                                                                            \
    for (int64_t i = 0; i < k / QK8_1; i++) {                                                            \
      const float d = qk_fp16_to_fp32(x[i].d);                                                           \
      for (int j = 0; j < QK8_1; ++j) y[i * QK8_1 + j] = x[i].qs[j] * d;                                 \
    }                                                                                                    \
  }                                                                                                      \
  static void qk_fill_dequant_##SUFFIX(qk_kernel_table *t) {                                            \
    t->dequantize[QK_TYPE_IQ2_XXS] = dequantize_row_iq2_xxs_##SUFFIX;                                    \
    t->dequantize[QK_TYPE_IQ2_XS] = dequantize_row_iq2_xs_##SUFFIX;                                      \
    t->dequantize[QK_TYPE_IQ2_S] = dequantize_row_iq2_s_##SUFFIX;                                        \
    t->dequantize[QK_TYPE_IQ3_XXS] = dequantize_row_iq3_xxs_##SUFFIX;                                    \
    t->dequantize[QK_TYPE_IQ3_S] = dequantize_row_iq3_s_##SUFFIX;                                        \
    t->dequantize[QK_TYPE_IQ1_S] = dequantize_row_iq1_s_##SUFFIX;                                        \
    t->dequantize[QK_TYPE_IQ1_M] = dequantize_row_iq1_m_##SUFFIX;                                        \
    t->dequantize[QK_TYPE_TQ1_0] = dequantize_row_tq1_0_##SUFFIX;                                        \
    t->dequantize[QK_TYPE_TQ2_0] = dequantize_row_tq2_0_##SUFFIX;                                        \
    t->dequantize[QK_TYPE_Q8_1] = dequantize_row_q8_1_##SUFFIX;                                          \
  }

QK_DEQUANT_FUNCS(scalar, )
#if defined(__x86_64__)
QK_DEQUANT_FUNCS(avx2, __attribute__((target("avx2,fma,f16c"))))
#endif

void qk_fill_dequantizers(qk_kernel_table *t) {
#if defined(__x86_64__)
  if (t->isa != QK_ISA_SCALAR) {
    qk_fill_dequant_avx2(t);
    return;
  }
#endif
  qk_fill_dequant_scalar(t);
}
