// Portable unpacking ("prep") of every weight block type to plain int8 weights and integer scales,
// shared by the scalar kernels and the NEON kernels (which vectorize the dots only).
#ifndef QUANTA_KERNELS_SCALAR_PREP_H
#define QUANTA_KERNELS_SCALAR_PREP_H

#include "kernels_internal.h"

// ---- 32-value blocks ----

typedef struct { int8_t q[32]; float d, m; } prep32;

static QK_ALWAYS_INLINE void prep_q4_0(prep32 *p, const block_q4_0 *x) {
  for (int j = 0; j < 16; ++j) {
    p->q[j] = (int8_t)((x->qs[j] & 0x0F) - 8);
    p->q[j + 16] = (int8_t)((x->qs[j] >> 4) - 8);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_q4_1(prep32 *p, const block_q4_1 *x) {
  for (int j = 0; j < 16; ++j) {
    p->q[j] = (int8_t)(x->qs[j] & 0x0F);
    p->q[j + 16] = (int8_t)(x->qs[j] >> 4);
  }
  p->d = qk_fp16_to_fp32(x->d);
  p->m = qk_fp16_to_fp32(x->m);
}

static QK_ALWAYS_INLINE void prep_q5_0(prep32 *p, const block_q5_0 *x) {
  uint32_t qh;
  memcpy(&qh, x->qh, 4);
  for (int j = 0; j < 16; ++j) {
    p->q[j] = (int8_t)(((x->qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16);
    p->q[j + 16] = (int8_t)(((x->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
  }
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_q5_1(prep32 *p, const block_q5_1 *x) {
  uint32_t qh;
  memcpy(&qh, x->qh, 4);
  for (int j = 0; j < 16; ++j) {
    p->q[j] = (int8_t)((x->qs[j] & 0x0F) | (((qh >> j) & 1) << 4));
    p->q[j + 16] = (int8_t)((x->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
  }
  p->d = qk_fp16_to_fp32(x->d);
  p->m = qk_fp16_to_fp32(x->m);
}

static QK_ALWAYS_INLINE void prep_q8_0(prep32 *p, const block_q8_0 *x) {
  memcpy(p->q, x->qs, 32);
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_iq4_nl(prep32 *p, const block_iq4_nl *x) {
  for (int j = 0; j < 16; ++j) {
    p->q[j] = qk_kvalues_iq4nl[x->qs[j] & 0x0F];
    p->q[j + 16] = qk_kvalues_iq4nl[x->qs[j] >> 4];
  }
  p->d = qk_fp16_to_fp32(x->d);
}

static QK_ALWAYS_INLINE void prep_mxfp4(prep32 *p, const block_mxfp4 *x) {
  for (int j = 0; j < 16; ++j) {
    p->q[j] = qk_kvalues_mxfp4[x->qs[j] & 0x0F];
    p->q[j + 16] = qk_kvalues_mxfp4[x->qs[j] >> 4];
  }
  p->d = qk_e8m0_to_fp32_half(x->e);
}

// ---- 256-value super-blocks ----
// Every K-type unpacks to: 256 integer weights, a scale per 16 values, and a multiplier per 16 values
// for q8_K's bsums (the mins / offsets term), so one dot serves them all.

typedef struct {
  int8_t q[QK_K];
  int16_t sc[16];
  int16_t mb[16];
  float d, dm;
} prepK;

static QK_ALWAYS_INLINE void prep_q2_K(prepK *p, const block_q2_K *x) {
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) p->q[128 * k + 32 * j + l] = (int8_t)((x->qs[32 * k + l] >> (2 * j)) & 3);
  for (int g = 0; g < 16; ++g) {
    p->sc[g] = x->scales[g] & 0xF;
    p->mb[g] = x->scales[g] >> 4;
  }
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
}

static QK_ALWAYS_INLINE void prep_q3_K(prepK *p, const block_q3_K *x) {
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) {
        const int lo = (x->qs[32 * k + l] >> (2 * j)) & 3;
        const int hi = (x->hmask[l] >> (4 * k + j)) & 1;
        p->q[128 * k + 32 * j + l] = (int8_t)(lo - (hi ? 0 : 4));
      }
  for (int g = 0; g < 16; ++g) {
    const int low = g < 8 ? (x->scales[g] & 0xF) : (x->scales[g - 8] >> 4);
    const int high = (x->scales[8 + (g % 4)] >> (2 * (g / 4))) & 3;
    p->sc[g] = (int16_t)((low | (high << 4)) - 32);
    p->mb[g] = 0;
  }
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = 0.0f;
}

// ggml's get_scale_min_k4: the 6-bit scale and min of 32-value group j.
static inline void get_scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

static QK_ALWAYS_INLINE void prep_q4_K(prepK *p, const block_q4_K *x) {
  for (int j = 0; j < 4; ++j)
    for (int l = 0; l < 32; ++l) {
      p->q[64 * j + l] = (int8_t)(x->qs[32 * j + l] & 0xF);
      p->q[64 * j + 32 + l] = (int8_t)(x->qs[32 * j + l] >> 4);
    }
  for (int j = 0; j < 8; ++j) {
    int d, m;
    get_scale_min_k4(j, x->scales, &d, &m);
    p->sc[2 * j] = p->sc[2 * j + 1] = (int16_t)d;
    p->mb[2 * j] = p->mb[2 * j + 1] = (int16_t)m;
  }
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
}

static QK_ALWAYS_INLINE void prep_q5_K(prepK *p, const block_q5_K *x) {
  for (int j = 0; j < 4; ++j)
    for (int l = 0; l < 32; ++l) {
      p->q[64 * j + l] = (int8_t)((x->qs[32 * j + l] & 0xF) | (((x->qh[l] >> (2 * j)) & 1) << 4));
      p->q[64 * j + 32 + l] = (int8_t)((x->qs[32 * j + l] >> 4) | (((x->qh[l] >> (2 * j + 1)) & 1) << 4));
    }
  for (int j = 0; j < 8; ++j) {
    int d, m;
    get_scale_min_k4(j, x->scales, &d, &m);
    p->sc[2 * j] = p->sc[2 * j + 1] = (int16_t)d;
    p->mb[2 * j] = p->mb[2 * j + 1] = (int16_t)m;
  }
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = -qk_fp16_to_fp32(x->dmin);
}

static QK_ALWAYS_INLINE void prep_q6_K(prepK *p, const block_q6_K *x) {
  for (int k = 0; k < 2; ++k)
    for (int l = 0; l < 32; ++l) {
      const uint8_t *ql = x->ql + 64 * k;
      const uint8_t h = x->qh[32 * k + l];
      int8_t *a = p->q + 128 * k;
      a[l] = (int8_t)(((ql[l] & 0xF) | (((h >> 0) & 3) << 4)) - 32);
      a[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((h >> 2) & 3) << 4)) - 32);
      a[l + 64] = (int8_t)(((ql[l] >> 4) | (((h >> 4) & 3) << 4)) - 32);
      a[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32);
    }
  for (int g = 0; g < 16; ++g) {
    p->sc[g] = x->scales[g];
    p->mb[g] = 0;
  }
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = 0.0f;
}

static QK_ALWAYS_INLINE void prep_iq4_xs(prepK *p, const block_iq4_xs *x) {
  for (int ib = 0; ib < 8; ++ib) {
    const int ls = ((x->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((x->scales_h >> (2 * ib)) & 3) << 4);
    p->sc[2 * ib] = p->sc[2 * ib + 1] = (int16_t)(ls - 32);
    p->mb[2 * ib] = p->mb[2 * ib + 1] = 0;
    for (int j = 0; j < 16; ++j) {
      p->q[32 * ib + j] = qk_kvalues_iq4nl[x->qs[16 * ib + j] & 0xF];
      p->q[32 * ib + 16 + j] = qk_kvalues_iq4nl[x->qs[16 * ib + j] >> 4];
    }
  }
  p->d = qk_fp16_to_fp32(x->d);
  p->dm = 0.0f;
}

#endif
