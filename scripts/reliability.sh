#!/usr/bin/env bash
# Runs the long version of every reliability test (RELIABILITY.md) one after another and keeps their output in
# test-results/reliability/ (one file per test, plus the fuzzer's JSON). Bounded: 6–8 minutes on 2 cores.
# Needs root for the namespace tests (they take the test bed lock themselves: do not wrap this in flock).
#   scripts/reliability.sh [OUTDIR [NAME...]]      NAME: fuzz synflood faults control-fuzz (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-test-results/reliability}
shift || true
only=" ${*:-fuzz synflood faults control-fuzz} "
mkdir -p "$out"
run() { # name command...
  local name=$1; shift
  [[ $only == *" $name "* ]] || return 0
  echo "== $name: $*" | tee "$out/$name.txt"
  local t0=$SECONDS
  "$@" 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' | tee -a "$out/$name.txt"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$out/$name.txt"
}
run fuzz env OUT="$out/fuzz.json" scripts/fuzz.sh 10000000 20260101
run synflood scripts/synflood.sh 30 20000
run faults scripts/faults.sh 60 6
run control-fuzz scripts/control-fuzz.sh 100000 20260101
grep -h "exit " "$out"/*.txt
