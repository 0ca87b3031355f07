#!/usr/bin/env bash
# End-to-end packet rate through tapvs NAT in the namespace test bed (root).
#
# A 64-byte-frame UDP flood (22-byte payload) from the client namespace to a NAT virtual service with two
# reals; the delivered rate is counted at the real servers' interfaces (rx_packets). Runs, in this order and on
# the same test bed, so the figures are comparable:
#   kernel   the Linux kernel routing client → real (IP forwarding on the bridge namespace): the baseline
#   tapvs    tapvs NAT, rr over 2 reals, with 1 worker and with 2 workers (two TAP queues, eBPF steering)
# Prints a table and writes bench/results/e2e-pps-<date>.json. Bounded: SECONDS per case (default 5).
# Usage: bench/e2e-pps.sh [SECONDS] [FLOWS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "e2e-pps: needs root" >&2; exit 1; }
SECS=${1:-5}
FLOWS=${2:-16}
P=tvbp
VIP=198.18.0.100
WORK=$(mktemp -d /tmp/tapvs-bench.XXXXXX)
export TAPVS_SOCKET=$WORK/tapvs.sock
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  bash scripts/testbed.sh down "$P" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -o "$WORK/udpflood" bench/udpflood.c
bash scripts/testbed.sh up "$P" >/dev/null
nsx() { ip netns exec "$@"; }
rx() { nsx "$1" cat /sys/class/net/eth0/statistics/rx_packets; }
for r in r1 r2; do nsx "$P-$r" "$WORK/udpflood" sink 9000 $((SECS * 3 + 30)) >/dev/null & pids+=($!); done

# run_case NAME DST: floods DST:9000 for SECS, prints "offered delivered"
run_case() {
  local dst=$1
  "$WORK/udpflood" send "$dst" 9000 0.5 "$FLOWS" 22 >/dev/null 2>&1 || true  # warm-up (ARP, conns)
  sleep 0.2
  local a1 a2 b1 b2 out
  a1=$(rx "$P-r1"); a2=$(rx "$P-r2")
  out=$(nsx "$P-cli" "$WORK/udpflood" send "$dst" 9000 "$SECS" "$FLOWS" 22)
  sleep 0.3
  b1=$(rx "$P-r1"); b2=$(rx "$P-r2")
  local sent
  sent=$(echo "$out" | sed -E 's/.*"sent": ([0-9]+).*/\1/')
  echo "$sent $(( (b1 - a1) + (b2 - a2) ))"
}
warm() { local t=$1; nsx "$P-cli" "$WORK/udpflood" send "$t" 9000 0.5 "$FLOWS" 22 >/dev/null 2>&1 || true; }

echo "== baseline: kernel IP forwarding (client -> real 198.18.1.11, routed by the bridge namespace)"
nsx "$P-lan" ip addr add 198.18.0.1/24 dev br0
nsx "$P-lan" ip addr add 198.18.1.1/24 dev br0
nsx "$P-lan" sysctl -qw net.ipv4.ip_forward=1
nsx "$P-cli" ip route add 198.18.1.0/24 via 198.18.0.1
warm 198.18.1.11
read -r k_sent k_deliv < <(run_case 198.18.1.11 | tail -1)
nsx "$P-lan" ip addr flush dev br0
nsx "$P-cli" ip route del 198.18.1.0/24
nsx "$P-lan" sysctl -qw net.ipv4.ip_forward=0
nsx "$P-cli" ip neigh flush all; nsx "$P-r1" ip neigh flush all; nsx "$P-r2" ip neigh flush all

