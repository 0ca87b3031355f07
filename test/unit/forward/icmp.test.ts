/**
 * ICMP error fixtures (forward/icmp.ts): an error about a conn, matched by its quoted header, leaves translated
 * for NAT/FULLNAT (outer and quoted addresses and ports, quoted IP checksum, quoted L4 checksum when quoted, ICMP
 * checksum, outer TTL − 1) or unchanged with the conn's own method for DR/TUN. Unrelated ICMP is counted and
 * dropped; echo to the VIP is still answered.
 */
import { describe, expect, it } from 'vitest';
import { pkt, type PacketBuilder } from '../../helpers/packet-builder.js';
import {
  CIP, CLIENT_MAC, DIR1, DIR_MAC, Director, GW, GW_MAC, LIP1, MACS, R1, VIP, expectFixture, type Fixture, type Target,
} from './harness.js';

const TARGETS: Target[] = [
  { proto: 'udp', vport: 53, rip: R1, rport: 5353, method: 'nat' },
  { proto: 'tcp', vport: 80, rip: R1, rport: 8080, method: 'nat' },
  { proto: 'udp', vport: 54, rip: R1, rport: 5354, method: 'fullnat' },
  { proto: 'tcp', vport: 81, rip: R1, rport: 8081, method: 'fullnat', clientIp: 'proxy-v1' },
  { proto: 'tcp', vport: 82, rip: R1, method: 'dr' },
  { proto: 'tcp', vport: 83, rip: R1, method: 'tun' },
  { proto: 'tcp', vport: 84, rip: R1, rport: 8084, method: 'fullnat' },
];

const fromClient = { src: CLIENT_MAC, dst: DIR_MAC };
const bare = (b: PacketBuilder) => b.build(); // no Ethernet header: a packet as quoted
const udpQuery = (vport: number) => pkt().eth(fromClient).ipv4({ src: CIP, dst: VIP, id: 9 }).udp({ sport: 5000, dport: vport }).payload('query').build();
const tcpSyn = (vport: number) => pkt().eth(fromClient).ipv4({ src: CIP, dst: VIP, id: 7 }).tcp({ sport: 40000, dport: vport, flags: 'S', seq: 1000 }).build();

/** An ICMP error frame from `src` (MAC `mac`) to `dst` with type/code and a quote. */
const icmpIn = (mac: string, src: string, dst: string, type: number, code: number, quote: Uint8Array, mtu?: number) =>
  pkt().eth({ src: mac, dst: DIR_MAC }).ipv4({ src, dst, id: 0x3333, ttl: 64 }).icmp({ type, code, quote, ...(mtu ? { mtu } : {}) }).build();
const icmpOut = (macDst: string, src: string, dst: string, type: number, code: number, quote: Uint8Array, mtu?: number) =>
  pkt().eth({ src: DIR_MAC, dst: macDst }).ipv4({ src, dst, id: 0x3333, ttl: 63 }).icmp({ type, code, quote, ...(mtu ? { mtu } : {}) }).build();

// The packets the director sent to the real (and what the client sent), as an ICMP error quotes them.
const natUdpToReal = bare(pkt().ipv4({ src: CIP, dst: R1, id: 9, ttl: 63 }).udp({ sport: 5000, dport: 5353 }).payload('query'));
const natUdpAsClientSent = bare(pkt().ipv4({ src: CIP, dst: VIP, id: 9, ttl: 63 }).udp({ sport: 5000, dport: 53 }).payload('query'));
const fnUdpToReal = bare(pkt().ipv4({ src: LIP1, dst: R1, id: 9, ttl: 63 }).udp({ sport: 1025, dport: 5354 }).payload('query'));
const fnUdpAsClientSent = bare(pkt().ipv4({ src: CIP, dst: VIP, id: 9, ttl: 63 }).udp({ sport: 5000, dport: 54 }).payload('query'));
/** A reply as the client got it (VIP:vport → CIP:40000), and as the real sent it. */
const replyToClient = (vport: number) => bare(pkt().ipv4({ src: VIP, dst: CIP, id: 1, ttl: 63, df: true }).tcp({ sport: vport, dport: 40000, flags: 'A', seq: 5001, ack: 1001 }).payload(1400));
const L1 = `PROXY TCP4 ${CIP} ${VIP} 40000 81\r\n`.length;

