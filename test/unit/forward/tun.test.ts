/**
 * TUN (-i) fixtures: a frame in, the exact frames out. The inner packet is the client's with TTL−1; the outer
 * IPv4 header follows ip_vs_tunnel_xmit (protocol 4, source = the director's address on the real's prefix,
 * TTL = inner TTL, DSCP copied, ECN per INET_ECN_encapsulate, DF copied, fresh ID). Over the tunnel MTU: with DF
 * an ICMP frag-needed to the client, without DF outer fragments.
 */
import { describe, expect, it } from 'vitest';
import { Pkt, ParseResult, parseIPv4 } from '../../../src/packet/parse.js';
import { tun } from '../../../src/forward/tun.js';
import { parseIPv4 as addr } from '../../../src/util/addr.js';
import { parseFrame, pkt, type Ipv4Options, type PacketBuilder } from '../../helpers/packet-builder.js';
import {
  CIP, CLIENT_MAC, DIR0, DIR1, DIR_MAC, Director, GW_MAC, MACS, R1, R3, R4, VIP, expectFixture, type Fixture, type Target,
} from './harness.js';

const TARGETS: Target[] = [
  { proto: 'tcp', vport: 80, rip: R1, method: 'tun' },
  { proto: 'udp', vport: 53, rip: R1, method: 'tun' },
  { proto: 'tcp', vport: 81, rip: R3, method: 'tun' },
  { proto: 'tcp', vport: 82, rip: R4, method: 'tun' },
];

const fromClient = { src: CLIENT_MAC, dst: DIR_MAC };
const ip = (o: Partial<Ipv4Options> = {}): Ipv4Options => ({ src: CIP, dst: VIP, ttl: 64, id: 0x1234, ...o });
type L4 = (b: PacketBuilder) => PacketBuilder;
const syn = (sport: number, dport = 80, payload = 0): L4 => (b) => {
  const t = b.tcp({ sport, dport, flags: 'S', seq: 7000 });
  return payload > 0 ? t.payload(payload) : t;
};

/** The client's frame. */
const input = (o: Partial<Ipv4Options>, l4: L4) => l4(pkt().eth(fromClient).ipv4(ip(o))).build();
/** The inner packet as it must leave: the client's packet with TTL−1 (everything else kept). */
const inner = (o: Partial<Ipv4Options>, l4: L4) => l4(pkt().ipv4(ip({ ...o, ttl: (o.ttl ?? 64) - 1 }))).build();
/** The expected IPIP frame around `body` (an inner packet or a fragment of it). */
const outer = (mac: string, o: Partial<Ipv4Options> & { src: string; dst: string }, body: Uint8Array) =>
  pkt().eth({ src: DIR_MAC, dst: mac }).ipv4({ protocol: 4, ttl: 63, id: 0, ...o }).payload(body).build();

/** The ICMP frag-needed the client must get about `offending` (a client frame), with next-hop MTU `mtu`. */
const fragNeeded = (offending: Uint8Array, mtu: number, id = 0) =>
  pkt().eth({ src: DIR_MAC, dst: CLIENT_MAC }).ipv4({ src: VIP, dst: CIP, ttl: 64, tos: 0xc0, id })
    .icmp({ type: 3, code: 4, mtu, quote: offending.subarray(14, 14 + 28) }).build();

const big = input({ df: true }, syn(40020, 80, 1441)); // 20 + 20 + 1441 = 1481 bytes: one over 1480
const bigNoDf = input({}, syn(40021, 80, 1441));
const bigInner = inner({}, syn(40021, 80, 1441));

