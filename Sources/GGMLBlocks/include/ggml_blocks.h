// Block layouts of the GGML quantized types, byte for byte as they sit in GGUF files.
// Names follow ggml's ggml-common.h (block_q4_0, QK_K, ...) so they can be grepped against upstream.
// Every struct is padding-free; blocks.c asserts each size, and the Swift tests assert
// MemoryLayout<...>.size too.
#ifndef QUANTA_GGML_BLOCKS_H
#define QUANTA_GGML_BLOCKS_H

#include <stdint.h>

typedef uint16_t ggml_half;  // IEEE binary16 bits

#define QK_K 256
#define K_SCALE_SIZE 12

#define QK4_0 32
typedef struct { ggml_half d; uint8_t qs[QK4_0 / 2]; } block_q4_0;

#define QK4_1 32
typedef struct { ggml_half d; ggml_half m; uint8_t qs[QK4_1 / 2]; } block_q4_1;

#define QK5_0 32
typedef struct { ggml_half d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;

#define QK5_1 32
typedef struct { ggml_half d; ggml_half m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;

#define QK8_0 32
typedef struct { ggml_half d; int8_t qs[QK8_0]; } block_q8_0;

#define QK8_1 32
// s = d * sum(qs)
typedef struct { ggml_half d; ggml_half s; int8_t qs[QK8_1]; } block_q8_1;

#define QK_MXFP4 32
// e: E8M0 shared exponent; qs: E2M1 nibbles
typedef struct { uint8_t e; uint8_t qs[QK_MXFP4 / 2]; } block_mxfp4;

// Ternary: 5 trits per byte in qs (3^5 = 243 < 256), 4 per byte in qh.
typedef struct { uint8_t qs[(QK_K - 4 * QK_K / 64) / 5]; uint8_t qh[QK_K / 64]; ggml_half d; } block_tq1_0;
typedef struct { uint8_t qs[QK_K / 4]; ggml_half d; } block_tq2_0;

// K-quants: super-blocks of QK_K values.
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; ggml_half d; ggml_half dmin; } block_q2_K;
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; ggml_half d; } block_q3_K;
typedef struct { ggml_half d; ggml_half dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct {
  ggml_half d; ggml_half dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2];
} block_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; ggml_half d; } block_q6_K;
// Activation type of the K-quant dot products; bsums: sums of qs in groups of 16.
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;

// i-quants.
typedef struct { ggml_half d; uint16_t qs[QK_K / 8]; } block_iq2_xxs;
typedef struct { ggml_half d; uint16_t qs[QK_K / 8]; uint8_t scales[QK_K / 32]; } block_iq2_xs;
typedef struct { ggml_half d; uint8_t qs[QK_K / 4]; uint8_t qh[QK_K / 32]; uint8_t scales[QK_K / 32]; } block_iq2_s;
typedef struct { ggml_half d; uint8_t qs[3 * QK_K / 8]; } block_iq3_xxs;
#define IQ3S_N_SCALE (QK_K / 64)
typedef struct {
  ggml_half d; uint8_t qs[QK_K / 4]; uint8_t qh[QK_K / 32]; uint8_t signs[QK_K / 8]; uint8_t scales[IQ3S_N_SCALE];
} block_iq3_s;
typedef struct { ggml_half d; uint8_t qs[QK_K / 8]; uint16_t qh[QK_K / 32]; } block_iq1_s;
// The f16 super-block scale of iq1_m is spread over the top nibbles of scales.
typedef struct { uint8_t qs[QK_K / 8]; uint8_t qh[QK_K / 16]; uint8_t scales[QK_K / 32]; } block_iq1_m;
#define QK4_NL 32
typedef struct { ggml_half d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;
typedef struct { ggml_half d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs;

#endif
