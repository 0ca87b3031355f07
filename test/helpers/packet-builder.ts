/**
 * Packet builder and decoder for tests (convention 11). Independent of the product's parser on purpose: this file
 * is the yardstick the forwarding tests measure the product with, so it is written for readability, not speed.
 *
 *   pkt().eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' })
 *        .ipv4({ src: '192.168.1.1', dst: '10.200.1.1' })
 *        .tcp({ sport: 31337, dport: 80, flags: 'S' })
 *        .payload('hello')
 *        .build();                                    // Uint8Array, every length and checksum right
 *
 * Leave out .eth() to get a bare IPv4 packet (ICMP quotes, the inner packet of IPIP). Checksums are computed
 * unless overridden (`checksum:` fields, .badIpChecksum(), .badL4Checksum()); length fields are computed unless
 * overridden (`totalLength`, `ihl`, `dataOffset`, UDP `length`), and the checksums are then computed over the
 * header as written, so a malformed-length fixture still has a valid checksum.
 */

// ---------------------------------------------------------------------------------------------------------------
// Small utilities

/** Dotted quad → unsigned 32-bit number (host order). Throws on anything that is not a.b.c.d with 0..255 parts. */
export function ipv4ToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new Error(`not an IPv4 address: '${ip}'`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** Unsigned 32-bit number → dotted quad. */
export function intToIpv4(n: number): string {
  const u = n >>> 0;
  return [u >>> 24, (u >>> 16) & 255, (u >>> 8) & 255, u & 255].join('.');
}

/** "aa:bb:cc:dd:ee:ff" → 6 bytes. */
export function macToBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`not a MAC address: '${mac}'`);
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/** 6 bytes → "aa:bb:cc:dd:ee:ff". */
export function bytesToMac(b: Uint8Array, offset = 0): string {
  return Array.from(b.subarray(offset, offset + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Classic hex dump: offset, 16 bytes in hex, printable ASCII. */
export function hexdump(a: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < a.length; off += 16) lines.push(_hexLine(a, off));
  return lines.join('\n');
}

/**
 * Human-readable difference between two frames for test failure messages; '' when they are equal.
 * Lists the decoded fields that differ (when both frames decode), then the differing 16-byte rows as
 * `-` expected / `+` actual with `^^` under each differing byte.
 */
export function diffFrames(expected: Uint8Array, actual: Uint8Array, opts: ParseOptions = {}): string {
  if (expected.length === actual.length && expected.every((b, i) => b === actual[i])) return '';
  const out: string[] = [];
  if (expected.length !== actual.length) out.push(`length: expected ${expected.length}, actual ${actual.length}`);
  const fields = _fieldDiff(expected, actual, opts);
  if (fields.length > 0) out.push('fields (expected → actual):', ...fields.map((f) => `  ${f}`));
  out.push('bytes:');
  const len = Math.max(expected.length, actual.length);
  for (let off = 0; off < len; off += 16) {
    const e = expected.subarray(off, off + 16);
    const a = actual.subarray(off, off + 16);
    if (e.length === a.length && e.every((b, i) => b === a[i])) continue;
    const marks = Array.from({ length: 16 }, (_, i) => (i < Math.max(e.length, a.length) && e[i] !== a[i] ? '^^' : '  '));
    out.push(`- ${_hexLine(expected, off)}`, `+ ${_hexLine(actual, off)}`, `        ${marks.join(' ').trimEnd()}`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Builder

/** TCP flags as letters in any order (F S R P A U E C, e.g. 'S', 'SA', 'PA', 'FA', 'R', 'RA', '') or the raw byte. */
export type TcpFlags = string | number;

export interface EthOptions {
  /** Default 02:00:00:00:00:01. */
  src?: string;
  /** Default 02:00:00:00:00:02. */
  dst?: string;
  /** EtherType; default from the next layer (0x0800 IPv4, 0x0806 ARP), 0x88b5 (local experimental) if none. */
  type?: number;
}

export interface VlanOptions {
  pcp?: number;
  dei?: boolean;
  /** Default 0x8100; 0x88a8 for an 802.1ad outer tag. */
  tpid?: number;
}

export interface ArpOptions {
  op: 'request' | 'reply' | number;
  sha: string;
  spa: string;
  /** Default 00:00:00:00:00:00. */
  tha?: string;
  tpa: string;
}

export interface Ipv4Options {
  src: string;
  dst: string;
  /** Default 64. */
  ttl?: number;
  /** Default 0. */
  id?: number;
  /** Default 0. */
  tos?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in 8-byte units, as in the header field. Default 0. */
  fragOffset?: number;
  /** Raw option bytes; zero-padded (EOL) to a multiple of 4. */
  options?: Uint8Array;
  /** Default from the L4 layer (6, 17, 1), else 253 (RFC 3692 experimental). Give 4 for IPIP. */
  protocol?: number;
  /** Overrides the computed total length field (malformed fixtures). */
  totalLength?: number;
  /** Overrides the computed IHL field (in 32-bit words; malformed fixtures). */
  ihl?: number;
  /** Overrides the computed header checksum. */
  checksum?: number;
}

export interface TcpOptions {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags: TcpFlags;
  /** Default 65535. */
  win?: number;
  urg?: number;
  /** Raw option bytes; zero-padded (EOL) to a multiple of 4. */
  options?: Uint8Array;
  /** Overrides the data offset field (in 32-bit words). */
  dataOffset?: number;
  /** Overrides the computed checksum. */
  checksum?: number;
}

export interface UdpOptions {
  sport: number;
  dport: number;
  /** 'auto' (default): computed (0 sent as 0xffff, RFC 768); 'zero': no checksum; or an explicit value. */
  checksum?: 'auto' | 'zero' | number;
  /** Overrides the length field. */
  length?: number;
}

export interface IcmpOptions {
  type: number;
  /** Default 0. */
  code?: number;
  /** Echo identifier (bytes 4–5). */
  id?: number;
  /** Echo sequence number (bytes 6–7). */
  seq?: number;
  /** Bytes 4–7 ("rest of header") as a 32-bit number or 4 bytes; wins over id/seq/mtu. */
  rest?: number | Uint8Array;
  /** Next-hop MTU for type 3 code 4 (bytes 6–7). */
  mtu?: number;
  /** The embedded packet of an error message (IP header + at least 8 bytes), placed before any .payload(). */
  quote?: Uint8Array;
  /** Overrides the computed checksum. */
  checksum?: number;
}

type L4 = { kind: 'tcp'; o: TcpOptions } | { kind: 'udp'; o: UdpOptions } | { kind: 'icmp'; o: IcmpOptions };

/** Starts a packet. */
export function pkt(): PacketBuilder {
  return new PacketBuilder();
}

export class PacketBuilder {
  private ethOpts?: EthOptions;
  private readonly vlans: { id: number; o: VlanOptions }[] = [];
  private arpOpts?: ArpOptions;
  private ipOpts?: Ipv4Options;
  private l4?: L4;
  private readonly chunks: Uint8Array[] = [];
  private badIp = false;
  private badL4 = false;
  private padLen = 0;
  private truncLen = -1;

  /** Ethernet II header. Without it, build() returns the bare L3 packet. */
  eth(o: EthOptions = {}): this {
    this.ethOpts = o;
    return this;
  }

  /** An 802.1Q tag after the MAC addresses; call twice for QinQ (outer first). */
  vlan(id: number, o: VlanOptions = {}): this {
    this.vlans.push({ id, o });
    return this;
  }

  arp(o: ArpOptions): this {
    this.arpOpts = o;
    return this;
  }

  ipv4(o: Ipv4Options): this {
    this.ipOpts = o;
    return this;
  }

  tcp(o: TcpOptions): this {
    this.l4 = { kind: 'tcp', o };
    return this;
  }

  udp(o: UdpOptions): this {
    this.l4 = { kind: 'udp', o };
    return this;
  }

  icmp(o: IcmpOptions): this {
    this.l4 = { kind: 'icmp', o };
    return this;
  }

  /** Appends payload: bytes, a UTF-8 string, or a length (bytes 0,1,2,... mod 256). May be called repeatedly. */
  payload(data: Uint8Array | string | number): this {
    if (typeof data === 'number') this.chunks.push(Uint8Array.from({ length: data }, (_, i) => i & 0xff));
    else if (typeof data === 'string') this.chunks.push(new TextEncoder().encode(data));
    else this.chunks.push(data);
    return this;
  }

  /** Writes a wrong IPv4 header checksum. */
  badIpChecksum(): this {
    this.badIp = true;
    return this;
  }

  /** Writes a wrong TCP/UDP/ICMP checksum (for UDP also when checksum 'zero' was asked). */
  badL4Checksum(): this {
    this.badL4 = true;
    return this;
  }

  /** Appends zero bytes after the packet until the frame is `len` bytes (Ethernet minimum-size padding). */
  padTo(len: number): this {
    this.padLen = len;
    return this;
  }

  /** Cuts the built frame to `len` bytes (truncated-packet fixtures). */
  truncate(len: number): this {
    this.truncLen = len;
    return this;
  }

  build(): Uint8Array {
    if (this.arpOpts && (this.ipOpts || this.l4)) throw new Error('pkt(): arp() cannot be combined with ipv4()/L4');
    if (this.l4 && !this.ipOpts) throw new Error(`pkt(): ${this.l4.kind}() needs ipv4() for its checksum`);
    const payload = _concat(this.chunks);

    let l3: Uint8Array;
    let ethType: number;
    if (this.arpOpts) {
      l3 = _concat([this.buildArp(this.arpOpts), payload]);
      ethType = 0x0806;
    } else if (this.ipOpts) {
      const src = ipv4ToInt(this.ipOpts.src);
      const dst = ipv4ToInt(this.ipOpts.dst);
      const l4 = this.l4 ? this.buildL4(this.l4, src, dst, payload) : payload;
      const proto = this.ipOpts.protocol ?? (this.l4 ? { tcp: 6, udp: 17, icmp: 1 }[this.l4.kind] : 253);
      l3 = this.buildIpv4(this.ipOpts, proto, l4);
      ethType = 0x0800;
    } else {
      l3 = payload;
      ethType = 0x88b5;
    }

    let frame = l3;
    if (this.ethOpts) {
      const e = this.ethOpts;
      const hdr = new Uint8Array(14 + 4 * this.vlans.length);
      const v = new DataView(hdr.buffer);
      hdr.set(macToBytes(e.dst ?? '02:00:00:00:00:02'), 0);
      hdr.set(macToBytes(e.src ?? '02:00:00:00:00:01'), 6);
      let off = 12;
      for (const { id, o } of this.vlans) {
        v.setUint16(off, o.tpid ?? 0x8100);
        v.setUint16(off + 2, (((o.pcp ?? 0) & 7) << 13) | (o.dei ? 0x1000 : 0) | (id & 0x0fff));
        off += 4;
      }
      v.setUint16(off, e.type ?? ethType);
      frame = _concat([hdr, l3]);
    } else if (this.vlans.length > 0) {
      throw new Error('pkt(): vlan() needs eth()');
    }

    if (frame.length < this.padLen) frame = _concat([frame, new Uint8Array(this.padLen - frame.length)]);
    if (this.truncLen >= 0) frame = frame.slice(0, this.truncLen);
    return frame;
  }

  private buildArp(o: ArpOptions): Uint8Array {
    const b = new Uint8Array(28);
    const v = new DataView(b.buffer);
    v.setUint16(0, 1); // Ethernet
    v.setUint16(2, 0x0800);
    b[4] = 6;
    b[5] = 4;
    v.setUint16(6, o.op === 'request' ? 1 : o.op === 'reply' ? 2 : o.op);
    b.set(macToBytes(o.sha), 8);
    v.setUint32(14, ipv4ToInt(o.spa));
    b.set(macToBytes(o.tha ?? '00:00:00:00:00:00'), 18);
    v.setUint32(24, ipv4ToInt(o.tpa));
    return b;
  }

  private buildIpv4(o: Ipv4Options, proto: number, body: Uint8Array): Uint8Array {
    const opts = _pad4(o.options ?? new Uint8Array(0));
    const hlen = 20 + opts.length;
    const b = new Uint8Array(hlen + body.length);
    const v = new DataView(b.buffer);
    b[0] = 0x40 | ((o.ihl ?? hlen / 4) & 0x0f);
    b[1] = o.tos ?? 0;
    v.setUint16(2, o.totalLength ?? b.length);
    v.setUint16(4, o.id ?? 0);
    v.setUint16(6, (o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.fragOffset ?? 0) & 0x1fff));
    b[8] = o.ttl ?? 64;
    b[9] = proto;
    v.setUint32(12, ipv4ToInt(o.src));
    v.setUint32(16, ipv4ToInt(o.dst));
    b.set(opts, 20);
    let sum = o.checksum ?? _checksum(b.subarray(0, hlen));
    if (this.badIp) sum ^= 0x0101;
    v.setUint16(10, sum);
    b.set(body, hlen);
    return b;
  }

  private buildL4(l4: L4, src: number, dst: number, payload: Uint8Array): Uint8Array {
    if (l4.kind === 'tcp') {
      const o = l4.o;
      const opts = _pad4(o.options ?? new Uint8Array(0));
      const hlen = 20 + opts.length;
      const b = new Uint8Array(hlen + payload.length);
      const v = new DataView(b.buffer);
      v.setUint16(0, o.sport);
      v.setUint16(2, o.dport);
      v.setUint32(4, (o.seq ?? 0) >>> 0);
      v.setUint32(8, (o.ack ?? 0) >>> 0);
      b[12] = ((o.dataOffset ?? hlen / 4) & 0x0f) << 4;
      b[13] = _tcpFlagsByte(o.flags);
      v.setUint16(14, o.win ?? 65535);
      v.setUint16(18, o.urg ?? 0);
      b.set(opts, 20);
      b.set(payload, hlen);
      let sum = o.checksum ?? _checksum(b, _pseudoSum(src, dst, 6, b.length));
      if (this.badL4) sum ^= 0x0101;
      v.setUint16(16, sum);
      return b;
    }
    if (l4.kind === 'udp') {
      const o = l4.o;
      const b = new Uint8Array(8 + payload.length);
      const v = new DataView(b.buffer);
      v.setUint16(0, o.sport);
      v.setUint16(2, o.dport);
      v.setUint16(4, o.length ?? b.length);
      b.set(payload, 8);
      const mode = o.checksum ?? 'auto';
      let sum = mode === 'zero' ? 0 : mode === 'auto' ? _checksum(b, _pseudoSum(src, dst, 17, b.length)) || 0xffff : mode;
      if (this.badL4) sum = sum === 0 ? 0x0101 : sum ^ 0x0101;
      v.setUint16(6, sum);
      return b;
    }
    const o = l4.o;
    const data = _concat([o.quote ?? new Uint8Array(0), payload]);
    const b = new Uint8Array(8 + data.length);
    const v = new DataView(b.buffer);
    b[0] = o.type;
    b[1] = o.code ?? 0;
    if (o.rest instanceof Uint8Array) b.set(o.rest.subarray(0, 4), 4);
    else if (o.rest !== undefined) v.setUint32(4, o.rest >>> 0);
    else {
      if (o.id !== undefined) v.setUint16(4, o.id);
      if (o.seq !== undefined) v.setUint16(6, o.seq);
      if (o.mtu !== undefined) v.setUint16(6, o.mtu);
    }
    b.set(data, 8);
    let sum = o.checksum ?? _checksum(b);
    if (this.badL4) sum ^= 0x0101;
    v.setUint16(2, sum);
    return b;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Decoder

export interface ParseOptions {
  /** 'eth' (default): the frame starts with an Ethernet header; 'none': it starts with the IPv4 header. */
  link?: 'eth' | 'none';
}

export interface ParsedEth {
  dst: string;
  src: string;
  /** VLAN ids, outer first. */
  vlans: number[];
  /** EtherType after any VLAN tags. */
  type: number;
}

export interface ParsedArp {
  htype: number;
  ptype: number;
  op: number;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

export interface ParsedIpv4 {
  version: number;
  ihl: number;
  tos: number;
  totalLength: number;
  id: number;
  df: boolean;
  mf: boolean;
  fragOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: string;
  dst: string;
  options: Uint8Array;
}

export interface ParsedTcp {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  dataOffset: number;
  /** Letters in the order F S R P A U E C, e.g. 'SA', 'PA', 'FA'. */
  flags: string;
  win: number;
  checksum: number;
  urg: number;
  options: Uint8Array;
}

export interface ParsedUdp {
  sport: number;
  dport: number;
  length: number;
  checksum: number;
}

export interface ParsedIcmp {
  type: number;
  code: number;
  checksum: number;
  /** Bytes 4–7 as a number. */
  rest: number;
  /** Bytes 4–5 and 6–7 (echo id / seq; for type 3 code 4, seq is the next-hop MTU). */
  id: number;
  seq: number;
  /** For error types (3, 4, 5, 11, 12): the quoted packet, decoded as far as it goes. */
  quote?: ParsedQuote;
}

/** A packet quoted in an ICMP error: its IP header and the first L4 bytes (ports, for TCP also seq). */
export interface ParsedQuote {
  ip: ParsedIpv4;
  sport?: number;
  dport?: number;
  seq?: number;
  /** Quoted bytes after the IP header. */
  l4: Uint8Array;
}

export interface ParsedFrame {
  eth?: ParsedEth;
  arp?: ParsedArp;
  ip?: ParsedIpv4;
  tcp?: ParsedTcp;
  udp?: ParsedUdp;
  icmp?: ParsedIcmp;
  /** The inner packet of IPIP (protocol 4). */
  inner?: ParsedFrame;
  /** Bytes after the last decoded header, up to the IP total length (Ethernet padding excluded). */
  payload: Uint8Array;
}

/**
 * Decodes a frame into a plain object for assertions. Throws with a readable message when a header is cut short.
 * L4 is not decoded for non-first fragments (fragOffset > 0); their bytes are the payload.
 */
export function parseFrame(frame: Uint8Array, opts: ParseOptions = {}): ParsedFrame {
  let off = 0;
  let type = 0x0800;
  const out: ParsedFrame = { payload: new Uint8Array(0) };
  if ((opts.link ?? 'eth') === 'eth') {
    _need(frame, 14, 'Ethernet header');
    const eth: ParsedEth = { dst: bytesToMac(frame, 0), src: bytesToMac(frame, 6), vlans: [], type: 0 };
    off = 12;
    type = _u16(frame, off);
    while (type === 0x8100 || type === 0x88a8) {
      _need(frame, off + 6, 'VLAN tag');
      eth.vlans.push(_u16(frame, off + 2) & 0x0fff);
      off += 4;
      type = _u16(frame, off);
    }
    off += 2;
    eth.type = type;
    out.eth = eth;
  }

  if (type === 0x0806) {
    _need(frame, off + 28, 'ARP');
    out.arp = {
      htype: _u16(frame, off),
      ptype: _u16(frame, off + 2),
      op: _u16(frame, off + 6),
      sha: bytesToMac(frame, off + 8),
      spa: intToIpv4(_u32(frame, off + 14)),
      tha: bytesToMac(frame, off + 18),
      tpa: intToIpv4(_u32(frame, off + 24)),
    };
    out.payload = frame.subarray(off + 28);
    return out;
  }
  if (type !== 0x0800) {
    out.payload = frame.subarray(off);
    return out;
  }

  const ip = _parseIpv4(frame, off);
  out.ip = ip;
  const end = Math.min(frame.length, off + ip.totalLength);
  const l4 = frame.subarray(off + ip.ihl * 4, end);
  if (ip.fragOffset > 0) {
    out.payload = l4;
    return out;
  }
  if (ip.protocol === 6) {
    _need(l4, 20, 'TCP header');
    const dataOffset = l4[12] >> 4;
    _need(l4, dataOffset * 4, 'TCP options');
    out.tcp = {
      sport: _u16(l4, 0),
      dport: _u16(l4, 2),
      seq: _u32(l4, 4),
      ack: _u32(l4, 8),
      dataOffset,
      flags: _tcpFlagsString(l4[13]),
      win: _u16(l4, 14),
      checksum: _u16(l4, 16),
      urg: _u16(l4, 18),
      options: l4.slice(20, dataOffset * 4),
    };
    out.payload = l4.subarray(dataOffset * 4);
  } else if (ip.protocol === 17) {
    _need(l4, 8, 'UDP header');
    out.udp = { sport: _u16(l4, 0), dport: _u16(l4, 2), length: _u16(l4, 4), checksum: _u16(l4, 6) };
    out.payload = l4.subarray(8);
  } else if (ip.protocol === 1) {
    _need(l4, 8, 'ICMP header');
    const icmp: ParsedIcmp = {
      type: l4[0],
      code: l4[1],
      checksum: _u16(l4, 2),
      rest: _u32(l4, 4),
      id: _u16(l4, 4),
      seq: _u16(l4, 6),
    };
    if ([3, 4, 5, 11, 12].includes(icmp.type)) icmp.quote = _parseQuote(l4.subarray(8));
    out.icmp = icmp;
    out.payload = l4.subarray(8);
  } else if (ip.protocol === 4) {
    out.inner = parseFrame(l4, { link: 'none' });
    out.payload = l4;
  } else {
    out.payload = l4;
  }
  return out;
}

/**
 * Recomputes every checksum of a frame. `ip`: the IPv4 header checksum (of the inner packet too, for IPIP).
 * `l4`: the TCP/UDP (with pseudo-header)/ICMP checksum over the L4 bytes up to the IP total length; a UDP
 * checksum of 0 ("none") is valid. Both are true when not applicable: ARP and other EtherTypes, fragments (the L4
 * checksum covers the reassembled datagram), other IP protocols. Quoted packets inside ICMP errors are not checked.
 */
export function verifyChecksums(frame: Uint8Array, opts: ParseOptions = {}): { ip: boolean; l4: boolean } {
  const p = parseFrame(frame, opts);
  if (!p.ip) return { ip: true, l4: true };
  const ipStart = p.eth ? 14 + 4 * p.eth.vlans.length : 0;
  const hdr = frame.subarray(ipStart, ipStart + p.ip.ihl * 4);
  const ipOk = hdr.length === p.ip.ihl * 4 && _checksum(hdr) === 0;
  const l4 = frame.subarray(ipStart + p.ip.ihl * 4, Math.min(frame.length, ipStart + p.ip.totalLength));
  if (p.ip.mf || p.ip.fragOffset > 0) return { ip: ipOk, l4: true };
  const src = ipv4ToInt(p.ip.src);
  const dst = ipv4ToInt(p.ip.dst);
  switch (p.ip.protocol) {
    case 6:
      return { ip: ipOk, l4: _checksum(l4, _pseudoSum(src, dst, 6, l4.length)) === 0 };
    case 17:
      return { ip: ipOk, l4: p.udp!.checksum === 0 || _checksum(l4, _pseudoSum(src, dst, 17, l4.length)) === 0 };
    case 1:
      return { ip: ipOk, l4: _checksum(l4) === 0 };
    case 4: {
      const inner = verifyChecksums(l4, { link: 'none' });
      return { ip: ipOk && inner.ip, l4: inner.l4 };
    }
    default:
      return { ip: ipOk, l4: true };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Internals

const _TCP_FLAG_BITS: Readonly<Record<string, number>> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };

function _tcpFlagsByte(f: TcpFlags): number {
  if (typeof f === 'number') return f & 0xff;
  let b = 0;
  for (const ch of f.toUpperCase()) {
    const bit = _TCP_FLAG_BITS[ch];
    if (bit === undefined) throw new Error(`unknown TCP flag '${ch}' in '${f}' (use F S R P A U E C)`);
    b |= bit;
  }
  return b;
}

function _tcpFlagsString(b: number): string {
  return Object.entries(_TCP_FLAG_BITS)
    .filter(([, bit]) => (b & bit) !== 0)
    .map(([ch]) => ch)
    .join('');
}

/**
 * RFC 1071 Internet checksum of `b`, with `initial` (an unfolded sum, e.g. the pseudo-header) added in.
 * Returns the 16-bit one's complement of the one's complement sum; 0 when verifying a correct header/segment.
 */
function _checksum(b: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length % 2 === 1) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Unfolded sum of the IPv4 pseudo-header (src, dst, zero, protocol, L4 length). */
function _pseudoSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

function _parseIpv4(b: Uint8Array, off: number): ParsedIpv4 {
  _need(b, off + 20, 'IPv4 header');
  const ihl = b[off] & 0x0f;
  _need(b, off + Math.max(20, ihl * 4), 'IPv4 options');
  const frag = _u16(b, off + 6);
  return {
    version: b[off] >> 4,
    ihl,
    tos: b[off + 1],
    totalLength: _u16(b, off + 2),
    id: _u16(b, off + 4),
    df: (frag & 0x4000) !== 0,
    mf: (frag & 0x2000) !== 0,
    fragOffset: frag & 0x1fff,
    ttl: b[off + 8],
    protocol: b[off + 9],
    checksum: _u16(b, off + 10),
    src: intToIpv4(_u32(b, off + 12)),
    dst: intToIpv4(_u32(b, off + 16)),
    options: b.slice(off + 20, off + Math.max(20, ihl * 4)),
  };
}

function _parseQuote(q: Uint8Array): ParsedQuote | undefined {
  let ip: ParsedIpv4;
  try {
    ip = _parseIpv4(q, 0);
  } catch {
    return undefined; // quote too short for an IP header: leave it to the payload
  }
  const l4 = q.subarray(ip.ihl * 4);
  const quote: ParsedQuote = { ip, l4 };
  if ((ip.protocol === 6 || ip.protocol === 17) && l4.length >= 4) {
    quote.sport = _u16(l4, 0);
    quote.dport = _u16(l4, 2);
    if (ip.protocol === 6 && l4.length >= 8) quote.seq = _u32(l4, 4);
  }
  return quote;
}

function _need(b: Uint8Array, len: number, what: string): void {
  if (b.length < len) throw new Error(`parseFrame: ${what} cut short (need ${len} bytes, have ${b.length})`);
}

function _u16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

function _u32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

function _pad4(b: Uint8Array): Uint8Array {
  return b.length % 4 === 0 ? b : _concat([b, new Uint8Array(4 - (b.length % 4))]);
}

function _concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function _hexLine(a: Uint8Array, off: number): string {
  const row = a.subarray(off, off + 16);
  const hex = Array.from({ length: 16 }, (_, i) => (i < row.length ? row[i].toString(16).padStart(2, '0') : '  ')).join(' ');
  const ascii = Array.from(row, (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
  return `${off.toString(16).padStart(4, '0')}  ${hex}  |${ascii}|`;
}

/** Decoded fields that differ, as "path: expected → actual" (empty when either frame does not decode). */
function _fieldDiff(expected: Uint8Array, actual: Uint8Array, opts: ParseOptions): string[] {
  let e: Record<string, string>;
  let a: Record<string, string>;
  try {
    e = _flatten(parseFrame(expected, opts));
    a = _flatten(parseFrame(actual, opts));
  } catch {
    return [];
  }
  const keys = [...new Set([...Object.keys(e), ...Object.keys(a)])];
  return keys.filter((k) => e[k] !== a[k]).map((k) => `${k}: ${e[k] ?? '(none)'} → ${a[k] ?? '(none)'}`);
}

function _flatten(v: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (v instanceof Uint8Array) {
    out[prefix] = v.length <= 16 ? `[${Array.from(v, (x) => x.toString(16).padStart(2, '0')).join(' ')}]` : `<${v.length} bytes>`;
  } else if (Array.isArray(v)) {
    out[prefix] = `[${v.join(',')}]`;
  } else if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) _flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else {
    const hexy = /checksum$/.test(prefix) && typeof v === 'number';
    out[prefix] = hexy ? `0x${(v as number).toString(16).padStart(4, '0')}` : String(v);
  }
  return out;
}
