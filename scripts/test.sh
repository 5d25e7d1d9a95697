#!/usr/bin/env bash
# The test command of the README: set-up, then every test tier that runs without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build
# `quanta serve` against a real client (the openai package) over loopback, with the debug binary.
QUANTA_BIN="$(swift build --show-bin-path)/quanta" python3 -m pytest -q Tests/ServePython
