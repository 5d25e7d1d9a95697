#!/usr/bin/env bash
# The per-type mat-vec kernels (Sources/GPUKernels/kernels/mmvq.cu) on the CPU emulation of the kernel
# dialect (emu_prelude.h): matvec_test.cpp, every type × ncols 1…8 × ragged shapes against a double
# reference, under AddressSanitizer with every typed load's alignment checked. Runs at wave32 and wave64
# with the host's geometry (read from GPUMatVec.swift's tables, as GPUMatVec.sourceDefines writes it) and
# with an odd one (CTAs of 64–256 threads, 1–4 rows), so a retuned geometry stays covered.
# Called by scripts/gpu_kernels_emulate.sh; alone: bash scripts/gpu_emulate/matvec.sh [type].
# MMVQ_MUTATION_CHECK=1 also checks that the test catches broken kernels: each of a few one-token
# mutations of mmvq.cu must make it fail (=only: just that check).
set -euo pipefail
cd "$(dirname "$0")/../.."
ONLY="${1:-}"  # optional: one type
CXX="${CXX:-$(command -v clang++ || true)}"
if [ -z "$CXX" ]; then echo "matvec emulation: no clang++" >&2; exit 1; fi
K=Sources/GPUKernels/kernels
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
# Only what mmvq.cu needs, so other kernel files' host defines don't matter.
bash scripts/gpu_emulate/iq_tables.sh > "$tmp/iq_tables.cuh"
cat "$K/common.cuh" "$tmp/iq_tables.cuh" "$K/quants.cuh" "$K/mmvq.cu" > "$tmp/kernels_mmvq.inc"
cp scripts/gpu_emulate/emu_prelude.h scripts/gpu_emulate/emu_quant.h scripts/gpu_emulate/emu_perm.h scripts/gpu_emulate/matvec_test.cpp "$tmp/"
python3 scripts/gpu_emulate/mmvq_geometry.py Sources/GPUBackend/GPUMatVec.swift "$tmp"
build() {  # build OUT WAVE GEOMETRY [TABLE-LOOKUP]: cuda / amd (emulated byte permutes) or portable
  local perm=""
  case "${4:-}" in cuda) perm=-DQK_EMULATE_BYTE_PERM ;; amd) perm=-DQK_EMULATE_AMDGCN_PERM ;; esac
  rm -f "$1"
  "$CXX" -std=c++20 -O1 -DQK_WARP_SIZE="$2" -include "$tmp/geometry_$3.h" $perm -fsanitize=address -w \
    -I"$tmp" -o "$1" "$tmp/matvec_test.cpp" -lpthread 2>&1 | grep -v 'ld.gold: warning' >&2 || true
  [ -x "$1" ]
}
# wave32 with NVIDIA's table lookup, wave64 with AMD's (as on the hardware), the odd geometry portable.
runs=("32 host cuda" "64 host amd" "32 odd portable" "64 odd portable")
[ "${MMVQ_MUTATION_CHECK:-0}" = only ] && runs=()
for r in ${runs[@]+"${runs[@]}"}; do set -- $r; build "$tmp/mv_$1_$2" "$1" "$2" "$3" & done
wait
fail=0
for r in ${runs[@]+"${runs[@]}"}; do
  set -- $r
  rc=0; "$tmp/mv_$1_$2" $ONLY > "$tmp/out_$1_$2.txt" 2>&1 || rc=$?
  grep -v '^ok' "$tmp/out_$1_$2.txt" | sed "s/^/[$2 geometry] /" || true
  echo "[$2 geometry, $3 table lookup] wave$1: $(grep -c '^ok' "$tmp/out_$1_$2.txt") cases ok, rc $rc, largest $(grep -o 'nmse [0-9.e+-]*' "$tmp/out_$1_$2.txt" | sort -g -k2 | tail -1)"
  [ "$rc" -eq 0 ] || fail=1
done
if [ "$fail" -ne 0 ]; then echo "matvec emulation: FAILURES" >&2; exit 1; fi
if [ "${MMVQ_MUTATION_CHECK:-0}" != 0 ]; then
  # Each mutation (sed expression on mmvq.cu, type to run) must make the test fail.
  muts=('s/- 4.0f \* x.s/- 3.0f * x.s/|q4_0' 's/(2 \* q0 + 4)/(2 * q0 + 2)/|q6_K' 's/kb += NT \/ P)/kb += NT \/ P + 1)/|q4_K'
        's/if (row < nrows)/if (row <= nrows)/|q8_0' 's/bjm4 = q\[j \& 3\]/bjm4 = q[j \& 7]/|q5_K' 's/(16 + 2 \* p)/(16 + 2 * p + 1)/|iq4_xs'
        's/s += QK_WARP_SIZE) {/s += QK_WARP_SIZE + 1) {/|q8_0' 's/cta \* R + (s64)threadIdx.x \/ QK_WARP_SIZE/cta * R/|q4_K'
        's/== gridDim.x - 1;/== gridDim.x;/|q4_K' 's/\*counter = 0;/*counter = 1;/|q8_0')
  cp "$tmp/kernels_mmvq.inc" "$tmp/clean.inc"
  for m in "${muts[@]}"; do
    expr="${m%|*}"; type="${m#*|}"
    sed "$expr" "$tmp/clean.inc" > "$tmp/kernels_mmvq.inc"
    if cmp -s "$tmp/clean.inc" "$tmp/kernels_mmvq.inc"; then echo "mutation '$expr' matched nothing" >&2; exit 1; fi
    build "$tmp/mut" 32 host
    rc=0; "$tmp/mut" "$type" > "$tmp/mut.txt" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then echo "mutation '$expr' ($type): NOT caught" >&2; exit 1; fi
    echo "mutation '$expr' ($type): caught ($(grep -c '^FAIL' "$tmp/mut.txt") failing cases$(grep -q AddressSanitizer "$tmp/mut.txt" && echo ', AddressSanitizer report'))"
  done
fi
[ ${#runs[@]} -eq 0 ] || echo "matvec emulation: mul_mat_vec_q_<type>_<1…8> match the reference for every type at wave32 and wave64 (host and odd geometry)"
