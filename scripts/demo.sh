#!/usr/bin/env bash
# The tapvs demo (root): builds the namespace test bed (scripts/testbed.sh), starts two real HTTP servers and
# the tapvs daemon on a TAP, configures a NAT service with tapvsadm, sends 200 HTTP requests from the client
# namespace with a real client (curl, or Node's HTTP client when curl is absent), prints how many each real
# served and `tapvsadm -L -n --stats`, and tears everything down (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces and a TAP device)" >&2; exit 1; }
[ -f build/Release/tapvs.node ] && [ -f dist/worker/thread.js ] || { echo "demo: not built; run npm ci first" >&2; exit 1; }

P=${DEMO_PREFIX:-tvdemo}
VIP=198.18.0.100
N=${DEMO_REQUESTS:-200}
WORK=$(mktemp -d /tmp/tapvs-demo.XXXXXX)
export TAPVS_SOCKET=$WORK/tapvs.sock
ADM="node bin/tapvsadm.js"
pids=()

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  bash scripts/testbed.sh down "$P" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "test bed: client, director TAP, two real servers (scripts/testbed.sh)"
bash scripts/testbed.sh up "$P"
for r in r1 r2; do
  ip netns exec "$P-$r" node scripts/realserver.js --name "$r" >"$WORK/$r.log" 2>&1 &
  pids+=($!)
done

step "daemon: tapvs run on TAP ${P}tap (director addresses 198.18.0.1/24 and 198.18.1.1/24)"
ip netns exec "$P-lan" node bin/tapvs.js run --tap "${P}tap" --addr 198.18.0.1/24 --addr 198.18.1.1/24 \
  --socket "$TAPVS_SOCKET" >"$WORK/tapvs.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$TAPVS_SOCKET" ] && break; sleep 0.1; done
[ -S "$TAPVS_SOCKET" ] || { echo "daemon did not start:"; cat "$WORK/tapvs.log"; exit 1; }
for _ in $(seq 50); do
  ip netns exec "$P-r1" grep -q ':0050 ' /proc/net/tcp && ip netns exec "$P-r2" grep -q ':0050 ' /proc/net/tcp && break
  sleep 0.1
done

step "configure a NAT virtual service with tapvsadm"
show $ADM -A -t $VIP:80 -s rr
show $ADM -a -t $VIP:80 -r 198.18.1.11:80 -m -w 1
show $ADM -a -t $VIP:80 -r 198.18.1.12:80 -m -w 1
show $ADM -L -n

step "$N HTTP requests from the client namespace to http://$VIP/"
if command -v curl >/dev/null; then
  echo "(client: curl, one connection per request)"
  for i in $(seq "$N"); do
    ip netns exec "$P-cli" curl -s -m 5 "http://$VIP/" || echo "request $i failed"
  done >"$WORK/responses.txt"
  ok=$(grep -c '^served-by' "$WORK/responses.txt" || true)
  echo "successful responses: $ok / $N"
  echo "served by each real:"
  grep '^served-by' "$WORK/responses.txt" | awk '{print "  " $2}' | sort | uniq -c
else
  echo "(client: Node http, curl not installed)"
  ip netns exec "$P-cli" node scripts/httpload.js --url "http://$VIP/" --n "$N" --concurrency 4
fi

step "tapvsadm -L -n --stats"
show $ADM -L -n --stats
step "tapvsadm -L -n"
show $ADM -L -n
echo
echo "demo done; tearing down"
