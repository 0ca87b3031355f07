/**
 * ICMP error messages the director originates about a client's packet: "fragmentation needed" (TUN, tun.ts) and
 * "port unreachable" when no real can take a new connection (IPVS ip_vs_leave answers with ICMP port unreachable
 * for TCP and UDP alike, since no socket exists to send a RST from).
 *
 * The message comes from the address the client talked to (the VIP), quotes the offending IP header plus 8
 * bytes (RFC 792: ports, and the TCP sequence number, enough for the client's stack to find the flow), and is
 * rate limited like Linux's (Link.icmpAllowed: 1000/s, burst 50). It is never sent in answer to an ICMP error
 * nor to a source that is not a single remote host (RFC 1122 3.2.2).
 */
import { csumPartial } from '../packet/checksum.js';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ICMP_DEST_UNREACH, ICMP_HLEN, ICMP_SOURCE_QUENCH, ICMP_TIME_EXCEEDED, IP_HLEN,
  PROTO_ICMP,
} from '../packet/offsets.js';
import type { Pkt } from '../packet/parse.js';
import { C } from '../worker/stats.js';
import type { FwdContext } from './index.js';

/** Bytes of the offending packet an ICMP error quotes after its IP header (RFC 792). */
const QUOTE_L4 = 8;
const ICMP_REDIRECT = 5;
const ICMP_PARAMETERPROB = 12;
/** Internetwork-control precedence for ICMP errors (RFC 1812 4.3.2.5; Linux's icmp_send does the same). */
const ICMP_ERROR_TOS = 0xc0;
const ICMP_TTL = 64;

/** Any ICMP error type (never answered with another error). */
export function isIcmpError(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETERPROB;
}

/** The error types IPVS relates to a connection (ip_vs_in_icmp / ip_vs_out_icmp). */
export function isRelatedIcmp(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_TIME_EXCEEDED;
}

/**
 * Sends the client of `pk` (still as received) an ICMP error `type`/`code` with `info` in bytes 6–7 (the
 * next-hop MTU for frag-needed, else 0). Returns true when it was queued; a message that is not sent (rate limit,
 * no free slot, or one that must not be sent) counts `icmp_errors_suppressed`.
 */
export function sendIcmpError(ctx: FwdContext, pk: Pkt, type: number, code: number, info: number): boolean {
  if (pk.proto === PROTO_ICMP && isIcmpError(ctx.u8[pk.l4]!)) {
    ctx.f64[C.icmp_errors_suppressed]!++;
    return false;
  }
  return sendIcmpAbout(ctx, pk.l3, pk.l4 - pk.l3 + QUOTE_L4, pk.saddr, pk.daddr, type, code, info);
}

/**
 * Sends `client` an ICMP error from `vip` about the IPv4 packet at `at` (quoting `quote` bytes of it: its
 * header and the first L4 bytes), e.g. a packet that came back inside another ICMP error (TUN's outer header).
 * Same rules and counters as sendIcmpError; the caller has checked the packet is not itself an ICMP error.
 * `into`: build the message in place at this frame offset (the received frame it replaces, whose quoted bytes
 * lie after the new headers) instead of in an extra slot.
 */
export function sendIcmpAbout(
  ctx: FwdContext, at: number, quote: number, client: number, vip: number, type: number, code: number, info: number,
  into = -1,
): boolean {
  const u8 = ctx.u8;
  const dv = ctx.dv;
  const link = ctx.link;
  const f64 = ctx.f64;
  const top = client >>> 24;
  if (client === 0 || top === 127 || top >= 224 || link.owns(client) || !link.icmpAllowed()) {
    f64[C.icmp_errors_suppressed]!++;
    return false;
  }
  const b = into >= 0 ? into : link.scratch();
  if (b < 0) {
    f64[C.icmp_errors_suppressed]!++;
    return false;
  }
  const ip = b + ETH_HLEN;
  const ic = ip + IP_HLEN;
  const ipLen = IP_HLEN + ICMP_HLEN + quote;
  dv.setUint16(b + ETH_TYPE, ETHERTYPE_IPV4);
  u8[ip] = 0x45;
  u8[ip + 1] = ICMP_ERROR_TOS;
  dv.setUint16(ip + 2, ipLen);
  dv.setUint16(ip + 4, link.nextIpId());
  dv.setUint16(ip + 6, 0);
  u8[ip + 8] = ICMP_TTL;
  u8[ip + 9] = PROTO_ICMP;
  dv.setUint16(ip + 10, 0);
  dv.setInt32(ip + 12, vip); // the VIP the client talked to
  dv.setInt32(ip + 16, client);
  dv.setUint16(ip + 10, ~csumPartial(u8, ip, IP_HLEN, 0) & 0xffff);
  u8[ic] = type;
  u8[ic + 1] = code;
  dv.setUint16(ic + 2, 0);
  dv.setUint16(ic + 4, 0); // unused
  dv.setUint16(ic + 6, info);
  u8.copyWithin(ic + ICMP_HLEN, at, at + quote);
  dv.setUint16(ic + 2, ~csumPartial(u8, ic, ICMP_HLEN + quote, 0) & 0xffff);
  return link.output(b, ETH_HLEN + ipLen, client);
}
