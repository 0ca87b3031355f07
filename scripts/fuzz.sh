#!/usr/bin/env bash
# The long run of the pipeline fuzzer (test/fuzz/harness.ts): FRAMES generated and mutated frames (default
# 10^7) from SEED (default: time-based), four fifths through one worker with a roomy conn table, one fifth
# through worker 2 of 2 with a 64-entry table. Prints the figures (JSON) and, with OUT set, writes them there.
# No root needed. Exit status 1 if any check failed.
#   scripts/fuzz.sh [FRAMES] [SEED]        e.g. scripts/fuzz.sh 20000000 42
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p test/fuzz/tsconfig.json
exec node dist-fuzz/test/fuzz/main.js "${1:-10000000}" "${2:-$(( $(date +%s) % 100000 ))}" ${OUT:+--out "$OUT"}
