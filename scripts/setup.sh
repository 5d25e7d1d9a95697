#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh Debian machine with Swift.
# Idempotent: fast when everything is already there.
set -euo pipefail
need_pip=()
python3 -c 'import gguf' 2>/dev/null || need_pip+=(gguf)
python3 -c 'import numpy' 2>/dev/null || need_pip+=(numpy)
if [ ${#need_pip[@]} -gt 0 ]; then
  python3 -m pip install --quiet --disable-pip-version-check "${need_pip[@]}"
fi
# The real model for tier-4 tests (TESTING.md), into Quanta's model cache (sha256-checked).
python3 scripts/fetch_default_model.py >/dev/null
