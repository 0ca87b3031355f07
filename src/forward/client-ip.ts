/**
 * Client-IP delivery for FULLNAT (the real sees the LIP as its peer) and the TCP option work FULLNAT needs.
 * Every function edits a frame in place and allocates nothing; the caller recomputes the L4 checksum when the
 * bytes of the segment moved (`full` in fullnat.ts).
 *
 * TOA (ipvs-semantics.md §4.6): TCP option kind 254, length 8: kind, len, client port, client IPv4 address,
 * inserted right after the 20-byte TCP header (existing options and data move 8 bytes), data offset + 2,
 * IP total length + 8. Only when the header stays ≤ 60 bytes and the packet within the MTU.
 *
 * PROXY protocol (haproxy's proxy-protocol.txt): v1 is the text line
 * `PROXY TCP4 <client> <VIP> <client port> <VIP port>\r\n` (at most 56 bytes for IPv4); v2 is 28 bytes: the
 * 12-byte signature, 0x21 (version 2, PROXY), 0x11 (TCP over IPv4) or 0x12 (UDP over IPv4), address length 12,
 * then client address, VIP, client port, VIP port. Source is the client, destination the VIP it connected to.
 */
import type { Pkt } from '../packet/parse.js';
import { ETH_HLEN, IP_TOTLEN, TCP_HLEN, TCP_OFF, UDP_HLEN, UDP_LEN } from '../packet/offsets.js';
import type { FwdContext } from './index.js';

/** conns.cip bits: the mode (low two bits, the snapshot's CLIENT_IP_CODES) and per-conn state. */
export const CIP_NONE = 0;
export const CIP_TOA = 1;
export const CIP_PP1 = 2;
export const CIP_PP2 = 3;
export const CIP_MODE = 3;
/** PROXY: the header has not been acknowledged by the real yet (segments at the stream start carry it). */
export const CIP_PENDING = 4;
/** `mark` holds its sequence number (TOA: the real's ISN+1, learnt from its SYN-ACK). */
export const CIP_MARK = 8;

export const TOA_KIND = 254;
export const TOA_LEN = 8;
export const PP2_LEN = 28;
const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_SACK = 5;
const OPT_TS = 8;

/** Length of the PROXY header of `mode` for the given client and VIP endpoints. */
export function proxyHeaderLen(mode: number, caddr: number, cport: number, vaddr: number, vport: number): number {
  if (mode === CIP_PP2) return PP2_LEN;
  // "PROXY TCP4 " + two addresses, two ports, three spaces, CRLF
  return 11 + addrLen(caddr) + addrLen(vaddr) + digits(cport) + digits(vport) + 3 + 2;
}

function digits(n: number): number {
  return n >= 10000 ? 5 : n >= 1000 ? 4 : n >= 100 ? 3 : n >= 10 ? 2 : 1;
}

function addrLen(a: number): number {
  return digits((a >>> 24) & 255) + digits((a >>> 16) & 255) + digits((a >>> 8) & 255) + digits(a & 255) + 3;
}

/** Writes decimal `n` at `o`; returns the offset after it. */
function putDec(u8: Uint8Array, o: number, n: number): number {
  const d = digits(n);
  for (let i = d - 1; i >= 0; i--) {
    u8[o + i] = 48 + (n % 10);
    n = (n / 10) | 0;
  }
  return o + d;
}

function putAddr(u8: Uint8Array, o: number, a: number): number {
  o = putDec(u8, o, (a >>> 24) & 255);
  u8[o++] = 46;
  o = putDec(u8, o, (a >>> 16) & 255);
  u8[o++] = 46;
  o = putDec(u8, o, (a >>> 8) & 255);
  u8[o++] = 46;
  return putDec(u8, o, a & 255);
}

/** The v2 signature: \r\n\r\n\0\r\nQUIT\n. */
const PP2_SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** "PROXY TCP4 " */
const PP1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20, 0x54, 0x43, 0x50, 0x34, 0x20];

