/**
 * FULLNAT (--fullnat) fixtures: frames in, the exact frames out, every checksum recomputed (harness.ts).
 * Client → real: CIP:cport → LIP:lport, VIP:vport → RIP:rport, TTL−1; real → client the reverse. TCP extras:
 * SYN timestamps overwritten with NOPs, SYN-ACK MSS clamped for TOA/PROXY, TOA on the first ACK/data segments,
 * PROXY v1/v2 at the stream start with the sequence shift both ways (SACK included); UDP PROXY v2 per datagram.
 * Lports come from the worker's pool: worker 0 of 1 hands out 1025, 1026, ... in order.
 */
import { describe, expect, it } from 'vitest';
import { parseFrame, pkt, type TcpOptions, type Ipv4Options } from '../../helpers/packet-builder.js';
import {
  CIP, CLIENT_MAC, DIR_MAC, Director, LIP1, LIP2, MACS, R1, R2, VIP, expectFixture, type Fixture, type Target,
} from './harness.js';

const TARGETS: Target[] = [
  { proto: 'tcp', vport: 80, rip: R1, rport: 8080, method: 'fullnat' },
  { proto: 'tcp', vport: 81, rip: R1, rport: 8081, method: 'fullnat', clientIp: 'toa' },
  { proto: 'tcp', vport: 82, rip: R1, rport: 8082, method: 'fullnat', clientIp: 'proxy-v1' },
  { proto: 'tcp', vport: 83, rip: R1, rport: 8083, method: 'fullnat', clientIp: 'proxy-v2' },
  { proto: 'udp', vport: 53, rip: R1, rport: 5353, method: 'fullnat' },
  { proto: 'udp', vport: 54, rip: R1, rport: 5354, method: 'fullnat', clientIp: 'proxy-v2' },
];

const CPORT = 40000;
const LPORT = 1025;
const ISN_C = 1000;
const ISN_R = 5000;

type Tcp = Omit<TcpOptions, 'sport' | 'dport'>;
/** Client → VIP:vport. */
const c2v = (vport: number, t: Tcp, payload?: Uint8Array | string | number, ip: Partial<Ipv4Options> = {}) => {
  const b = pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP, id: 0x4242, ...ip }).tcp({ sport: CPORT, dport: vport, ...t });
  return (payload === undefined ? b : b.payload(payload)).build();
};
/** What the real must get: LIP1:lport → R1:rport, TTL 63. */
const l2r = (rport: number, t: Tcp, payload?: Uint8Array | string | number, ip: Partial<Ipv4Options> = {}) => {
  const b = pkt().eth({ src: DIR_MAC, dst: MACS[R1] }).ipv4({ src: LIP1, dst: R1, id: 0x4242, ttl: 63, ...ip }).tcp({ sport: LPORT, dport: rport, ...t });
  return (payload === undefined ? b : b.payload(payload)).build();
};
/** Real → LIP1:lport. */
const r2l = (rport: number, t: Tcp, payload?: Uint8Array | string | number) => {
  const b = pkt().eth({ src: MACS[R1], dst: DIR_MAC }).ipv4({ src: R1, dst: LIP1, id: 0x77 }).tcp({ sport: rport, dport: LPORT, ...t });
  return (payload === undefined ? b : b.payload(payload)).build();
};
/** What the client must get: VIP:vport → CIP:cport, TTL 63. */
const v2c = (vport: number, t: Tcp, payload?: Uint8Array | string | number) => {
  const b = pkt().eth({ src: DIR_MAC, dst: CLIENT_MAC }).ipv4({ src: VIP, dst: CIP, id: 0x77, ttl: 63 }).tcp({ sport: vport, dport: CPORT, ...t });
  return (payload === undefined ? b : b.payload(payload)).build();
};

