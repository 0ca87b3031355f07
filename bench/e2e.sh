#!/usr/bin/env bash
# The end-to-end benchmark suite (npm run bench:e2e [-- OPTIONS]); see bench/README.md and bench/e2e/main.ts.
# Root only. Installs iperf3, wrk and nftables from Debian when missing and apt-get is there (else the driver
# skips bulk / cps / the nft baseline and says how to install them). Runs under the machine-wide lock
# /tmp/tapvs-e2e.lock that every namespace user (npm test, other benchmarks) takes, unless the caller holds it
# already and says so with TAPVS_E2E_LOCKED=1. Removes its namespaces on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench:e2e: needs root (network namespaces, TAP devices); try: sudo npm run bench:e2e" >&2; exit 1; }
PREFIX=tvbe
prev=
for a in "$@"; do
  case "$a" in --prefix=*) PREFIX=${a#--prefix=} ;; esac
  [ "$prev" = --prefix ] && PREFIX=$a
  prev=$a
done

need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v wrk >/dev/null || need+=(wrk)
command -v nft >/dev/null || need+=(nftables)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    echo "bench:e2e: installing ${need[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; } ||
      echo "bench:e2e: could not install ${need[*]}; the cases that need them are skipped" >&2
  else
    echo "bench:e2e: missing ${need[*]} and no apt-get; install them to run every case" >&2
  fi
fi
command -v cc >/dev/null || { echo "bench:e2e: needs a C compiler (cc) for bench/*.c" >&2; exit 1; }

cleanup() { bash scripts/testbed.sh down "$PREFIX" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

run=(node dist-bench/bench/e2e/main.js "$@")
if [ "${TAPVS_E2E_LOCKED:-}" = 1 ]; then
  "${run[@]}"
else
  if ! flock -n /tmp/tapvs-e2e.lock true; then echo "bench:e2e: waiting for /tmp/tapvs-e2e.lock (another e2e run or benchmark)"; fi
  flock /tmp/tapvs-e2e.lock "${run[@]}"
fi