const FIXTURES: Fixture[] = [
  {
    description: 'TCP SYN: inner TTL−1, outer from the director address on the real prefix, TTL = inner TTL, DF copied',
    input: input({ df: true }, syn(40000)),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1, df: true }, inner({ df: true }, syn(40000)))],
    verdict: 'TX',
  },
  {
    description: 'DF clear stays clear outside',
    input: input({}, syn(40001)),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1 }, inner({}, syn(40001)))],
    verdict: 'TX',
  },
  {
    description: 'DSCP EF with ECT(1): both copied to the outer TOS',
    input: input({ tos: 0xb9 }, syn(40002)),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1, tos: 0xb9 }, inner({ tos: 0xb9 }, syn(40002)))],
    verdict: 'TX',
  },
  {
    description: 'ECT(0) copied',
    input: input({ tos: 0x02 }, syn(40003)),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1, tos: 0x02 }, inner({ tos: 0x02 }, syn(40003)))],
    verdict: 'TX',
  },
  {
    description: 'inner CE becomes ECT(0) outside (INET_ECN_encapsulate); the inner packet keeps CE',
    input: input({ tos: 0x2b }, syn(40004)),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1, tos: 0x2a }, inner({ tos: 0x2b }, syn(40004)))],
    verdict: 'TX',
  },
  {
    description: 'TTL 200 → inner and outer TTL 199',
    input: input({ ttl: 200 }, syn(40005)),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1, ttl: 199 }, inner({ ttl: 200 }, syn(40005)))],
    verdict: 'TX',
  },
  {
    description: 'TTL 2 → inner and outer TTL 1',
    input: input({ ttl: 2 }, syn(40006)),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1, ttl: 1 }, inner({ ttl: 2 }, syn(40006)))],
    verdict: 'TX',
  },
  {
    description: 'TTL 1 is dropped and counted, nothing sent',
    input: input({ ttl: 1 }, syn(40007)),
    expected: [],
    verdict: 'ipv4_ttl_expired',
  },
  {
    description: 'UDP without checksum: the inner checksum stays 0',
    input: input({}, (b) => b.udp({ sport: 5353, dport: 53, checksum: 'zero' }).payload('query')),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1 }, inner({}, (b) => b.udp({ sport: 5353, dport: 53, checksum: 'zero' }).payload('query')))],
    verdict: 'TX',
  },
  {
    description: 'Ethernet padding is not carried into the tunnel (outer length = inner length + 20)',
    input: l4pad(input({}, syn(40008))),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1 }, inner({}, syn(40008)))],
    verdict: 'TX',
  },
  {
    description: 'a real on the client prefix: outer source is the director address on that prefix',
    input: input({}, syn(40009, 81)),
    expected: [outer(MACS[R3]!, { src: DIR0, dst: R3 }, inner({}, syn(40009, 81)))],
    verdict: 'TX',
  },
  {
    description: 'a real behind the gateway: outer source is the first director address, frame to the gateway MAC',
    input: input({}, syn(40010, 82)),
    expected: [outer(GW_MAC, { src: DIR0, dst: R4 }, inner({}, syn(40010, 82)))],
    verdict: 'TX',
  },
  {
    description: 'DF and exactly the tunnel MTU (1480): encapsulated to a 1500-byte packet',
    input: input({ df: true }, syn(40011, 80, 1440)),
    expected: [outer(MACS[R1]!, { src: DIR1, dst: R1, df: true }, inner({ df: true }, syn(40011, 80, 1440)))],
    verdict: 'TX',
  },
  {
    description: 'DF and one byte over the tunnel MTU: dropped, ICMP frag-needed (MTU 1480) quoting the packet as received',
    input: big,
    expected: [fragNeeded(big, 1480)],
    verdict: 'tun_too_big',
    counters: { icmp_frag_needed_sent: 1 },
  },
  {
    description: 'DF and too big with --mtu 576: frag-needed carries 556',
    input: input({ df: true }, syn(40022, 80, 600)),
    expected: [fragNeeded(input({ df: true }, syn(40022, 80, 600)), 556)],
    verdict: 'tun_too_big',
    mtu: 576,
  },
  {
    description: 'DF and too big from a multicast source: dropped without an ICMP error',
    input: input({ df: true, src: '224.0.0.9' }, syn(40023, 80, 1441)),
    expected: [],
    verdict: 'tun_too_big',
    counters: { icmp_errors_suppressed: 1 },
  },
  {
    description: 'DF and too big from 0.0.0.0: dropped without an ICMP error',
    input: input({ df: true, src: '0.0.0.0' }, syn(40024, 80, 1441)),
    expected: [],
    verdict: 'tun_too_big',
    counters: { icmp_errors_suppressed: 1 },
  },
  {
    description: 'no DF and over the tunnel MTU: two outer fragments (1480 + 1 inner bytes), same ID, MF on the first',
    input: bigNoDf,
    expected: [
      outer(MACS[R1]!, { src: DIR1, dst: R1, mf: true }, bigInner.subarray(0, 1480)),
      outer(MACS[R1]!, { src: DIR1, dst: R1, fragOffset: 1480 / 8 }, bigInner.subarray(1480)),
    ],
    verdict: 'TX',
    counters: { tun_fragmented: 1 },
  },
  {
    description: 'no DF with --mtu 576: a 1500-byte packet becomes three fragments of 552, 552 and 396 inner bytes',
    input: input({ tos: 0x03 }, syn(40025, 80, 1460)),
    expected: [0, 552, 1104].map((off, i) =>
      outer(MACS[R1]!, { src: DIR1, dst: R1, tos: 0x02, mf: i < 2, fragOffset: off / 8 },
        inner({ tos: 0x03 }, syn(40025, 80, 1460)).subarray(off, Math.min(off + 552, 1500)))),
    verdict: 'TX',
    counters: { tun_fragmented: 1 },
    mtu: 576,
  },
];

