#!/usr/bin/env bash
# gpt-oss on a GPU against the CPU, on the same synthesized files (issue 18's check; needs no Swift and
# no network, so it runs on the GPU machine with a prebuilt `quanta`):
#
#   bash scripts/gpu_gptoss_check.sh QUANTA OUTDIR [DEVICE] [REFERENCE]
#
# QUANTA: the quanta binary; OUTDIR: where the files, logs and summary.txt go; DEVICE: the device under
# test (default cuda:0); REFERENCE: the device it is compared with (default cpu). For each file type
# (F32, Q8_0, MXFP4_MOE) it writes `quanta synth --arch gpt-oss --preset tiny --type T` and
#   1. teacher-forced comparison: `quanta perplexity` on REFERENCE saves the next-token distributions
#      (--kl-divergence-base) of 2 chunks of 256 tokens (the scored halves: 256 tokens, crossing the
#      tiny preset's 32-token sliding window), then on DEVICE compares with them (--kl-divergence):
#      FAIL unless top-1 agreement ≥ 99% and mean KLD ≤ 0.01;
#   2. a greedy `quanta run` of 32 tokens on both: the texts compared (a difference is reported as
#      DIFF, not a failure: a near-tie may flip a greedy pick, which step 1 measures properly);
#   3. `quanta bench model` on DEVICE (pp128, tg32) — its numbers in the log.
# The text (OUTDIR/text.txt) is the repository's README.md and CHANGELOG.md. Exit status: 0 when every
# step-1 check passed and nothing failed to run.
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 QUANTA OUTDIR [DEVICE (cuda:0)] [REFERENCE (cpu)]" >&2
  exit 2
fi
Q="$1"
OUT="$2"
DEV="${3:-cuda:0}"
REF="${4:-cpu}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
failed=0
say() { echo "$*" | tee -a "$SUMMARY"; }
# Runs a command with its output in OUTDIR/NAME.log; a non-zero status is a failure.
step() {
  local name="$1"; shift
  if ! "$@" > "$OUT/$name.log" 2>&1; then
    say "FAIL $name: exit $? (see $OUT/$name.log)"; tail -5 "$OUT/$name.log" | sed 's/^/    /' | tee -a "$SUMMARY"
    failed=1
    return 1
  fi
}

cat "$ROOT/README.md" "$ROOT/CHANGELOG.md" > "$OUT/text.txt" 2>/dev/null || cat "$ROOT/README.md" > "$OUT/text.txt"
say "gpt-oss check: $DEV against $REF; quanta: $("$Q" --version 2>&1 | head -1)"

for T in F32 Q8_0 MXFP4_MOE; do
  M="$OUT/gpt-oss-tiny-$T.gguf"
  step "synth-$T" "$Q" synth --arch gpt-oss --preset tiny --type "$T" "$M" || continue
  BASE="$OUT/base-$T.kld"
  if step "ppl-$T-ref" "$Q" perplexity -m "$M" -f "$OUT/text.txt" -c 256 --chunks 2 --device "$REF" \
    --kl-divergence-base "$BASE" &&
    step "ppl-$T-dev" "$Q" perplexity -m "$M" -f "$OUT/text.txt" -c 256 --chunks 2 --device "$DEV" \
      --kl-divergence-base "$BASE" --kl-divergence; then
    log="$OUT/ppl-$T-dev.log"
    kld="$(grep -m1 'Mean    KLD:' "$log" | awk '{print $3}')"
    top="$(grep -m1 'Same top p:' "$log" | awk '{print $4}')"
    ppl_ref="$(grep -m1 'Final estimate' "$OUT/ppl-$T-ref.log" | sed 's/.*PPL = //')"
    ppl_dev="$(grep -m1 'Final estimate' "$log" | sed 's/.*PPL = //')"
    if [ -z "$kld" ] || [ -z "$top" ]; then
      say "FAIL $T teacher-forced: no KLD / top-1 lines in $log"; failed=1
    elif awk -v k="$kld" -v t="$top" 'BEGIN { exit !(t >= 99 && k <= 0.01) }'; then
      say "ok   $T teacher-forced: top-1 agreement $top %, mean KLD $kld (PPL $REF $ppl_ref, $DEV $ppl_dev)"
    else
      say "FAIL $T teacher-forced: top-1 agreement $top % (need ≥ 99), mean KLD $kld (need ≤ 0.01) (PPL $REF $ppl_ref, $DEV $ppl_dev)"
      failed=1
    fi
  fi
  PROMPT="The quick brown fox jumps over the lazy dog"
  if step "run-$T-ref" "$Q" run -m "$M" -p "$PROMPT" -n 32 --temp 0 -s 1 --ignore-eos -c 512 --device "$REF" &&
    step "run-$T-dev" "$Q" run -m "$M" -p "$PROMPT" -n 32 --temp 0 -s 1 --ignore-eos -c 512 --device "$DEV"; then
    # The generated text is on stdout, timings on stderr: both logs hold both, so compare the text lines
    # (everything before the first timing line).
    strip() { sed -n '/^load time:/q;p' "$1"; }
    if cmp -s <(strip "$OUT/run-$T-ref.log") <(strip "$OUT/run-$T-dev.log"); then
      say "ok   $T greedy run (32 tokens): the same text on $DEV and $REF"
    else
      at="$(cmp <(strip "$OUT/run-$T-ref.log") <(strip "$OUT/run-$T-dev.log") 2>/dev/null | awk '{print $5}')"
      say "DIFF $T greedy run (32 tokens): texts differ from byte ${at%,} (see run-$T-*.log)"
    fi
  fi
  if step "bench-$T" "$Q" bench model -m "$M" -p 128 -n 32 -r 2 --device "$DEV"; then
    say "ok   $T bench model on $DEV:"
    grep -E '^\|.*(pp128|tg32)' "$OUT/bench-$T.log" | sed 's/^/    /' | tee -a "$SUMMARY"
  fi
done
if [ "$failed" -eq 0 ]; then say "gpt-oss check: PASS"; else say "gpt-oss check: FAIL"; fi
exit "$failed"
