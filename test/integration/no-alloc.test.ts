/**
 * The packet path allocates nothing per packet: Frames of established NAT connections (both directions)
 * through the pipeline over a replaying in-memory PacketIO without triggering young-generation collections.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { Control } from '../../src/control/control.js';
import { InlineWorker } from '../../src/control/workers.js';
import { MemoryIO } from '../../src/io/memory-io.js';
import { parseIPv4 } from '../../src/util/addr.js';
import { pkt } from '../helpers/packet-builder.js';

const DIR = '02:aa:00:00:00:01';
const CL = '02:cc:00:00:00:02';
const R1 = '02:11:00:00:00:11';
/**
 * The worker's clock stands still: the measurement counts what the frames allocate, not timer runs whose number
 * depends on how long a loaded machine takes (the loop is synchronous, so nothing else runs in this isolate).
 */
const FROZEN_CLOCK = () => 1_000_000;

/**
 * 4M frames take 5–10 s on the 2-vCPU VM, several times that when other jobs share it. A retry: an allocation on
 * the packet path happens on every run, while on a heavily loaded machine a rare run has counted many minor GCs
 * (the optimising compiler's background thread starved, hot code left unoptimised, where numbers are boxed).
 */
const SLOW = { timeout: 180_000, retry: 2 };


/**
 * Young-generation collections while `work` runs. Allocating even 16 bytes per frame over millions of frames
 * fills the nursery (a few MB) again and again — dozens of scavenges; zero per-frame allocation leaves only the
 * per-batch clock read (one boxed number per 64 frames), i.e. at most a collection or two. GC entries are
 * delivered asynchronously, hence the waits around the work.
 */
async function minorGcsDuring(work: () => void): Promise<number> {
  let minor = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
  });
  obs.observe({ entryTypes: ['gc'] });
  // The warm-up's optimised code is compiled on a background thread: give it time to land before measuring.
  await new Promise((r) => setTimeout(r, 500));
  minor = 0;
  work();
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  return minor;
}

describe('packet path', SLOW, () => {
  // exchange: the io_uring loop shape (the last batch sent and the next received in one call, rx halves alternating).
  // trace: a `tapvs trace` is active whose filter matches none of the frames (every frame goes through the matcher).
  it.each([{ exchange: false, trace: false }, { exchange: true, trace: false }, { exchange: false, trace: true }])(
    'does not allocate per packet (exchange: $exchange, trace: $trace)', async ({ exchange, trace }) => {
    const control = new Control({ mac: DIR, addrs: [{ addr: parseIPv4('198.18.0.1'), prefix: 24 }, { addr: parseIPv4('198.18.1.1'), prefix: 24 }], gateway: 0, verifyL4: true });
    const io = new MemoryIO();
    const w = new InlineWorker(0, io, (m) => control.onWorkerMessage(m), { maxConns: 4096, now: FROZEN_CLOCK });
    control.attach([w]);
    const svc = { proto: 'tcp', vip: '198.18.0.100', vport: 80 };
    await control.handle({ op: 'add-service', service: { ...svc, scheduler: 'wlc' } });
    await control.handle({ op: 'add-real', service: svc, real: { rip: '198.18.1.11', method: 'nat' } });
    // Resolve the real and the client, then open 16 connections.
    io.inject(pkt().eth({ src: R1, dst: DIR }).arp({ op: 'reply', sha: R1, spa: '198.18.1.11', tha: DIR, tpa: '198.18.1.1' }).build());
    io.inject(pkt().eth({ src: CL, dst: DIR }).arp({ op: 'reply', sha: CL, spa: '198.18.0.2', tha: DIR, tpa: '198.18.0.1' }).build());
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 16; i++) {
      io.inject(pkt().eth({ src: CL, dst: DIR }).ipv4({ src: '198.18.0.2', dst: '198.18.0.100' }).tcp({ sport: 30000 + i, dport: 80, flags: 'S' }).build());
      frames.push(pkt().eth({ src: CL, dst: DIR }).ipv4({ src: '198.18.0.2', dst: '198.18.0.100' }).tcp({ sport: 30000 + i, dport: 80, flags: 'PA' }).payload(100).build());
      frames.push(pkt().eth({ src: R1, dst: DIR }).ipv4({ src: '198.18.1.11', dst: '198.18.0.2' }).tcp({ sport: 80, dport: 30000 + i, flags: 'PA' }).payload(400).build());
    }
    w.pump();
    io.take();
    io.countOnly = true;
    io.exchangeReady = exchange;
    io.replayForever(frames);
    if (trace) await control.handle({ op: 'trace-start', src: '198.18.0.2', dst: '198.18.0.100:81', seconds: 3600 });
    const run = (n: number) => {
      for (let i = 0; i < n; i++) w.dp.step();
    };
    run(20_000); // warm up: JIT, inline caches
    const FRAMES = 4_000_000;
    const sentBefore = io.sentCount;
    const minor = await minorGcsDuring(() => run(FRAMES / w.dp.batch));
    // With exchange, each call sends the previous batch: the warm-up's last batch goes out, this run's last stays queued.
    expect(io.sentCount - sentBefore).toBe(FRAMES);
    expect(minor).toBeLessThanOrEqual(3);
    const drops = control.status().drops;
    expect(Object.values(drops).reduce((a, b) => a + b, 0)).toBe(0);
    if (trace) expect(await control.handle({ op: 'trace-stop', trace: 1 })).toMatchObject({ ok: true, result: { delivered: 0, lost: 0 } });
  });
});

