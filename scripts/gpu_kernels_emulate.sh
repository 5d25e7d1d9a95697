#!/usr/bin/env bash
# Runs the dense GPU kernels (dense_ops.cu, dense_convert.cu) on the CPU through a small emulation
# of the CUDA/HIP dialect (scripts/gpu_emulate/emu_prelude.h: a std::thread per GPU thread, CTA and
# wavefront barriers, shuffles through the wavefront) for 32- AND 64-wide wavefronts, against
# double-precision references. No GPU needed; it checks the kernels' logic (cross-wavefront
# reductions, online softmax, masks, rope pairs, tiles), not a vendor compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
CXX="${CXX:-$(command -v clang++ || true)}"
if [ -z "$CXX" ]; then echo "gpu_kernels_emulate: no clang++" >&2; exit 1; fi
K=Sources/GPUKernels/kernels
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cat "$K/common.cuh" "$K/iq_tables.cuh" "$K/quants.cuh" "$K/kernels.cu" $(ls "$K"/*.cu | grep -v '/kernels.cu$' | sort) > "$tmp/kernels_common.inc"
cp scripts/gpu_emulate/emu_prelude.h scripts/gpu_emulate/dense_test.cpp "$tmp/"
for w in 32 64; do
  "$CXX" -std=c++20 -O1 -ffp-contract=off -DQK_WARP_SIZE=$w -w -o "$tmp/emu$w" "$tmp/dense_test.cpp" -lpthread
  rc=0; "$tmp/emu$w" > "$tmp/out$w.txt" || rc=$?
  grep -v '^ok' "$tmp/out$w.txt" || true
  if [ "$rc" -ne 0 ]; then echo "gpu_kernels_emulate: failures at wave$w" >&2; exit 1; fi
done
echo "gpu_kernels_emulate: dense kernels match the references at wave32 and wave64 (CPU emulation)"