/** Writes the PROXY header of `mode` at `o` (proxyHeaderLen bytes). `udp` selects v2's DGRAM transport. */
export function writeProxyHeader(
  u8: Uint8Array, dv: DataView, o: number, mode: number, udp: boolean, caddr: number, cport: number, vaddr: number,
  vport: number,
): void {
  if (mode === CIP_PP2) {
    for (let i = 0; i < 12; i++) u8[o + i] = PP2_SIG[i]!;
    u8[o + 12] = 0x21;
    u8[o + 13] = udp ? 0x12 : 0x11;
    dv.setUint16(o + 14, 12);
    dv.setInt32(o + 16, caddr);
    dv.setInt32(o + 20, vaddr);
    dv.setUint16(o + 24, cport);
    dv.setUint16(o + 26, vport);
    return;
  }
  for (let i = 0; i < 11; i++) u8[o + i] = PP1_PREFIX[i]!;
  o = putAddr(u8, o + 11, caddr);
  u8[o++] = 32;
  o = putAddr(u8, o, vaddr);
  u8[o++] = 32;
  o = putDec(u8, o, cport);
  u8[o++] = 32;
  o = putDec(u8, o, vport);
  u8[o] = 13;
  u8[o + 1] = 10;
}

/** Whether `extra` more bytes fit the frame's ring slot and the segment MTU. */
export function roomFor(ctx: FwdContext, pk: Pkt, extra: number): boolean {
  return pk.ipLen + extra <= ctx.link.mtu && ETH_HLEN + pk.ipLen + extra <= ctx.slotSize - ctx.headroom;
}

/**
 * Opens `n` bytes at offset `at` (inside the IP packet of `pk`) by moving the rest of the packet; updates the IP
 * total length and pk's lengths (Ethernet padding is dropped). The caller checked roomFor(n) and fixes the IP
 * header checksum.
 */
export function openGap(ctx: FwdContext, pk: Pkt, at: number, n: number): void {
  const end = pk.l3 + pk.ipLen;
  ctx.u8.copyWithin(at + n, at, end);
  pk.ipLen += n;
  pk.l4len += n;
  pk.len = ETH_HLEN + pk.ipLen;
  ctx.dv.setUint16(pk.l3 + IP_TOTLEN, pk.ipLen);
}

/**
 * Inserts TOA (client `caddr:cport`) after the fixed TCP header. Returns false, changing nothing, when the
 * header would exceed 60 bytes or the packet the MTU.
 */
export function insertToa(ctx: FwdContext, pk: Pkt, caddr: number, cport: number): boolean {
  const u8 = ctx.u8;
  const l4 = pk.l4;
  const doff = (u8[l4 + TCP_OFF]! >> 4) << 2;
  if (doff + TOA_LEN > 60 || !roomFor(ctx, pk, TOA_LEN)) return false;
  const at = l4 + TCP_HLEN;
  openGap(ctx, pk, at, TOA_LEN);
  u8[at] = TOA_KIND;
  u8[at + 1] = TOA_LEN;
  ctx.dv.setUint16(at + 2, cport);
  ctx.dv.setInt32(at + 4, caddr);
  u8[l4 + TCP_OFF] = (((doff + TOA_LEN) >> 2) << 4) | (u8[l4 + TCP_OFF]! & 0x0f);
  return true;
}

/**
 * Puts the PROXY header in front of the TCP payload (at the stream start). When the header plus the payload do
 * not fit, the payload is replaced by the header alone (and FIN, which would follow the dropped data, is
 * cleared): the client retransmits that data, which then travels shifted. Returns true when the payload was
 * kept.
 */
export function insertProxyTcp(
  ctx: FwdContext, pk: Pkt, mode: number, len: number, caddr: number, cport: number, vaddr: number, vport: number,
): boolean {
  const u8 = ctx.u8;
  const l4 = pk.l4;
  const at = l4 + ((u8[l4 + TCP_OFF]! >> 4) << 2);
  let kept = true;
  if (!roomFor(ctx, pk, len)) {
    // Drop the payload: the segment becomes header only.
    const cut = pk.l3 + pk.ipLen - at;
    pk.ipLen -= cut;
    pk.l4len -= cut;
    u8[l4 + 13] = u8[l4 + 13]! & ~1; // FIN
    kept = false;
  }
  openGap(ctx, pk, at, len);
  writeProxyHeader(u8, ctx.dv, at, mode, false, caddr, cport, vaddr, vport);
  return kept;
}

