#!/usr/bin/env bash
# Builds the HIP-on-CUDA test layer (libhip_on_cuda.so) and its smoke test, and checks that the
# layer exports every HIP / hiprtc function Sources/GPUBackend/HIPVendor.swift loads.
#
#   bash Tests/HIPOnCUDA/build.sh [OUTDIR]                 # default OUTDIR: Tests/HIPOnCUDA/build
#   bash Tests/HIPOnCUDA/build.sh --export-headers DIR     # copy AMD's HIP headers to DIR/hip (to carry)
#
# AMD's headers: $HIP_INCLUDE (a directory holding hip/hip_runtime_api.h), else /usr/include (Debian's
# libamdhip64-dev), else <repo>/.gpu/hip-include (a copy made with --export-headers). Compiled with
# -D__HIP_PLATFORM_AMD__ (as scripts/check_hip_abi.py does), -Wall -Wextra -Werror, and
# -Wmissing-prototypes: every exported function must match a declaration in AMD's headers.
# Needs only cc (gcc or clang) and libc; no CUDA headers (libcuda and libnvrtc are dlopen'ed).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CC="${CC:-cc}"

find_include() {
  local c
  for c in "${HIP_INCLUDE:-}" /usr/include "$ROOT/.gpu/hip-include"; do
    if [[ -n "$c" && -f "$c/hip/hip_runtime_api.h" && -f "$c/hip/hiprtc.h" ]]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if [[ "${1:-}" == "--export-headers" ]]; then
  dest="${2:?usage: build.sh --export-headers DIR}"
  inc="$(find_include)" || { echo "build.sh: no HIP headers found (apt-get install libamdhip64-dev)" >&2; exit 1; }
  mkdir -p "$dest"
  rm -rf "$dest/hip"
  cp -rL "$inc/hip" "$dest/hip"
  [[ -f "$inc/amd_comgr.h" ]] && cp -L "$inc/amd_comgr.h" "$dest/amd_comgr.h"
  echo "build.sh: copied $inc/hip$([[ -f "$inc/amd_comgr.h" ]] && echo ' and amd_comgr.h') to $dest ($(du -sh "$dest" | cut -f1))"
  exit 0
fi

OUT="${1:-$HERE/build}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
INC="$(find_include)" || {
  echo "build.sh: AMD's HIP headers not found: set HIP_INCLUDE to a directory holding hip/hip_runtime_api.h" >&2
  echo "          (apt-get install libamdhip64-dev, or copy them with: build.sh --export-headers .gpu/hip-include)" >&2
  exit 1
}
command -v "$CC" >/dev/null || { echo "build.sh: no C compiler ($CC)" >&2; exit 1; }

CFLAGS=(-std=c11 -D__HIP_PLATFORM_AMD__ "-I$INC" -Wall -Wextra -Werror -O2)
echo "build.sh: $CC, HIP headers $INC/hip ($(grep -m1 -o 'HIP_VERSION_MAJOR [0-9]*' "$INC/hip/hip_version.h" 2>/dev/null || echo '?'))"

# mapping_prelude.cuh → a C string literal the layer includes.
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$HERE/mapping_prelude.cuh" \
  >"$OUT/hoc_mapping_prelude.inc"
COMGR=()
if [[ -f "$INC/amd_comgr.h" ]]; then
  COMGR=(-DHOC_WITH_COMGR=1)  # also answer Quanta's libamd_comgr target query (README: comgr)
else
  echo "build.sh: $INC/amd_comgr.h missing: the layer will not export amd_comgr_get_isa_count/name"
fi
"$CC" "${CFLAGS[@]}" "${COMGR[@]}" "-I$OUT" -Wmissing-prototypes -fPIC -fvisibility=hidden -shared \
  -o "$OUT/libhip_on_cuda.so" "$HERE/hip_on_cuda.c" -ldl -lpthread
echo "build.sh: built $OUT/libhip_on_cuda.so"

"$CC" "${CFLAGS[@]}" -o "$OUT/hip_on_cuda_smoke" "$HERE/smoke.c" -L"$OUT" -lhip_on_cuda \
  -Wl,-rpath,'$ORIGIN'
echo "build.sh: built $OUT/hip_on_cuda_smoke"

# Exports vs the names HIPVendor.swift loads from the runtime (rt) and hiprtc (rtc) libraries, and the
# HIP names of the calls it shares with CUDA (the right-hand column of DriverVendorAPI.swift's table).
VENDOR="$ROOT/Sources/GPUBackend/HIPVendor.swift"
SHARED="$ROOT/Sources/GPUBackend/DriverVendorAPI.swift"
if [[ -f "$VENDOR" && -f "$SHARED" ]] && command -v nm >/dev/null; then
  required="$({
    grep -oE '\b(rt|rtc)\.(function|optionalFunction)\("[A-Za-z0-9_]+"' "$VENDOR" | sed -E 's/.*\("//; s/"$//'
    grep -oE '\bcall\([a-z]+, "[A-Za-z0-9_]+", "[A-Za-z0-9_]+"\)' "$SHARED" | sed -E 's/.*, "//; s/"\)$//'
  } | sort -u)"
  exported="$(nm -D --defined-only "$OUT/libhip_on_cuda.so" | awk '$2 == "T" { print $3 }' | sort -u)"
  missing="$(comm -23 <(echo "$required") <(echo "$exported"))"
  extra="$(comm -13 <(echo "$required") <(echo "$exported") | tr '\n' ' ')"
  n_req="$(echo "$required" | grep -c .)"
  if [[ -n "$missing" ]]; then
    echo "build.sh: FAILED: HIPVendor.swift loads symbols the layer does not export:" >&2
    echo "$missing" | sed 's/^/  /' >&2
    exit 1
  fi
  if [[ ${#COMGR[@]} -gt 0 ]]; then
    comgr_req="$(grep -oE 'optionalFunction\("amd_comgr_[a-z_]+"' "$VENDOR" | sed -E 's/.*\("//; s/"$//' | sort -u)"
    comgr_missing="$(comm -23 <(echo "$comgr_req") <(echo "$exported"))"
    if [[ -n "$comgr_missing" ]]; then
      echo "build.sh: FAILED: HIPVendor.readComgrTargets needs $comgr_missing" >&2
      exit 1
    fi
    echo "build.sh: exports cover the comgr queries of HIPVendor.readComgrTargets: $(echo $comgr_req)"
  fi
  echo "build.sh: exports cover all $n_req functions HIPVendor.swift loads (its own and the shared table)"
  echo "build.sh: also exported (not loaded by Quanta): ${extra:-none}"
else
  echo "build.sh: symbol check skipped ($VENDOR, $SHARED or nm missing)"
fi