/**
 * DR and TUN: frames of established conns (client → real only; replies bypass the director). The TUN mix also
 * takes the slow paths every 16th frame: a non-DF packet over the tunnel MTU (sent as two outer fragments) and
 * a DF one (dropped; ICMP frag-needed built while the rate limit allows).
 */
describe('packet path, DR and TUN', SLOW, () => {
  it.each(['dr', 'tun'] as const)('does not allocate per packet (%s)', async (method) => {
    const control = new Control({ mac: DIR, addrs: [{ addr: parseIPv4('198.18.0.1'), prefix: 24 }, { addr: parseIPv4('198.18.1.1'), prefix: 24 }], gateway: 0, verifyL4: true });
    const io = new MemoryIO();
    const w = new InlineWorker(0, io, (m) => control.onWorkerMessage(m), { maxConns: 4096, now: FROZEN_CLOCK });
    control.attach([w]);
    const svc = { proto: 'tcp', vip: '198.18.0.100', vport: 80 };
    await control.handle({ op: 'add-service', service: { ...svc, scheduler: 'wlc' } });
    await control.handle({ op: 'add-real', service: svc, real: { rip: '198.18.1.11', method } });
    io.inject(pkt().eth({ src: R1, dst: DIR }).arp({ op: 'reply', sha: R1, spa: '198.18.1.11', tha: DIR, tpa: '198.18.1.1' }).build());
    io.inject(pkt().eth({ src: CL, dst: DIR }).arp({ op: 'reply', sha: CL, spa: '198.18.0.2', tha: DIR, tpa: '198.18.0.1' }).build());
    const frames: Uint8Array[] = [];
    const seg = (sport: number, size: number, df: boolean) =>
      pkt().eth({ src: CL, dst: DIR }).ipv4({ src: '198.18.0.2', dst: '198.18.0.100', df }).tcp({ sport, dport: 80, flags: 'PA' }).payload(size).build();
    for (let i = 0; i < 16; i++) {
      io.inject(pkt().eth({ src: CL, dst: DIR }).ipv4({ src: '198.18.0.2', dst: '198.18.0.100' }).tcp({ sport: 30000 + i, dport: 80, flags: 'S' }).build());
      const slow = method === 'tun' && i >= 14;
      frames.push(seg(30000 + i, slow ? 1441 : 100 + i * 10, !(slow && i === 14)));
    }
    w.pump();
    io.take();
    io.countOnly = true;
    io.replayForever(frames);
    const run = (n: number) => {
      for (let i = 0; i < n; i++) w.dp.step();
    };
    run(60_000); // longer warm-up: the forwarder call site turns polymorphic and is re-optimized
    const FRAMES = 4_000_000;
    const dropsBefore = control.status().drops;
    const sentBefore = io.sentCount;
    const minor = await minorGcsDuring(() => run(FRAMES / w.dp.batch));
    expect(minor).toBeLessThanOrEqual(3);
    const drops = control.status().drops;
    const moved = Object.fromEntries(Object.keys(drops).filter((k) => drops[k] !== dropsBefore[k]).map((k) => [k, drops[k]! - dropsBefore[k]!]));
    if (method === 'dr') {
      expect(io.sentCount - sentBefore).toBe(FRAMES);
      expect(moved).toEqual({});
    } else {
      // 15 of 16 frames leave (one of them as two fragments), plus the frag-needed messages the limit allowed.
      expect(io.sentCount - sentBefore).toBeGreaterThanOrEqual(FRAMES);
      expect(moved).toEqual({ tun_too_big: FRAMES / 16 });
    }
  });
});

