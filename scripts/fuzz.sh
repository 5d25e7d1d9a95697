#!/usr/bin/env bash
# Builds the libFuzzer target for the GGUF / legacy GGML readers (Fuzz/), writes a seed corpus of
# small valid files, and fuzzes for a bounded time. Any crash, sanitizer report, leak, timeout or
# oversized allocation fails the script; the reproducer is left in Fuzz/.build-fuzz/artifacts/.
#   FUZZ_SECONDS=60 (default) bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/../Fuzz"
seconds="${FUZZ_SECONDS:-60}"
scratch=.build-fuzz

# ld.gold prints a harmless warning per ASan symbol; keep the log quiet but fail on a failed build.
set +e
swift build -c debug --scratch-path "$scratch" \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 \
  | grep -v "Cannot export local symbol"
build_status=${PIPESTATUS[0]}
set -e
[ "$build_status" -eq 0 ] || { echo "fuzz.sh: build failed" >&2; exit 1; }
bin="$scratch/debug/GGUFFuzz"

corpus="$scratch/corpus"
artifacts="$scratch/artifacts"
rm -rf "$corpus" "$artifacts"
mkdir -p "$corpus" "$artifacts"
GGUF_FUZZ_MAKE_SEEDS="$corpus" "$bin"
echo "fuzz.sh: $(ls "$corpus" | wc -l) seeds, fuzzing for ${seconds}s"

# -malloc_limit_mb: inputs are ≤ 64 KiB, so a big allocation means a size was trusted from the file.
"$bin" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 -malloc_limit_mb=256 \
  -rss_limit_mb=2048 -artifact_prefix="$artifacts/" -print_final_stats=1
