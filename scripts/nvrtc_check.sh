#!/usr/bin/env bash
# Compiles the exact CUDA kernel module the host builds (`quanta kernels --print-source`) with NVIDIA's
# own runtime compiler, NVRTC, for sm_80 and sm_90 — no GPU and no CUDA toolkit needed: NVRTC comes
# from PyPI's nvidia-cuda-nvrtc-cu12 wheel (cached in ~/.cache/quanta/nvrtc). clang's -fsyntax-only
# check (hip_kernels_check.sh) cannot see what only NVRTC and ptxas reject (inline PTX, register
# limits); a compile error here would disable every GPU kernel at once on a real device. Also prints
# ptxas' registers and spills of the mat-mat kernels and every kernel that spills, and fails when a
# mat-mat kernel needs more than 128 registers (fewer than two of its 256-thread CTAs per SM).
# Usage: bash scripts/nvrtc_check.sh [QUANTA]   (default .build/debug/quanta, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
QUANTA="${1:-.build/debug/quanta}"
[ -x "$QUANTA" ] || swift build --product quanta >&2
VERSION=12.9.86
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/quanta/nvrtc/$VERSION"
LIB="$DIR/nvidia/cuda_nvrtc/lib/libnvrtc.so.12"
if [ ! -f "$LIB" ]; then
  echo "nvrtc_check: pip download nvidia-cuda-nvrtc-cu12==$VERSION (from PyPI)" >&2
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "nvidia-cuda-nvrtc-cu12==$VERSION" -d "$tmp"
  mkdir -p "$DIR"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$tmp"/*.whl "$DIR"
  rm -rf "$tmp"
fi
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for arch in sm_80 sm_90; do
  "$QUANTA" kernels --print-source --arch "$arch" > "$tmp/k.cu"
  python3 - "$LIB" "$tmp/k.cu" "$arch" <<'PY'
import ctypes, re, sys
lib = ctypes.CDLL(sys.argv[1])
src, arch = open(sys.argv[2], "rb").read(), sys.argv[3]
prog = ctypes.c_void_p()
if lib.nvrtcCreateProgram(ctypes.byref(prog), src, b"quanta.cu", 0, None, None) != 0:
    sys.exit("nvrtc_check: nvrtcCreateProgram failed")
# The options GPUContext passes (KernelBuild.options: --std=c++17), plus ptxas' report.
opts = [b"--gpu-architecture=" + arch.encode(), b"--std=c++17", b"--ptxas-options=-v"]
rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
n = ctypes.c_size_t()
lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
log = ctypes.create_string_buffer(n.value)
lib.nvrtcGetProgramLog(prog, log)
text = log.value.decode(errors="replace")
if rc != 0:
    print(text[-4000:])
    sys.exit(f"nvrtc_check: NVRTC rejected the {arch} module (nvrtcResult {rc})")
kernels = re.findall(r"Function properties for (\w+)\n\S+\s+\.\s+(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads\n.*?Used (\d+) registers", text)
bad, mmq = [], []
for name, _, stores, loads, regs in kernels:
    if name.startswith("mul_mat_q_"):
        mmq.append(f"{name[10:]} {regs}" + (f" (spills {stores}/{loads} B)" if stores != "0" else ""))
        if int(regs) > 128:
            bad.append(name)
spills = [k[0] for k in kernels if k[2] != "0"]
print(f"nvrtc_check: {arch}: {len(kernels)} kernels compiled; mul_mat_q registers: {', '.join(mmq)}")
if spills:
    print(f"nvrtc_check: {arch}: kernels that spill: {', '.join(spills)}")
if bad:
    sys.exit(f"nvrtc_check: {arch}: mat-mat kernels over 128 registers: {', '.join(bad)}")
PY
done
