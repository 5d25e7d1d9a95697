#!/usr/bin/env bash
# The mixture-of-experts kernels (Sources/GPUKernels/kernels/moe.cu) on the CPU emulation of the kernel
# dialect (emu_prelude.h): moe_test.cpp — routing against a port of the CPU backend's
# ExpertRouting.route, the device-side grouping of (token, slot) pairs per expert, the expert mat-vecs
# (one pair per CTA row, grouped tiles, and the byte-load fallback for every type) against a double
# reference, and the weighted mix bit-exact against the CPU loop. Under AddressSanitizer with every
# typed load's alignment checked, at wave32 (NVIDIA's table lookup) and wave64 (AMD's), with the host's
# mat-vec geometry (GPUMatVec.swift).
# Called by scripts/gpu_kernels_emulate.sh; alone: bash scripts/gpu_emulate/moe.sh [type].
# MOE_MUTATION_CHECK=1 (=only: just that) also checks that the test catches broken kernels: each of a
# few one-token mutations of moe.cu must make it fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
ONLY="${1:-}"
CXX="${CXX:-$(command -v clang++ || true)}"
if [ -z "$CXX" ]; then echo "moe emulation: no clang++" >&2; exit 1; fi
K=Sources/GPUKernels/kernels
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
# What moe.cu uses: the quantized part (kernels.cu's fallback dot), the reductions and -inf of the
# dense files, and mmvq.cu's mat-vec core.
bash scripts/gpu_emulate/iq_tables.sh > "$tmp/iq_tables.cuh"
cat "$K/common.cuh" "$tmp/iq_tables.cuh" "$K/quants.cuh" "$K/kernels.cu" "$K/dense_convert.cu" "$K/dense_ops.cu" \
  "$K/mmvq.cu" "$K/moe.cu" > "$tmp/kernels_moe.inc"
cp scripts/gpu_emulate/emu_prelude.h scripts/gpu_emulate/emu_quant.h scripts/gpu_emulate/emu_perm.h scripts/gpu_emulate/moe_test.cpp "$tmp/"
python3 scripts/gpu_emulate/mmvq_geometry.py Sources/GPUBackend/GPUMatVec.swift "$tmp"
build() {  # build OUT WAVE PERMUTE
  rm -f "$1"
  "$CXX" -std=c++20 -O1 -DQK_WARP_SIZE="$2" -include "$tmp/geometry_host.h" "$3" -fsanitize=address -w \
    -I"$tmp" -o "$1" "$tmp/moe_test.cpp" -lpthread 2>&1 | grep -v 'ld.gold: warning' >&2 || true
  [ -x "$1" ]
}
waves="32 64"
[ "${MOE_MUTATION_CHECK:-0}" = only ] && waves=""
for w in $waves; do
  [ "$w" = 32 ] && perm=-DQK_EMULATE_BYTE_PERM || perm=-DQK_EMULATE_AMDGCN_PERM
  build "$tmp/moe$w" "$w" "$perm" &
done
wait
fail=0
for w in $waves; do
  rc=0; "$tmp/moe$w" $ONLY > "$tmp/out$w.txt" 2>&1 || rc=$?
  grep -v '^ok' "$tmp/out$w.txt" || true
  echo "moe emulation wave$w: $(grep -c '^ok' "$tmp/out$w.txt") cases ok, rc $rc, largest $(grep -o 'nmse [0-9.e+-]*' "$tmp/out$w.txt" | sort -g -k2 | tail -1)"
  [ "$rc" -eq 0 ] || fail=1
done
if [ "$fail" -ne 0 ]; then echo "moe emulation: FAILURES" >&2; exit 1; fi
if [ "${MOE_MUTATION_CHECK:-0}" != 0 ]; then
  # Each mutation (sed expression on the kernels, the type to run, or route: routing and mixing) must fail.
  muts=('s/(sa == sb \&\& ia < ib)/(sa == sb \&\& ia > ib)/|route' 's/(j < n ? j : 0)\]/(j < n ? j : n - 1) + 1]/|q4_K'
        's/(p % used) % x_rows/(p % used)/|q8_0' 's/total = fmaxf(total, 6.103515625e-5f)/total = 1.0f/|route'
        's/if (c.y\[j\] != 0) c.y\[j\]\[row\] = v/c.y[0][row] = v/|q6_K' 's/= moe_nan();/= 0.0f;/g|iq4_nl')
  cp "$tmp/kernels_moe.inc" "$tmp/clean.inc"
  for m in "${muts[@]}"; do
    expr="${m%|*}"; type="${m#*|}"
    sed "$expr" "$tmp/clean.inc" > "$tmp/kernels_moe.inc"
    if cmp -s "$tmp/clean.inc" "$tmp/kernels_moe.inc"; then echo "mutation '$expr' matched nothing" >&2; exit 1; fi
    build "$tmp/mut" 32 -DQK_EMULATE_BYTE_PERM
    rc=0; "$tmp/mut" $type > "$tmp/mut.txt" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then echo "mutation '$expr' ($type): NOT caught" >&2; exit 1; fi
    echo "mutation '$expr' ($type): caught ($(grep -c '^FAIL' "$tmp/mut.txt") failing cases$(grep -q AddressSanitizer "$tmp/mut.txt" && echo ', AddressSanitizer report'))"
  done
  cp "$tmp/clean.inc" "$tmp/kernels_moe.inc"
fi
[ -z "$waves" ] || echo "moe emulation: routing, grouping, expert mat-vecs and mixing match the references at wave32 and wave64"
