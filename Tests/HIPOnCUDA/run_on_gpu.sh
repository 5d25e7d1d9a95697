#!/usr/bin/env bash
# On the NVIDIA GPU machine, from the repository root, in one go: build the HIP-on-CUDA layer (or
# use a prebuilt one), run its smoke test, then Quanta's ROCm path through it:
#   quanta devices                       (rocm:0 must be listed through the layer)
#   quanta selftest --device rocm:0      (closing line: total: N passed, N failed)
# and, with --cuda-baseline, `quanta selftest --device cuda:0` for the count to compare, then on a
# synthetic 1B model: greedy tokens, perplexity and bench model on rocm:0 against cuda:0.
#
#   bash Tests/HIPOnCUDA/run_on_gpu.sh QUANTA [--cuda-baseline] [--smoke-only]
#
# QUANTA: path to the quanta CLI (e.g. /tmp/quanta, unpacked from .gpu/quanta.gz).
# AMD's HIP headers for the build: $HIP_INCLUDE, /usr/include, or .gpu/hip-include (make that copy
# here with `bash Tests/HIPOnCUDA/build.sh --export-headers .gpu/hip-include` and carry .gpu).
# HIP_ON_CUDA_PREBUILT=DIR: use DIR/libhip_on_cuda.so and DIR/hip_on_cuda_smoke instead of building.
# Logs go to $OUT (the device tool's return folder) when set, else /tmp/hip_on_cuda_logs.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
QUANTA="${1:-}"
shift || true
BASELINE=0
SMOKE_ONLY=0
for a in "$@"; do
  case "$a" in
    --cuda-baseline) BASELINE=1 ;;
    --smoke-only) SMOKE_ONLY=1 ;;
    *) echo "run_on_gpu: unknown option $a" >&2; exit 64 ;;
  esac
done
if [[ $SMOKE_ONLY == 0 && ( -z "$QUANTA" || ! -x "$QUANTA" ) ]]; then
  echo "usage: run_on_gpu.sh QUANTA [--cuda-baseline] [--smoke-only]  (QUANTA: the quanta CLI, executable)" >&2
  exit 64
