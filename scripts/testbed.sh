#!/usr/bin/env bash
# Builds (or removes) the tapvs test bed: network namespaces joined by a bridge, the classic LVS-NAT site.
#
#   PREFIX-cli  client       198.18.0.2/24                     (VIP 198.18.0.100 is on-link)
#   PREFIX-lan  the "switch": bridge br0, the director's TAP PREFIXtap (persistent), veths to every host;
#               the daemon runs in this namespace and attaches to the TAP
#   PREFIX-r1   real server  198.18.1.11/24, default via 198.18.1.1 (the director)
#   PREFIX-r2   real server  198.18.1.12/24, default via 198.18.1.1
#   director    198.18.0.1/24 and 198.18.1.1/24 (owned by tapvs in user space, not by any kernel)
#
# Usage: testbed.sh up|down [PREFIX]   (PREFIX: up to 6 characters, default tvs)
# Only addresses inside these namespaces are used (198.18.0.0/15 is the benchmarking range, RFC 2544).
set -euo pipefail
cmd=${1:-}
P=${2:-tvs}
[ ${#P} -le 6 ] || { echo "prefix too long: $P" >&2; exit 2; }
LAN=$P-lan CLI=$P-cli R1=$P-r1 R2=$P-r2
TAP=${P}tap

nsx() { ip netns exec "$@"; }

quiet_ns() { # no IPv6 chatter (RS/MLD/DAD) on the test segment
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsx "$1" ip link set lo up
}

attach_host() { # ns tag addr/prefix [gateway]: the host sees eth0, the bridge port is PREFIX-tag
  local ns=$1 tag=$2 addr=$3 gw=${4:-} ifn=eth0
  ip netns add "$ns"
  quiet_ns "$ns"
  ip link add "$ifn" netns "$ns" type veth peer name "${P}-${tag}" netns "$LAN"
  nsx "$LAN" ip link set "${P}-${tag}" master br0 up
  nsx "$ns" ip addr add "$addr" dev "$ifn"
  nsx "$ns" ip link set "$ifn" up
  [ -z "$gw" ] || nsx "$ns" ip route add default via "$gw"
}

up() {
  down >/dev/null 2>&1 || true
  ip netns add "$LAN"
  quiet_ns "$LAN"
  nsx "$LAN" ip link add br0 type bridge
  # Forward immediately (no STP learning delay) and age out MACs quickly.
  nsx "$LAN" ip link set br0 type bridge forward_delay 0 stp_state 0
  nsx "$LAN" ip link set br0 up
  nsx "$LAN" ip tuntap add dev "$TAP" mode tap multi_queue
  nsx "$LAN" ip link set "$TAP" master br0 up
  attach_host "$CLI" c 198.18.0.2/24
  attach_host "$R1" r1 198.18.1.11/24 198.18.1.1
  attach_host "$R2" r2 198.18.1.12/24 198.18.1.1
  echo "testbed $P up: tap $TAP in netns $LAN"
}

down() {
  for ns in "$CLI" "$R1" "$R2" "$LAN"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down [PREFIX]" >&2; exit 2 ;;
esac