/** Puts a PROXY v2 (DGRAM) header in front of a UDP payload. Returns false, changing nothing, without room. */
export function insertProxyUdp(ctx: FwdContext, pk: Pkt, caddr: number, cport: number, vaddr: number, vport: number): boolean {
  if (!roomFor(ctx, pk, PP2_LEN)) return false;
  const l4 = pk.l4;
  openGap(ctx, pk, l4 + UDP_HLEN, PP2_LEN);
  ctx.dv.setUint16(l4 + UDP_LEN, ctx.dv.getUint16(l4 + UDP_LEN) + PP2_LEN);
  writeProxyHeader(ctx.u8, ctx.dv, l4 + UDP_HLEN, CIP_PP2, true, caddr, cport, vaddr, vport);
  return true;
}

/**
 * Walks the TCP options of the segment at l4: returns the offset of the first option of `kind` with length
 * `len`, or -1. Stops at EOL and at malformed lengths.
 */
export function findOption(u8: Uint8Array, l4: number, kind: number, len: number): number {
  const end = l4 + ((u8[l4 + TCP_OFF]! >> 4) << 2);
  let o = l4 + TCP_HLEN;
  while (o < end) {
    const k = u8[o]!;
    if (k === OPT_EOL) return -1;
    if (k === OPT_NOP) {
      o++;
      continue;
    }
    if (o + 1 >= end) return -1;
    const l = u8[o + 1]!;
    if (l < 2 || o + l > end) return -1;
    if (k === kind && l === len) return o;
    o += l;
  }
  return -1;
}

/** Overwrites the timestamp option (kind 8, 10 bytes) with NOPs. Returns true if there was one. */
export function stripTimestamps(u8: Uint8Array, l4: number): boolean {
  const o = findOption(u8, l4, OPT_TS, 10);
  if (o < 0) return false;
  u8.fill(OPT_NOP, o, o + 10);
  return true;
}

/**
 * Lowers the MSS option to `max` when it is higher. Returns true when it changed (the caller recomputes the
 * checksum: the option may sit at an odd offset).
 */
export function clampMss(dv: DataView, u8: Uint8Array, l4: number, max: number): boolean {
  const o = findOption(u8, l4, OPT_MSS, 4);
  if (o < 0 || dv.getUint16(o + 2) <= max) return false;
  dv.setUint16(o + 2, max);
  return true;
}

/**
 * Maps every SACK block edge of the segment at l4 from the real's view of the client's stream back to the
 * client's own sequence space (toClientSeq). Returns true when a block was changed.
 */
export function mapSack(dv: DataView, u8: Uint8Array, l4: number, mark: number, shift: number): boolean {
  const end = l4 + ((u8[l4 + TCP_OFF]! >> 4) << 2);
  let o = l4 + TCP_HLEN;
  let changed = false;
  while (o < end) {
    const k = u8[o]!;
    if (k === OPT_EOL) break;
    if (k === OPT_NOP) {
      o++;
      continue;
    }
    if (o + 1 >= end) break;
    const l = u8[o + 1]!;
    if (l < 2 || o + l > end) break;
    if (k === OPT_SACK) {
      for (let e = o + 2; e + 4 <= o + l; e += 4) {
        dv.setInt32(e, toClientSeq(dv.getInt32(e), mark, shift));
        changed = true;
      }
    }
    o += l;
  }
  return changed;
}

/**
 * A sequence number of the client's stream as the real sees it (shifted by the `shift` header bytes that start
 * at `mark`, the client's ISN+1) back in the client's own space. Numbers inside the header map to `mark`.
 */
export function toClientSeq(seq: number, mark: number, shift: number): number {
  const rel = (seq - mark) | 0;
  if (rel >= shift) return (seq - shift) | 0;
  return rel >= 0 ? mark : (seq - shift) | 0;
}
