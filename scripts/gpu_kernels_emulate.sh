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
bash scripts/gpu_emulate/iq_tables.sh > "$tmp/iq_tables.cuh"
cat "$K/common.cuh" "$tmp/iq_tables.cuh" "$K/quants.cuh" "$K/kernels.cu" $(ls "$K"/*.cu | grep -v '/kernels.cu$' | sort) > "$tmp/kernels_common.inc"
cp scripts/gpu_emulate/emu_prelude.h scripts/gpu_emulate/dense_test.cpp scripts/gpu_emulate/matmat_test.cpp scripts/gpu_emulate/sample_test.cpp "$tmp/"
# The mat-mat tile geometry exactly as the host injects it: GPUMatMat.sourceDefines' #define lines, with
# the values of the GPUMatMat.MatrixCore constants they name.
MMQ_DEFS="$(python3 - Sources/GPUBackend/GPUMatMat.swift <<'PY'
import re, sys
s = open(sys.argv[1]).read()
vals = {}
for e in ("MatrixCore", "SmallBatch"):
    body = s[s.index(f"enum {e}"):]
    body = body[:body.index("\n  }\n")]
    vals[e] = dict(re.findall(r"static let (\w+) = (\d+)", body))
    if e == "SmallBatch":
        xs = [x.strip() for x in re.search(r"static let columnTiles = \[([\d, ]+)\]", body).group(1).split(",")]
out = [f"-D{d}={vals[e][v]}" for d, e, v in re.findall(r"#define (\w+) \\\((MatrixCore|SmallBatch)\.(\w+)\)", s)]
out.append("-DMMQ_SMALL_X_LIST(F,name,sub)=" + "".join(f"F(name,sub,{x})" for x in xs))
print(" ".join(out))
PY
)"
# A second, small geometry (two 32-lane groups of 16 rows, 32 × 8 tiles) for more
# partial tiles, with the generic per-element weight loaders instead of the per-type ones.
MMQ_SMALL="-DQK_MMA_LANES=32 -DMMQ_Y=32 -DMMQ_X=8 -DMMQ_NWARPS=2 -DMMQ_KB=8 -DMMQ_GENERIC_LOADERS=1"
# (and small-batch variants of 32 rows over two groups, 8- and 24-column tiles)
MMQ_SMALL+=" -DMMQ_SMALL_Y=32 -DMMQ_SMALL_NWARPS=2 -DMMQ_SMALL_X_LIST(F,name,sub)=F(name,sub,8)F(name,sub,24)"
for w in 32 64; do
  "$CXX" -std=c++20 -O1 -ffp-contract=off -DQK_WARP_SIZE=$w $MMQ_DEFS -w -o "$tmp/emu$w" "$tmp/dense_test.cpp" -lpthread
  rc=0; "$tmp/emu$w" > "$tmp/out$w.txt" || rc=$?
  grep -v '^ok' "$tmp/out$w.txt" || true
  if [ "$rc" -ne 0 ]; then echo "gpu_kernels_emulate: failures at wave$w" >&2; exit 1; fi
  # Device sampling (sample.cu) against a port of the host's sampler.
  "$CXX" -std=c++20 -O1 -ffp-contract=off -DQK_WARP_SIZE=$w $MMQ_DEFS -w -o "$tmp/sample$w" "$tmp/sample_test.cpp" -lpthread
  rc=0; "$tmp/sample$w" > "$tmp/sample$w.txt" || rc=$?
  grep -v '^ok' "$tmp/sample$w.txt" || true
  if [ "$rc" -ne 0 ]; then echo "gpu_kernels_emulate: sampling failures at wave$w" >&2; exit 1; fi
  for geo in "$MMQ_DEFS" "$MMQ_SMALL"; do
    "$CXX" -std=c++20 -O1 -ffp-contract=off -DQK_WARP_SIZE=$w $geo -w -o "$tmp/mm$w" "$tmp/matmat_test.cpp" -lpthread
    rc=0; "$tmp/mm$w" > "$tmp/mm$w.txt" || rc=$?
    grep -v '^ok' "$tmp/mm$w.txt" || true
    if [ "$rc" -ne 0 ]; then echo "gpu_kernels_emulate: mat-mat failures at wave$w ($geo)" >&2; exit 1; fi
  done
done
# The per-type mat-vec kernels (mmvq.cu): every type × 1…8 columns, host and odd geometry, wave32 and 64.
bash scripts/gpu_emulate/matvec.sh
# The mixture-of-experts kernels (moe.cu): routing, grouping, expert mat-vecs, mixing; wave32 and 64.
bash scripts/gpu_emulate/moe.sh
echo "gpu_kernels_emulate: dense, sampling, mat-mat (mul_mat_q, small-batch mul_mat_q_<type>_n<X> + split-k reduce), mat-vec and expert (moe) kernels match the references at wave32 and wave64 (CPU emulation)"
