/**
 * A director for forwarder fixture tables: the control thread and one in-memory worker, every neighbour already
 * resolved, one single-real service per fixture target (so the real is known without scheduling questions).
 * `run(frame)` sends one frame through the whole pipeline and returns the frames sent and the counters that moved.
 */
import { Control } from '../../../src/control/control.js';
import { InlineWorker } from '../../../src/control/workers.js';
import { MemoryIO } from '../../../src/io/memory-io.js';
import { parseIPv4 } from '../../../src/util/addr.js';
import { C, COUNTERS, D, DROP_REASONS } from '../../../src/worker/stats.js';
import { diffFrames, parseFrame, pkt, verifyChecksums } from '../../helpers/packet-builder.js';

export const DIR_MAC = '02:aa:00:00:00:01';
export const CLIENT_MAC = '02:cc:00:00:00:02';
export const GW_MAC = '02:99:00:00:00:fe';
export const VIP = '198.18.0.100';
export const CIP = '198.18.0.2';
export const DIR0 = '198.18.0.1'; // director address on the client prefix
export const DIR1 = '198.18.1.1'; // director address on the real-server prefix
export const GW = '198.18.0.254';
/** Reals: two on the real-server prefix, one on the client prefix, one behind the gateway. */
export const R1 = '198.18.1.11';
export const R2 = '198.18.1.12';
export const R3 = '198.18.0.50';
export const R4 = '203.0.113.7';
/** FULLNAT local addresses on the real-server prefix. */
export const LIP1 = '198.18.1.200';
export const LIP2 = '198.18.1.201';
export const MACS: Record<string, string> = {
  [CIP]: CLIENT_MAC, [R1]: '02:11:00:00:00:11', [R2]: '02:22:00:00:00:12', [R3]: '02:33:00:00:00:33', [GW]: GW_MAC,
};

export interface Target {
  proto: 'tcp' | 'udp';
  vport: number;
  rip: string;
  rport?: number;
  method: 'dr' | 'tun' | 'nat' | 'fullnat';
  /** FULLNAT: the service's local addresses (default [LIP1] for fullnat targets) and client-IP delivery. */
  laddrs?: string[];
  clientIp?: 'none' | 'toa' | 'proxy-v1' | 'proxy-v2';
  weight?: number;
}

export interface DirectorOptions {
  mtu?: number;
  /** FULLNAT local port range. */
  lportMin?: number;
  lportMax?: number;
}

export interface Result {
  out: Uint8Array[];
  /** Drop reasons and counters that changed, with their increments. */
  drops: Record<string, number>;
  counters: Record<string, number>;
}

export class Director {
  readonly io = new MemoryIO();
  readonly control: Control;
  readonly w: InlineWorker;
  /** The worker's clock (ms); tests may move it. */
  readonly clock = { t: 1_000_000 };

  constructor(opts: number | DirectorOptions = {}) {
    const o = typeof opts === 'number' ? { mtu: opts } : opts;
    this.control = new Control({
      mac: DIR_MAC,
      addrs: [{ addr: parseIPv4(DIR0), prefix: 24 }, { addr: parseIPv4(DIR1), prefix: 24 }],
      gateway: parseIPv4(GW),
      verifyL4: true,
      ...(o.mtu === undefined ? {} : { mtu: o.mtu }),
      ...(o.lportMin === undefined ? {} : { lportMin: o.lportMin, lportMax: o.lportMax }),
    });
    this.w = new InlineWorker(0, this.io, (m) => this.control.onWorkerMessage(m), { now: () => this.clock.t, maxConns: 1024 });
    this.control.attach([this.w]);
  }

  static async create(targets: Target[], opts?: number | DirectorOptions): Promise<Director> {
    const d = new Director(opts);
    for (const t of targets) {
      const service = { proto: t.proto, vip: VIP, vport: t.vport };
      const fnat = t.method === 'fullnat' ? { laddrs: t.laddrs ?? [LIP1], clientIp: t.clientIp ?? 'none' } : {};
      await d.ok({ op: 'add-service', service: { ...service, scheduler: 'rr', ...fnat } });
      await d.ok({ op: 'add-real', service, real: { rip: t.rip, rport: t.rport, method: t.method, weight: t.weight } });
    }
    d.resolve();
    return d;
  }

