#!/usr/bin/env bash
# The long run of the control socket tests: test/integration/control-fuzz.test.ts with LINES hostile request lines
# (default 100 000) from SEED (default time-based), and control-access.test.ts (socket mode, peer credentials; as
# root). Prints the figures. No namespaces: no lock needed.
#   scripts/control-fuzz.sh [LINES] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTROL_FUZZ_LINES=${1:-100000} CONTROL_FUZZ_SEED=${2:-$(( $(date +%s) % 100000 ))}
exec npx vitest run test/integration/control-fuzz.test.ts test/integration/control-access.test.ts
