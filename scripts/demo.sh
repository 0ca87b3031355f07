#!/usr/bin/env bash
# The tapvs demo (root): builds the namespace test bed (scripts/testbed.sh), starts two real HTTP servers and
# the tapvs daemon on a TAP, configures a NAT service with tapvsadm, sends 200 HTTP requests from the client
# namespace with a real client (curl, or Node's HTTP client when curl is absent), prints how many each real
# served and `tapvsadm -L -n --stats`, and tears everything down (also on failure or Ctrl-C).
#
# DEMO_METHOD picks the forwarding method: nat (default), dr, tun, fullnat, or all (each in turn, with a fresh
# test bed). dr/tun/fullnat build the test bed in that mode; tun also starts `tapvs decap` on the reals; fullnat
# adds two local addresses (-P) and a second service with PROXY protocol v2 whose real reports the client.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces and a TAP device)" >&2; exit 1; }
[ -f build/Release/tapvs.node ] && [ -f dist/worker/thread.js ] || { echo "demo: not built; run npm ci first" >&2; exit 1; }

P=${DEMO_PREFIX:-tvdemo}
VIP=198.18.0.100
N=${DEMO_REQUESTS:-200}
METHOD=${DEMO_METHOD:-nat}
case "$METHOD" in nat | dr | tun | fullnat) METHODS=$METHOD ;; all) METHODS="nat dr tun fullnat" ;;
  *) echo "demo: DEMO_METHOD must be nat, dr, tun, fullnat or all (got $METHOD)" >&2; exit 2 ;; esac
WORK=$(mktemp -d /tmp/tapvs-demo.XXXXXX)
export TAPVS_SOCKET=$WORK/tapvs.sock
ADM="node bin/tapvsadm.js"
pids=()

stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  pids=()
  sleep 0.3
  bash scripts/testbed.sh down "$P" >/dev/null 2>&1
}
cleanup() {
  set +e
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

demo() { # METHOD
  local m=$1 rflag
  case "$m" in nat) rflag=-m ;; dr) rflag=-g ;; tun) rflag=-i ;; fullnat) rflag=--fullnat ;; esac
  if [ "$m" = nat ]; then
    step "test bed: client, director TAP, two real servers (scripts/testbed.sh)"
    bash scripts/testbed.sh up "$P"
  else
    step "test bed ($m): client, director TAP, two real servers, a site router (scripts/testbed.sh)"
    bash scripts/testbed.sh up "$P" "$m"
  fi
  for r in r1 r2; do
    if [ "$m" = fullnat ]; then
      ip netns exec "$P-$r" node scripts/realserver.js --name "$r" --proxy-http 8081 >"$WORK/$r.log" 2>&1 &
    else
      ip netns exec "$P-$r" node scripts/realserver.js --name "$r" >"$WORK/$r.log" 2>&1 &
    fi
    pids+=($!)
    if [ "$m" = tun ]; then
      ip netns exec "$P-$r" node bin/tapvs.js decap --tun tvsdecap --vip $VIP --director 198.18.1.1 >"$WORK/$r-decap.log" 2>&1 &
      pids+=($!)
    fi
  done

  step "daemon: tapvs run on TAP ${P}tap (director addresses 198.18.0.1/24 and 198.18.1.1/24)"
  rm -f "$TAPVS_SOCKET"
  ip netns exec "$P-lan" node bin/tapvs.js run --tap "${P}tap" --addr 198.18.0.1/24 --addr 198.18.1.1/24 \
    --socket "$TAPVS_SOCKET" >"$WORK/tapvs.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$TAPVS_SOCKET" ] && break; sleep 0.1; done
  [ -S "$TAPVS_SOCKET" ] || { echo "daemon did not start:"; cat "$WORK/tapvs.log"; exit 1; }
  for _ in $(seq 50); do
    ip netns exec "$P-r1" grep -q ':0050 ' /proc/net/tcp && ip netns exec "$P-r2" grep -q ':0050 ' /proc/net/tcp && break
    sleep 0.1
  done

  case "$m" in
    nat) step "configure a NAT virtual service with tapvsadm" ;;
    dr) step "configure a DR virtual service with tapvsadm (the reals have the VIP on lo and answer clients directly)" ;;
    tun) step "configure a TUN virtual service with tapvsadm (IPIP to the reals; tapvs decap unwraps it there)" ;;
    fullnat) step "configure a FULLNAT virtual service with tapvsadm (the reals talk to the director's local addresses)" ;;
  esac
  show $ADM -A -t $VIP:80 -s rr
  if [ "$m" = fullnat ]; then
    show $ADM -P -t $VIP:80 -z 198.18.1.200
    show $ADM -P -t $VIP:80 -z 198.18.1.201
  fi
  show $ADM -a -t $VIP:80 -r 198.18.1.11:80 $rflag -w 1
  show $ADM -a -t $VIP:80 -r 198.18.1.12:80 $rflag -w 1
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
    [ "$m" = nat ] || echo "what a real saw: $(head -1 "$WORK/responses.txt")"
  else
    echo "(client: Node http, curl not installed)"
    ip netns exec "$P-cli" node scripts/httpload.js --url "http://$VIP/" --n "$N" --concurrency 4
  fi

  if [ "$m" = fullnat ]; then
    step "FULLNAT with PROXY protocol v2: the real learns the client's address from the header"
    show $ADM -A -t $VIP:8081 -s rr --proxy-protocol v2
    show $ADM -P -t $VIP:8081 -z 198.18.1.200
    show $ADM -a -t $VIP:8081 -r 198.18.1.11:8081 --fullnat
    show $ADM -G
    ip netns exec "$P-cli" node -e "fetch('http://$VIP:8081/').then((r) => r.text()).then((t) => process.stdout.write('what the real saw: ' + t))"
  fi

  step "tapvsadm -L -n --stats"
  show $ADM -L -n --stats
  step "tapvsadm -L -n"
  show $ADM -L -n
}

first=1
for m in $METHODS; do
  [ $first = 1 ] || { step "tearing down for the next method"; stop_all; }
  first=0
  demo "$m"
done
echo
echo "demo done; tearing down"
