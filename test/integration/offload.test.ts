/**
 * TAP offloads over the in-memory PacketIO: every frame carries a virtio_net_hdr (IFF_VNET_HDR). Partial
 * (NEEDS_CSUM) checksums are completed; TCPv4 GSO super-frames pass through NAT whole, with a header that lets
 * the kernel finish the checksum (checked here by doing what the kernel does), and are cut into valid segments
 * for TUN; other GSO types are dropped and counted.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Control } from '../../src/control/control.js';
import { InlineWorker } from '../../src/control/workers.js';
import { MemoryIO } from '../../src/io/memory-io.js';
import { parseIPv4 as ip } from '../../src/util/addr.js';
import { pkt, parseFrame, verifyChecksums } from '../helpers/packet-builder.js';
import { CIP, CLIENT_MAC, DIR_MAC, R1, R1_MAC, VIP } from '../helpers/inline-bed.js';

const VNET = 10;
const NEEDS_CSUM = 1;
const GSO_TCPV4 = 1;
const GSO_UDP_L4 = 5;

interface Vnet { flags?: number; gso?: number; hdrLen?: number; gsoSize?: number; csumStart?: number; csumOff?: number }

function withVnet(frame: Uint8Array, h: Vnet = {}): Uint8Array {
  const out = new Uint8Array(VNET + frame.length);
  const v = new DataView(out.buffer);
  out[0] = h.flags ?? 0;
  out[1] = h.gso ?? 0;
  v.setUint16(2, h.hdrLen ?? 0, true);
  v.setUint16(4, h.gsoSize ?? 0, true);
  v.setUint16(6, h.csumStart ?? 0, true);
  v.setUint16(8, h.csumOff ?? 0, true);
  out.set(frame, VNET);
  return out;
}

function readVnet(f: Uint8Array): Required<Vnet> {
  const v = new DataView(f.buffer, f.byteOffset);
  return { flags: f[0]!, gso: f[1]!, hdrLen: v.getUint16(2, true), gsoSize: v.getUint16(4, true), csumStart: v.getUint16(6, true), csumOff: v.getUint16(8, true) };
}

function sum16(b: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Replaces a complete TCP/UDP checksum by the pseudo-header sum, as a sending kernel with offload leaves it. */
function makePartial(frame: Uint8Array, csumOff: number): Uint8Array {
  const f = frame.slice();
  const v = new DataView(f.buffer);
  const ipLen = v.getUint16(14 + 2);
  const l4len = ipLen - 20;
  const pseudo = sum16(f.subarray(14 + 12, 14 + 20), f[14 + 9]! + l4len);
  v.setUint16(34 + csumOff, pseudo);
  return f;
}

/** What the kernel does with NEEDS_CSUM: sum from csum_start (the field included) and store the complement. */
function completeLikeKernel(frame: Uint8Array, csumStart: number, csumOff: number): Uint8Array {
  const f = frame.slice();
  const v = new DataView(f.buffer);
  const ipLen = v.getUint16(14 + 2);
  v.setUint16(csumStart + csumOff, ~sum16(f.subarray(csumStart, 14 + ipLen)) & 0xffff);
  return f;
}

