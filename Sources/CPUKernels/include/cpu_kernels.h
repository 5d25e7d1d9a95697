// CPU micro-kernels for quantized dot products (ggml's scheme): weights stay quantized, an activation
// row is quantized once to the weight type's dot type (q8_0, q8_1 or q8_K) and every block is an
// integer dot product. Dense weights (f32, f16, bf16) dot against f32 activations.
//
// The instruction set is a value: `qk_kernels(isa)` returns that ISA's table, or NULL when this CPU
// (or this build's architecture) cannot run it. Nothing here keeps a global "current ISA".
//
// Numerics: the quantized dots reproduce ggml's x86 CPU backend bit for bit (llama.cpp on an AVX2 /
// AVX-512 machine), so a model run gives the same logits as llama.cpp there. For the 32-value types
// against q8_0: 8 float lanes, lane l += d_x·d_y · (int sum of values 4l..4l+3) with one FMA per
// block, then ggml's hsum_float_8 ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)). q6_K: the same 8 lanes over a
// super-block's int32 sums of its AVX2 layout, one FMA per super-block. q4_K: ggml repacks it
// (q4_K_8x8): per output, acc += (int Σ scale·q·y)·d_x·d_y and acc_min += (int Σ min·bsum)·dmin_x·d_y
// per super-block (its gemv), or per 64 values for activation rows in full groups of four (its gemm:
// see vec_dot_tile_g4), result acc − acc_min. The i-quants iq1_s, iq1_m, iq2_xxs, iq2_xs, iq2_s,
// iq3_xxs, iq3_s and the ternary tq1_0, tq2_0 (against q8_K): ggml's 8 AVX2 lanes per super-block
// with one FMA each, as its GCC build computes them (kernels_scalar_iq.c). The scalar and x86 tables
// follow this exactly; other types and the NEON kernels keep their own summation order.
//
// Tables are indexed by GGML type id (the raw values of Swift's GGMLType: f32 = 0, f16 = 1, q4_0 = 2,
// ..., iq4_xs = 23, bf16 = 30). An entry is NULL when that type has no kernel. Where an ISA has no
// kernel of its own for a type, its table points at the next-best one (`impl_isa` says which).
#ifndef QUANTA_CPU_KERNELS_H
#define QUANTA_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  QK_ISA_SCALAR = 0,       // portable C, every machine
  QK_ISA_AVX2 = 1,         // x86-64: AVX2 + FMA + F16C
  QK_ISA_AVX512 = 2,       // x86-64: AVX2 set + AVX-512 F/BW/VL/DQ
  QK_ISA_AVX512_VNNI = 3,  // x86-64: AVX512 set + AVX512-VNNI (vpdpbusd)
  QK_ISA_NEON = 4,         // arm64: Advanced SIMD (+ dotprod where the kernel says so)
  QK_ISA_COUNT = 5
} qk_isa;

// Type ids used by the tables (== GGMLType raw values).
enum {
  QK_TYPE_F32 = 0, QK_TYPE_F16 = 1, QK_TYPE_Q4_0 = 2, QK_TYPE_Q4_1 = 3, QK_TYPE_Q5_0 = 6,
  QK_TYPE_Q5_1 = 7, QK_TYPE_Q8_0 = 8, QK_TYPE_Q8_1 = 9, QK_TYPE_Q2_K = 10, QK_TYPE_Q3_K = 11,
  QK_TYPE_Q4_K = 12, QK_TYPE_Q5_K = 13, QK_TYPE_Q6_K = 14, QK_TYPE_Q8_K = 15, QK_TYPE_IQ4_NL = 20,
  QK_TYPE_IQ4_XS = 23, QK_TYPE_BF16 = 30,
  // i-quants and ternary types (integer kernels against q8_K, and row dequantizers).
  QK_TYPE_IQ2_XXS = 16, QK_TYPE_IQ2_XS = 17, QK_TYPE_IQ3_XXS = 18, QK_TYPE_IQ1_S = 19, QK_TYPE_IQ3_S = 21,
  QK_TYPE_IQ2_S = 22, QK_TYPE_IQ1_M = 29, QK_TYPE_TQ1_0 = 34, QK_TYPE_TQ2_0 = 35,
  QK_TYPE_MXFP4 = 39,  // integer kernel (against q8_0)
  QK_TYPE_COUNT = 43  // table length: every id below this indexes safely (absent ids hold NULL)
};

