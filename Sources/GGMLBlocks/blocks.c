// Compile-time proof that every block layout matches the on-disk size (ggml-common.h's static_asserts).
#include "ggml_blocks.h"

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1");
_Static_assert(sizeof(block_mxfp4) == 17, "block_mxfp4");
_Static_assert(sizeof(block_tq1_0) == 54, "block_tq1_0");
_Static_assert(sizeof(block_tq2_0) == 66, "block_tq2_0");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K");
_Static_assert(sizeof(block_iq2_xxs) == 66, "block_iq2_xxs");
_Static_assert(sizeof(block_iq2_xs) == 74, "block_iq2_xs");
_Static_assert(sizeof(block_iq2_s) == 82, "block_iq2_s");
_Static_assert(sizeof(block_iq3_xxs) == 98, "block_iq3_xxs");
_Static_assert(sizeof(block_iq3_s) == 110, "block_iq3_s");
_Static_assert(sizeof(block_iq1_s) == 50, "block_iq1_s");
_Static_assert(sizeof(block_iq1_m) == 56, "block_iq1_m");
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl");
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs");

// SwiftPM needs one translation unit per C target; this is it.
int quanta_ggml_blocks_abi_version(void) { return 1; }
