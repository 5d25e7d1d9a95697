#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh Debian machine with Swift.
# Idempotent: fast when everything is already there.
set -euo pipefail
need_pip=()
python3 -c 'import gguf' 2>/dev/null || need_pip+=(gguf)
python3 -c 'import numpy' 2>/dev/null || need_pip+=(numpy)
# Jinja2: the reference engine of the chat-template tests (scripts/chat_template_cases.py --check).
python3 -c 'import jinja2' 2>/dev/null || need_pip+=(jinja2)
# The server's client tests (Tests/ServePython): the official OpenAI client and pytest.
python3 -c 'import openai' 2>/dev/null || need_pip+=(openai)
python3 -c 'import pytest' 2>/dev/null || need_pip+=(pytest)
# jsonschema: an independent validator of the server's json_schema outputs.
python3 -c 'import jsonschema' 2>/dev/null || need_pip+=(jsonschema)
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "setup: pip install ${need_pip[*]} (from PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check "${need_pip[@]}"
fi
# The real model for tier-4 tests (TESTING.md), into Quanta's model cache (sha256-checked).
python3 scripts/fetch_default_model.py >/dev/null
# HIP runtime + hiprtc (Debian's ROCm 5.2) and AMD's headers: GPUBackendTests compile every kernel
# for AMD targets through hiprtc with no GPU present; scripts/check_hip_abi.py reads the headers.
if ! dpkg -s libamdhip64-5 libamdhip64-dev >/dev/null 2>&1; then
  echo "setup: apt-get install libamdhip64-5 libamdhip64-dev (Debian's HIP runtime and AMD's headers)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends libamdhip64-5 libamdhip64-dev >/dev/null
fi
