#!/usr/bin/env bash
# A proxy, on a machine without CUDA, for what the layer's hiprtcCompileProgram asks of NVRTC:
# parses Quanta's HIP-dialect kernel source (prelude_hip.cuh + the common files, as
# KernelBuild.source builds it) behind mapping_prelude.cuh as CUDA device code for sm_90 with
# clang's own CUDA headers (-fsyntax-only; no NVPTX back end or CUDA SDK needed). The CUDA dialect
# (prelude_cuda.cuh, no mapping prelude) is parsed the same way as a control. NVRTC on the GPU
# machine remains the real check (run_on_gpu.sh).
#
#   bash Tests/HIPOnCUDA/check_kernels_clang.sh [CLANG]     # default: clang++ on PATH
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
K="$ROOT/Sources/GPUKernels/kernels"
CLANG="${1:-$(command -v clang++ || command -v clang || true)}"
[[ -n "$CLANG" ]] || { echo "check_kernels_clang: no clang" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# The order KernelBuild.source uses: prelude, QK_WARP_SIZE, GPUMatMat.sourceDefines, commonOrder.
order="$(grep -o 'commonOrder: \[String\] = \[[^]]*\]' "$ROOT/Sources/GPUKernels/KernelSources.swift" \
  | sed -E 's/.*\[//; s/\]//; s/[", ]+/ /g')"
kb=$(grep -o 'static let blocksPerStep = [0-9]*' "$ROOT/Sources/GPUBackend/GPUMatMat.swift" | grep -o '[0-9]*$')
defines="$(awk '/static var sourceDefines: String/{f=1; next} f && /"""/{n++; if (n==2) exit; next} f && n==1' \
  "$ROOT/Sources/GPUBackend/GPUMatMat.swift" | sed -E 's/\\\(MatrixCore\.lanes\)/32/; s/\\\(MatrixCore\.tileRows\)/128/;
  s/\\\(MatrixCore\.tileColumns\)/64/; s/\\\(MatrixCore\.warps\)/8/; s/\\\(MatrixCore\.blocksPerStep\)/'"$kb"'/;
  s/\\\(SmallBatch\.tileRows\)/64/; s/\\\(SmallBatch\.warps\)/4/; s/\\\(smallXList\)/F(name, sub, 16) F(name, sub, 32)/;
  s/^ +//')"
# GPUMatVec.sourceDefines: the same tables, read from GPUMatVec.swift.
mv="$ROOT/Sources/GPUBackend/GPUMatVec.swift"
mv_table() {  # name of a [Int] array → (c) == 1 ? a : (c) == 2 ? b : … 0
  grep -o "static let $1: \[Int\] = \[[^]]*\]" "$mv" | sed -E 's/.*\[//; s/\]//; s/,/ /g' \
    | awk '{s="("; for (i=1;i<=NF;i++) s=s "(c) == " i " ? " $i " : "; print s "0)"}'
}
defines+=$'\n'"#define MMVQ_MAX_COLS $(grep -o 'static let maxColumns = [0-9]*' "$mv" | grep -o '[0-9]*$')"
defines+=$'\n'"#define MMVQ_THREADS(c) $(mv_table threadsPerBlock)"
defines+=$'\n'"#define MMVQ_ROWS(c) $(mv_table rowsPerBlock)"
if grep -q '\\(' <<<"$defines"; then
  echo "check_kernels_clang: GPUMatMat.sourceDefines changed shape; update this script" >&2
  exit 1
fi