fi
LOGS="${OUT:-/tmp/hip_on_cuda_logs}"
mkdir -p "$LOGS"
status=0
t0=$SECONDS
step() { echo; echo "== $* (t=$((SECONDS - t0)) s)"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"

if [[ -n "${HIP_ON_CUDA_PREBUILT:-}" ]]; then
  BUILD="$(cd "$HIP_ON_CUDA_PREBUILT" && pwd)"
  step "prebuilt layer: $BUILD"
else
  BUILD=/tmp/hip_on_cuda
  # The carried copy of AMD's headers first (the ones this layer is checked against here).
  [[ -z "${HIP_INCLUDE:-}" && -f "$ROOT/.gpu/hip-include/hip/hip_runtime_api.h" ]] && export HIP_INCLUDE="$ROOT/.gpu/hip-include"
  step "build the layer"
  if ! bash "$HERE/build.sh" "$BUILD"; then
    echo "run_on_gpu: FAILED to build the layer (headers? see build.sh)"
    exit 1
  fi
fi
LIB="$BUILD/libhip_on_cuda.so"

step "smoke test"
"$BUILD/hip_on_cuda_smoke" "$ROOT/Sources/GPUKernels/kernels/prelude_hip.cuh" 2>&1 | tee "$LOGS/smoke.log"
smoke_rc=${PIPESTATUS[0]}
[[ $smoke_rc == 0 ]] || status=1
[[ $SMOKE_ONLY == 1 ]] && { echo; echo "run_on_gpu: smoke rc=$smoke_rc"; exit $status; }

# Both overrides: a machine with AMD's hiprtc library (libhiprtc.so.5/6) would otherwise compile
# real AMD code objects, which the layer cannot load. A fresh kernel cache: the layer's code objects
# (CUBINs) are stored under the same key an AMD gfx1100 build of the same source would use.
export QUANTA_HIP_LIB="$LIB" QUANTA_HIPRTC_LIB="$LIB"
# Quanta asks libamd_comgr which gfx targets hiprtc compiles for (HIPVendorAPI.readComgrTargets); the
# machine's ROCm comgr answers for AMD's compiler. When the layer exports the two comgr queries, a
# libamd_comgr.so link to it goes first on LD_LIBRARY_PATH, so the layer answers for its own hiprtc.
if nm -D --defined-only "$LIB" 2>/dev/null | grep -q ' amd_comgr_get_isa_count$'; then
  mkdir -p "$BUILD/comgr"
  ln -sf "$LIB" "$BUILD/comgr/libamd_comgr.so"
  export LD_LIBRARY_PATH="$BUILD/comgr${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "run_on_gpu: comgr target query answered by the layer ($BUILD/comgr/libamd_comgr.so)"
else
  echo "run_on_gpu: the layer has no comgr exports; Quanta asks the machine's libamd_comgr (must list gfx1100)"
fi
export QUANTA_CACHE="${QUANTA_CACHE_FOR_LAYER:-$(mktemp -d /tmp/quanta_cache_hoc.XXXXXX)}"

step "quanta devices (QUANTA_HIP_LIB=$LIB)"
"$QUANTA" devices 2>&1 | tee "$LOGS/devices.log"
grep -q '^rocm:0 ' "$LOGS/devices.log" || { echo "run_on_gpu: FAIL: rocm:0 not listed"; status=1; }

step "quanta selftest --device rocm:0"
"$QUANTA" selftest --device rocm:0 >"$LOGS/selftest_rocm.log" 2>&1
rocm_rc=$?
grep -E 'FAIL|failed:|error' "$LOGS/selftest_rocm.log" | grep -v ' 0 failed' | head -20
tail -n 4 "$LOGS/selftest_rocm.log"
[[ $rocm_rc == 0 ]] || status=1

if [[ $BASELINE == 1 ]]; then
  step "quanta selftest --device cuda:0 (baseline, same GPU)"
  (unset QUANTA_HIP_LIB QUANTA_HIPRTC_LIB; QUANTA_CACHE="$(mktemp -d /tmp/quanta_cache_cuda.XXXXXX)" \
    "$QUANTA" selftest --device cuda:0) >"$LOGS/selftest_cuda.log" 2>&1
  cuda_rc=$?
  tail -n 2 "$LOGS/selftest_cuda.log"
  r="$(grep -E '^total:' "$LOGS/selftest_rocm.log" | tail -1)"
  c="$(grep -E '^total:' "$LOGS/selftest_cuda.log" | tail -1)"
  echo "rocm:0 (HIP-on-CUDA) $r | cuda:0 $c"
  [[ $cuda_rc == 0 && -n "$r" && "$r" == "$c" ]] || { echo "run_on_gpu: rocm:0 and cuda:0 totals differ"; status=1; }
fi

if [[ $BASELINE == 1 ]]; then
  # The rest of issue 13's checks, rocm:0 (this layer) against cuda:0 on the same GPU and file:
  # greedy tokens equal, perplexity equal to 4 digits, decode/prompt speed within 10 %. On the same
  # kernels: the ROCm path has no matrix-core mat-mat yet (GPUMatMat.usesMatrixCores), so cuda:0 runs
  # with --no-matrix-cores (the portable mat-mat both then use); its default speed is printed too.
  M=/tmp/hip_on_cuda_1b.gguf
  [[ -f $M ]] || "$QUANTA" synth --arch llama --preset 1b --type Q4_K_M "$M" >/dev/null
  cuda() { (unset QUANTA_HIP_LIB QUANTA_HIPRTC_LIB; "$QUANTA" "$@" --no-matrix-cores); }
  cuda_mma() { (unset QUANTA_HIP_LIB QUANTA_HIPRTC_LIB; "$QUANTA" "$@"); }
  step "run --temp 0 -n 64, rocm:0 vs cuda:0"
  r="$("$QUANTA" run -m "$M" -p "The first" -n 64 --temp 0 --no-display-prompt --device rocm:0 2>/dev/null)"
  c="$(cuda run -m "$M" -p "The first" -n 64 --temp 0 --no-display-prompt --device cuda:0 2>/dev/null)"
  if [[ -n "$c" && "$r" == "$c" ]]; then echo "same 64 tokens"; else echo "run_on_gpu: FAIL: greedy text differs"; status=1; fi
  step "perplexity, rocm:0 vs cuda:0"
  python3 -c "
import random
random.seed(3)
w='the of and to in is was for on that with as by at from it an are were this be or has had not'.split()
print(' '.join(random.choice(w) for _ in range(4000)))" > /tmp/hip_on_cuda_text.txt
pr="$("$QUANTA" perplexity -m "$M" -f /tmp/hip_on_cuda_text.txt -c 512 --chunks 2 --device rocm:0 2>&1 | grep Final)"
  pc="$(cuda perplexity -m "$M" -f /tmp/hip_on_cuda_text.txt -c 512 --chunks 2 --device cuda:0 2>&1 | grep Final)"
  echo "rocm:0 $pr | cuda:0 $pc"
  python3 -c "
import re, sys
a, b = (float(re.search(r'PPL = ([0-9.]+)', t).group(1)) for t in sys.argv[1:3])
sys.exit(0 if abs(a - b) <= 5e-5 * b else 1)" "$pr" "$pc" || { echo "run_on_gpu: FAIL: perplexity differs"; status=1; }
  step "bench model, rocm:0 vs cuda:0"
  br="$("$QUANTA" bench model -m "$M" -p 512 -n 128 -r 3 --device rocm:0 2>/dev/null | grep -E 'pp512|tg128')"
  bc="$(cuda bench model -m "$M" -p 512 -n 128 -r 3 --device cuda:0 2>/dev/null | grep -E 'pp512|tg128')"
  bm="$(cuda_mma bench model -m "$M" -p 512 -n 128 -r 3 --device cuda:0 2>/dev/null | grep -E 'pp512|tg128')"
  echo "$br"; echo "$bc"; echo "cuda:0 with matrix cores (default; not the ROCm path's kernels):"; echo "$bm"
  python3 -c "
import sys
def rates(t): return [float(l.split('|')[-2].split()[0]) for l in t.strip().splitlines()]
r, c = rates(sys.argv[1]), rates(sys.argv[2])
for name, a, b in zip(['pp512', 'tg128'], r, c): print(f'{name}: rocm:0 {a:.1f} cuda:0 {b:.1f} ({a / b:.2f}x)')
sys.exit(0 if all(a >= 0.9 * b for a, b in zip(r, c)) else 1)" "$br" "$bc" || { echo "run_on_gpu: rocm:0 more than 10 % slower"; status=1; }
fi

echo
echo "run_on_gpu: smoke rc=$smoke_rc, selftest rocm:0 rc=$rocm_rc, logs in $LOGS, $((SECONDS - t0)) s"
exit $status