  /** Every neighbour answers (the reals, the gateway and the client); the ARP traffic is discarded. */
  resolve(): void {
    for (const ip of Object.keys(MACS)) {
      const tpa = ip.startsWith('198.18.1.') ? DIR1 : DIR0;
      this.io.inject(pkt().eth({ src: MACS[ip], dst: DIR_MAC }).arp({ op: 'reply', sha: MACS[ip]!, spa: ip, tha: DIR_MAC, tpa }).build());
    }
    this.w.pump();
    this.io.take();
  }

  async ok(req: object): Promise<unknown> {
    const r = await this.control.handle(req);
    if (!(r as { ok: boolean }).ok) throw new Error(`${JSON.stringify(req)}: ${JSON.stringify(r)}`);
    return (r as { result?: unknown }).result;
  }

  /** Sends frames through the pipeline (one batch); returns what came out and which counters moved. */
  run(...frames: Uint8Array[]): Result {
    const f64 = this.w.stats.f64;
    const before = Float64Array.from(f64);
    this.io.inject(...frames);
    this.w.pump();
    const drops: Record<string, number> = {};
    const counters: Record<string, number> = {};
    for (const d of DROP_REASONS) if (f64[D[d]] !== before[D[d]]) drops[d] = f64[D[d]]! - before[D[d]]!;
    for (const c of COUNTERS) if (f64[C[c]] !== before[C[c]]) counters[c] = f64[C[c]]! - before[C[c]]!;
    return { out: this.io.take(), drops, counters };
  }
}

/** One fixture: a frame in, the exact frames out, and the verdict ('TX' or the drop reason it counts). */
export interface Fixture {
  description: string;
  input: Uint8Array;
  expected: Uint8Array[];
  verdict: string;
  /** Event counters that must have moved by exactly these amounts (others are not checked). */
  counters?: Record<string, number>;
  /** Director MTU for this fixture (default 1500). */
  mtu?: number;
  /** Frames sent first (their output is not checked): a handshake that sets up the conn. */
  before?: Uint8Array[];
}

/** Checks one fixture's result: verdict, exact frames (with a readable diff), every checksum recomputed. */
export function expectFixture(f: Fixture, r: Result): string[] {
  const problems: string[] = [];
  const dropNames = Object.keys(r.drops);
  if (f.verdict === 'TX') {
    if (dropNames.length > 0) problems.push(`verdict TX, but counted drops ${JSON.stringify(r.drops)}`);
  } else if (dropNames.length !== 1 || r.drops[f.verdict] !== 1) {
    problems.push(`verdict ${f.verdict}, but counted drops ${JSON.stringify(r.drops)}`);
  }
  if (r.out.length !== f.expected.length) problems.push(`expected ${f.expected.length} frames out, got ${r.out.length}`);
  for (let i = 0; i < Math.min(r.out.length, f.expected.length); i++) {
    const d = diffFrames(f.expected[i]!, r.out[i]!);
    if (d) problems.push(`frame ${i}:\n${d}`);
  }
  for (const [i, frame] of r.out.entries()) {
    const p = parseFrame(frame);
    if (!p.ip) continue;
    const ck = verifyChecksums(frame);
    if (!ck.ip || !ck.l4) problems.push(`frame ${i}: checksums ${JSON.stringify(ck)}`);
    const quote = p.icmp?.quote;
    if (quote) {
      // The quoted header is the offending packet as received: its checksum must still verify.
      const q = frame.subarray(14 + 20 + 8, 14 + 20 + 8 + quote.ip.ihl * 4);
      let sum = 0;
      for (let j = 0; j < q.length; j += 2) sum += (q[j]! << 8) | q[j + 1]!;
      if (sum % 0xffff !== 0) problems.push(`frame ${i}: quoted IP header checksum`);
    }
  }
  for (const [name, n] of Object.entries(f.counters ?? {})) {
    if ((r.counters[name] ?? 0) !== n) problems.push(`counter ${name}: expected +${n}, got +${r.counters[name] ?? 0}`);
  }
  return problems;
}
