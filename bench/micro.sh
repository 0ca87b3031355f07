#!/usr/bin/env bash
# The micro benchmarks (npm run bench [-- NAME...]): each prints its table and writes it to
# bench/results/NAME-DATE.txt. NAME: packet, sched, conn-table, pipeline (default: all, in that order).
# No root, no namespaces; numbers move with the machine's load (the reports record it).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p bench/tsconfig.json
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(packet sched conn-table pipeline)
mkdir -p bench/results
for n in "${names[@]}"; do
  [ -f "dist-bench/bench/$n.bench.js" ] || { echo "bench: no benchmark named $n" >&2; exit 2; }
  flags=()
  [ "$n" = conn-table ] && flags=(--expose-gc)
  echo "== $n"
  node "${flags[@]}" "dist-bench/bench/$n.bench.js" --out "bench/results/$n-$(date +%F).txt"
done