const u8 = (...xs: number[]) => Uint8Array.from(xs);
/** Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7. */
const SYN_OPTS = u8(2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 3, 3, 7);
const SYN_OPTS_NOTS = u8(2, 4, 0x05, 0xb4, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 7);
/** A SYN-ACK's options with MSS `mss`: MSS, NOP, NOP, SACK permitted, NOP, window scale 7. */
const synAckOpts = (mss: number) => u8(2, 4, mss >> 8, mss & 255, 1, 1, 4, 2, 1, 3, 3, 7);
const TOA = u8(254, 8, CPORT >> 8, CPORT & 255, 198, 18, 0, 2);

/** The PROXY headers, written out here independently of the product. */
const pp1 = (vport: number) => `PROXY TCP4 ${CIP} ${VIP} ${CPORT} ${vport}\r\n`;
const pp2 = (vport: number, udp = false) => u8(
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, udp ? 0x12 : 0x11, 0, 12,
  198, 18, 0, 2, 198, 18, 0, 100, CPORT >> 8, CPORT & 255, vport >> 8, vport & 255,
);
const cat = (...parts: (Uint8Array | string)[]) => {
  const bs = parts.map((p) => (typeof p === 'string' ? new TextEncoder().encode(p) : p));
  const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of bs) {
    out.set(b, o);
    o += b.length;
  }
  return out;
};

/** Client SYN and real SYN-ACK for service `vport` → real port `rport`: the conn is set up. */
const handshake = (vport: number, rport: number) => [
  c2v(vport, { flags: 'S', seq: ISN_C }),
  r2l(rport, { flags: 'SA', seq: ISN_R, ack: ISN_C + 1 }),
];
const L1 = pp1(82).length; // 45
const L2 = 28;

/** UDP frames. */
const udpIn = (vport: number, payload: string | number, csum: 'auto' | 'zero' = 'auto', ip: Partial<Ipv4Options> = {}) =>
  pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP, id: 9, ...ip }).udp({ sport: 5000, dport: vport, checksum: csum }).payload(payload).build();
const udpOut = (rport: number, payload: Uint8Array | string | number, csum: 'auto' | 'zero' = 'auto', ip: Partial<Ipv4Options> = {}) =>
  pkt().eth({ src: DIR_MAC, dst: MACS[R1] }).ipv4({ src: LIP1, dst: R1, id: 9, ttl: 63, ...ip }).udp({ sport: LPORT, dport: rport, checksum: csum }).payload(payload).build();

