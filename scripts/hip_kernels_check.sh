#!/usr/bin/env bash
# CI-only GPU checks that need no GPU (the Swift tests in GPUBackendTests compile every kernel
# through the project's own hiprtc path and check `quanta devices`' "no AMD device"):
#   1. the embedded kernel text is up to date;
#   2. the Swift HIP declarations match AMD's header (scripts/check_hip_abi.py);
#   3. the CUDA prelude + kernels parse and type-check for NVIDIA targets (clang's CUDA front end,
#      device side only, with a tiny shim for the CUDA builtins NVRTC provides). This does not run
#      NVRTC (not installed here); it catches dialect errors in the CUDA-only code paths.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/gen_gpu_kernels.py --check
python3 scripts/check_hip_abi.py
CLANG="${CLANG:-$(command -v clang || true)}"
if [ -z "$CLANG" ]; then echo "hip_kernels_check: no clang for the CUDA syntax check" >&2; exit 1; fi
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/shim.h" <<'SHIM'
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
struct qk_dim3_shim { unsigned x, y, z; };
extern __device__ const qk_dim3_shim threadIdx, blockIdx, blockDim;
__device__ float __shfl_xor_sync(unsigned, float, int, int);
__device__ int __shfl_xor_sync(unsigned, int, int, int);
__device__ int __dp4a(int, int, int);
__device__ int __shfl_sync(unsigned, int, int, int);
__device__ float __shfl_sync(unsigned, float, int, int);
__device__ unsigned __byte_perm(unsigned, unsigned, unsigned);
__device__ float __fmul_rn(float, float);
__device__ float __fadd_rn(float, float);
__device__ float __fdiv_rn(float, float);
__device__ double __longlong_as_double(long long);
__device__ float __int_as_float(int);
__device__ int __float_as_int(float);
__device__ float fabsf(float);
__device__ float fmaxf(float, float);
__device__ float fminf(float, float);
__device__ float roundf(float);
__device__ float expf(float);
__device__ float tanhf(float);
__device__ float sqrtf(float);
__device__ double exp(double);
__device__ double log(double);
__device__ double cos(double);
__device__ double sin(double);
__device__ double rint(double);
__device__ float cosf(float);
__device__ float sinf(float);
__device__ unsigned atomicAdd(unsigned*, unsigned);
__device__ void __threadfence();
extern __device__ const qk_dim3_shim gridDim;
__device__ void __syncthreads();
SHIM
# The exact text the host compiles for CUDA (prelude, the host's geometry defines, every kernel file).
QUANTA="${QUANTA:-.build/debug/quanta}"
[ -x "$QUANTA" ] || swift build --product quanta >&2
n=0
for arch in sm_61 sm_80 sm_90; do
  (cat "$tmp/shim.h"; "$QUANTA" kernels --print-source --arch "$arch") > "$tmp/all.cu"
  "$CLANG" -x cuda --cuda-gpu-arch="$arch" --cuda-device-only -nocudainc -nocudalib -fsyntax-only -std=c++17 \
    -Werror=return-type "$tmp/all.cu"
  n=$((n + 1))
  # The module GPUContext builds for dependent launches (sm_90+): the same text with the waits compiled.
  if [ "$arch" = sm_90 ]; then
    "$CLANG" -x cuda --cuda-gpu-arch="$arch" --cuda-device-only -nocudainc -nocudalib -fsyntax-only -std=c++17 \
      -Werror=return-type -DQK_DEPENDENT_LAUNCH=1 -DQK_DEPENDENT_LAUNCH_EARLY=1 "$tmp/all.cu"
    n=$((n + 1))
  fi
done
echo "hip_kernels_check: CUDA dialect type-checks for $n NVIDIA targets and variants (clang -fsyntax-only, no NVRTC)"
# 4. the dense kernels run on a CPU emulation of 32- and 64-wide wavefronts against references.
bash scripts/gpu_kernels_emulate.sh
# 5. the HIP-on-CUDA test layer (Tests/HIPOnCUDA) builds against AMD's own HIP headers with -Werror
#    (its exports' signatures are AMD's) and exports every function HIPVendor.swift loads.
bash Tests/HIPOnCUDA/build.sh "$tmp/hip_on_cuda"
