/**
 * TUN ("Tunnel", -i), IPVS ip_vs_tunnel_xmit with IPIP encapsulation (RFC 2003). Design note:
 *
 * The inner packet is the client's packet unchanged except TTL−1 and its header checksum. The outer IPv4
 * header is written in place into the ring headroom: the new frame starts IP_HLEN bytes before the received
 * one (RING_HEADROOM leaves room), so nothing is copied. Outer fields: version 4, IHL 5, protocol 4, source =
 * the director's address on the prefix that holds the real (Link.sourceFor, the kernel's route source),
 * destination = the real, TTL = the inner TTL after the decrement, TOS = the inner DSCP with the ECN bits of
 * INET_ECN_encapsulate (inner CE becomes ECT(0) outside, so a congested hop past the tunnel can mark it again
 * and decapsulation, RFC 6040, restores CE), DF copied from the inner header, a fresh ID from the worker's
 * counter, full header checksum. Link.output then writes the MAC addresses; we write the EtherType.
 *
 * MTU: the tunnel MTU is the segment MTU (`--mtu`) − 20. A longer inner packet with DF is dropped
 * (`tun_too_big`) and the client gets ICMP type 3 code 4 with the tunnel MTU (RFC 792/1191), built by
 * icmp-send.ts: from the VIP it talked to, quoting the inner IP header as received plus 8 bytes, rate limited.
 *
 * Without DF the packet is sent as outer IPv4 fragments, as IPVS does (outer DF = inner DF, and the stack
 * fragments the outer packet when DF is clear). Dropping was the alternative; it is worse: a sender that did
 * not set DF never learns of a smaller MTU, so every full-size packet of its flow would vanish with no signal.
 * The real reassembles before decapsulating (the kernel's ipip and `tapvs decap`, which reads a raw IP socket,
 * both see whole datagrams). The cost — copying the tail into extra slots — is paid only by non-DF packets over
 * the tunnel MTU, which are rare: TCP sets DF, and already-fragmented packets are dropped before any forwarder.
 */
import { csumPartial } from '../packet/checksum.js';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, IP_FLAG_DF, IP_FLAG_MF, IP_FRAG, IP_HLEN,
  IP_TOS, IP_TTL, PROTO_IPIP,
} from '../packet/offsets.js';
import type { Pkt } from '../packet/parse.js';
import { C, D } from '../worker/stats.js';
import { decrementTtl, dr } from './dr.js';
import { sendIcmpError } from './icmp-send.js';
import type { Forwarder, FwdContext } from './index.js';

/** The outer TOS byte for an inner TOS byte: DSCP copied, ECN per INET_ECN_encapsulate (CE → ECT(0)). */
export function outerTos(inner: number): number {
  const ecn = inner & 3;
  return (inner & 0xfc) | (ecn === 3 ? 2 : ecn);
}

/** Writes a 20-byte IPIP outer header at `o` with its checksum. */
function writeOuter(
  u8: Uint8Array, dv: DataView, o: number, tos: number, totLen: number, frag: number, ttl: number, id: number,
  src: number, dst: number,
): void {
  u8[o] = 0x45;
  u8[o + 1] = tos;
  dv.setUint16(o + 2, totLen);
  dv.setUint16(o + 4, id);
  dv.setUint16(o + 6, frag);
  u8[o + 8] = ttl;
  u8[o + 9] = PROTO_IPIP;
  dv.setUint16(o + 10, 0);
  dv.setInt32(o + 12, src);
  dv.setInt32(o + 16, dst);
  dv.setUint16(o + 10, ~csumPartial(u8, o, IP_HLEN, 0) & 0xffff);
}

/**
 * Sends the client ICMP "fragmentation needed" (type 3 code 4) with next-hop MTU `mtu` about the packet in
 * `pk`, which must still be as received (call before rewriting it). Never fails the caller: a message that is
 * not sent (rate limit, no free slot, or one that must not be sent) counts `icmp_errors_suppressed`.
 */
export function sendFragNeeded(ctx: FwdContext, pk: Pkt, mtu: number): void {
  if (sendIcmpError(ctx, pk, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu)) ctx.f64[C.icmp_frag_needed_sent]!++;
}

/**
 * Sends the (already TTL-decremented) inner packet of `pk` as outer fragments of at most `link.mtu` bytes:
 * the first in place, the rest copied into extra slots. All or nothing: without enough free slots the packet is
 * dropped (`tx_no_slot`).
 */
function fragment(ctx: FwdContext, pk: Pkt, real: number, src: number, tos: number, ttl: number, id: number): boolean {
  const u8 = ctx.u8;
  const dv = ctx.dv;
  const link = ctx.link;
  const ipLen = pk.ipLen;
  const l3 = pk.l3;
  const chunk = (link.mtu - IP_HLEN) & ~7; // fragment offsets count 8-byte units
  if (link.scratchFree() < (((ipLen + chunk - 1) / chunk) | 0) - 1) {
    ctx.f64[D.tx_no_slot]!++;
    return false;
  }
  const b = pk.base - IP_HLEN;
  dv.setUint16(b + ETH_TYPE, ETHERTYPE_IPV4);
  writeOuter(u8, dv, b + ETH_HLEN, tos, IP_HLEN + chunk, IP_FLAG_MF, ttl, id, src, real);
  const sent = link.output(b, ETH_HLEN + IP_HLEN + chunk, real);
  for (let off = chunk; off < ipLen; off += chunk) {
    const n = ipLen - off < chunk ? ipLen - off : chunk;
    const f = link.scratch();
    u8.copyWithin(f + ETH_HLEN + IP_HLEN, l3 + off, l3 + off + n);
    dv.setUint16(f + ETH_TYPE, ETHERTYPE_IPV4);
    writeOuter(u8, dv, f + ETH_HLEN, tos, IP_HLEN + n, (off >> 3) | (off + n < ipLen ? IP_FLAG_MF : 0), ttl, id, src, real);
    link.output(f, ETH_HLEN + IP_HLEN + n, real);
  }
  ctx.f64[C.tun_fragmented]!++;
  return sent;
}

export const tun: Forwarder = {
  gso: false,
  inbound(ctx: FwdContext, pk: Pkt, c: number): boolean {
    const u8 = ctx.u8;
    const dv = ctx.dv;
    const link = ctx.link;
    const l3 = pk.l3;
    const ipLen = pk.ipLen;
    const tunnelMtu = link.mtu - IP_HLEN;
    const df = dv.getUint16(l3 + IP_FRAG) & IP_FLAG_DF;
    if (ipLen > tunnelMtu && df !== 0) {
      ctx.f64[D.tun_too_big]!++;
      sendFragNeeded(ctx, pk, tunnelMtu);
      return false;
    }
    decrementTtl(dv, l3);
    const real = ctx.conns.daddr[c]!;
    const src = link.sourceFor(real);
    const tos = outerTos(u8[l3 + IP_TOS]!);
    const ttl = u8[l3 + IP_TTL]!;
    const id = link.nextIpId();
    if (ipLen > tunnelMtu) return fragment(ctx, pk, real, src, tos, ttl, id);
    const b = pk.base - IP_HLEN;
    dv.setUint16(b + ETH_TYPE, ETHERTYPE_IPV4);
    writeOuter(u8, dv, b + ETH_HLEN, tos, IP_HLEN + ipLen, df, ttl, id, src, real);
    return link.output(b, ETH_HLEN + IP_HLEN + ipLen, real);
  },
  /** Replies do not pass the director in TUN; one that does is routed unchanged, as in DR. */
  outbound: dr.outbound,
};
