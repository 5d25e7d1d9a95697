#!/usr/bin/env bash
# Formats the Swift sources with the checked-in .swift-format (generated files excluded: their
# generators own their layout). `bash scripts/format.sh --lint` only reports, and fails on any
# finding (--strict: what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=format
[ "${1:-}" = "--lint" ] && mode=lint
files=$(git ls-files 'Sources/*.swift' 'Tests/*.swift' 'Fuzz/*.swift' | grep -v -E 'KernelSources.swift|IQTables.swift')
if [ "$mode" = format ]; then swift format format -i $files; else swift format lint --strict $files; fi