// Dot product of one weight row and one activation row, both `n` values long (`n` a multiple of
// the weight type's block size). `x`: n/blockSize weight blocks (or n f32/f16/bf16 values);
// `y`: the activation row already quantized to `vec_dot_type[type]` (or n floats for dense types).
typedef float (*qk_vec_dot_fn)(int n, const void *x, const void *y);

// Tile of dot products: for every r < nr and c < nc,
//   s[c * ldS + r] = vec_dot(n, x + r * ldX bytes, y + c * ldY bytes)
// i.e. nr weight rows by nc activation rows, written as nc output rows of a row-major [m, N] result.
// Any nr, nc >= 1 is accepted; the kernel walks register-sized micro-tiles (`tile_rows` x
// `tile_cols`) and handles the ragged edges, reusing each loaded weight block across the columns.
// Results are bit-identical to calling vec_dot of the same table for each (r, c).
typedef void (*qk_tile_fn)(int n, int nr, int nc, const void *x, size_t ldX, const void *y, size_t ldY,
                           float *s, size_t ldS);

// Quantizes k floats (k a multiple of the block size: 32 for q8_0/q8_1, 256 for q8_K) into blocks,
// byte for byte equal to what ggml's CPU backend does to activations on x86: q8_0 / q8_1 as its
// AVX quantize_row_q8_0 / _q8_1 (d = amax/127, values · 127/amax rounded half to even; the *_ref
// codecs use 1/d and round half away), q8_K as quantize_row_q8_K_ref (bsums included).
typedef void (*qk_quantize_fn)(const float *x, void *y, int64_t k);

// Dequantizes k values (k a multiple of the block size) of one weight row to f32, bit-equal to the
// reference codecs (ggml's dequantize_row_*).
typedef void (*qk_dequantize_fn)(const void *x, float *y, int64_t k);

// Mat-mat for prompt batches (AVX512-VNNI tables; NULL elsewhere): same contract as qk_tile_fn plus
// `info`, the activation rows' per-group side values from the type's `gemm_act` (nc × n/group
// entries, row c at info + c·n/group). Weight rows are repacked 16 at a time into an int8 panel
// (per-thread scratch) and every output sums in its own vector lane: much faster than the tile
// kernels on many columns, but NOT ggml's summation order (results differ in the last bits; the
// tile kernels are the ggml-exact path). On allocation failure the outputs are NaN.
typedef struct {
  float d;    // the activation group's scale
  int32_t c;  // −K·Σy (offset types) or the f32 bits of d·Σy (types with mins)
} qk_gemm_act;
typedef void (*qk_gemm_act_fn)(int n, int nc, const void *y, size_t ldY, qk_gemm_act *info);
typedef void (*qk_gemm_fn)(int n, int nr, int nc, const void *x, size_t ldX, const void *y, size_t ldY,
                           const qk_gemm_act *info, float *s, size_t ldS);

// Sum of n floats, read once front to back: the streaming-read kernel of the bandwidth benchmark.
typedef float (*qk_stream_fn)(const float *x, size_t n);

