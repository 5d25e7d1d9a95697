// Lookup tables of the i-quants and MXFP4 (values generated into iq_tables.c by
// scripts/gen_iq_tables.py; identical to ggml-common.h's). Grid rows: element j is byte j.
#ifndef QUANTA_IQ_TABLES_H
#define QUANTA_IQ_TABLES_H

#include <stdint.h>

extern const uint8_t qk_kmask_iq2xs[8];
extern const uint8_t qk_ksigns_iq2xs[128];
extern const int8_t qk_kvalues_mxfp4[16];
extern const uint64_t qk_iq2xxs_grid[256];
extern const uint64_t qk_iq2xs_grid[512];
extern const uint64_t qk_iq2s_grid[1024];
extern const uint32_t qk_iq3xxs_grid[256];
extern const uint32_t qk_iq3s_grid[512];
extern const uint64_t qk_iq1s_grid[2048];

#endif
