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
# Usage: testbed.sh up|down [PREFIX] [MODE]   (PREFIX: up to 6 characters, default tvs)
# Only addresses inside these namespaces are used (198.18.0.0/15 is the benchmarking range, RFC 2544).
#
# MODE sets up the real servers for a forwarding method (default nat, as above):
#   nat  reals route through the director (default via 198.18.1.1)
#   dr   direct server return: the "switch" namespace is also the site router (198.18.0.254/24 and
#        198.18.1.254/24 on br0, forwarding on, no redirects); reals route via 198.18.1.254, never the director,
#        so replies go router → client; the VIP 198.18.0.100/32 is on the reals' lo with arp_ignore=1 and
#        arp_announce=2 (all and eth0), so only the director answers ARP for it
#   tun  dr, plus a persistent TUN device tvsdecap (up) on each real for `tapvs decap` (the test starts it) and
#        rp_filter=0 (all, default, eth0, tvsdecap): inner packets come from the client on tvsdecap
#   fullnat  the site router as for dr, reals route via 198.18.1.254 and never via the director, and nothing
#        else on the reals: they talk to the director's local addresses (LIPs, e.g. 198.18.1.200), which are
#        on-link, so replies reach the director by ARP and never the router
set -euo pipefail
cmd=${1:-}
P=${2:-tvs}
MODE=${3:-nat}
[ ${#P} -le 6 ] || { echo "prefix too long: $P" >&2; exit 2; }
case "$MODE" in nat | dr | tun | fullnat) ;; *) echo "unknown mode: $MODE (nat, dr, tun or fullnat)" >&2; exit 2 ;; esac
VIP=198.18.0.100
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

site_router() { # the LAN namespace routes between the two subnets (for DR/TUN replies, not via the director)
  nsx "$LAN" ip addr add 198.18.0.254/24 dev br0
  nsx "$LAN" ip addr add 198.18.1.254/24 dev br0
  nsx "$LAN" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.br0.send_redirects=0
}

dsr_real() { # ns: the VIP on lo, never announced or answered by ARP; for tun also the decapsulator's TUN device
  local ns=$1
  nsx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
  nsx "$ns" ip addr add "$VIP/32" dev lo
  if [ "$MODE" = tun ]; then
    nsx "$ns" ip tuntap add tvsdecap mode tun
    nsx "$ns" ip link set tvsdecap up
    nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
      net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.tvsdecap.rp_filter=0
  fi
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
  if [ "$MODE" = nat ]; then
    attach_host "$R1" r1 198.18.1.11/24 198.18.1.1
    attach_host "$R2" r2 198.18.1.12/24 198.18.1.1
    echo "testbed $P up: tap $TAP in netns $LAN"
  else
    site_router
    attach_host "$R1" r1 198.18.1.11/24 198.18.1.254
    attach_host "$R2" r2 198.18.1.12/24 198.18.1.254
    if [ "$MODE" != fullnat ]; then
      dsr_real "$R1"
      dsr_real "$R2"
    fi
    echo "testbed $P up ($MODE): tap $TAP in netns $LAN"
  fi
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
  *) echo "usage: $0 up|down [PREFIX] [nat|dr|tun|fullnat]" >&2; exit 2 ;;
esac
