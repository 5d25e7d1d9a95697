#!/usr/bin/env bash
# Issue 13's checks in one call ON THE NVIDIA GPU MACHINE, from the repository root: builds the
# HIP-on-CUDA layer (Tests/HIPOnCUDA), then runs Quanta's ROCm path through it against cuda:0 on the
# same GPU — quanta devices, selftest rocm:0 vs cuda:0, greedy tokens, perplexity, bench model.
#   bash scripts/rocm_on_cuda.sh QUANTA      (QUANTA: the CLI, e.g. unpacked from .gpu/quanta.gz)
# AMD's HIP headers: carry them in .gpu/hip-include (`bash Tests/HIPOnCUDA/build.sh --export-headers
# .gpu/hip-include` on the CPU machine). Logs land in $OUT when set.
set -uo pipefail
cd "$(dirname "$0")/.."
exec bash Tests/HIPOnCUDA/run_on_gpu.sh "${1:?usage: rocm_on_cuda.sh QUANTA}" --cuda-baseline