const FIXTURES: Fixture[] = [
  {
    description: 'TCP SYN: CIP:cport → LIP:1025, VIP:80 → RIP:8080, TTL−1, checksums',
    input: c2v(80, { flags: 'S', seq: ISN_C }),
    expected: [l2r(8080, { flags: 'S', seq: ISN_C })],
    verdict: 'TX',
  },
  {
    description: 'SYN timestamps are overwritten with NOPs (one LIP carries many clients); the other options stay',
    input: c2v(80, { flags: 'S', seq: ISN_C, options: SYN_OPTS }),
    expected: [l2r(8080, { flags: 'S', seq: ISN_C, options: SYN_OPTS_NOTS })],
    verdict: 'TX',
    counters: { tcp_ts_stripped: 1 },
  },
  {
    description: 'DF, TOS and the IP ID pass unchanged',
    input: c2v(80, { flags: 'S', seq: ISN_C }, undefined, { df: true, tos: 0x10, id: 0xbeef }),
    expected: [l2r(8080, { flags: 'S', seq: ISN_C }, undefined, { df: true, tos: 0x10, id: 0xbeef })],
    verdict: 'TX',
  },
  {
    description: 'reply SYN-ACK: RIP:8080 → VIP:80, LIP:1025 → CIP:cport; MSS 1460 fits and stays',
    before: [c2v(80, { flags: 'S', seq: ISN_C })],
    input: r2l(8080, { flags: 'SA', seq: ISN_R, ack: ISN_C + 1, options: synAckOpts(1460) }),
    expected: [v2c(80, { flags: 'SA', seq: ISN_R, ack: ISN_C + 1, options: synAckOpts(1460) })],
    verdict: 'TX',
  },
  {
    description: 'a SYN-ACK MSS above the segment MTU is clamped to MTU − 40',
    before: [c2v(80, { flags: 'S', seq: ISN_C })],
    input: r2l(8080, { flags: 'SA', seq: ISN_R, ack: ISN_C + 1, options: synAckOpts(8960) }),
    expected: [v2c(80, { flags: 'SA', seq: ISN_R, ack: ISN_C + 1, options: synAckOpts(1460) })],
    verdict: 'TX',
    counters: { mss_clamped: 1 },
  },
  {
    description: 'data both ways without client-IP delivery: addresses and ports only, sequence numbers untouched',
    before: handshake(80, 8080),
    input: c2v(80, { flags: 'PA', seq: ISN_C + 1, ack: ISN_R + 1 }, 'GET / HTTP/1.0\r\n\r\n'),
    expected: [l2r(8080, { flags: 'PA', seq: ISN_C + 1, ack: ISN_R + 1 }, 'GET / HTTP/1.0\r\n\r\n')],
    verdict: 'TX',
  },
  {
    description: 'a 1500-byte client segment (the MTU) passes unchanged in size',
    before: handshake(80, 8080),
    input: c2v(80, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 }, 1460, { df: true }),
    expected: [l2r(8080, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 }, 1460, { df: true })],
    verdict: 'TX',
  },
  {
    description: 'client FIN and RST are rewritten like any segment',
    before: handshake(80, 8080),
    input: c2v(80, { flags: 'FA', seq: ISN_C + 1, ack: ISN_R + 1 }),
    expected: [l2r(8080, { flags: 'FA', seq: ISN_C + 1, ack: ISN_R + 1 })],
    verdict: 'TX',
  },
  {
    description: 'a reply to the LIP on a port without a conn is dropped',
    input: r2l(8080, { flags: 'A', seq: 1, ack: 1 }),
    expected: [],
    verdict: 'reply_no_conn',
  },
  {
    description: 'a non-SYN segment without a conn is dropped and answered with a RST (the director stack\'s answer)',
    input: c2v(80, { flags: 'A', seq: ISN_C + 1, ack: 1 }),
    expected: [
      pkt().eth({ src: DIR_MAC, dst: CLIENT_MAC }).ipv4({ src: VIP, dst: CIP, id: 0, df: true })
        .tcp({ sport: 80, dport: CPORT, flags: 'R', seq: 1, ack: 0, win: 0 }).build(),
    ],
    verdict: 'tcp_no_conn',
    counters: { tcp_rst_sent: 1 },
  },
  // TOA
  {
    description: 'TOA service: the SYN-ACK MSS 1460 becomes 1452 so that a full segment plus TOA fits 1500',
    before: [c2v(81, { flags: 'S', seq: ISN_C })],
    input: r2l(8081, { flags: 'SA', seq: ISN_R, ack: ISN_C + 1, options: synAckOpts(1460) }),
    expected: [v2c(81, { flags: 'SA', seq: ISN_R, ack: ISN_C + 1, options: synAckOpts(1452) })],
    verdict: 'TX',
    counters: { mss_clamped: 1 },
  },
  {
    description: 'TOA on the handshake ACK (ack = real ISN + 1): option 254 len 8 with client port and address',
    before: handshake(81, 8081),
    input: c2v(81, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 }),
    expected: [l2r(8081, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1, options: TOA })],
    verdict: 'TX',
    counters: { toa_inserted: 1 },
  },
  {
    description: 'TOA in front of existing options, on a data segment carrying FIN too',
    before: handshake(81, 8081),
    input: c2v(81, { flags: 'FPA', seq: ISN_C + 1, ack: ISN_R + 1, options: u8(1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2) }, 'bye'),
    expected: [l2r(8081, { flags: 'FPA', seq: ISN_C + 1, ack: ISN_R + 1, options: cat(TOA, u8(1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2)) }, 'bye')],
    verdict: 'TX',
    counters: { toa_inserted: 1 },
  },
  {
    description: 'no TOA once the client acknowledges server data',
    before: handshake(81, 8081),
    input: c2v(81, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 101 }),
    expected: [l2r(8081, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 101 })],
    verdict: 'TX',
  },
  {
    description: 'no TOA room: a 56-byte TCP header would grow past 60; sent without, counted',
    before: handshake(81, 8081),
    input: c2v(81, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1, options: new Uint8Array(36).fill(1) }),
    expected: [l2r(8081, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1, options: new Uint8Array(36).fill(1) })],
    verdict: 'TX',
    counters: { toa_no_room: 1 },
  },
  {
    description: 'no TOA room: a 1500-byte segment would exceed the MTU; sent without, counted',
    before: handshake(81, 8081),
    input: c2v(81, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 }, 1460),
    expected: [l2r(8081, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 }, 1460)],
    verdict: 'TX',
    counters: { toa_no_room: 1 },
  },
  // PROXY protocol
  {
    description: 'PROXY v1: the SYN-ACK MSS leaves room for the header (1460 − 45)',
    before: [c2v(82, { flags: 'S', seq: ISN_C })],
    input: r2l(8082, { flags: 'SA', seq: ISN_R, ack: ISN_C + 1, options: synAckOpts(1460) }),
    expected: [v2c(82, { flags: 'SA', seq: ISN_R, ack: ISN_C + 1, options: synAckOpts(1460 - L1) })],
    verdict: 'TX',
    counters: { mss_clamped: 1 },
  },
  {
    description: 'PROXY v1: the handshake ACK carries the header at the stream start (seq = client ISN + 1)',
    before: handshake(82, 8082),
    input: c2v(82, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 }),
    expected: [l2r(8082, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 }, pp1(82))],
    verdict: 'TX',
    counters: { proxy_inserted: 1 },
  },
  {
    description: 'PROXY v1: while unacknowledged the header goes again in front of the first data',
    before: [...handshake(82, 8082), c2v(82, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 })],
    input: c2v(82, { flags: 'PA', seq: ISN_C + 1, ack: ISN_R + 1 }, 'GET /'),
    expected: [l2r(8082, { flags: 'PA', seq: ISN_C + 1, ack: ISN_R + 1 }, pp1(82) + 'GET /')],
    verdict: 'TX',
    counters: { proxy_inserted: 1 },
  },
  {
    description: 'PROXY v1: once the real acknowledged the header, client data is shifted by its length',
    before: [
      ...handshake(82, 8082), c2v(82, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 }),
      r2l(8082, { flags: 'A', seq: ISN_R + 1, ack: ISN_C + 1 + L1 }),
    ],
    input: c2v(82, { flags: 'PA', seq: ISN_C + 1, ack: ISN_R + 1 }, 'GET /'),
    expected: [l2r(8082, { flags: 'PA', seq: ISN_C + 1 + L1, ack: ISN_R + 1 }, 'GET /')],
    verdict: 'TX',
  },
  {
    description: 'PROXY v1: the real\'s ack goes back by the header length',
    before: [...handshake(82, 8082), c2v(82, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 })],
    input: r2l(8082, { flags: 'PA', seq: ISN_R + 1, ack: ISN_C + 1 + L1 + 5 }, 'HTTP/1.0 200'),
    expected: [v2c(82, { flags: 'PA', seq: ISN_R + 1, ack: ISN_C + 1 + 5 }, 'HTTP/1.0 200')],
    verdict: 'TX',
  },
  {
    description: 'PROXY v1: an ack inside the header maps to the client ISN + 1 (nothing of the client\'s acknowledged)',
    before: [...handshake(82, 8082), c2v(82, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 })],
    input: r2l(8082, { flags: 'A', seq: ISN_R + 1, ack: ISN_C + 1 + 7 }),
    expected: [v2c(82, { flags: 'A', seq: ISN_R + 1, ack: ISN_C + 1 })],
    verdict: 'TX',
  },
  {
    description: 'PROXY v1: SACK block edges go back by the header length too',
    before: [...handshake(82, 8082), c2v(82, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 })],
    input: r2l(8082, {
      flags: 'A', seq: ISN_R + 1, ack: ISN_C + 1 + L1,
      options: u8(1, 1, 5, 10, ...be32(ISN_C + 1 + L1 + 100), ...be32(ISN_C + 1 + L1 + 200)),
    }),
    expected: [v2c(82, {
      flags: 'A', seq: ISN_R + 1, ack: ISN_C + 1,
      options: u8(1, 1, 5, 10, ...be32(ISN_C + 1 + 100), ...be32(ISN_C + 1 + 200)),
    })],
    verdict: 'TX',
  },
  {
    description: 'PROXY v1: a client RST at the stream start is shifted, not given a header',
    before: [...handshake(82, 8082), c2v(82, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 })],
    input: c2v(82, { flags: 'R', seq: ISN_C + 1 }),
    expected: [l2r(8082, { flags: 'R', seq: ISN_C + 1 + L1 })],
    verdict: 'TX',
  },
  {
    description: 'PROXY: first data too big to share a frame with the header: the header goes alone, FIN cleared',
    before: handshake(82, 8082),
    input: c2v(82, { flags: 'FPA', seq: ISN_C + 1, ack: ISN_R + 1 }, 1460),
    expected: [l2r(8082, { flags: 'PA', seq: ISN_C + 1, ack: ISN_R + 1 }, pp1(82))],
    verdict: 'TX',
    counters: { proxy_inserted: 1, proxy_data_deferred: 1 },
  },
  {
    description: 'PROXY v2: 28 binary bytes (TCP over IPv4) at the stream start',
    before: handshake(83, 8083),
    input: c2v(83, { flags: 'PA', seq: ISN_C + 1, ack: ISN_R + 1 }, 'hi'),
    expected: [l2r(8083, { flags: 'PA', seq: ISN_C + 1, ack: ISN_R + 1 }, cat(pp2(83), 'hi'))],
    verdict: 'TX',
    counters: { proxy_inserted: 1 },
  },
  {
    description: 'PROXY v2: shifted by 28 after the real acknowledged it',
    before: [...handshake(83, 8083), c2v(83, { flags: 'A', seq: ISN_C + 1, ack: ISN_R + 1 }), r2l(8083, { flags: 'A', seq: ISN_R + 1, ack: ISN_C + 1 + L2 })],
    input: c2v(83, { flags: 'PA', seq: ISN_C + 3, ack: ISN_R + 1 }, 'more'),
    expected: [l2r(8083, { flags: 'PA', seq: ISN_C + 3 + L2, ack: ISN_R + 1 }, 'more')],
    verdict: 'TX',
  },
  // UDP
  {
    description: 'UDP: CIP:5000 → LIP:1025, VIP:53 → RIP:5353, checksum updated',
    input: udpIn(53, 'query'),
    expected: [udpOut(5353, 'query')],
    verdict: 'TX',
  },
  {
    description: 'UDP without a checksum stays without',
    input: udpIn(53, 'query', 'zero'),
    expected: [udpOut(5353, 'query', 'zero')],
    verdict: 'TX',
  },
  {
    description: 'UDP reply: RIP:5353 → VIP:53, LIP:1025 → CIP:5000',
    before: [udpIn(53, 'query')],
    input: pkt().eth({ src: MACS[R1], dst: DIR_MAC }).ipv4({ src: R1, dst: LIP1 }).udp({ sport: 5353, dport: LPORT }).payload('answer').build(),
    expected: [pkt().eth({ src: DIR_MAC, dst: CLIENT_MAC }).ipv4({ src: VIP, dst: CIP, ttl: 63 }).udp({ sport: 53, dport: 5000 }).payload('answer').build()],
    verdict: 'TX',
  },
  {
    description: 'UDP PROXY v2: a 28-byte DGRAM header in front of the datagram',
    input: udpIn(54, 'query'),
    expected: [udpOut(5354, cat(pp2(54, true).map((x, i) => (i === 24 ? 5000 >> 8 : i === 25 ? 5000 & 255 : x)), 'query'))],
    verdict: 'TX',
    counters: { proxy_inserted: 1 },
  },
  {
    description: 'UDP PROXY v2: a datagram that cannot take the header within the MTU is dropped',
    input: udpIn(54, 1472 - 27),
    expected: [],
    verdict: 'proxy_no_room',
  },
  {
    description: 'TTL 1 is dropped and counted',
    input: c2v(80, { flags: 'S', seq: ISN_C }, undefined, { ttl: 1 }),
    expected: [],
    verdict: 'ipv4_ttl_expired',
  },
];

