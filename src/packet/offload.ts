/**
 * Checksum and segmentation offload helpers for frames read from a TAP with IFF_VNET_HDR + TUNSETOFFLOAD
 * (performance.md §2.3). The kernel may hand over:
 * - frames whose L4 checksum is "partial" (virtio flag NEEDS_CSUM): the field holds only the pseudo-header sum;
 *   `finalizeL4()` completes it (what the sending kernel would have done without the offload);
 * - TCPv4 GSO super-frames (up to 64 KiB, one header, gso_size = MSS): NAT and DR pass them through with the
 *   header rewritten (the kernel segments or delivers them as one); the methods that cannot (TUN: IPIP has no
 *   virtio GSO type; FULLNAT: options/headers inserted, sequence shifts) get them cut into MSS-sized segments
 *   by `buildSegment()`, each a complete frame with its own checksums, as the kernel's GSO would.
 * No allocation; offsets are absolute in the ring buffer.
 */
import { csumPartial, pseudoHeaderSum } from './checksum.js';
import { IP_CSUM, IP_HLEN, IP_ID, IP_TOTLEN, PROTO_TCP, TCP_CSUM, TCP_FLAGS, TCP_SEQ, UDP_CSUM, UDP_LEN } from './offsets.js';
import type { Pkt } from './parse.js';

const TCP_FIN_PSH = 0x09;
const TCP_CWR = 0x80;

/** Completes a partial (NEEDS_CSUM) TCP/UDP checksum in place: the field already holds the pseudo-header sum. */
export function finalizeL4(u8: Uint8Array, dv: DataView, pk: Pkt): void {
  const l4 = pk.l4;
  if (pk.proto === PROTO_TCP) {
    dv.setUint16(l4 + TCP_CSUM, ~csumPartial(u8, l4, pk.l4len, 0) & 0xffff);
    return;
  }
  let ck = ~csumPartial(u8, l4, dv.getUint16(l4 + UDP_LEN), 0) & 0xffff;
  if (ck === 0) ck = 0xffff;
  dv.setUint16(l4 + UDP_CSUM, ck);
}

/**
 * Builds segment `i` of the TCP GSO frame described by `pk` (base, l3, l4, ipLen; header bytes = l4 − base +
 * doff) at `dst`: headers copied, `n` payload bytes from payload offset `off`, IPv4 total length, ID + i and
 * checksum, TCP seq + off, FIN/PSH only on the last segment and CWR only on the first, full TCP checksum.
 * Returns the segment's frame length.
 */
export function buildSegment(
  u8: Uint8Array, dv: DataView, pk: Pkt, doff: number, i: number, off: number, n: number, last: boolean, dst: number,
): number {
  const hlen = pk.l4 - pk.base + doff;
  u8.copyWithin(dst, pk.base, pk.base + hlen);
  const data = pk.l4 + doff + off;
  u8.copyWithin(dst + hlen, data, data + n);
  const l3 = dst + (pk.l3 - pk.base);
  const l4 = dst + (pk.l4 - pk.base);
  dv.setUint16(l3 + IP_TOTLEN, IP_HLEN + doff + n);
  dv.setUint16(l3 + IP_ID, (dv.getUint16(pk.l3 + IP_ID) + i) & 0xffff);
  dv.setUint16(l3 + IP_CSUM, 0);
  dv.setUint16(l3 + IP_CSUM, ~csumPartial(u8, l3, IP_HLEN, 0) & 0xffff);
  dv.setInt32(l4 + TCP_SEQ, (dv.getInt32(pk.l4 + TCP_SEQ) + off) | 0);
  let flags = u8[pk.l4 + TCP_FLAGS]!;
  if (!last) flags &= ~TCP_FIN_PSH;
  if (i > 0) flags &= ~TCP_CWR;
  u8[l4 + TCP_FLAGS] = flags;
  dv.setUint16(l4 + TCP_CSUM, 0);
  const l4len = doff + n;
  dv.setUint16(l4 + TCP_CSUM, ~csumPartial(u8, l4, l4len, pseudoHeaderSum(pk.saddr, pk.daddr, PROTO_TCP, l4len)) & 0xffff);
  return hlen + n;
}
