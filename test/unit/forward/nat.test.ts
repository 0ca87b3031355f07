/**
 * NAT (-m) fixtures: a frame in, the exact frames out, every checksum recomputed (harness.ts). Client → real:
 * VIP:vport → RIP:rport, TTL−1; real → client: RIP:rport → VIP:vport, TTL−1; the client address and port are
 * never changed. A UDP checksum of 0 (none) stays 0.
 */
import { describe, expect, it } from 'vitest';
import { pkt, type Ipv4Options, type TcpOptions } from '../../helpers/packet-builder.js';
import { CIP, CLIENT_MAC, DIR_MAC, Director, MACS, R1, VIP, expectFixture, type Fixture, type Target } from './harness.js';

const TARGETS: Target[] = [
  { proto: 'tcp', vport: 80, rip: R1, rport: 8080, method: 'nat' },
  { proto: 'tcp', vport: 81, rip: R1, method: 'nat' },
  { proto: 'udp', vport: 53, rip: R1, rport: 5353, method: 'nat' },
];

type Tcp = Omit<TcpOptions, 'sport' | 'dport'>;
const c2v = (vport: number, t: Tcp, payload?: number | string, ip: Partial<Ipv4Options> = {}) => {
  const b = pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP, id: 1, ...ip }).tcp({ sport: 40000, dport: vport, ...t });
  return (payload === undefined ? b : b.payload(payload)).build();
};
const c2r = (rport: number, t: Tcp, payload?: number | string, ip: Partial<Ipv4Options> = {}) => {
  const b = pkt().eth({ src: DIR_MAC, dst: MACS[R1] }).ipv4({ src: CIP, dst: R1, id: 1, ttl: 63, ...ip }).tcp({ sport: 40000, dport: rport, ...t });
  return (payload === undefined ? b : b.payload(payload)).build();
};
const r2c = (rport: number, t: Tcp, payload?: number | string) => {
  const b = pkt().eth({ src: MACS[R1], dst: DIR_MAC }).ipv4({ src: R1, dst: CIP, id: 2 }).tcp({ sport: rport, dport: 40000, ...t });
  return (payload === undefined ? b : b.payload(payload)).build();
};
const v2c = (vport: number, t: Tcp, payload?: number | string) => {
  const b = pkt().eth({ src: DIR_MAC, dst: CLIENT_MAC }).ipv4({ src: VIP, dst: CIP, id: 2, ttl: 63 }).tcp({ sport: vport, dport: 40000, ...t });
  return (payload === undefined ? b : b.payload(payload)).build();
};
const udp = (src: string, dst: string, sport: number, dport: number, mac: [string, string], ttl: number, csum: 'auto' | 'zero' = 'auto') =>
  pkt().eth({ src: mac[0], dst: mac[1] }).ipv4({ src, dst, ttl, id: 3 }).udp({ sport, dport, checksum: csum }).payload('query').build();

const FIXTURES: Fixture[] = [
  {
    description: 'SYN: VIP:80 → RIP:8080 (port mapping), TTL−1, client untouched',
    input: c2v(80, { flags: 'S', seq: 1 }),
    expected: [c2r(8080, { flags: 'S', seq: 1 })],
    verdict: 'TX',
  },
  {
    description: 'a real without a port keeps the service port',
    input: c2v(81, { flags: 'S', seq: 1 }),
    expected: [c2r(81, { flags: 'S', seq: 1 })],
    verdict: 'TX',
  },
  {
    description: 'options, payload, DF and TOS pass unchanged',
    before: [c2v(80, { flags: 'S', seq: 1 })],
    input: c2v(80, { flags: 'PA', seq: 2, ack: 9, options: Uint8Array.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) }, 'GET /', { df: true, tos: 0x28 }),
    expected: [c2r(8080, { flags: 'PA', seq: 2, ack: 9, options: Uint8Array.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) }, 'GET /', { df: true, tos: 0x28 })],
    verdict: 'TX',
  },
  {
    description: 'reply: RIP:8080 → VIP:80, TTL−1',
    before: [c2v(80, { flags: 'S', seq: 1 })],
    input: r2c(8080, { flags: 'SA', seq: 100, ack: 2 }),
    expected: [v2c(80, { flags: 'SA', seq: 100, ack: 2 })],
    verdict: 'TX',
  },
  {
    description: 'a 1500-byte reply (the MTU) passes unchanged in size',
    before: [c2v(80, { flags: 'S', seq: 1 })],
    input: r2c(8080, { flags: 'A', seq: 101, ack: 2 }, 1460),
    expected: [v2c(80, { flags: 'A', seq: 101, ack: 2 }, 1460)],
    verdict: 'TX',
  },
  {
    description: 'UDP: VIP:53 → RIP:5353, checksum updated',
    input: udp(CIP, VIP, 5000, 53, [CLIENT_MAC, DIR_MAC], 64),
    expected: [udp(CIP, R1, 5000, 5353, [DIR_MAC, MACS[R1]!], 63)],
    verdict: 'TX',
  },
  {
    description: 'UDP without a checksum stays without',
    input: udp(CIP, VIP, 5001, 53, [CLIENT_MAC, DIR_MAC], 64, 'zero'),
    expected: [udp(CIP, R1, 5001, 5353, [DIR_MAC, MACS[R1]!], 63, 'zero')],
    verdict: 'TX',
  },
  {
    description: 'UDP reply: RIP:5353 → VIP:53',
    before: [udp(CIP, VIP, 5000, 53, [CLIENT_MAC, DIR_MAC], 64)],
    input: udp(R1, CIP, 5353, 5000, [MACS[R1]!, DIR_MAC], 64),
    expected: [udp(VIP, CIP, 53, 5000, [DIR_MAC, CLIENT_MAC], 63)],
    verdict: 'TX',
  },
  {
    description: 'a reply without a conn is dropped',
    input: r2c(8080, { flags: 'A', seq: 1, ack: 1 }),
    expected: [],
    verdict: 'reply_no_conn',
  },
  {
    description: 'TTL 1 is dropped and counted',
    input: c2v(80, { flags: 'S', seq: 1 }, undefined, { ttl: 1 }),
    expected: [],
    verdict: 'ipv4_ttl_expired',
  },
  {
    description: 'a bad TCP checksum is dropped before anything else',
    input: pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 40000, dport: 80, flags: 'S' }).badL4Checksum().build(),
    expected: [],
    verdict: 'l4_bad_checksum',
  },
];

describe('NAT forwarder', () => {
  it.each(FIXTURES)('$description', async (f) => {
    const d = await Director.create(TARGETS, f.mtu);
    if (f.before) d.run(...f.before);
    const problems = expectFixture(f, d.run(f.input));
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
