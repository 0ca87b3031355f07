#!/usr/bin/env bash
# The long run of the fault tests: test/e2e/worker-kill.e2e.test.ts with SECONDS of HTTP load on two workers and
# KILLS worker kills spread over it (defaults 60 s, 6), then test/e2e/real-faults.e2e.test.ts (a real server
# dying, vanishing, removed mid-transfer). Prints the figures. Needs root (network namespaces); it takes the test
# bed lock (/tmp/tapvs-e2e.lock, or $TAPVS_E2E_LOCK) itself.
#   scripts/faults.sh [SECONDS] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build:ts >/dev/null
export FAULT_LOAD_SECONDS=${1:-60} FAULT_KILLS=${2:-6}
exec flock "${TAPVS_E2E_LOCK:-/tmp/tapvs-e2e.lock}" npx vitest run test/e2e/worker-kill.e2e.test.ts test/e2e/real-faults.e2e.test.ts
