#!/usr/bin/env bash
# CI-style check of the HIP-on-CUDA layer on a machine without a GPU: builds the layer and smoke test
# against AMD's headers (build.sh: -Werror, exports vs HIPVendor.swift), then runs the smoke test on
# stand-in CUDA driver and NVRTC libraries (mock/), which drives every exported function, the option
# translation and the error mapping. With a quanta CLI, also `quanta devices` through the layer on the
# mock driver (rocm:0 must be listed with the layer's gfx target and warp 32).
#
#   bash Tests/HIPOnCUDA/check_mock.sh [QUANTA]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUTDIR="$(mktemp -d /tmp/hip_on_cuda_mock.XXXXXX)"
trap 'rm -rf "$OUTDIR"' EXIT
CC="${CC:-cc}"

bash "$HERE/build.sh" "$OUTDIR"
"$CC" -std=gnu11 -Wall -Werror -O1 -fPIC -shared -o "$OUTDIR/libcuda_mock.so" "$HERE/mock/mock_cuda.c"
"$CC" -std=gnu11 -Wall -Werror -O1 -fPIC -shared -o "$OUTDIR/libnvrtc_mock.so" "$HERE/mock/mock_nvrtc.c"

export HIP_ON_CUDA_LIBCUDA="$OUTDIR/libcuda_mock.so" HIP_ON_CUDA_NVRTC="$OUTDIR/libnvrtc_mock.so"
export MOCK_NVRTC_TRACE="$OUTDIR/nvrtc_options.txt"
echo "== smoke test on the mock driver"
"$OUTDIR/hip_on_cuda_smoke" "$ROOT/Sources/GPUKernels/kernels/prelude_hip.cuh"
echo "== NVRTC options the layer passed:"
cat "$MOCK_NVRTC_TRACE"

mkdir -p "$OUTDIR/comgr"
ln -sf "$OUTDIR/libhip_on_cuda.so" "$OUTDIR/comgr/libamd_comgr.so"
export LD_LIBRARY_PATH="$OUTDIR/comgr${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [[ -n "${1:-}" ]]; then
  echo "== $1 devices (QUANTA_HIP_LIB = the layer, mock driver)"
  out="$(QUANTA_HIP_LIB="$OUTDIR/libhip_on_cuda.so" QUANTA_HIPRTC_LIB="$OUTDIR/libhip_on_cuda.so" "$1" devices)"
  echo "$out"
  grep -qE '^rocm:0 +Mock GPU.*arch gfx1100 .*warp 32' <<<"$out" || { echo "check_mock: FAIL: rocm:0 not listed as expected"; exit 1; }
fi
echo "check_mock: PASS"