typedef struct {
  qk_isa isa;
  const char *name;                       // "scalar", "avx2", "avx512", "avx512_vnni", "neon"
  qk_vec_dot_fn vec_dot[QK_TYPE_COUNT];   // per weight type
  qk_tile_fn vec_dot_tile[QK_TYPE_COUNT]; // per weight type; same results as vec_dot
  qk_tile_fn vec_dot_tile_g4[QK_TYPE_COUNT]; // for activation rows 0 ..< m − m % 4 of an m-row
                                             // matmul where ggml's summation differs there (its
                                             // repacked gemm); NULL: vec_dot_tile serves every row
  int32_t vec_dot_type[QK_TYPE_COUNT];    // activation type id per weight type (-1: no kernel);
                                          // QK_TYPE_F32 for the dense types
  qk_isa impl_isa[QK_TYPE_COUNT];         // which ISA's code the entry really runs
  int32_t tile_rows;                      // micro-tile shape (a hint for work splitting)
  int32_t tile_cols;
  qk_quantize_fn quantize_q8_0;
  qk_quantize_fn quantize_q8_1;
  qk_quantize_fn quantize_q8_K;
  qk_stream_fn stream_sum;
  qk_dequantize_fn dequantize[QK_TYPE_COUNT];  // row dequantizers of the i-quants, ternary types and
                                               // q8_1 (the dequantize op); NULL for the others
  qk_gemm_fn gemm[QK_TYPE_COUNT];         // prompt mat-mat (see qk_gemm_fn); NULL: none
  qk_gemm_act_fn gemm_act[QK_TYPE_COUNT]; // its activation side values
  int32_t gemm_group[QK_TYPE_COUNT];      // values per qk_gemm_act entry (32 or 16)
} qk_kernel_table;

// True when this CPU and this build can run `isa`.
int qk_isa_supported(qk_isa isa);
// The fastest supported ISA.
qk_isa qk_best_isa(void);
// That ISA's table, or NULL when unsupported (or `isa` is out of range).
const qk_kernel_table *qk_kernels(qk_isa isa);
// Why `isa` is unsupported here ("" when supported), for test reports.
const char *qk_isa_unsupported_reason(qk_isa isa);
// CPUs in this process's affinity mask (sched_getaffinity); 0 when unknown or not Linux.
int qk_affinity_cpu_count(void);

// f32 ↔ f16 rows, round to nearest even (F16C when the CPU has it; bit-equal to the scalar code for
// every non-NaN input; NaN stays NaN). `qk_round_to_fp16`: x rounded to f16 and back (y may be x).
void qk_fp32_to_fp16_row(const float *x, uint16_t *y, size_t n);
void qk_fp16_to_fp32_row(const uint16_t *x, float *y, size_t n);
void qk_round_to_fp16(const float *x, float *y, size_t n);
// ggml's f16 flash-attention accumulator steps on f16 values held as f32:
// acc = f16(acc * s) and acc = f16(fma(v, s, acc)).
void qk_f16_acc_scale(float *acc, float s, size_t n);
void qk_f16_acc_mad(float *acc, const float *v, float s, size_t n);

// GELU as ggml's CPU backend computes it (GGML_GELU_FP16): out[i] = G(g[i]) · u[i] (u NULL: G(g[i])),
// G(x) = 0 for x ≤ −10, x for x ≥ 10, else f16→f32(table[f16 bits of x rounded to nearest even]).
// `table`: 65,536 f16 bits (4-byte aligned). out may alias g or u. Same bits for every non-NaN input
// on every path (NaN inputs give NaN).
void qk_gelu_f16_table(const float *g, const float *u, float *out, size_t n, const uint16_t *table);

// Attention of a block of prompt queries that share one KV head, over an f16 KV cache, f32 online
// softmax: for query t < nq and head h < nh (q row at q + t·qStride + h·hd, output likewise at
// out + t·outStride + h·hd), keys j in [lo[t], hi[t]) (empty: zeros), K/V row j at k / v +
// j·kvStride halfs; logit x = scale·q·k, then cap·tanh(x / cap) when cap > 0. Each block of keys is
// converted to f32 once for all nq·nh (query, head) pairs. AVX-512 when `isa` is avx512 or
// avx512_vnni (and supported), else portable C. scratch: qk_attention_prompt_scratch floats.
void qk_attention_prompt_f16(qk_isa isa, int nq, int nh, int hd, const float *q, size_t qStride, const uint16_t *k,
                             const uint16_t *v, size_t kvStride, const int32_t *lo, const int32_t *hi, float scale,
                             float cap, float *out, size_t outStride, float *scratch);