mkdir -p "$TMP/inc/crt"
: >"$TMP/inc/crt/sm_70_rt.hpp"  # clang's intrinsics header includes it from the CUDA SDK; not needed
# What NVRTC pre-includes, from clang's CUDA headers (only the device side).
cat >"$TMP/nvrtc_like.h" <<'EOF'
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __host__ __attribute__((host))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#define CUDA_VERSION 12000
#include <stddef.h>
#include <limits.h>
#define HUGE_VAL __builtin_huge_val()
#define HUGE_VALF __builtin_huge_valf()
#include <__clang_cuda_builtin_vars.h>
#include <__clang_cuda_libdevice_declares.h>
#undef __DEVICE__
#define __DEVICE__ static __device__ __forceinline__
#include <__clang_cuda_device_functions.h>
#include <__clang_cuda_math.h>
#undef __DEVICE__
// Warp intrinsics as CUDA declares them (sm_30_intrinsics.h: int, unsigned, long long, unsigned long
// long, float, double overloads); clang's own intrinsics header needs the SDK's vector types.
#define HOC_SHFL(name, Lane)                                                           \
  __device__ int name(unsigned, int, Lane, int = 32);                                 \
  __device__ unsigned name(unsigned, unsigned, Lane, int = 32);                       \
  __device__ long long name(unsigned, long long, Lane, int = 32);                     \
  __device__ unsigned long long name(unsigned, unsigned long long, Lane, int = 32);   \
  __device__ float name(unsigned, float, Lane, int = 32);                             \
  __device__ double name(unsigned, double, Lane, int = 32);
HOC_SHFL(__shfl_sync, int)
HOC_SHFL(__shfl_up_sync, unsigned)
HOC_SHFL(__shfl_down_sync, unsigned)
HOC_SHFL(__shfl_xor_sync, int)
__device__ unsigned __ballot_sync(unsigned, int);
__device__ int __any_sync(unsigned, int);
__device__ int __all_sync(unsigned, int);
__device__ void __syncwarp(unsigned = 0xffffffffu);
__device__ unsigned atomicAdd(unsigned*, unsigned);
__device__ int atomicAdd(int*, int);
__device__ float atomicAdd(float*, float);
static __device__ __forceinline__ int __dp4a(int a, int b, int c) { return c + a * b; }  // signature only
static __device__ __forceinline__ unsigned __dp4a(unsigned a, unsigned b, unsigned c) { return c + a * b; }
#define warpSize 32
// NVRTC has no _Float16 (clang does): a use the mapping prelude does not cover must fail here too.
#define _Float16 _Float16_is_not_an_NVRTC_type
EOF

build() {  # prelude file, output
  {
    cat "$K/$1"
    printf '\n#define QK_WARP_SIZE 32\n%s\n' "$defines"
    for f in $order; do  # the tables are printed from GGMLBlocks' C arrays, as KernelBuild does
      printf '\n// ---- %s\n' "$f"; if [ "$f" = iq_tables.cuh ]; then bash "$ROOT/scripts/gpu_emulate/iq_tables.sh"; else cat "$K/$f"; fi
    done
  } >"$2"
}
build prelude_hip.cuh "$TMP/hip.cu"
build prelude_cuda.cuh "$TMP/cuda.cu"
{ cat "$HERE/mapping_prelude.cuh"; echo '#line 1 "quanta_kernels.cu"'; cat "$TMP/hip.cu"; } >"$TMP/hip_mapped.cu"

flags=(-x cuda --cuda-device-only --cuda-gpu-arch=sm_90 -nocudainc -nocudalib -fsyntax-only -std=c++17
  "-I$TMP/inc" -include "$TMP/nvrtc_like.h" -Wno-unknown-cuda-version)
status=0
for gfx in gfx1100 gfx1030 gfx90a gfx900; do
  if "$CLANG" "${flags[@]}" "-D__${gfx}__=1" "$TMP/hip_mapped.cu" 2>"$TMP/err"; then
    echo "check_kernels_clang: PASS HIP dialect + mapping prelude as CUDA sm_90 device code (__${gfx}__ branch)"
  else
    echo "check_kernels_clang: FAIL HIP dialect (__${gfx}__ branch):"; head -40 "$TMP/err"; status=1
  fi
done
if "$CLANG" "${flags[@]}" "$TMP/cuda.cu" 2>"$TMP/err"; then
  echo "check_kernels_clang: PASS control: CUDA dialect (prelude_cuda.cuh) as sm_90 device code"
else
  echo "check_kernels_clang: FAIL control (CUDA dialect): the stub differs from NVRTC here:"; head -40 "$TMP/err"
  status=1
fi
echo "check_kernels_clang: $(wc -l <"$TMP/hip_mapped.cu") lines, files: prelude_hip.cuh $order"
exit $status