describe('tapvs decap', SLOW, () => {
  it('does not allocate per datagram', async () => {
    const { Decap } = await import('../../src/decap/decap.js');
    const rx = new MemoryIO();
    const tx = new MemoryIO();
    tx.countOnly = true;
    const d = new Decap({ rx, tx, vips: [parseIPv4('198.18.0.100')], directors: [parseIPv4('198.18.1.1')] });
    const datagrams = Array.from({ length: 16 }, (_, i) => {
      const inner = pkt().ipv4({ src: '198.18.0.2', dst: '198.18.0.100', tos: i === 3 ? 2 : 0 }).tcp({ sport: 30000 + i, dport: 80, flags: 'PA' }).payload(100 + i * 50).build();
      return pkt().ipv4({ src: '198.18.1.1', dst: '198.18.1.11', protocol: 4, tos: i === 3 ? 3 : 0 }).payload(inner).build();
    });
    rx.replayForever(datagrams);
    const run = (n: number) => {
      for (let i = 0; i < n; i++) d.step();
    };
    run(60_000);
    const N = 4_000_000;
    const before = tx.sentCount;
    const minor = await minorGcsDuring(() => run(N / d.batch));
    expect(tx.sentCount - before).toBe(N);
    expect(minor).toBeLessThanOrEqual(3);
  });
});

/**
 * FULLNAT: established conns both ways, one per client-IP mode, and the slow paths every time round: TOA
 * inserted on the client's ACK (its ack is the real's ISN+1), the PROXY v1 header put in front of a pending
 * handshake ACK, PROXY v2 shifts with SACK edges mapped back, UDP with a PROXY v2 header per datagram, and a
 * real's port unreachable translated back to the client.
 */
