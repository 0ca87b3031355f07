/**
 * The IPIP decapsulator (`tapvs decap`) over in-memory I/O: datagrams as a raw IPv4 socket returns them (outer
 * header first), inner packets as they must be written to the TUN device, drops counted by reason. The real
 * kernel path (raw socket → TUN → a socket on the VIP) is exercised by test/e2e/tun.e2e.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Decap, type DecapOptions } from '../../src/decap/decap.js';
import { preflight } from '../../src/decap/run.js';
import { MemoryIO } from '../../src/io/memory-io.js';
import { parseIPv4 } from '../../src/util/addr.js';
import { pkt, verifyChecksums, type Ipv4Options } from '../helpers/packet-builder.js';

const DIRECTOR = '198.18.1.1';
const RIP = '198.18.1.11';
const VIP = '198.18.0.100';
const CIP = '198.18.0.2';

const innerPkt = (o: Partial<Ipv4Options> = {}, payload = 'GET / HTTP/1.0\r\n\r\n') =>
  pkt().ipv4({ src: CIP, dst: VIP, ttl: 63, df: true, ...o }).tcp({ sport: 40000, dport: 80, flags: 'PA', seq: 5 }).payload(payload).build();
const ipip = (inner: Uint8Array, o: Partial<Ipv4Options> = {}) =>
  pkt().ipv4({ src: DIRECTOR, dst: RIP, protocol: 4, ttl: 63, ...o }).payload(inner).build();

function decap(opts: Partial<DecapOptions> = {}) {
  const rx = new MemoryIO();
  const tx = new MemoryIO();
  const d = new Decap({ rx, tx, ...opts });
  return {
    d,
    run(...datagrams: Uint8Array[]) {
      rx.inject(...datagrams);
      while (d.step() > 0);
      const s = d.snapshot();
      const drops = Object.fromEntries(Object.entries(s).filter(([k, v]) => v !== 0 && !['rx_packets', 'rx_bytes', 'tx_packets', 'rx_batches', 'ecn_ce_marked'].includes(k)));
      return { out: tx.take(), drops, counters: s };
    },
  };
}

interface Row {
  description: string;
  input: Uint8Array;
  expected: Uint8Array[];
  verdict: string;
  opts?: Partial<DecapOptions>;
}

const ok = innerPkt();
const ROWS: Row[] = [
  { description: 'an IPIP datagram: the inner packet goes to the TUN device unchanged', input: ipip(ok), expected: [ok], verdict: 'TX' },
  {
    description: 'outer header with options: the inner packet is found after them',
    input: ipip(ok, { options: Uint8Array.of(1, 1, 1, 1) }),
    expected: [ok],
    verdict: 'TX',
  },
  {
    description: 'outer CE on an ECT(0) inner packet: marked CE, header checksum updated (RFC 6040)',
    input: ipip(innerPkt({ tos: 0x2a }), { tos: 0x2b }),
    expected: [innerPkt({ tos: 0x2b })],
    verdict: 'TX',
  },
  {
    description: 'outer ECT(0) on a CE inner packet: CE kept',
    input: ipip(innerPkt({ tos: 0x03 }), { tos: 0x02 }),
    expected: [innerPkt({ tos: 0x03 })],
    verdict: 'TX',
  },
  {
    description: 'outer CE on a not-ECT inner packet: dropped (RFC 6040)',
    input: ipip(innerPkt({ tos: 0x00 }), { tos: 0x03 }),
    expected: [],
    verdict: 'ecn_ce_not_ect',
  },
  { description: 'not IPIP', input: pkt().ipv4({ src: DIRECTOR, dst: RIP }).udp({ sport: 1, dport: 2 }).build(), expected: [], verdict: 'not_ipip' },
  { description: 'outer header cut short', input: ipip(ok).subarray(0, 12), expected: [], verdict: 'malformed' },
  { description: 'outer total length not what was read', input: ipip(ok, { totalLength: 30 }), expected: [], verdict: 'malformed' },
  { description: 'outer version 6', input: Uint8Array.from(ipip(ok), (b, i) => (i === 0 ? 0x65 : b)), expected: [], verdict: 'malformed' },
  {
    description: 'inner IPv6-looking packet (version 6)',
    input: ipip(Uint8Array.from(ok, (b, i) => (i === 0 ? 0x60 : b))),
    expected: [],
    verdict: 'inner_not_ipv4',
  },
  { description: 'inner packet shorter than an IPv4 header', input: ipip(ok.subarray(0, 12)), expected: [], verdict: 'inner_malformed' },
  {
    description: 'inner total length beyond the outer payload',
    input: ipip(pkt().ipv4({ src: CIP, dst: VIP, totalLength: 400 }).tcp({ sport: 1, dport: 80, flags: 'S' }).build()),
    expected: [],
    verdict: 'inner_malformed',
  },
  { description: 'inner header checksum wrong', input: ipip(pkt().ipv4({ src: CIP, dst: VIP }).badIpChecksum().tcp({ sport: 1, dport: 80, flags: 'S' }).build()), expected: [], verdict: 'inner_bad_checksum' },
  {
    description: 'inner packet shorter than the outer payload (trailing bytes): only the inner packet is written',
    input: ipip(pkt().ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 80, flags: 'S' }).padTo(60).build()),
    expected: [pkt().ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 80, flags: 'S' }).build()],
    verdict: 'TX',
  },
  {
    description: '--vip given: another destination is dropped',
    input: ipip(innerPkt({ dst: '198.18.0.101' })),
    expected: [],
    verdict: 'not_vip',
    opts: { vips: [parseIPv4(VIP)] },
  },
  { description: '--vip given: the VIP passes', input: ipip(ok), expected: [ok], verdict: 'TX', opts: { vips: [parseIPv4(VIP)] } },
  {
    description: '--director given: another outer source is dropped',
    input: ipip(ok, { src: '198.18.1.99' }),
    expected: [],
    verdict: 'bad_source',
    opts: { directors: [parseIPv4(DIRECTOR)] },
  },
  { description: '--director given: the director passes', input: ipip(ok), expected: [ok], verdict: 'TX', opts: { directors: [parseIPv4('10.9.9.9'), parseIPv4(DIRECTOR)] } },
];

describe('tapvs decap', () => {
  it.each(ROWS)('$description', (row) => {
    const r = decap(row.opts).run(row.input);
    expect(r.out).toEqual(row.expected);
    for (const f of r.out) expect(verifyChecksums(f, { link: 'none' })).toEqual({ ip: true, l4: true });
    expect(r.drops).toEqual(row.verdict === 'TX' ? {} : { [row.verdict]: 1 });
    expect(r.counters.rx_packets).toBe(1);
    expect(r.counters.tx_packets).toBe(row.verdict === 'TX' ? 1 : 0);
  });

  it('moves a batch with one receive and one send call, in order', () => {
    const rx = new MemoryIO();
    const tx = new MemoryIO();
    let sends = 0;
    const send = tx.send.bind(tx);
    tx.send = (...a) => (sends++, send(...a));
    const d = new Decap({ rx, tx, batch: 8 });
    const inners = Array.from({ length: 8 }, (_, i) => innerPkt({ id: i }, 'x'.repeat(i * 100)));
    rx.inject(...inners.map((p) => ipip(p)), ipip(ok, { protocol: 17 }));
    expect(d.step()).toBe(8);
    expect(sends).toBe(1);
    expect(tx.take()).toEqual(inners);
    expect(d.step()).toBe(1);
    expect(d.snapshot()).toMatchObject({ rx_packets: 9, tx_packets: 8, not_ipip: 1, rx_batches: 2 });
  });

  it('counts what the TUN device refuses', () => {
    const rx = new MemoryIO();
    const tx = new MemoryIO();
    tx.send = () => -5; // EIO: the device is down
    const d = new Decap({ rx, tx });
    rx.inject(ipip(ok), ipip(ok));
    d.step();
    expect(d.snapshot()).toMatchObject({ rx_packets: 2, tx_packets: 0, tx_failed: 2 });
  });

  it('explains the real-server set-up in its help', () => {
    const help = execFileSync(process.execPath, [join(import.meta.dirname, '../../bin/tapvs.js'), 'decap', '--help'], { encoding: 'utf8' });
    for (const line of [
      'ip tuntap add tvsdecap mode tun', 'ip link set tvsdecap up', 'ip addr add 10.0.0.100/32 dev lo',
      'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2',
      'tapvs decap --tun tvsdecap --vip 10.0.0.100 --director 10.0.1.1',
    ]) expect(help).toContain(line);
  });

  it('refuses to start without its TUN device and says how to create it', () => {
    const r = preflight({ tun: 'tvsnosuch0', vips: [] });
    expect(r.errors).toEqual(['TUN device tvsnosuch0 does not exist: ip tuntap add tvsnosuch0 mode tun && ip link set tvsnosuch0 up']);
    expect(preflight({ tun: 'bad name!', vips: [] }).errors[0]).toMatch(/not a valid interface name/);
  });
});
