/**
 * DR (-g) fixtures: a frame in, the exact frame out. The IP packet is unchanged except TTL−1 and the header
 * checksum; L4 bytes are untouched; the frame goes to the real's MAC (or the gateway's) from the director's.
 */
import { describe, expect, it } from 'vitest';
import { pkt, type Ipv4Options } from '../../helpers/packet-builder.js';
import { CIP, CLIENT_MAC, DIR_MAC, Director, MACS, R1, R3, R4, VIP, expectFixture, type Fixture, type Target } from './harness.js';

const TARGETS: Target[] = [
  { proto: 'tcp', vport: 80, rip: R1, method: 'dr' },
  { proto: 'udp', vport: 53, rip: R1, method: 'dr' },
  { proto: 'tcp', vport: 81, rip: R3, method: 'dr' },
  { proto: 'tcp', vport: 82, rip: R4, method: 'dr' },
];

const fromClient = { src: CLIENT_MAC, dst: DIR_MAC };
const ip = (o: Partial<Ipv4Options> = {}): Ipv4Options => ({ src: CIP, dst: VIP, ttl: 64, id: 0x1234, ...o });
/** The same packet as it must leave: TTL one lower, to `mac`. */
const toReal = (mac: string) => ({ src: DIR_MAC, dst: mac });

const FIXTURES: Fixture[] = [
  {
    description: 'TCP SYN: TTL−1 and a new IP checksum, nothing else changes',
    input: pkt().eth(fromClient).ipv4(ip({ df: true })).tcp({ sport: 40000, dport: 80, flags: 'S', seq: 1000 }).build(),
    expected: [pkt().eth(toReal(MACS[R1]!)).ipv4(ip({ df: true, ttl: 63 })).tcp({ sport: 40000, dport: 80, flags: 'S', seq: 1000 }).build()],
    verdict: 'TX',
  },
  {
    description: 'TCP with payload: TOS, DF, ID and the L4 checksum are left as they are',
    input: pkt().eth(fromClient).ipv4(ip({ tos: 0xbb, df: true, id: 7 })).tcp({ sport: 40001, dport: 80, flags: 'S' }).payload(300).build(),
    expected: [pkt().eth(toReal(MACS[R1]!)).ipv4(ip({ tos: 0xbb, df: true, id: 7, ttl: 63 })).tcp({ sport: 40001, dport: 80, flags: 'S' }).payload(300).build()],
    verdict: 'TX',
  },
  {
    description: 'UDP without checksum keeps checksum 0',
    input: pkt().eth(fromClient).ipv4(ip()).udp({ sport: 5353, dport: 53, checksum: 'zero' }).payload('query').build(),
    expected: [pkt().eth(toReal(MACS[R1]!)).ipv4(ip({ ttl: 63 })).udp({ sport: 5353, dport: 53, checksum: 'zero' }).payload('query').build()],
    verdict: 'TX',
  },
  {
    description: 'UDP with checksum: L4 untouched (the pseudo-header does not change)',
    input: pkt().eth(fromClient).ipv4(ip({ ttl: 200 })).udp({ sport: 5354, dport: 53 }).payload('query').build(),
    expected: [pkt().eth(toReal(MACS[R1]!)).ipv4(ip({ ttl: 199 })).udp({ sport: 5354, dport: 53 }).payload('query').build()],
    verdict: 'TX',
  },
  {
    description: 'Ethernet padding of a minimum-size frame is carried along',
    input: pkt().eth(fromClient).ipv4(ip()).tcp({ sport: 40002, dport: 80, flags: 'S' }).padTo(60).build(),
    expected: [pkt().eth(toReal(MACS[R1]!)).ipv4(ip({ ttl: 63 })).tcp({ sport: 40002, dport: 80, flags: 'S' }).padTo(60).build()],
    verdict: 'TX',
  },
  {
    description: 'TTL 2 leaves with TTL 1',
    input: pkt().eth(fromClient).ipv4(ip({ ttl: 2 })).tcp({ sport: 40003, dport: 80, flags: 'S' }).build(),
    expected: [pkt().eth(toReal(MACS[R1]!)).ipv4(ip({ ttl: 1 })).tcp({ sport: 40003, dport: 80, flags: 'S' }).build()],
    verdict: 'TX',
  },
  {
    description: 'TTL 1 is dropped and counted',
    input: pkt().eth(fromClient).ipv4(ip({ ttl: 1 })).tcp({ sport: 40004, dport: 80, flags: 'S' }).build(),
    expected: [],
    verdict: 'ipv4_ttl_expired',
  },
  {
    description: 'a real on the client prefix gets the frame at its own MAC',
    input: pkt().eth(fromClient).ipv4(ip()).tcp({ sport: 40005, dport: 81, flags: 'S' }).build(),
    expected: [pkt().eth(toReal(MACS[R3]!)).ipv4(ip({ ttl: 63 })).tcp({ sport: 40005, dport: 81, flags: 'S' }).build()],
    verdict: 'TX',
  },
  {
    description: 'a real behind the gateway is refused: the gateway would send the VIP back to the director',
    input: pkt().eth(fromClient).ipv4(ip()).tcp({ sport: 40006, dport: 82, flags: 'S' }).build(),
    expected: [],
    verdict: 'dr_real_not_on_link',
  },
  {
    description: 'a 1500-byte packet (the MTU) goes through unchanged in size',
    input: pkt().eth(fromClient).ipv4(ip({ df: true })).tcp({ sport: 40007, dport: 80, flags: 'S' }).payload(1460).build(),
    expected: [pkt().eth(toReal(MACS[R1]!)).ipv4(ip({ df: true, ttl: 63 })).tcp({ sport: 40007, dport: 80, flags: 'S' }).payload(1460).build()],
    verdict: 'TX',
  },
];

describe('DR forwarder', () => {
  it.each(FIXTURES)('$description', async (f) => {
    const d = await Director.create(TARGETS, f.mtu);
    const problems = expectFixture(f, d.run(f.input));
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('keeps a conn on its real and counts packets in, none out (input-only conn)', async () => {
    const d = await Director.create(TARGETS);
    const syn = pkt().eth(fromClient).ipv4(ip()).tcp({ sport: 41000, dport: 80, flags: 'S' }).build();
    const ack = pkt().eth(fromClient).ipv4(ip()).tcp({ sport: 41000, dport: 80, flags: 'A' }).payload(10).build();
    expect(d.run(syn, ack).out.length).toBe(2);
    const svc = d.control.list().services.find((s) => s.vport === 80)!;
    expect(svc.stats).toMatchObject({ conns: 1, inpkts: 2, outpkts: 0, inbytes: 40 + 50 });
    // The INPUT-ONLY table takes the conn to ESTABLISHED on the client's ACK: it is active.
    expect(svc.reals[0]).toMatchObject({ rip: R1, rport: 80, active: 1, inactive: 0 });
  });
});
