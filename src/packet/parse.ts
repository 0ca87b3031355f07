/**
 * IPv4 + TCP/UDP/ICMP header parsing into a reusable, per-worker `Pkt` record (no allocation).
 * The caller has already checked the Ethernet header. Results are codes, never exceptions.
 */
import { csumPartial, pseudoHeaderSum } from './checksum.js';
import {
  ETH_HLEN, ICMP_HLEN, IP_FLAG_MF, IP_HLEN, IP_OFFMASK, PROTO_ICMP, PROTO_TCP, PROTO_UDP, TCP_HLEN, UDP_HLEN,
} from './offsets.js';

/** Parse outcomes; every non-OK value names a drop reason. */
export const enum ParseResult {
  OK = 0,
  TRUNCATED = 1,
  BAD_HEADER = 2,
  BAD_CHECKSUM = 3,
  OPTIONS = 4,
  FRAGMENT = 5,
  L4_TRUNCATED = 6,
  L4_BAD_CHECKSUM = 7,
  L4_UNSUPPORTED = 8,
}

/**
 * One parsed frame. Offsets are absolute byte offsets in the ring buffer. Addresses are int32 (the address bits
 * read as a signed 32-bit number): V8 keeps those as small integers, where values above 2^31 would be boxed
 * doubles and allocate when passed to a function.
 */
export class Pkt {
  base = 0; // start of the Ethernet header
  len = 0; // frame length
  l3 = 0; // IPv4 header offset
  l4 = 0; // transport header offset
  ipLen = 0; // IPv4 total length
  l4len = 0;
  proto = 0;
  saddr = 0;
  daddr = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  ttl = 0;
  /** 1 for a TCP GSO super-frame read with offloads (its L4 checksum is partial: pseudo-header sum only). */
  gso = 0;
}

/**
 * Parses the IPv4 packet of the frame at pk.base (length pk.len). With `verifyL4`, TCP/UDP checksums are
 * verified by full recomputation (UDP checksum 0 = none, accepted); ICMP checksums are always verified.
 */
export function parseIPv4(u8: Uint8Array, dv: DataView, pk: Pkt, verifyL4: boolean): ParseResult {
  const l3 = pk.base + ETH_HLEN;
  const avail = pk.len - ETH_HLEN;
  if (avail < IP_HLEN) return ParseResult.TRUNCATED;
  const vhl = u8[l3]!;
  if (vhl >> 4 !== 4 || (vhl & 15) < 5) return ParseResult.BAD_HEADER;
  const ipLen = dv.getUint16(l3 + 2);
  const hl = (vhl & 15) << 2;
  if (ipLen < hl || ipLen > avail) return ParseResult.BAD_HEADER;
  if (csumPartial(u8, l3, hl, 0) !== 0xffff) return ParseResult.BAD_CHECKSUM;
  if (hl !== IP_HLEN) return ParseResult.OPTIONS;
  if ((dv.getUint16(l3 + 6) & (IP_FLAG_MF | IP_OFFMASK)) !== 0) return ParseResult.FRAGMENT;
  const proto = u8[l3 + 9]!;
  const l4 = l3 + IP_HLEN;
  const l4len = ipLen - IP_HLEN;
  pk.l3 = l3;
  pk.l4 = l4;
  pk.ipLen = ipLen;
  pk.l4len = l4len;
  pk.proto = proto;
  pk.ttl = u8[l3 + 8]!;
  pk.saddr = dv.getInt32(l3 + 12);
  pk.daddr = dv.getInt32(l3 + 16);
  pk.tcpFlags = 0;
  if (proto === PROTO_TCP) {
    if (l4len < TCP_HLEN) return ParseResult.L4_TRUNCATED;
    const doff = (u8[l4 + 12]! >> 4) << 2;
    if (doff < TCP_HLEN || doff > l4len) return ParseResult.L4_TRUNCATED;
    pk.sport = dv.getUint16(l4);
    pk.dport = dv.getUint16(l4 + 2);
    pk.tcpFlags = u8[l4 + 13]!;
    if (verifyL4 && csumPartial(u8, l4, l4len, pseudoHeaderSum(pk.saddr, pk.daddr, proto, l4len)) !== 0xffff) {
      return ParseResult.L4_BAD_CHECKSUM;
    }
    return ParseResult.OK;
  }
  if (proto === PROTO_UDP) {
    if (l4len < UDP_HLEN) return ParseResult.L4_TRUNCATED;
    const ulen = dv.getUint16(l4 + 4);
    if (ulen < UDP_HLEN || ulen > l4len) return ParseResult.L4_TRUNCATED;
    pk.sport = dv.getUint16(l4);
    pk.dport = dv.getUint16(l4 + 2);
    if (verifyL4 && dv.getUint16(l4 + 6) !== 0 &&
        csumPartial(u8, l4, ulen, pseudoHeaderSum(pk.saddr, pk.daddr, proto, ulen)) !== 0xffff) {
      return ParseResult.L4_BAD_CHECKSUM;
    }
    return ParseResult.OK;
  }
  if (proto === PROTO_ICMP) {
    if (l4len < ICMP_HLEN) return ParseResult.L4_TRUNCATED;
    if (csumPartial(u8, l4, l4len, 0) !== 0xffff) return ParseResult.L4_BAD_CHECKSUM;
    pk.sport = 0;
    pk.dport = 0;
    return ParseResult.OK;
  }
  return ParseResult.L4_UNSUPPORTED;
}