describe.each([{ exchange: false }, { exchange: true }])('offloads (virtio_net_hdr) (exchange: $exchange)', ({ exchange }) => {
  let control: Control;
  let io: MemoryIO;
  let w: InlineWorker;
  const counters = () => w.stats.f64;
  const status = () => control.status().workers[0]!;

  beforeEach(async () => {
    control = new Control({ mac: DIR_MAC, addrs: [{ addr: ip('198.18.0.1'), prefix: 24 }, { addr: ip('198.18.1.1'), prefix: 24 }], gateway: 0, verifyL4: true });
    io = new MemoryIO();
    io.exchangeReady = exchange;
    w = new InlineWorker(0, io, (m) => control.onWorkerMessage(m), { maxConns: 1024, vnet: true });
    control.attach([w]);
    await control.publish(); // the worker knows its MAC and addresses
    io.inject(withVnet(pkt().eth({ src: R1_MAC, dst: DIR_MAC }).arp({ op: 'reply', sha: R1_MAC, spa: R1, tha: DIR_MAC, tpa: '198.18.1.1' }).build()));
    io.inject(withVnet(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).arp({ op: 'reply', sha: CLIENT_MAC, spa: CIP, tha: DIR_MAC, tpa: '198.18.0.1' }).build()));
    w.pump();
    io.take();
    void counters;
  });

  async function service(method: 'nat' | 'tun', proto = 'tcp') {
    const svc = { proto, vip: VIP, vport: 80 };
    expect(await control.handle({ op: 'add-service', service: { ...svc, scheduler: 'rr' } })).toMatchObject({ ok: true });
    expect(await control.handle({ op: 'add-real', service: svc, real: { rip: R1, rport: method === 'nat' ? 8080 : 80, method } })).toMatchObject({ ok: true });
    io.take();
  }

  function send(frame: Uint8Array, h?: Vnet): Uint8Array[] {
    io.inject(withVnet(frame, h));
    w.pump();
    return io.take();
  }

  const syn = (sport: number) => pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport, dport: 80, flags: 'S', seq: 1000 }).build();
  const data = (sport: number, bytes: number, flags = 'PA') =>
    pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP, id: 500 }).tcp({ sport, dport: 80, flags, seq: 1001, ack: 7 }).payload(bytes).build();

  it('passes a TCP GSO super-frame through NAT whole; the kernel completes a right checksum', async () => {
    await service('nat');
    expect(send(syn(4000))).toHaveLength(1);
    const gsoFrame = makePartial(data(4000, 20000), 16);
    const out = send(gsoFrame, { flags: NEEDS_CSUM, gso: GSO_TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOff: 16 });
    expect(out).toHaveLength(1);
    const h = readVnet(out[0]!);
    expect(h).toEqual({ flags: NEEDS_CSUM, gso: GSO_TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOff: 16 });
    const frame = completeLikeKernel(out[0]!.subarray(VNET), h.csumStart, h.csumOff);
    expect(verifyChecksums(frame)).toEqual({ ip: true, l4: true });
    const p = parseFrame(frame);
    expect(p.eth!.dst).toBe(R1_MAC);
    expect(p.ip).toMatchObject({ src: CIP, dst: R1, totalLength: 20 + 20 + 20000 });
    expect(p.tcp).toMatchObject({ sport: 4000, dport: 8080, seq: 1001 });
    expect(status().counters.gso_passed).toBe(1);
  });

  it('completes a partial checksum of an ordinary frame before forwarding it', async () => {
    await service('nat');
    send(syn(4001));
    const out = send(makePartial(data(4001, 300), 16), { flags: NEEDS_CSUM, csumStart: 34, csumOff: 16 });
    expect(out).toHaveLength(1);
    expect(readVnet(out[0]!).flags).toBe(0);
    expect(verifyChecksums(out[0]!.subarray(VNET))).toEqual({ ip: true, l4: true });
    expect(status().counters.csum_completed).toBe(1);
  });

  it('cuts a GSO frame into MSS-sized segments for TUN, each complete and in sequence', async () => {
    await service('tun');
    send(syn(4002));
    const gsoFrame = makePartial(data(4002, 5000, 'FPA'), 16);
    // MSS 1400: segments plus the 20-byte outer header stay within the tunnel MTU (no outer fragments).
    const out = send(gsoFrame, { flags: NEEDS_CSUM, gso: GSO_TCPV4, hdrLen: 54, gsoSize: 1400, csumStart: 34, csumOff: 16 });
    expect(out).toHaveLength(4); // 1400 × 3 + 800
    const payload: number[] = [];
    out.forEach((f, i) => {
      expect(readVnet(f).flags).toBe(0);
      const frame = f.subarray(VNET);
      const p = parseFrame(frame);
      expect(p.ip).toMatchObject({ src: '198.18.1.1', dst: R1, protocol: 4 });
      expect(verifyChecksums(frame)).toEqual({ ip: true, l4: true }); // outer header and the inner packet
      expect(p.inner!.tcp!.seq).toBe(1001 + i * 1400);
      expect(p.inner!.tcp!.flags.includes('F')).toBe(i === 3);
      expect(p.inner!.ip!.id).toBe(500 + i);
      payload.push(...p.inner!.payload);
    });
    expect(payload).toEqual(Array.from({ length: 5000 }, (_, i) => i & 0xff));
    expect(status().counters.gso_segmented).toBe(1);
  });

  it('never cuts segments bigger than the MTU, whatever gso_size says (fuzz finding)', async () => {
    await service('tun');
    send(syn(4003));
    // gso_size 9000 on a 1500 segment: segments of at most 1500 − 40 payload bytes, as TUN then needs (DF clear:
    // each over the tunnel MTU becomes two outer fragments, none over 1500).
    const out = send(makePartial(data(4003, 3000), 16), { flags: NEEDS_CSUM, gso: GSO_TCPV4, hdrLen: 54, gsoSize: 9000, csumStart: 34, csumOff: 16 });
    expect(out.length).toBeGreaterThanOrEqual(3);
    for (const f of out) expect(parseFrame(f.subarray(VNET)).ip!.totalLength).toBeLessThanOrEqual(1500);
    expect(status().counters.gso_segmented).toBe(1);
  });

  it('verifies the checksum of a frame whose header flags vouch for nothing (fuzz finding)', async () => {
    await service('nat');
    const bad = pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 4004, dport: 80, flags: 'S' }).badL4Checksum().build();
    expect(send(bad, { flags: 4 })).toHaveLength(0); // an unknown flag bit, neither NEEDS_CSUM nor DATA_VALID
    expect(status().drops.l4_bad_checksum).toBe(1);
  });

  it('drops and counts a GSO type it does not handle (UDP L4)', async () => {
    await service('nat', 'udp');
    const u = pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).udp({ sport: 5000, dport: 80 }).payload(3000).build();
    expect(send(makePartial(u, 6), { flags: NEEDS_CSUM, gso: GSO_UDP_L4, hdrLen: 42, gsoSize: 1000, csumStart: 34, csumOff: 6 })).toHaveLength(0);
    expect(status().drops.gso_unsupported).toBe(1);
  });
});
