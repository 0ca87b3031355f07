/**
 * Fast frame writing and checking for the pipeline fuzzer: one reusable buffer, fields written in place, checksums
 * computed by a small RFC 1071 sum of its own (independent of src/packet, which it measures). The packet builder
 * in test/helpers is the readable yardstick; this is the fast one a million frames per run can afford.
 */

/** Largest frame the fuzzer writes (jumbo frames beyond a ring slot; TCP GSO super-frames up to 64 KiB). */
export const MAX_FRAME = 66_000;

/** One's-complement sum of u8[off, off+len) plus `init`, folded to 16 bits (not complemented). */
export function sum16(u8: Uint8Array, off: number, len: number, init: number): number {
  let s = init;
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) s += (u8[i]! << 8) | u8[i + 1]!;
  if (len & 1) s += u8[end]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** Pseudo-header sum for TCP/UDP over IPv4 (addresses unsigned). */
export function pseudo(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

export type Mac = readonly number[];

/** A frame under construction: the buffer, its length and where its headers start (-1: none). */
export class Wire {
  readonly b = new Uint8Array(MAX_FRAME);
  readonly dv = new DataView(this.b.buffer);
  len = 0;
  l3 = -1;
  l4 = -1;
  proto = 0;

  eth(dst: Mac, src: Mac, type: number): this {
    const b = this.b;
    for (let i = 0; i < 6; i++) {
      b[i] = dst[i]!;
      b[6 + i] = src[i]!;
    }
    this.dv.setUint16(12, type);
    this.len = 14;
    this.l3 = -1;
    this.l4 = -1;
    this.proto = 0;
    return this;
  }

  /** IPv4 header at the current end; `optLen` bytes of options (a multiple of 4, filled by the caller or NOPs). */
  ipv4(src: number, dst: number, proto: number, ttl = 64, frag = 0x4000, tos = 0, id = 0, optLen = 0): this {
    const o = this.len;
    const b = this.b;
    const dv = this.dv;
    b[o] = 0x40 | ((20 + optLen) >> 2);
    b[o + 1] = tos;
    dv.setUint16(o + 4, id);
    dv.setUint16(o + 6, frag);
    b[o + 8] = ttl;
    b[o + 9] = proto;
    dv.setUint16(o + 10, 0);
    dv.setUint32(o + 12, src >>> 0);
    dv.setUint32(o + 16, dst >>> 0);
    b.fill(1, o + 20, o + 20 + optLen); // NOPs
    this.l3 = o;
    this.proto = proto;
    this.len = o + 20 + optLen;
    this.l4 = this.len;
    return this;
  }

  tcp(sport: number, dport: number, seq: number, ack: number, flags: number, opts: Uint8Array | null = null): this {
    const o = this.len;
    const dv = this.dv;
    const ol = opts ? (opts.length + 3) & ~3 : 0;
    dv.setUint16(o, sport);
    dv.setUint16(o + 2, dport);
    dv.setUint32(o + 4, seq >>> 0);
    dv.setUint32(o + 8, ack >>> 0);
    this.b[o + 12] = ((20 + ol) >> 2) << 4;
    this.b[o + 13] = flags;
    dv.setUint16(o + 14, 64240);
    dv.setUint32(o + 16, 0);
    if (opts) {
      this.b.set(opts, o + 20);
      this.b.fill(0, o + 20 + opts.length, o + 20 + ol);
    }
    this.l4 = o;
    this.len = o + 20 + ol;
    return this;
  }

  udp(sport: number, dport: number): this {
    const o = this.len;
    this.dv.setUint16(o, sport);
    this.dv.setUint16(o + 2, dport);
    this.dv.setUint32(o + 4, 0);
    this.l4 = o;
    this.len = o + 8;
    return this;
  }

  icmp(type: number, code: number, rest: number): this {
    const o = this.len;
    this.b[o] = type;
    this.b[o + 1] = code;
    this.dv.setUint16(o + 2, 0);
    this.dv.setUint32(o + 4, rest >>> 0);
    this.l4 = o;
    this.len = o + 8;
    return this;
  }

  /** Appends n bytes taken from `src` starting at `from` (wrapping). */
  bytes(src: Uint8Array, from: number, n: number): this {
    let o = this.len;
    let left = Math.min(n, this.b.length - o);
    let f = from % src.length;
    while (left > 0) {
      const k = Math.min(left, src.length - f);
      this.b.set(src.subarray(f, f + k), o);
      o += k;
      left -= k;
      f = 0;
    }
    this.len = o;
    return this;
  }

  /**
   * Fills in the IP total length, the UDP length and every checksum over the frame as it stands (the IP packet
   * ends at the frame's end). `udpZero`: leave the UDP checksum 0 ("none").
   */
  finish(udpZero = false): this {
    const l3 = this.l3;
    if (l3 < 0) return this;
    const b = this.b;
    const dv = this.dv;
    const ipLen = this.len - l3;
    dv.setUint16(l3 + 2, ipLen);
    if (this.l4 >= 0 && this.l4 < this.len) {
      const l4 = this.l4;
      const l4len = this.len - l4;
      const src = dv.getUint32(l3 + 12);
      const dst = dv.getUint32(l3 + 16);
      if (this.proto === 6 && l4len >= 20) {
        dv.setUint16(l4 + 16, 0);
        dv.setUint16(l4 + 16, ~sum16(b, l4, l4len, pseudo(src, dst, 6, l4len)) & 0xffff);
      } else if (this.proto === 17 && l4len >= 8) {
        dv.setUint16(l4 + 4, l4len);
        dv.setUint16(l4 + 6, 0);
        if (!udpZero) dv.setUint16(l4 + 6, ~sum16(b, l4, l4len, pseudo(src, dst, 17, l4len)) & 0xffff || 0xffff);
      } else if (this.proto === 1 && l4len >= 8) {
        dv.setUint16(l4 + 2, 0);
        dv.setUint16(l4 + 2, ~sum16(b, l4, l4len, 0) & 0xffff);
      }
    }
    this.fixIp();
    return this;
  }

  /** Recomputes the IPv4 header checksum over the header length its IHL says (bounded by the frame). */
  fixIp(): void {
    const l3 = this.l3;
    if (l3 < 0 || l3 + 20 > this.len) return;
    const hl = Math.min((this.b[l3]! & 15) << 2, this.len - l3);
    this.dv.setUint16(l3 + 10, 0);
    this.dv.setUint16(l3 + 10, ~sum16(this.b, l3, hl < 20 ? 20 : hl, 0) & 0xffff);
  }
}

/** What a transmitted frame looks like, as far as the fuzzer checks it. */
export interface TxCheck {
  /** Bytes that must be the same whatever garbage followed the received frame in memory. */
  meaningful: number;
  /** A reason the frame is malformed, or null. */
  problem: string | null;
}

/**
 * Checks a frame the dataplane transmitted: our MAC as source, a unicast or broadcast destination, and for IPv4 a
 * well-formed header (version 4, IHL 5, total length within the frame and the MTU, TTL > 0, header checksum) and
 * the TCP/UDP/ICMP checksum of unfragmented packets (also of the inner packet of IPIP). Returns how many bytes
 * carry meaning (the rest is Ethernet padding).
 */
export function checkTx(
  u8: Uint8Array, dv: DataView, off: number, len: number, ourMac: Mac, mtu: number, relax: { gso?: boolean; l4?: boolean } = {},
): TxCheck {
  if (len < 14) return { meaningful: len, problem: `frame of ${len} bytes` };
  for (let i = 0; i < 6; i++) if (u8[off + 6 + i] !== ourMac[i]) return { meaningful: len, problem: 'source MAC is not ours' };
  const type = dv.getUint16(off + 12);
  if (type === 0x0806) return { meaningful: Math.min(len, 42), problem: len < 42 ? 'short ARP' : null };
  if (type !== 0x0800) return { meaningful: len, problem: `EtherType 0x${type.toString(16)}` };
  const problem = checkIp(u8, dv, off + 14, len - 14, relax.gso ? 65535 : mtu, true, relax.gso === true || relax.l4 === true);
  const ipLen = len >= 34 ? dv.getUint16(off + 16) : 0;
  return { meaningful: Math.min(len, 14 + ipLen), problem };
}

function checkIp(u8: Uint8Array, dv: DataView, l3: number, avail: number, mtu: number, outer: boolean, noL4 = false): string | null {
  if (avail < 20) return 'IPv4 header cut short';
  if (u8[l3] !== 0x45) return `IPv4 version/IHL byte 0x${u8[l3]!.toString(16)}`;
  const ipLen = dv.getUint16(l3 + 2);
  if (ipLen < 20 || ipLen > avail) return `IPv4 total length ${ipLen} with ${avail} bytes`;
  if (outer && ipLen > mtu) return `IPv4 packet of ${ipLen} bytes over the MTU ${mtu}`;
  if (outer && u8[l3 + 8] === 0) return 'TTL 0';
  if (sum16(u8, l3, 20, 0) !== 0xffff) return 'IPv4 header checksum';
  const frag = dv.getUint16(l3 + 6);
  if ((frag & 0x3fff) !== 0 || noL4) return null; // a fragment: L4 checksums cover the reassembled datagram
  const proto = u8[l3 + 9]!;
  const l4 = l3 + 20;
  const l4len = ipLen - 20;
  const src = dv.getUint32(l3 + 12);
  const dst = dv.getUint32(l3 + 16);
  if (proto === 6) {
    if (l4len < 20) return 'TCP header cut short';
    const doff = (u8[l4 + 12]! >> 4) << 2;
    if (doff < 20 || doff > l4len) return `TCP data offset ${doff} in ${l4len} bytes`;
    if (sum16(u8, l4, l4len, pseudo(src, dst, 6, l4len)) !== 0xffff) return 'TCP checksum';
  } else if (proto === 17) {
    if (l4len < 8) return 'UDP header cut short';
    const ulen = dv.getUint16(l4 + 4);
    if (ulen < 8 || ulen > l4len) return `UDP length ${ulen} in ${l4len} bytes`;
    if (dv.getUint16(l4 + 6) !== 0 && sum16(u8, l4, ulen, pseudo(src, dst, 17, ulen)) !== 0xffff) return 'UDP checksum';
  } else if (proto === 1) {
    if (l4len < 8) return 'ICMP header cut short';
    if (sum16(u8, l4, l4len, 0) !== 0xffff) return 'ICMP checksum';
  } else if (proto === 4) {
    const inner = checkIp(u8, dv, l4, l4len, mtu, false);
    if (inner) return `inner packet: ${inner}`;
  }
  return null;
}
