/**
 * NAT ("Masq", -m): DNAT on the way in (VIP:vport → RIP:rport), SNAT on replies (RIP:rport → VIP:vport).
 * TTL is decremented; the IPv4 header checksum and the TCP/UDP checksum are updated incrementally
 * (RFC 1624 eqn. 3), each field only when it really changes. A UDP checksum of 0 (none) stays 0; a computed
 * 0 is sent as 0xFFFF (RFC 768), as Linux NAT does. The client address and port are never changed.
 * A TCP GSO super-frame (TAP offloads) is rewritten whole with partial-checksum semantics.
 */
import { csumUpdate16, csumUpdate32 } from '../packet/checksum.js';
import { IP_CSUM, IP_DST, IP_SRC, IP_TTL, PROTO_TCP, TCP_CSUM, UDP_CSUM } from '../packet/offsets.js';
import type { Pkt } from '../packet/parse.js';
import type { Forwarder, FwdContext } from './index.js';

/** Rewrites one address (at ipField) and one port (at l4+portField) and the checksums; decrements TTL. */
function rewrite(
  ctx: FwdContext, pk: Pkt, ipField: number, oldAddr: number, newAddr: number, portField: number, oldPort: number,
  newPort: number,
): void {
  const dv = ctx.dv;
  const l3 = pk.l3;
  const l4 = pk.l4;
  let ipc = dv.getUint16(l3 + IP_CSUM);
  const ttlWord = dv.getUint16(l3 + IP_TTL);
  const newTtlWord = ttlWord - 0x100;
  dv.setUint16(l3 + IP_TTL, newTtlWord);
  ipc = csumUpdate16(ipc, ttlWord, newTtlWord);
  if (oldAddr !== newAddr) {
    dv.setInt32(l3 + ipField, newAddr);
    ipc = csumUpdate32(ipc, oldAddr, newAddr);
  }
  dv.setUint16(l3 + IP_CSUM, ipc);
  const csumOff = l4 + (pk.proto === PROTO_TCP ? TCP_CSUM : UDP_CSUM);
  let l4c = dv.getUint16(csumOff);
  if (pk.gso !== 0) {
    // A GSO super-frame's checksum is partial: the field holds the pseudo-header sum (not complemented) and the
    // kernel sums the TCP header and data itself, so only the address change is applied, uncomplemented.
    if (oldAddr !== newAddr) dv.setUint16(csumOff, ~csumUpdate32(~l4c & 0xffff, oldAddr, newAddr) & 0xffff);
    if (oldPort !== newPort) dv.setUint16(l4 + portField, newPort);
    return;
  }
  const udpNoCsum = pk.proto !== PROTO_TCP && l4c === 0;
  if (oldAddr !== newAddr && !udpNoCsum) l4c = csumUpdate32(l4c, oldAddr, newAddr);
  if (oldPort !== newPort) {
    dv.setUint16(l4 + portField, newPort);
    if (!udpNoCsum) l4c = csumUpdate16(l4c, oldPort, newPort);
  }
  if (!udpNoCsum) {
    if (l4c === 0 && pk.proto !== PROTO_TCP) l4c = 0xffff;
    dv.setUint16(csumOff, l4c);
  }
}

export const nat: Forwarder = {
  gso: true,
  inbound(ctx: FwdContext, pk: Pkt, c: number): boolean {
    const conns = ctx.conns;
    const daddr = conns.daddr[c]!;
    rewrite(ctx, pk, IP_DST, pk.daddr, daddr, 2, pk.dport, conns.dport[c]!);
    return ctx.link.output(pk.base, pk.len, daddr);
  },
  outbound(ctx: FwdContext, pk: Pkt, c: number): boolean {
    const conns = ctx.conns;
    rewrite(ctx, pk, IP_SRC, pk.saddr, conns.vaddr[c]!, 0, pk.sport, conns.vport[c]!);
    return ctx.link.output(pk.base, pk.len, pk.daddr);
  },
};
