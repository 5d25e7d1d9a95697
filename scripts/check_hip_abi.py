#!/usr/bin/env python3
"""CI check (b): Quanta's HIP declarations against AMD's own header.

Reads Sources/GPUBackend/HIPDeclarations.swift (the one place the HIP / hiprtc C API is declared in
Swift), generates a C file of static asserts (enum values, sizeof / offsetof, type-alias sizes) and
function-pointer initializations (`hipError_t (*)(void**, size_t) = hipMalloc;` — a signature that
differs from the header's is a compile error under -Werror), and compiles it against
/usr/include/hip (Debian's libamdhip64-dev) with -D__HIP_PLATFORM_AMD__.

  python3 scripts/check_hip_abi.py [--include DIR] [--keep FILE.c]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DECL = ROOT / "Sources/GPUBackend/HIPDeclarations.swift"
SCALARS = {"Int32": "int", "UInt32": "unsigned int", "Int": "size_t", "Float": "float", "UInt8": "unsigned char",
           "UInt64": "unsigned long long", "CChar": "char"}
SPECIAL = {"hipDeviceProp_t_ptr": "hipDeviceProp_t*"}


def split_args(text):
  out, depth, cur = [], 0, ""
  for ch in text:
    if ch == "<": depth += 1
    if ch == ">": depth -= 1
    if ch == "," and depth == 0:
      out.append(cur.strip()); cur = ""
    else:
      cur += ch
  if cur.strip(): out.append(cur.strip())
  return out


def ctype(t, aliases):
  t = t.strip()
  if t.endswith("?"): t = t[:-1]
  if t in SPECIAL: return SPECIAL[t]
  if t in aliases: return t  # the header's own typedef of the same name
  if t in SCALARS: return SCALARS[t]
  if t == "UnsafeMutableRawPointer": return "void*"
  if t == "UnsafeRawPointer": return "const void*"
  m = re.fullmatch(r"UnsafeMutablePointer<(.+)>", t)
  if m: return ctype(m.group(1), aliases) + "*"
  m = re.fullmatch(r"UnsafePointer<(.+)>", t)
  if m: return "const " + ctype(m.group(1), aliases) + "*"
  sys.exit(f"check_hip_abi: no C mapping for Swift type {t!r}")


def joined(text):
  """The declarations with the formatter's line breaks undone: a `typealias PFN_…` spread over several
  lines (wrapped after `=`, or one parameter list over several lines) becomes one line."""
  out, cur = [], None
  for line in text.splitlines():
    if cur is None and line.startswith("typealias PFN_") and (line.rstrip().endswith("=") or line.count("(") > line.count(")")):
      cur = line.strip()
      continue
    if cur is not None:
      cur += " " + line.strip()
      if cur.count("(") == cur.count(")") and "->" in cur.split("@convention")[-1]:
        cur = re.sub(r"\(\s+", "(", cur)
        cur = re.sub(r",?\s+\)", ")", cur)
        out.append(re.sub(r"\s+", " ", cur))
        cur = None
      continue
    out.append(line)
  return "\n".join(out)


def generate():
  text = joined(DECL.read_text())
  aliases = dict(re.findall(r"^typealias (\w+) = ((?:Int32|UnsafeMutableRawPointer\?))$", text, re.M))
  lines = ["#include <hip/hip_runtime_api.h>", "#include <hip/hiprtc.h>", "#include <stddef.h>", ""]
  n_asserts = n_funcs = 0
  for name, swift in aliases.items():
    if name in SPECIAL: continue
    size = "4" if swift == "Int32" else "sizeof(void*)"
    lines.append(f'_Static_assert(sizeof({name}) == {size}, "{name}: size differs from the Swift alias {swift}");')
    n_asserts += 1
  for name, args, ret in re.findall(r"^typealias PFN_(\w+) = @convention\(c\) \((.*)\) -> (.+)$", text, re.M):
    cargs = ", ".join(ctype(a, aliases) for a in split_args(args)) or "void"
    lines.append(f"{ctype(ret, aliases)} (*check_{name})({cargs}) = {name};")
    n_funcs += 1
  for name, value in re.findall(r"static let (\w+): Int32 = (-?\d+)", text):
    lines.append(f'_Static_assert({name} == {value}, "{name} is not {value} in the header");')
    n_asserts += 1
  for kind, struct, field, value in re.findall(r"static let (offsetof|sizeof)_(\w+?)(?:_(\w+))? = (\d+)", text):
    if kind == "offsetof":
      # offsetof_<struct>_<field>: the struct name may itself contain underscores.
      full = f"{struct}_{field}" if field else struct
      st, fl = full.rsplit("_", 1)
      lines.append(f'_Static_assert(offsetof({st}, {fl}) == {value}, "offsetof({st}, {fl}) is not {value}");')
    else:
      full = f"{struct}_{field}" if field else struct
      lines.append(f'_Static_assert(sizeof({full}) == {value}, "sizeof({full}) is not {value}");')
    n_asserts += 1
  lines.append("int main(void) { return 0; }")
  return "\n".join(lines) + "\n", n_asserts, n_funcs


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--include", default="/usr/include")
  ap.add_argument("--keep")
  args = ap.parse_args()
  src, n_asserts, n_funcs = generate()
  if not (Path(args.include) / "hip/hip_runtime_api.h").exists():
    sys.exit(f"check_hip_abi: {args.include}/hip/hip_runtime_api.h missing (apt-get install libamdhip64-dev)")
  cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
  if not cc:
    sys.exit("check_hip_abi: no C compiler")
  with tempfile.TemporaryDirectory() as d:
    c = Path(args.keep) if args.keep else Path(d) / "hip_abi_check.c"
    c.write_text(src)
    cmd = [cc, "-std=c11", "-D__HIP_PLATFORM_AMD__", f"-I{args.include}", "-Werror", "-Wall",
           "-Wno-unused-variable", "-c", str(c), "-o", str(Path(d) / "hip_abi_check.o")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
      sys.stderr.write(r.stdout + r.stderr)
      sys.exit(f"check_hip_abi: FAILED ({' '.join(cmd)})")
  print(f"check_hip_abi: {n_funcs} function signatures and {n_asserts} values/layouts match "
        f"{args.include}/hip (compiled with {cc})")


if __name__ == "__main__":
  main()