describe('packet path, FULLNAT with TOA and PROXY protocol', SLOW, () => {
  it('does not allocate per packet', async () => {
    const control = new Control({ mac: DIR, addrs: [{ addr: parseIPv4('198.18.0.1'), prefix: 24 }, { addr: parseIPv4('198.18.1.1'), prefix: 24 }], gateway: 0, verifyL4: true });
    const io = new MemoryIO();
    const w = new InlineWorker(0, io, (m) => control.onWorkerMessage(m), { maxConns: 4096, now: FROZEN_CLOCK });
    control.attach([w]);
    const VIP = '198.18.0.100';
    const LIP = '198.18.1.200';
    const modes = [['tcp', 80, 'none'], ['tcp', 81, 'toa'], ['tcp', 82, 'proxy-v1'], ['tcp', 83, 'proxy-v2'], ['udp', 54, 'proxy-v2']] as const;
    for (const [proto, vport, clientIp] of modes) {
      const svc = { proto, vip: VIP, vport };
      await control.handle({ op: 'add-service', service: { ...svc, scheduler: 'wlc', laddrs: [LIP], clientIp } });
      await control.handle({ op: 'add-real', service: svc, real: { rip: '198.18.1.11', rport: 9000 + vport, method: 'fullnat' } });
    }
    io.inject(pkt().eth({ src: R1, dst: DIR }).arp({ op: 'reply', sha: R1, spa: '198.18.1.11', tha: DIR, tpa: '198.18.1.1' }).build());
    io.inject(pkt().eth({ src: CL, dst: DIR }).arp({ op: 'reply', sha: CL, spa: '198.18.0.2', tha: DIR, tpa: '198.18.0.1' }).build());
    const c2v = (vport: number, flags: string, seq: number, ack: number, payload: number) =>
      pkt().eth({ src: CL, dst: DIR }).ipv4({ src: '198.18.0.2', dst: VIP }).tcp({ sport: 30000 + vport, dport: vport, flags, seq, ack }).payload(payload).build();
    // Lports: one conn per TCP service, opened in order → 1025..1028; UDP has pools of its own → 1025.
    const r2l = (vport: number, lport: number, flags: string, seq: number, ack: number, payload: number, options?: Uint8Array) =>
      pkt().eth({ src: R1, dst: DIR }).ipv4({ src: '198.18.1.11', dst: LIP }).tcp({ sport: 9000 + vport, dport: lport, flags, seq, ack, options }).payload(payload).build();
    const setup: Uint8Array[] = [];
    [80, 81, 82, 83].forEach((vport, i) => {
      setup.push(c2v(vport, 'S', 1000, 0, 0), r2l(vport, 1025 + i, 'SA', 5000, 1001, 0));
    });
    setup.push(c2v(83, 'A', 1001, 5001, 0), r2l(83, 1028, 'A', 5001, 1001 + 28, 0)); // PROXY v2 header acknowledged
    const udp = pkt().eth({ src: CL, dst: DIR }).ipv4({ src: '198.18.0.2', dst: VIP }).udp({ sport: 30054, dport: 54 }).payload(200).build();
    setup.push(udp);
    io.inject(...setup);
    w.pump();
    io.take();
    const sentUdp = pkt().ipv4({ src: LIP, dst: '198.18.1.11', ttl: 63 }).udp({ sport: 1025, dport: 9054 }).payload(228).build();
    const sack = Uint8Array.from([1, 1, 5, 10, 0, 0, 0x04, 0x00, 0, 0, 0x05, 0x00]);
    const frames = [
      c2v(80, 'PA', 1001, 5001, 300), r2l(80, 1025, 'PA', 5001, 1301, 900),
      c2v(81, 'A', 1001, 5001, 100), r2l(81, 1026, 'PA', 5001, 1001, 700),
      c2v(82, 'A', 1001, 5001, 0), r2l(82, 1027, 'A', 5001, 1001, 0),
      c2v(83, 'PA', 1001, 5001, 500), r2l(83, 1028, 'A', 5001, 2000, 0, sack),
      udp,
      pkt().eth({ src: R1, dst: DIR }).ipv4({ src: '198.18.1.11', dst: LIP }).icmp({ type: 3, code: 3, quote: sentUdp }).build(),
    ];
    io.countOnly = true;
    io.replayForever(frames);
    const run = (n: number) => {
      for (let i = 0; i < n; i++) w.dp.step();
    };
    run(60_000);
    const FRAMES = 4_000_000;
    const before = control.status();
    const sentBefore = io.sentCount;
    const minor = await minorGcsDuring(() => run(FRAMES / w.dp.batch));
    expect(minor).toBeLessThanOrEqual(3);
    const after = control.status();
    const moved = Object.fromEntries(Object.keys(after.drops).filter((k) => after.drops[k] !== before.drops[k]).map((k) => [k, after.drops[k]! - before.drops[k]!]));
    expect(moved).toEqual({});
    expect(io.sentCount - sentBefore).toBe(FRAMES);
    const k = (s: typeof before, n: string) => s.workers[0]!.counters[n]!;
    // Every 10th frame each: TOA on conn 81, the PROXY v1 header on conn 82, PROXY v2 on the datagram.
    expect(k(after, 'toa_inserted') - k(before, 'toa_inserted')).toBe(FRAMES / 10);
    expect(k(after, 'proxy_inserted') - k(before, 'proxy_inserted')).toBe(FRAMES / 5);
    expect(k(after, 'icmp_translated') - k(before, 'icmp_translated')).toBe(FRAMES / 10);
  });
});