size_t qk_attention_prompt_scratch(int nq, int nh, int hd);

// RoPE rotation of nTokens tokens × nHead heads (head h of token t at x + t·tokenStride + h·headDim)
// by a cos/sin cache of nRot floats per token (cos of pairs 0..<nRot/2, then their sin): NeoX pairs
// (i, i + nRot/2) or normal pairs (2i, 2i+1); y0 = fma(x0, c, −(x1·s)), y1 = fma(x0, s, x1·c), the
// same bits on every ISA (AVX-512 when `isa` is avx512/avx512_vnni and supported, else scalar).
void qk_rope_f32(qk_isa isa, float *x, size_t tokenStride, int nTokens, int nHead, int headDim, int nRot, int neox,
                 const float *cache);

// Accessors (Swift imports fixed C arrays as tuples; these index them). `type` out of range → NULL/-1.
static inline qk_vec_dot_fn qk_table_vec_dot(const qk_kernel_table *t, int type) {
  return (type >= 0 && type < QK_TYPE_COUNT) ? t->vec_dot[type] : (qk_vec_dot_fn)0;
}
static inline qk_tile_fn qk_table_vec_dot_tile(const qk_kernel_table *t, int type) {
  return (type >= 0 && type < QK_TYPE_COUNT) ? t->vec_dot_tile[type] : (qk_tile_fn)0;
}
static inline qk_tile_fn qk_table_vec_dot_tile_g4(const qk_kernel_table *t, int type) {
  return (type >= 0 && type < QK_TYPE_COUNT) ? t->vec_dot_tile_g4[type] : (qk_tile_fn)0;
}
static inline int32_t qk_table_vec_dot_type(const qk_kernel_table *t, int type) {
  return (type >= 0 && type < QK_TYPE_COUNT) ? t->vec_dot_type[type] : -1;
}
static inline qk_isa qk_table_impl_isa(const qk_kernel_table *t, int type) {
  return (type >= 0 && type < QK_TYPE_COUNT) ? t->impl_isa[type] : t->isa;
}
static inline qk_dequantize_fn qk_table_dequantize(const qk_kernel_table *t, int type) {
  return (type >= 0 && type < QK_TYPE_COUNT) ? t->dequantize[type] : (qk_dequantize_fn)0;
}
static inline qk_gemm_fn qk_table_gemm(const qk_kernel_table *t, int type) {
  return (type >= 0 && type < QK_TYPE_COUNT) ? t->gemm[type] : (qk_gemm_fn)0;
}
static inline qk_gemm_act_fn qk_table_gemm_act(const qk_kernel_table *t, int type) {
  return (type >= 0 && type < QK_TYPE_COUNT) ? t->gemm_act[type] : (qk_gemm_act_fn)0;
}
static inline int32_t qk_table_gemm_group(const qk_kernel_table *t, int type) {
  return (type >= 0 && type < QK_TYPE_COUNT) ? t->gemm_group[type] : 0;
}
// The activation quantizer for a dot type id (QK_TYPE_Q8_0 / Q8_1 / Q8_K), else NULL.
static inline qk_quantize_fn qk_table_quantizer(const qk_kernel_table *t, int dot_type) {
  switch (dot_type) {
    case QK_TYPE_Q8_0: return t->quantize_q8_0;
    case QK_TYPE_Q8_1: return t->quantize_q8_1;
    case QK_TYPE_Q8_K: return t->quantize_q8_K;
    default: return (qk_quantize_fn)0;
  }
}

#ifdef __cplusplus
}
#endif

#endif