# tapvs_case WORKERS: starts the daemon with that many workers, configures the service, floods, stops it.
tapvs_case() {
  local w=$1
  echo "== tapvs: NAT, $w worker(s), rr over 2 reals"
  export TAPVS_SOCKET=$WORK/tapvs-$w.sock
  # `ip netns exec` directly (not through the nsx function, which would fork a subshell): $! must be the daemon.
  ip netns exec "$P-lan" node bin/tapvs.js run --tap "${P}tap" --workers "$w" --addr 198.18.0.1/24 --addr 198.18.1.1/24 \
    --socket "$TAPVS_SOCKET" ${TAPVS_ARGS:-} >"$WORK/tapvs-$w.log" 2>&1 &
  local dpid=$!
  for _ in $(seq 100); do [ -S "$TAPVS_SOCKET" ] && break; sleep 0.1; done
  node bin/tapvsadm.js -A -u $VIP:9000 -s rr
  node bin/tapvsadm.js -a -u $VIP:9000 -r 198.18.1.11:9000 -m
  node bin/tapvsadm.js -a -u $VIP:9000 -r 198.18.1.12:9000 -m
  warm $VIP
  run_case $VIP | tail -1 >"$WORK/case-$w"
  node bin/tapvsadm.js -L -n --stats
  # Per-worker drops and counters that are not zero (where the offered packets went).
  node -e "import('./dist/control/client.js').then(async ({ ControlClient }) => {
    const c = await ControlClient.connect(process.env.TAPVS_SOCKET); const st = await c.request({ op: 'status' }); c.close();
    for (const w of st.workers) console.log('worker', w.id, JSON.stringify(Object.fromEntries(Object.entries({ ...w.counters, ...w.drops }).filter(([, v]) => v))));
  })"
  kill "$dpid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$dpid" 2>/dev/null || true
  wait "$dpid" 2>/dev/null || true
  nsx "$P-cli" ip neigh flush all; nsx "$P-r1" ip neigh flush all; nsx "$P-r2" ip neigh flush all
}
tapvs_case 1
tapvs_case 2
read -r t_sent t_deliv <"$WORK/case-1"
read -r t2_sent t2_deliv <"$WORK/case-2"

pps() { echo $(( $1 / SECS )); }
k_pps=$(pps "$k_deliv"); t_pps=$(pps "$t_deliv"); t2_pps=$(pps "$t2_deliv")
ratio=$(awk -v a="$t_pps" -v b="$k_pps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
ratio2=$(awk -v a="$t2_pps" -v b="$k_pps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
scale=$(awk -v a="$t2_pps" -v b="$t_pps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
printf '\n%-34s %12s %12s %10s\n' "case (64-byte UDP, $FLOWS flows, ${SECS}s)" "offered pps" "delivered" "vs kernel"
printf '%-34s %12d %12d %10s\n' "kernel IP forwarding" "$(pps "$k_sent")" "$k_pps" "1.000"
printf '%-34s %12d %12d %10s\n' "tapvs NAT, 1 worker" "$(pps "$t_sent")" "$t_pps" "$ratio"
printf '%-34s %12d %12d %10s\n' "tapvs NAT, 2 workers" "$(pps "$t2_sent")" "$t2_pps" "$ratio2"
echo "2 workers / 1 worker: $scale"

mkdir -p bench/results
out=bench/results/e2e-pps-$(date +%F).json
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
cat >"$out" <<JSON
{
  "date": "$(date -Is)",
  "machine": {"cpus": $(nproc), "cpu": "$cpu", "kernel": "$(uname -r)", "node": "$(node --version)"},
  "frame_bytes": 64, "flows": $FLOWS, "seconds": $SECS,
  "kernel_forwarding": {"offered_pps": $(pps "$k_sent"), "delivered_pps": $k_pps},
  "tapvs_nat_1_worker": {"offered_pps": $(pps "$t_sent"), "delivered_pps": $t_pps, "ratio_to_kernel": $ratio},
  "tapvs_nat_2_workers": {"offered_pps": $(pps "$t2_sent"), "delivered_pps": $t2_pps, "ratio_to_kernel": $ratio2},
  "workers_2_over_1": $scale
}
JSON
echo "wrote $out"
