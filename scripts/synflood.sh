#!/usr/bin/env bash
# The long run of the SYN flood test (test/e2e/synflood.e2e.test.ts): SECONDS of spoofed SYNs at PPS per second
# (defaults 30 s, 20 000/s) against a NAT service of a director with --max-conns 8192, while an HTTP loop uses
# established and new connections. Prints the figures. Needs root (network namespaces); it takes the test bed
# lock (/tmp/tapvs-e2e.lock, or $TAPVS_E2E_LOCK) itself, so that it never overlaps another namespace test.
#   scripts/synflood.sh [SECONDS] [PPS]
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build:ts >/dev/null
export SYNFLOOD_SECONDS=${1:-30} SYNFLOOD_PPS=${2:-20000}
exec flock "${TAPVS_E2E_LOCK:-/tmp/tapvs-e2e.lock}" npx vitest run test/e2e/synflood.e2e.test.ts
