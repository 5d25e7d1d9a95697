#!/usr/bin/env bash
# Prints the i-quant / IQ4 / MXFP4 tables as the kernels declare them (`static __constant__ T name[]`,
# ggml's names) from GGMLBlocks' iq_tables.c, their one copy in the tree. The host does the same at run
# time from those arrays (KernelBuild.iqTablesSource); this is for sources assembled without the
# binary (the CPU emulation, Tests/HIPOnCUDA/check_kernels_clang.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
sed -E -e '/^#include/d' \
  -e 's/^const (u?int)([0-9]+)_t qk_([a-z0-9_]+)\[[A-Z0-9_]+\] = \{/static __constant__ \1\2_t \3[] = {/' \
  Sources/GGMLBlocks/iq_tables.c | sed -E 's/static __constant__ uint([0-9]+)_t/static __constant__ u\1/; s/static __constant__ int([0-9]+)_t/static __constant__ s\1/'