/** Pads a frame to the 60-byte Ethernet minimum. */
function l4pad(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(60, frame.length));
  out.set(frame);
  return out;
}

describe('TUN forwarder', () => {
  it.each(FIXTURES)('$description', async (f) => {
    const d = await Director.create(TARGETS, f.mtu);
    const problems = expectFixture(f, d.run(f.input));
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('gives every encapsulated packet a fresh IP ID from the worker counter', async () => {
    const d = await Director.create(TARGETS);
    const r = d.run(input({}, syn(41000)), input({}, syn(41001)), input({}, syn(41002)));
    expect(r.out.map((f) => parseFrame(f).ip!.id)).toEqual([0, 1, 2]);
    expect(r.out.map((f) => parseFrame(f).inner!.ip!.id)).toEqual([0x1234, 0x1234, 0x1234]);
  });

  it('rate-limits frag-needed like Linux (burst 50) and still drops every oversized packet', async () => {
    const d = await Director.create(TARGETS);
    const frames = Array.from({ length: 60 }, (_, i) => input({ df: true }, syn(42000 + i, 80, 1441)));
    const r = d.run(...frames);
    expect(r.drops).toEqual({ tun_too_big: 60 });
    expect(r.counters).toMatchObject({ icmp_frag_needed_sent: 50, icmp_errors_suppressed: 10 });
    expect(r.out.every((f) => parseFrame(f).icmp?.type === 3)).toBe(true);
    expect(r.out.length).toBe(50);
  });

  it('never answers an ICMP error with an ICMP error', async () => {
    // ICMP errors do not reach a forwarder through the pipeline today; the guard is in sendFragNeeded itself.
    const d = await Director.create(TARGETS);
    const dp = d.w.dp;
    const quote = input({}, syn(1)).subarray(14, 42);
    const frame = pkt().eth(fromClient).ipv4(ip({ df: true })).icmp({ type: 3, code: 3, quote }).payload(1500 - 20 - 8 - 28).build();
    const base = 64; // rx slot 0 + headroom
    dp.u8.set(frame, base);
    const p = new Pkt();
    p.base = base;
    p.len = frame.length;
    expect(parseIPv4(dp.u8, dp.dv, p, true)).toBe(ParseResult.OK);
    const c = dp.conns.insert(1, p.saddr, 0, p.daddr, 0, addr(R1) | 0, 0, p.saddr, 0, 60_000);
    const before = d.control.status();
    expect(tun.inbound(dp, p, c)).toBe(false);
    const after = d.control.status();
    expect(after.drops.tun_too_big! - before.drops.tun_too_big!).toBe(1);
    const w = (s: typeof before) => s.workers[0]!.counters;
    expect(w(after).icmp_errors_suppressed! - w(before).icmp_errors_suppressed!).toBe(1);
    expect(w(after).icmp_frag_needed_sent).toBe(w(before).icmp_frag_needed_sent);
  });
});
