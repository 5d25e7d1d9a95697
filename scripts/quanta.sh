#!/usr/bin/env bash
# Builds the `quanta` CLI (release) if needed and runs it with the given arguments.
# With no -m, `quanta run` uses the default model (Gemma 3 270M Q4_K_M), downloaded on first use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
swift build --package-path "$root" -c release --product quanta >&2
exec "$root/.build/release/quanta" "$@"