function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

describe('FULLNAT forwarder', () => {
  it.each(FIXTURES)('$description', async (f) => {
    const d = await Director.create(TARGETS, f.mtu);
    if (f.before) d.run(...f.before);
    const problems = expectFixture(f, d.run(f.input));
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('hands out local ports in turn over the service LIPs, round robin, and keeps conns apart', async () => {
    const d = await Director.create([{ proto: 'tcp', vport: 80, rip: R1, rport: 8080, method: 'fullnat', laddrs: [LIP1, LIP2] }]);
    const r = d.run(...[1, 2, 3, 4].map((i) => pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 41000 + i, dport: 80, flags: 'S' }).build()));
    expect(r.out.map((f) => { const p = parseFrame(f); return `${p.ip!.src}:${p.tcp!.sport}`; }))
      .toEqual([`${LIP1}:1025`, `${LIP2}:1025`, `${LIP1}:1026`, `${LIP2}:1026`]);
    // Replies find their own conn through (RIP, rport, LIP, lport).
    const rep = d.run(pkt().eth({ src: MACS[R1], dst: DIR_MAC }).ipv4({ src: R1, dst: LIP2 }).tcp({ sport: 8080, dport: 1026, flags: 'SA', ack: 1 }).build());
    expect(parseFrame(rep.out[0]!).tcp).toMatchObject({ sport: 80, dport: 41004 });
  });

  it('counts laddr_exhausted when every port is taken, and reuses a port only after the TIME_WAIT timeout', async () => {
    const d = await Director.create([{ proto: 'udp', vport: 53, rip: R1, rport: 53, method: 'fullnat' }], { lportMin: 2000, lportMax: 2002 });
    const q = (sport: number) => pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).udp({ sport, dport: 53 }).payload('q').build();
    const first = d.run(q(1), q(2), q(3), q(4));
    expect(first.out.map((f) => parseFrame(f).udp!.sport)).toEqual([2000, 2001, 2002]);
    expect(first.drops).toEqual({ laddr_exhausted: 1 });
    // The UDP conns expire after 300 s; their ports wait out TIME_WAIT (120 s) before they are handed out again.
    d.clock.t += 301_000;
    expect(d.run(q(5)).drops).toEqual({ laddr_exhausted: 1 });
    d.clock.t += 60_000;
    expect(d.run(q(6)).drops).toEqual({ laddr_exhausted: 1 });
    d.clock.t += 61_000;
    const later = d.run(q(7), q(8));
    expect(later.drops).toEqual({});
    // (ARP refreshes of the long-idle neighbours go out too.) Two of the three released ports, once each.
    const ports = later.out.map((f) => parseFrame(f).udp?.sport).filter((p) => p !== undefined);
    expect(ports.length).toBe(2);
    expect(new Set(ports).size).toBe(2);
    for (const p of ports) expect([2000, 2001, 2002]).toContain(p);
  });

  it('frees the port of a conn that closed normally when its TIME_WAIT entry expires; a reset conn\'s port waits out TIME_WAIT', async () => {
    const d = await Director.create([{ proto: 'tcp', vport: 80, rip: R1, rport: 8080, method: 'fullnat' }], { lportMin: 2000, lportMax: 2000 });
    const c = (sport: number, flags: string, seq = 1, ack = 0) => pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport, dport: 80, flags, seq, ack }).build();
    const r = (dport: number, flags: string, seq = 1, ack = 0) => pkt().eth({ src: MACS[R1], dst: DIR_MAC }).ipv4({ src: R1, dst: LIP1 }).tcp({ sport: 8080, dport, flags, seq, ack }).build();
    const sportOf = (res: { out: Uint8Array[] }) => res.out.map((f) => parseFrame(f).tcp?.sport).filter((p) => p !== undefined);
    expect(sportOf(d.run(c(41001, 'S', 100)))).toEqual([2000]);
    expect(d.run(c(41002, 'S', 100)).drops).toEqual({ laddr_exhausted: 1 });
    // A normal close: both FINs and the last ACK; the entry sits in TIME_WAIT for its timeout (120 s).
    d.run(r(2000, 'SA', 500, 101), c(41001, 'A', 101, 501), c(41001, 'FA', 101, 501), r(2000, 'FA', 501, 102), c(41001, 'A', 102, 502));
    const state = () => { const rows = d.w.dp.listConns(); return rows.state[0]; };
    expect(state()).toBe(5); // TIME_WAIT
    d.clock.t += 121_000;
    d.w.dp.tick();
    d.resolve(); // the neighbours' ARP entries aged out meanwhile
    expect(sportOf(d.run(c(41003, 'S', 100)))).toEqual([2000]); // no further wait
    // A reset of an established conn: CLOSE expires after 10 s, then the port still waits 120 s in the pool.
    d.run(r(2000, 'SA', 500, 101), c(41003, 'A', 101, 501), c(41003, 'R', 101));
    expect(state()).toBe(6); // CLOSE
    d.clock.t += 11_000;
    d.w.dp.tick();
    expect(d.run(c(41004, 'S', 100)).drops).toEqual({ laddr_exhausted: 1 });
    d.clock.t += 120_000;
    d.w.dp.tick();
    d.resolve();
    expect(sportOf(d.run(c(41005, 'S', 100)))).toEqual([2000]);
  });

  it('persistence: a client\'s conns stick to one real, each with its own local port', async () => {
    const d = new Director();
    const service = { proto: 'tcp', vip: VIP, vport: 80 };
    await d.ok({ op: 'add-service', service: { ...service, scheduler: 'rr', persistent: 300, laddrs: [LIP1] } });
    await d.ok({ op: 'add-real', service, real: { rip: R1, rport: 8080, method: 'fullnat' } });
    await d.ok({ op: 'add-real', service, real: { rip: R2, rport: 8080, method: 'fullnat' } });
    d.resolve();
    const r = d.run(...[1, 2, 3].map((i) => pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 42000 + i, dport: 80, flags: 'S' }).build()));
    const ps = r.out.map((f) => parseFrame(f));
    expect(new Set(ps.map((p) => p.ip!.dst)).size).toBe(1);
    expect(ps.map((p) => `${p.ip!.src}:${p.tcp!.sport}`)).toEqual([`${LIP1}:1025`, `${LIP1}:1026`, `${LIP1}:1027`]);
    expect(d.control.list().services[0]!.reals.reduce((n, x) => n + x.persist, 0)).toBe(1);
  });

  it('answers a SYN with ICMP port unreachable when no real is available (all weights 0)', async () => {
    const d = await Director.create([{ proto: 'tcp', vport: 80, rip: R2, rport: 80, method: 'fullnat', weight: 0 }]);
    const syn = pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP, id: 5 }).tcp({ sport: 40000, dport: 80, flags: 'S', seq: 1 }).build();
    const r = d.run(syn);
    expect(r.drops).toEqual({ sched_no_real: 1 });
    expect(r.counters).toMatchObject({ icmp_unreach_sent: 1 });
    const expected = pkt().eth({ src: DIR_MAC, dst: CLIENT_MAC }).ipv4({ src: VIP, dst: CIP, ttl: 64, tos: 0xc0, id: 0 })
      .icmp({ type: 3, code: 3, quote: syn.subarray(14, 14 + 28) }).build();
    expect(expectFixture({ description: '', input: syn, expected: [expected], verdict: 'sched_no_real' }, r)).toEqual([]);
  });
});