const FIXTURES: Fixture[] = [
  {
    description: 'NAT: a real\'s port unreachable for UDP reaches the client from the VIP, quoting CIP → VIP:53',
    before: [udpQuery(53)],
    input: icmpIn(MACS[R1]!, R1, CIP, 3, 3, natUdpToReal),
    expected: [icmpOut(CLIENT_MAC, VIP, CIP, 3, 3, natUdpAsClientSent)],
    verdict: 'TX',
    counters: { icmp_translated: 1 },
  },
  {
    description: 'NAT: time exceeded with only 8 quoted bytes (no L4 checksum to fix) is translated too',
    before: [udpQuery(53)],
    input: icmpIn(MACS[R1]!, R1, CIP, 11, 0, natUdpToReal.subarray(0, 28)),
    expected: [icmpOut(CLIENT_MAC, VIP, CIP, 11, 0, natUdpAsClientSent.subarray(0, 28))],
    verdict: 'TX',
  },
  {
    description: 'NAT: frag-needed from the client side (arriving at the VIP, quoting a reply) goes to the real, quote VIP → RIP',
    before: [tcpSyn(80)],
    input: icmpIn(GW_MAC, GW, VIP, 3, 4, replyToClient(80).subarray(0, 48), 1400),
    expected: [icmpOut(MACS[R1]!, GW, R1, 3, 4, bare(pkt().ipv4({ src: R1, dst: CIP, id: 1, ttl: 63, df: true }).tcp({ sport: 8080, dport: 40000, flags: 'A', seq: 5001, ack: 1001 }).payload(1400)).subarray(0, 48), 1400)],
    verdict: 'TX',
    counters: { icmp_translated: 1 },
  },
  {
    description: 'FULLNAT: a real\'s port unreachable to the LIP reaches the client from the VIP, quote CIP:5000 → VIP:54',
    before: [udpQuery(54)],
    input: icmpIn(MACS[R1]!, R1, LIP1, 3, 3, fnUdpToReal),
    expected: [icmpOut(CLIENT_MAC, VIP, CIP, 3, 3, fnUdpAsClientSent)],
    verdict: 'TX',
    counters: { icmp_translated: 1 },
  },
  {
    description: 'FULLNAT: frag-needed from the client side goes to the real from the LIP, quote RIP:8084 → LIP:1025',
    before: [tcpSyn(84)],
    input: icmpIn(GW_MAC, GW, VIP, 3, 4, replyToClient(84).subarray(0, 48), 1400),
    expected: [icmpOut(MACS[R1]!, LIP1, R1, 3, 4, bare(pkt().ipv4({ src: R1, dst: LIP1, id: 1, ttl: 63, df: true }).tcp({ sport: 8084, dport: 1025, flags: 'A', seq: 5001, ack: 1001 }).payload(1400)).subarray(0, 48), 1400)],
    verdict: 'TX',
  },
  {
    description: 'FULLNAT with PROXY: the quoted sequence number goes back to the client\'s own (−header length)',
    before: [
      tcpSyn(81),
      pkt().eth({ src: MACS[R1], dst: DIR_MAC }).ipv4({ src: R1, dst: LIP1 }).tcp({ sport: 8081, dport: 1025, flags: 'SA', seq: 5000, ack: 1001 }).build(),
    ],
    input: icmpIn(MACS[R1]!, R1, LIP1, 3, 4, bare(pkt().ipv4({ src: LIP1, dst: R1, id: 7, ttl: 63 }).tcp({ sport: 1025, dport: 8081, flags: 'PA', seq: 1001 + L1 + 500, ack: 5001 }).payload(100)).subarray(0, 28), 1300),
    expected: [icmpOut(CLIENT_MAC, VIP, CIP, 3, 4, bare(pkt().ipv4({ src: CIP, dst: VIP, id: 7, ttl: 63 }).tcp({ sport: 40000, dport: 81, flags: 'PA', seq: 1001 + 500, ack: 5001 }).payload(100)).subarray(0, 28), 1300)],
    verdict: 'TX',
  },
  {
    description: 'DR: frag-needed about a reply is forwarded unchanged to the real\'s MAC (TTL − 1)',
    before: [tcpSyn(82)],
    input: icmpIn(GW_MAC, GW, VIP, 3, 4, replyToClient(82).subarray(0, 28), 1400),
    expected: [pkt().eth({ src: DIR_MAC, dst: MACS[R1] }).ipv4({ src: GW, dst: VIP, id: 0x3333, ttl: 63 }).icmp({ type: 3, code: 4, mtu: 1400, quote: replyToClient(82).subarray(0, 28) }).build()],
    verdict: 'TX',
    counters: { icmp_forwarded: 1 },
  },
  {
    description: 'TUN: frag-needed about a reply is tunnelled to the real unchanged (inner TTL − 1)',
    before: [tcpSyn(83)],
    input: icmpIn(GW_MAC, GW, VIP, 3, 4, replyToClient(83).subarray(0, 28), 1400),
    expected: [pkt().eth({ src: DIR_MAC, dst: MACS[R1] }).ipv4({ src: DIR1, dst: R1, protocol: 4, ttl: 63, id: 1 }) // the SYN took ID 0
      .payload(bare(pkt().ipv4({ src: GW, dst: VIP, id: 0x3333, ttl: 63 }).icmp({ type: 3, code: 4, mtu: 1400, quote: replyToClient(83).subarray(0, 28) }))).build()],
    verdict: 'TX',
    counters: { icmp_forwarded: 1 },
  },
  {
    description: 'an error quoting a flow without a conn is dropped (icmp_unhandled)',
    input: icmpIn(MACS[R1]!, R1, CIP, 3, 3, natUdpToReal),
    expected: [],
    verdict: 'icmp_unhandled',
  },
  {
    description: 'a redirect is not related to a conn (IPVS takes unreachable, source quench, time exceeded only)',
    before: [udpQuery(53)],
    input: icmpIn(MACS[R1]!, R1, CIP, 5, 1, natUdpToReal),
    expected: [],
    verdict: 'icmp_unhandled',
  },
  {
    description: 'a quote shorter than an IP header plus 8 bytes is dropped',
    before: [udpQuery(53)],
    input: icmpIn(MACS[R1]!, R1, CIP, 3, 3, natUdpToReal.subarray(0, 24)),
    expected: [],
    verdict: 'icmp_unhandled',
  },
  {
    description: 'an error with TTL 1 is not forwarded',
    before: [udpQuery(53)],
    input: pkt().eth({ src: MACS[R1], dst: DIR_MAC }).ipv4({ src: R1, dst: CIP, ttl: 1 }).icmp({ type: 3, code: 3, quote: natUdpToReal }).build(),
    expected: [],
    verdict: 'ipv4_ttl_expired',
  },
  {
    description: 'echo to the VIP is still answered by the director',
    input: pkt().eth(fromClient).ipv4({ src: CIP, dst: VIP, id: 4 }).icmp({ type: 8, id: 1, seq: 2 }).payload('ping').build(),
    expected: [pkt().eth({ src: DIR_MAC, dst: CLIENT_MAC }).ipv4({ src: VIP, dst: CIP, id: 4 }).icmp({ type: 0, id: 1, seq: 2 }).payload('ping').build()],
    verdict: 'TX',
  },
];

describe('ICMP errors about conns', () => {
  it.each(FIXTURES)('$description', async (f) => {
    const d = await Director.create(TARGETS, f.mtu);
    if (f.before) d.run(...f.before);
    const problems = expectFixture(f, d.run(f.input));
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('counts a translated error in the service and real stats (out for the client, in for the real)', async () => {
    const d = await Director.create(TARGETS);
    d.run(udpQuery(54));
    d.run(icmpIn(MACS[R1]!, R1, LIP1, 3, 3, fnUdpToReal));
    const svc = d.control.list().services.find((s) => s.proto === 'udp' && s.vport === 54)!;
    expect(svc.stats).toMatchObject({ inpkts: 1, outpkts: 1 });
  });
});
