#!/usr/bin/env python3
"""The mat-vec geometry as the host injects it (GPUMatVec.sourceDefines), for the CPU emulation:
  python3 scripts/gpu_emulate/mmvq_geometry.py Sources/GPUBackend/GPUMatVec.swift OUTDIR
writes OUTDIR/geometry_host.h (the host's tables) and OUTDIR/geometry_odd.h (an odd geometry), and
checks that GPUMatVec.dotTypes lists mmvq.cu's MMVQ_TYPE_LIST."""
import re, sys
s = open(sys.argv[1]).read()
def table(name):
  m = re.search(r"static let %s: \[Int\] = \[([^\]]*)\]" % name, s)
  return [int(v) for v in m.group(1).split(",") if v.strip()]
# Parts per block (GPUMatVec.partsPerBlock), as MMVQ_PARTS_<type>: the kernel static_asserts them.
parts = dict(re.findall(r"\.(\w+): (\d+)", s[s.index("static let partsPerBlock"):].split("]\n")[0]))
def header(path, threads, rows):
  expr = lambda v: "(" + "".join(f"(c) == {i + 1} ? {x} : " for i, x in enumerate(v)) + "0)"
  with open(path, "w") as f:
    f.write(f"#define MMVQ_MAX_COLS {len(threads)}\n#define MMVQ_THREADS(c) {expr(threads)}\n#define MMVQ_ROWS(c) {expr(rows)}\n")
    f.write("".join(f"#define MMVQ_PARTS_{t} {n}\n" for t, n in parts.items()))
max_cols = int(re.search(r"static let maxColumns = (\d+)", s).group(1))
threads, rows = table("threadsPerBlock"), table("rowsPerBlock")
assert len(threads) == len(rows) == max_cols, "GPUMatVec: one threadsPerBlock / rowsPerBlock entry per column count"
header(sys.argv[2] + "/geometry_host.h", threads, rows)
# The host's per-type kernel list (GPUMatVec.dotTypes) is the kernel source's (MMVQ_TYPE_LIST).
dot = s[s.index("static let dotTypes"):]
swift_types = re.findall(r"\.(\w+)", dot[dot.index("= [") : dot.index("]\n")])
cu = open("Sources/GPUKernels/kernels/mmvq.cu").read()
cu_list = cu[cu.index("#define MMVQ_TYPE_LIST(X)"):]
cu_types = re.findall(r"X\((\w+)\)", cu_list[:cu_list.index("\n\n")])
assert swift_types == cu_types, f"GPUMatVec.dotTypes {swift_types} != mmvq.cu MMVQ_TYPE_LIST {cu_types}"
assert sorted(parts) == sorted(cu_types), f"GPUMatVec.partsPerBlock {sorted(parts)} != MMVQ_TYPE_LIST {sorted(cu_types)}"
header(sys.argv[2] + "/geometry_odd.h", [64, 256, 192, 64, 128, 64, 192, 64][:max_cols], [3, 1, 4, 2, 1, 3, 2, 4][:max_cols])