describe('FULLNAT configuration', () => {
  const svc = { proto: 'tcp', vip: VIP, vport: 80 };
  const err = async (d: Director, req: object) => ((await d.control.handle(req)) as { error?: { message: string } }).error?.message;

  it('refuses a FULLNAT real on a service without local addresses, naming the command that adds one', async () => {
    const d = new Director();
    await d.ok({ op: 'add-service', service: svc });
    expect(await err(d, { op: 'add-real', service: svc, real: { rip: R1, method: 'fullnat' } }))
      .toBe('FULLNAT real servers need a local address on the service first: tapvsadm -P -t 198.18.0.100:80 -z LIP');
  });

  it('refuses local addresses off the connected prefixes, twice, or equal to a VIP', async () => {
    const d = new Director();
    await d.ok({ op: 'add-service', service: { ...svc, laddrs: [LIP1] } });
    expect(await err(d, { op: 'edit-service', service: { ...svc, addLaddrs: ['10.9.9.9'] } }))
      .toBe('local address 10.9.9.9 is not on a connected prefix of the director (--addr); the real servers must reach it directly');
    expect(await err(d, { op: 'edit-service', service: { ...svc, addLaddrs: [LIP1] } })).toBe(`local address ${LIP1} already exists on this service`);
    expect(await err(d, { op: 'edit-service', service: { ...svc, addLaddrs: [VIP] } })).toBe(`local address ${VIP} is a virtual service address`);
    expect(await err(d, { op: 'edit-service', service: { ...svc, delLaddrs: [LIP2] } })).toBe(`No such local address ${LIP2} on this service`);
    await d.ok({ op: 'edit-service', service: { ...svc, addLaddrs: [LIP2] } });
    expect((d.control.list().services[0]!).laddrs).toEqual([LIP1, LIP2]);
  });

  it('keeps the last local address while FULLNAT reals use it', async () => {
    const d = new Director();
    await d.ok({ op: 'add-service', service: { ...svc, laddrs: [LIP1] } });
    await d.ok({ op: 'add-real', service: svc, real: { rip: R1, method: 'fullnat' } });
    expect(await err(d, { op: 'edit-service', service: { ...svc, delLaddrs: [LIP1] } }))
      .toBe('the service has FULLNAT real servers: it keeps at least one local address (delete those reals first)');
  });

  it('takes TOA and PROXY v1 for TCP only; UDP takes PROXY v2', async () => {
    const d = new Director();
    expect(await err(d, { op: 'add-service', service: { proto: 'udp', vip: VIP, vport: 53, clientIp: 'toa' } }))
      .toBe('TOA is for TCP services only; a UDP service takes proxy-v2');
    expect(await err(d, { op: 'add-service', service: { proto: 'udp', vip: VIP, vport: 53, clientIp: 'proxy-v1' } }))
      .toBe('PROXY protocol v1 is for TCP services only; a UDP service takes proxy-v2');
    for (const bad of ['uoa', 'toString', 3]) {
      expect(await err(d, { op: 'add-service', service: { ...svc, clientIp: bad } })).toBe('service.clientIp must be one of none, toa, proxy-v1, proxy-v2');
    }
    await d.ok({ op: 'add-service', service: { proto: 'udp', vip: VIP, vport: 53, clientIp: 'proxy-v2' } });
  });

  it('answers ARP for a local address', async () => {
    const d = await Director.create([{ proto: 'tcp', vport: 80, rip: R1, rport: 8080, method: 'fullnat' }]);
    const r = d.run(pkt().eth({ src: MACS[R1], dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 'request', sha: MACS[R1]!, spa: R1, tpa: LIP1 }).build());
    expect(r.out.length).toBe(1);
    expect(parseFrame(r.out[0]!).arp).toMatchObject({ op: 2, spa: LIP1, sha: DIR_MAC, tpa: R1 });
  });
});

