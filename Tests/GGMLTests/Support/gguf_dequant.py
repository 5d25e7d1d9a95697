#!/usr/bin/env python3
"""An independent codec for Quanta's cross-check tests: gguf-py (PyPI `gguf`), not ggml's C.

  gguf_dequant.py TYPE IN OUT             IN: raw blocks of TYPE → OUT: little-endian f32 values
  gguf_dequant.py --quantize TYPE IN OUT  IN: little-endian f32 values → OUT: raw blocks of TYPE
  gguf_dequant.py --version               prints the gguf and numpy versions

TYPE is ggml's name (iq2_xxs, tq1_0, mxfp4, ...). Exit status 2 names what is missing when the
gguf package or numpy cannot be imported, so the test fails saying so.
"""
import sys


def main(argv):
  try:
    import numpy as np
    from gguf import GGMLQuantizationType, quants
    from importlib.metadata import version
  except ImportError as e:
    print(f"gguf_dequant.py: cannot import the PyPI gguf package or numpy ({e}); "
          "run scripts/setup.sh", file=sys.stderr)
    return 2
  if argv == ["--version"]:
    print(f"gguf {version('gguf')} numpy {np.__version__}")
    return 0
  quantize = bool(argv) and argv[0] == "--quantize"
  if quantize:
    argv = argv[1:]
  if len(argv) != 3:
    print(__doc__, file=sys.stderr)
    return 64
  name, src, dst = argv
  try:
    qtype = GGMLQuantizationType[name.upper()]
  except KeyError:
    print(f"gguf_dequant.py: unknown type {name}", file=sys.stderr)
    return 64
  block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
  if quantize:
    data = np.fromfile(src, dtype="<f4")
    out = quants.quantize(data.reshape(-1, block_size), qtype)
  else:
    data = np.fromfile(src, dtype=np.uint8)
    out = quants.dequantize(data.reshape(-1, type_size), qtype).astype("<f4", copy=False)
  np.ascontiguousarray(out).tofile(dst)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
