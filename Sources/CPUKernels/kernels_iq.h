// Integer dots of the i-quants and ternary types against q8_K: the table fillers of
// kernels_scalar_iq.c (ggml's x86 summation order, every machine) and kernels_avx2_iq.c /
// kernels_avx512_iq.c (x86-64, the same sums bit for bit).
#ifndef QUANTA_KERNELS_IQ_H
#define QUANTA_KERNELS_IQ_H

#include "kernels_internal.h"

void qk_fill_scalar_iq(qk_kernel_table *t);
#if defined(__x86_64__)
void qk_fill_avx2_iq(qk_kernel_table *t);
void qk_fill_avx512_iq(qk_kernel_table *t);
#endif

#endif
